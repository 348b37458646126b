"""The page's training against the command line's: the same 1-epoch run of
specs/mnist_cnn.yaml on the real MNIST, once with `python -m playground.train`
and once from the page (`streamlit run app.py` as `make app` starts it, the
Train tab driven in Chromium, its progress shown in the open tab all along).
Prints each run's training seconds (from its run.json) and images per second,
and their ratio. The page's job should train within 10% of the CLI's speed.

    python bench/page_training.py [--data-dir ../shared/data] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pageserver import cpu_seconds, page_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
TRAIN_IMAGES = 60_000


def _one_run(folder: Path) -> dict:
    (run,) = [p for p in folder.iterdir() if (p / "run.json").exists()]
    return json.loads((run / "run.json").read_text())


def cli(spec: Path, data: str, epochs: int, out: Path) -> dict:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "playground.train", str(spec), "--epochs", str(epochs), "--data-dir",
                    data, "--no-download", "--out", str(out / "cli")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return {**_one_run(out), "wall": time.monotonic() - started}


def page(tmp: Path, data: str, epochs: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    env = {"PLAYGROUND_SPECS_DIR": str(tmp / "specs"), "PLAYGROUND_RUNS_DIR": str(tmp / "page-runs"),
           "PLAYGROUND_SWEEPS_DIR": str(tmp / "sweeps"), "PLAYGROUND_DATA": data}
    with page_server(env, tmp / "streamlit.log") as (url, proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1500, "height": 1000})
        tab.goto(url)
        tab.get_by_text("7: linear 'fc' → 10").wait_for(timeout=90_000)
        tab.get_by_role("tab", name="Train").click()
        field = tab.get_by_label("Epochs", exact=True)
        field.fill(str(epochs))
        field.press("Enter")
        tab.wait_for_timeout(1500)
        cpu0, browser0, threads0 = cpu_seconds(proc.pid), _browser_cpu(), _thread_cpu(proc.pid)
        started, seen, done = time.monotonic(), dict(threads0), threading.Event()
        sampler = threading.Thread(target=_sample_threads, args=(proc.pid, seen, done), daemon=True)
        sampler.start()
        tab.get_by_role("button", name="Train mnist_cnn").click()
        expect(tab.get_by_text("This session's runs")).to_be_visible(timeout=3_600_000)
        wall, cpu = time.monotonic() - started, cpu_seconds(proc.pid) - cpu0
        browser_cpu = _browser_cpu() - browser0
        done.set()
        sampler.join()
        threads = {tid: (name, cpu - threads0.get(tid, ("", 0.0))[1]) for tid, (name, cpu) in seen.items()}
        browser.close()
    return {**_one_run(tmp / "page-runs"), "wall": wall, "cpu": cpu, "browser_cpu": browser_cpu,
            "threads": sorted(threads.values(), key=lambda t: -t[1])}


def _thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of the page's server: its name and CPU seconds so far (where the CPU went)."""
    found = {}
    for task in list(Path(f"/proc/{pid}/task").iterdir()):
        try:
            found[int(task.name)] = ((task / "comm").read_text().strip(), cpu_seconds(f"{pid}/task/{task.name}"))
        except (OSError, ValueError):
            pass
    return found


def _sample_threads(pid: int, seen: dict, done: threading.Event) -> None:
    """Every 0.2 s, each thread's CPU so far into ``seen`` (a thread that ends keeps its last figure)."""
    while not done.wait(0.2):
        seen.update(_thread_cpu(pid))


def _browser_cpu(by_kind: dict | None = None) -> float:
    """CPU seconds of every Chromium process so far (what drawing the page costs the machine);
    ``by_kind`` gets them by process type (renderer, gpu-process, the browser itself)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = stat.read_bytes().replace(b"\0", b" ").split()   # Chromium rewrites its title
            if b"chromium" in words[0]:
                seconds = cpu_seconds(int(stat.parent.name))
                total += seconds
                if by_kind is not None:
                    kind = next((w[7:].decode() for w in words if w.startswith(b"--type=")), "browser")
                    by_kind[kind] = by_kind.get(kind, 0.0) + seconds
        except (OSError, ValueError, IndexError):
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PLAYGROUND_DATA", str(ROOT.parent / "shared/data")))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--only", choices=("CLI", "page"), help="run one side only (to try a change)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, CLI then page in each; the best of each counts")
    args = parser.parse_args()
    runs: dict[str, list] = {"CLI": [], "page": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            shutil.copytree(ROOT / "specs", tmp / "specs")
            (tmp / "cli-runs").mkdir()
            if args.only != "page":
                runs["CLI"].append(cli(tmp / "specs/mnist_cnn.yaml", args.data_dir, args.epochs, tmp / "cli-runs"))
            if args.only != "CLI":
                runs["page"].append(page(tmp, args.data_dir, args.epochs))
    if args.only:
        runs = {args.only: runs[args.only]}
    for what, found in runs.items():
        print(f"{what:>4} rounds: " + ", ".join(f"{float(info['seconds']):.1f} s" for info in found)
              + ("" if what == "CLI" else "; server CPU while training " + ", ".join(
                  f"{info['cpu']:.1f} s" for info in found) + "; Chromium's " + ", ".join(
                  f"{info['browser_cpu']:.1f} s" for info in found)))
    results = {what: min(found, key=lambda info: float(info["seconds"])) for what, found in runs.items()}
    for what, info in results.items():
        seconds = float(info["seconds"])
        print(f"{what:>4}: {seconds:6.1f} s training ({args.epochs * TRAIN_IMAGES / seconds:,.0f} images/s), "
              f"{info['wall']:.1f} s from start to done, test accuracy {100 * info['test_accuracy']:.2f}%")
    for info in runs.get("page", []):
        print("  server threads' CPU while training: " + ", ".join(
            f"{name} {cpu:.1f} s" for name, cpu in info["threads"][:6] if cpu >= 0.05))
    if args.only:
        return
    ratio = float(results["page"]["seconds"]) / float(results["CLI"]["seconds"])
    medians = [statistics.median(float(info["seconds"]) for info in runs[what]) for what in ("page", "CLI")]
    print(f"page / CLI training time: {ratio:.2f}x best to best (goal: at most 1.10x), "
          f"{medians[0] / medians[1]:.2f}x median to median")


if __name__ == "__main__":
    main()
