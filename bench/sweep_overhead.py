"""Sweep overhead per trial: a 2x2 grid sweep of a tiny spec (one epoch on
generated MNIST-format data), its wall time against the time its runs spent
training (run.json's seconds). Goal: everything but training under 1 s a trial.

With --grid N, also the bookkeeping of a big study: an N-point grid whose
trials train nothing (each reports one accuracy at once), the cost of a trial
among the first tenth against the last tenth. Goal: the last within 2x of the
first, so that a big grid costs about linear time, not a quadratic one.

    python bench/sweep_overhead.py [--grid 4000]
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from ddp_scaling import write_mnist  # noqa: E402

from playground.sweep.cli import main as sweep  # noqa: E402

SPEC = """\
name: tiny
layers:
  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 5, stride: 2}
  - {type: relu}
  - {type: flatten}
  - {type: linear, out_features: 10}
data: {batch_size: 64, test_batch_size: 500}
train: {epochs: 1, device: cpu}
"""


def _sweep(root: Path, name: str, sets: list[str]) -> tuple[float, float, int]:
    began = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        sweep([str(root / "tiny.yaml"), *sets, "--data-dir", str(root / "data"), "--out", str(root / name)])
    wall = time.perf_counter() - began
    runs = sorted((root / name).glob("trial-*"))
    return wall, sum(json.loads((r / "run.json").read_text())["seconds"] for r in runs), len(runs)


def bookkeeping(n: int) -> tuple[float, float, float]:
    """Per-trial milliseconds among the first and last tenth of an n-point grid that trains nothing,
    and the whole sweep's seconds."""
    import yaml

    from playground import sweep as sweeps
    from playground.sweep import study

    ends = []

    class Instant(study.Objective):   # the sweep's own loop, study and sampler; no training
        def trainer(self, trial, values):
            return object(), Path(tmp)

        def train(self, trial, values, trainer):
            ends.append(time.perf_counter())
            trial.report(0.5, 1)
            return study.Trained(0.5, False, False)

    with tempfile.TemporaryDirectory() as tmp:
        values = "[" + ", ".join(f"{0.001 + i * 1e-6:.6f}" for i in range(n)) + "]"
        plan = sweeps.plan(yaml.safe_load(SPEC), [f"train.lr={values}"], out=Path(tmp) / "s")
        began, real = time.perf_counter(), study.Objective
        study.Objective = Instant
        try:
            sweeps.run(plan)
        finally:
            study.Objective = real
    gaps = [b - a for a, b in zip(ends, ends[1:], strict=False)]
    tenth = max(1, len(gaps) // 10)
    return 1000 * sum(gaps[:tenth]) / tenth, 1000 * sum(gaps[-tenth:]) / tenth, ends[-1] - began


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=0, help="also time the bookkeeping of an N-point grid")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root / "data", 2000)
        (root / "tiny.yaml").write_text(SPEC)
        _sweep(root, "warm", ["--set", "train.lr=[0.01]"])   # imports, first database
        one = _sweep(root, "one", ["--set", "train.lr=[0.01]"])
        four = _sweep(root, "four", ["--set", "train.lr=[0.01, 0.1]", "--set", "layers.conv.out_channels=[4, 8]"])
    per_trial = ((four[0] - four[1]) - (one[0] - one[1])) / (four[2] - one[2])
    start = (one[0] - one[1]) - per_trial
    print(f"a 1-trial sweep {one[0]:.2f} s, a 4-trial sweep {four[0]:.2f} s ({four[1]:.2f} s of it in the runs): "
          f"{per_trial:.2f} s overhead a trial ({'meets' if per_trial < 1 else 'MISSES'} the 1 s goal), "
          f"{start:.2f} s once per sweep (the study's database)")
    if args.grid:
        first, last, total = bookkeeping(args.grid)
        print(f"a {args.grid}-point grid that trains nothing: {first:.0f} ms a trial among the first tenth, "
              f"{last:.0f} ms among the last ({last / first:.2f}x; {'meets' if last < 2 * first else 'MISSES'} the "
              f"2x goal), {total:.0f} s in all")


if __name__ == "__main__":
    main()
