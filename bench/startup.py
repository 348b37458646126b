"""How long `python -m playground.train specs/mnist_cnn.yaml` takes from the command to its first
training step, where those seconds go, and what a bare PyTorch script pays for the same.

Prints, each the median of --rounds fresh processes:
- the import time of each module on the command's way (the interpreter alone, torch,
  torch._dynamo, which torch's optimizers import on their first use, torchvision, the
  command's module, the spec's check, the engine, the data path), each alone in a new process;
- the start-up of a bare script (import torch, a model, an SGD optimizer, one step), timed
  from its process's start the same way as a run's;
- the start-up of the command itself, read from its run.json (the RunStarted event's time
  less the process's start, by phase), with the dataset cache empty (the first run: torchvision
  reads the files) and filled (every later run), each run stopped with Ctrl-C at its first step.

    PLAYGROUND_DATA=path/to/data python bench/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["torch", "torch._dynamo", "torchvision", "playground.train.cli", "playground.check.analysis",
           "playground.train.engine", "playground.train.data"]
BARE = """\
import time, sys
from playground.core.clock import process_started
import torch
model = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 5), torch.nn.Flatten(), torch.nn.LazyLinear(10))
model(torch.zeros(1, 1, 28, 28))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
print(time.time() - process_started())   # the first step starts now
torch.nn.functional.cross_entropy(model(torch.zeros(64, 1, 28, 28)), torch.zeros(64, dtype=torch.long)).backward()
opt.step()
"""


def import_seconds(module: str, env: dict) -> float:
    """Seconds ``import module`` takes in a fresh interpreter, with all it imports first."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout)


def interpreter_seconds(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - start


def bare_startup(env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run_startup(env: dict, cache: Path) -> tuple[float, dict[str, float]]:
    """The command's start-up as its run.json records it, the run stopped at its first step."""
    out = Path(tempfile.mkdtemp(prefix="bench-startup-")) / "run"
    proc = subprocess.Popen([sys.executable, "-m", "playground.train", str(ROOT / "specs" / "mnist_cnn.yaml"),
                             "--out", str(out), "--no-download"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**env, "PLAYGROUND_CACHE": str(cache)})
    info = {}
    while "startup_seconds" not in info:
        if proc.poll() is not None:
            raise SystemExit("the run ended before its first step: run it by hand to see why")
        time.sleep(0.05)
        try:
            info = json.loads((out / "run.json").read_text())
        except (OSError, ValueError):
            pass
    proc.send_signal(signal.SIGINT)   # stops at the next step, saves a checkpoint
    proc.wait(timeout=120)
    shutil.rmtree(out.parent, ignore_errors=True)
    phases = {part.rsplit(" ", 2)[0]: float(part.rsplit(" ", 2)[1]) for part in info["startup"].split(", ")}
    return info["startup_seconds"], phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "PLAYGROUND_DATA" not in env:
        raise SystemExit("set PLAYGROUND_DATA to the dataset root (holding MNIST/raw)")
    median = statistics.median

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of {args.rounds} fresh processes\n")
    print(f"{'import (alone, in a new process)':40}{'seconds':>8}")
    print(f"{'the interpreter (python -c pass)':40}{median(interpreter_seconds(env) for _ in range(args.rounds)):8.2f}")
    for module in MODULES:
        print(f"{module:40}{median(import_seconds(module, env) for _ in range(args.rounds)):8.2f}")

    cold, warm, bare = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        for i in range(args.rounds):
            cache = Path(tmp) / f"cache{i}"   # empty: this round's first run reads with torchvision
            cold.append(run_startup(env, cache))
            warm.append(run_startup(env, cache))
            bare.append(bare_startup(env))
    print(f"\n{'from the command to the first step':40}{'seconds':>8}   phases (medians)")
    print(f"{'a bare torch script (model, SGD)':40}{median(bare):8.2f}")
    for name, runs in (("playground, the cache empty", cold), ("playground, the cache filled", warm)):
        phases = {k: median(r[1][k] for r in runs) for k in runs[0][1]}
        print(f"{name:40}{median(r[0] for r in runs):8.2f}   "
              + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
    print(f"\nplayground with the cache filled / the bare script: {median(r[0] for r in warm) / median(bare):.2f}")


if __name__ == "__main__":
    main()
