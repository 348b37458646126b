"""Listing run folders: python -m playground.runs over 1,000 generated run
folders (run.json, metrics.jsonl with 10 epochs, spec.yaml and a checkpoint
of the tutorial net each, whose pickle the listing reads for objects that are
not tensors), the table built and printed to nowhere. Goal: under 1 s.

    python bench/runs_listing.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import playground  # noqa: E402
from playground.runs import cli as runs_cli  # noqa: E402
from playground.runs import folders as runs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    import torch

    loaded = playground.load_spec(ROOT / "specs" / "mnist_cnn.yaml")
    spec, checkpoint = loaded.to_dict(), io.BytesIO()
    torch.save({"format": runs.CHECKPOINT_FORMAT, "model": playground.build(loaded).state_dict(), "spec": spec},
               checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for i in range(args.runs):
            run = base / f"mnist_cnn-20261128-{i:06d}"
            run.mkdir()
            runs.write_spec(run, spec)
            (run / runs.CHECKPOINT_FILE).write_bytes(checkpoint.getvalue())
            runs.write_metrics(run, [{"epoch": e, "train_loss": 0.1, "test_loss": 0.1, "test_accuracy": 0.9 + e / 100}
                                     for e in range(1, 11)])
            runs.write_info(run, {"spec": "mnist_cnn", "status": "completed", "params": 8490, "macs": 467200,
                                  "dataset": "mnist", "epochs_trained": 10, "seconds": 40.0, "device": "cpu",
                                  "world_size": 1, "started": f"2026-11-28T{i:06d}"})
        times = []
        for _ in range(5):
            began = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                runs_cli.main([str(base), "--sort", "accuracy"])
            times.append(time.perf_counter() - began)
    best = min(times)
    print(f"python -m playground.runs over {args.runs:,} run folders: {best * 1000:.0f} ms best of 5 "
          f"({'meets' if best < 1 else 'MISSES'} the 1 s goal)")


if __name__ == "__main__":
    main()
