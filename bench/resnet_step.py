"""A training step of the spec-built ResNet-18 against torchvision's resnet18,
side by side in one run: CPU, batch 8, 3x224x224, SGD, the two models stepped
in turns so that both see the same machine. Goal: within 5%.

    python bench/resnet_step.py [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torchvision

import playground

ROOT = Path(__file__).resolve().parent.parent


def step(model, optimizer, x, y) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    models = {"playground": playground.build(playground.load_spec(ROOT / "specs" / "zoo" / "resnet18.yaml")),
              "torchvision": torchvision.models.resnet18()}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    x, y = torch.randn(args.batch, 3, 224, 224), torch.randint(0, 1000, (args.batch,))
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(args.steps + 2):   # two warm-up rounds
        order = list(models) if i % 2 == 0 else list(reversed(models))
        for name in order:
            start = time.perf_counter()
            step(models[name], optimizers[name], x, y)
            if i >= 2:
                times[name].append(time.perf_counter() - start)
        print(f"round {i + 1}/{args.steps + 2}", end="\r", flush=True)
    print(f"\nResNet-18 training step, CPU ({torch.get_num_threads()} threads), batch {args.batch}, 3x224x224:")
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, t in medians.items():
        print(f"  {name:12} median {1000 * t:7.1f} ms  best {1000 * min(times[name]):7.1f} ms")
    ratio = medians["playground"] / medians["torchvision"]
    verdict = "meets" if ratio <= 1.05 else "MISSES"
    print(f"playground / torchvision: {ratio:.3f} ({verdict} the 5% goal)")


if __name__ == "__main__":
    main()
