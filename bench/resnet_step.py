"""A training step of the spec-built ResNet-18 against torchvision's resnet18,
side by side in one run: CPU, batch 8, 3x224x224, SGD, the two models stepped
in turns so that both see the same machine. Goal: within 5%. (The same
measurement as bench/zoo_speed.py's, for any zoo builder.)

    python bench/resnet_step.py [--steps 10] [--batch 8]
"""

from __future__ import annotations

import argparse

import torch
from zoo_speed import GOAL_STEP_RATIO, step_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    ours, theirs = step_ratio("resnet18", args.steps, args.batch)
    print(f"\nResNet-18 training step, CPU ({torch.get_num_threads()} threads), batch {args.batch}, 3x224x224:")
    print(f"  playground   median {1000 * ours:7.1f} ms\n  torchvision  median {1000 * theirs:7.1f} ms")
    ratio = ours / theirs
    verdict = "meets" if ratio <= GOAL_STEP_RATIO else "MISSES"
    print(f"playground / torchvision: {ratio:.3f} ({verdict} the 5% goal)")


if __name__ == "__main__":
    main()
