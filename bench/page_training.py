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
import subprocess
import sys
import tempfile
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
        cpu0, browser0, started = cpu_seconds(proc.pid), _browser_cpu(), time.monotonic()
        tab.get_by_role("button", name="Train mnist_cnn").click()
        expect(tab.get_by_text("This session's runs")).to_be_visible(timeout=3_600_000)
        wall, cpu = time.monotonic() - started, cpu_seconds(proc.pid) - cpu0
        browser_cpu = _browser_cpu() - browser0
        browser.close()
    return {**_one_run(tmp / "page-runs"), "wall": wall, "cpu": cpu, "browser_cpu": browser_cpu}


def _browser_cpu() -> float:
    """CPU seconds of every Chromium process so far (what drawing the page costs the machine)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"chromium" in stat.read_bytes().split(b"\0")[0]:
                total += cpu_seconds(int(stat.parent.name))
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
    if args.only:
        return
    ratio = float(results["page"]["seconds"]) / float(results["CLI"]["seconds"])
    print(f"page / CLI training time: {ratio:.2f}x (goal: at most 1.10x)")


if __name__ == "__main__":
    main()
