"""Data-parallel scaling on this machine's CPU: training images/s of one
process with 2 threads against 2 processes with 1 thread each (torchrun,
gloo), for the tutorial spec and the CIFAR ResNet-20, on generated data.
Scaling efficiency = (2 processes' images/s) / (2 x one process's images/s
with 1 thread) is printed too.

    python bench/ddp_scaling.py [--mnist 12000] [--cifar 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from cifar_epoch import write_cifar  # noqa: E402


def write_mnist(root: Path, n: int) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n), ("t10k", 1000)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        for name, data in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            header = struct.pack(">I", 0x0800 | data.ndim) + b"".join(struct.pack(">I", d) for d in data.shape)
            (raw / name).write_bytes(header + data.tobytes())


def images_per_s(spec: Path, root: Path, out: Path, processes: int, threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = str(threads)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] \
        if processes > 1 else [sys.executable]
    args = [*launch, "-m", "playground.train", str(spec), "--epochs", "2", "--device", "cpu", "--data-dir", str(root),
            "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return metrics[-1]["images_per_s"]   # the second epoch: warmed up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=int, default=12_000)
    parser.add_argument("--cifar", type=int, default=4_000)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root, args.mnist)
        write_cifar(root, args.cifar, 1000)
        # the bench's own process patched torchvision's CIFAR checksums; the runs are new processes
        patch = root / "sitecustomize.py"
        import torchvision.datasets as tvd
        cifar = tvd.CIFAR10
        patch.write_text(f"import torchvision.datasets as tvd\ntvd.CIFAR10.train_list = {cifar.train_list!r}\n"
                         f"tvd.CIFAR10.test_list = {cifar.test_list!r}\ntvd.CIFAR10.meta = {cifar.meta!r}\n")
        os.environ["PYTHONPATH"] = f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__}; images/s of the second epoch")
        for name, spec in (("mnist_cnn", ROOT / "specs" / "mnist_cnn.yaml"),
                           ("cifar10_resnet20", ROOT / "specs" / "cifar10_resnet20.yaml")):
            one2 = images_per_s(spec, root, root / f"{name}-1x2", 1, 2)
            one1 = images_per_s(spec, root, root / f"{name}-1x1", 1, 1)
            two1 = images_per_s(spec, root, root / f"{name}-2x1", 2, 1)
            print(f"  {name:17} 1 process x 2 threads {one2:8,.0f}   2 processes x 1 thread {two1:8,.0f}   "
                  f"(2 processes / 1 process: {two1 / one2:.2f}; scaling efficiency over 1 x 1 thread "
                  f"{one1:,.0f}: {two1 / (2 * one1):.0%})", flush=True)


if __name__ == "__main__":
    main()
