"""The page's CPU while nobody touches it: `streamlit run app.py` started as
`make app` starts it, one browser tab open on it (Chromium, headless), then
the server's CPU time over a quiet minute. An idle page should use no
measurable CPU: the file watcher and any timer that reruns the page show here.

    python bench/page_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pageserver import cpu_seconds, page_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(ROOT / "specs", tmp / "specs")
        env = {"PLAYGROUND_SPECS_DIR": str(tmp / "specs"), "PLAYGROUND_RUNS_DIR": str(tmp / "runs"),
               "PLAYGROUND_SWEEPS_DIR": str(tmp / "sweeps")}
        with page_server(env, tmp / "streamlit.log") as (url, proc), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            page.get_by_text("7: linear 'fc' → 10").wait_for(timeout=90_000)
            page.wait_for_timeout(3000)   # the first run's work is done
            print(f"idle page, one tab open, {args.seconds:.0f} s:", flush=True)
            start_cpu, start = cpu_seconds(proc.pid), time.monotonic()
            for k in range(int(args.seconds // 10)):
                page.wait_for_timeout(10_000)
                used = cpu_seconds(proc.pid) - start_cpu
                print(f"  {10 * (k + 1):>3} s: server CPU {used:.2f} s", flush=True)
            wall = time.monotonic() - start
            used = cpu_seconds(proc.pid) - start_cpu
            browser.close()
        log = (tmp / "streamlit.log").read_text()
    print(f"server CPU while idle: {used:.2f} s in {wall:.0f} s = {100 * used / wall:.1f}% of one core")
    print(f"server log: {len(log):,} bytes, {log.count('Inotify queue overflowed')} inotify overflows")


if __name__ == "__main__":
    main()
