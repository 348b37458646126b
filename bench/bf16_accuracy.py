"""bfloat16 autocast against float32 training, on this machine: is accuracy traded?

(a) The default recipe (specs/mnist_cnn.yaml, 10 epochs, the real MNIST) over
seeds 1-5, each trained twice with `python -m playground.train`: once as on a
CPU without bfloat16 arithmetic (PLAYGROUND_CPU_BF16=0: float32) and once with
bfloat16 autocast (PLAYGROUND_CPU_BF16=1). Prints each run's test accuracy and
training seconds, both means and their difference. Goal: the bfloat16 mean
within 0.1 point of float32's.

(b) The CIFAR ResNet-20 spec (specs/cifar10_resnet20.yaml) on generated
CIFAR-sized data (each class a fixed random pattern plus noise), a few hundred
steps in each precision from the same weights and batches, and a second float32
run from another seed: the loss curves every 25 steps, the largest gap between
float32 and bfloat16, and the gap between the two float32 seeds (the noise).

Long (about 15 minutes on two cores); not in CI.

    PLAYGROUND_DATA=path/to/data python bench/bf16_accuracy.py [--seeds 5] [--epochs 10] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playground.train.devices import cpu_bfloat16_instructions

ROOT = Path(__file__).resolve().parent.parent


def mnist_run(seed: int, epochs: int, bf16: bool, data: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAYGROUND_CPU_BF16": "1" if bf16 else "0"}
    if bf16 and cpu_bfloat16_instructions():
        del env["PLAYGROUND_CPU_BF16"]   # as a user's run would find it
    run = out / f"seed{seed}-{'bf16' if bf16 else 'f32'}"
    subprocess.run([sys.executable, "-m", "playground.train", str(ROOT / "specs" / "mnist_cnn.yaml"), "--epochs",
                    str(epochs), "--seed", str(seed), "--device", "cpu", "--data-dir", data, "--no-download",
                    "--out", str(run)], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return json.loads((run / "run.json").read_text())


def resnet_curves(steps: int, seed: int, bf16: bool) -> list[float]:
    """Training losses (mean of each 25 steps) of ResNet-20 on generated data."""
    import torch
    import torch.nn.functional as F

    import playground

    spec = playground.load_spec(ROOT / "specs" / "cifar10_resnet20.yaml")
    data = torch.Generator().manual_seed(0)          # the same data for every run
    patterns = torch.randn(10, 3, 32, 32, generator=data)
    torch.manual_seed(seed)
    model = playground.build(spec).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    batches = torch.Generator().manual_seed(1)       # the same batches for every run
    losses, chunk = [], []
    for _ in range(steps):
        y = torch.randint(0, 10, (128,), generator=batches)
        x = (patterns[y] + 3.0 * torch.randn(128, 3, 32, 32, generator=batches)).to(
            memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        chunk.append(loss.item())
        if len(chunk) == 25:
            losses.append(statistics.mean(chunk))
            chunk = []
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="ResNet-20 steps per run (0: skip part b)")
    parser.add_argument("--data-dir", default=os.environ.get("PLAYGROUND_DATA"))
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("set PLAYGROUND_DATA (or --data-dir) to the dataset root holding MNIST/raw")
    import torch

    features = cpu_bfloat16_instructions()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; this CPU computes bfloat16 with: "
          f"{', '.join(features) or 'nothing (bfloat16 is emulated here)'}")
    acc: dict[bool, list[float]] = {False: [], True: []}
    secs: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            for bf16 in (False, True):
                info = mnist_run(seed, args.epochs, bf16, args.data_dir, Path(tmp))
                acc[bf16].append(100 * info["test_accuracy"])
                secs[bf16].append(float(info["seconds"]))
                print(f"  seed {seed} {'bfloat16' if bf16 else 'float32 '}: {acc[bf16][-1]:.2f}% "
                      f"in {secs[bf16][-1]:.1f} s ({info['device']})", flush=True)
    f32, bf = statistics.mean(acc[False]), statistics.mean(acc[True])
    print(f"mnist_cnn, {args.epochs} epochs, {args.seeds} seeds: float32 {f32:.3f}% (sd "
          f"{statistics.pstdev(acc[False]):.3f}), bfloat16 {bf:.3f}% (sd {statistics.pstdev(acc[True]):.3f}); "
          f"difference {bf - f32:+.3f} points (goal: within 0.1); training {statistics.mean(secs[False]):.1f} s "
          f"float32, {statistics.mean(secs[True]):.1f} s bfloat16")
    if args.steps:
        started = time.perf_counter()
        a, b, c = resnet_curves(args.steps, 1, False), resnet_curves(args.steps, 1, True), \
            resnet_curves(args.steps, 2, False)
        print(f"cifar10_resnet20 on generated data, {args.steps} steps of 128 (loss, mean of each 25 steps; "
              f"{time.perf_counter() - started:.0f} s):")
        for name, curve in (("float32 seed 1", a), ("bfloat16 seed 1", b), ("float32 seed 2", c)):
            print(f"  {name:16}" + " ".join(f"{v:.3f}" for v in curve))
        precision = max(abs(x - y) for x, y in zip(a, b, strict=True))
        noise = max(abs(x - y) for x, y in zip(a, c, strict=True))
        print(f"largest gap float32 vs bfloat16: {precision:.3f}; float32 seed 1 vs seed 2 (the noise): {noise:.3f}")


if __name__ == "__main__":
    main()
