"""The zoo's speed, side by side in one run.

1. The check of every spec in specs/zoo/ (read, expand, validate, shape-check;
   the best of --repeats after a first, cold load). Goal: each under 10 ms.
2. A training step of spec-built models against torchvision's own (CPU, SGD,
   the two stepped in turns so that both see the same machine), for each
   builder in --step (default: vit_b_16 and convnext_tiny). Goal: within 5%.

    python bench/zoo_speed.py [--repeats 20] [--steps 6] [--batch 4] [--step vit_b_16 convnext_tiny]
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
ZOO = ROOT / "specs" / "zoo"
GOAL_CHECK_MS = 10.0
GOAL_STEP_RATIO = 1.05


def check_times(repeats: int) -> dict[str, float]:
    """Best milliseconds of load_spec (which checks) per zoo file."""
    out = {}
    files = sorted(ZOO.glob("*.yaml"))
    for i, path in enumerate(files):
        text = path.read_text()
        playground.load_spec(text)   # cold: imports, the registry, caches
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            playground.load_spec(text)
            best = min(best, time.perf_counter() - start)
        out[path.stem] = 1000 * best
        print(f"check {i + 1}/{len(files)}", end="\r", flush=True)
    return out


def step(model, optimizer, x, y) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()


def step_ratio(builder: str, steps: int, batch: int) -> tuple[float, float]:
    """Median seconds of a training step: (playground's, torchvision's)."""
    torch.manual_seed(0)
    spec = playground.load_spec(ZOO / f"{builder}.yaml")
    models = {"playground": playground.build(spec), "torchvision": getattr(torchvision.models, builder)()}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    x, y = torch.randn(batch, *spec.input.shape()), torch.randint(0, 1000, (batch,))
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(steps + 1):   # one warm-up round, then turns that alternate who goes first
        order = list(models) if i % 2 == 0 else list(reversed(models))
        for name in order:
            start = time.perf_counter()
            step(models[name], optimizers[name], x, y)
            if i >= 1:
                times[name].append(time.perf_counter() - start)
        print(f"{builder}: round {i + 1}/{steps + 1}", end="\r", flush=True)
    return statistics.median(times["playground"]), statistics.median(times["torchvision"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--step", nargs="*", default=["vit_b_16", "convnext_tiny"])
    args = parser.parse_args()

    times = check_times(args.repeats)
    print(f"\nThe check of each zoo spec (best of {args.repeats}), goal under {GOAL_CHECK_MS:.0f} ms:")
    for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"  {name:22} {ms:6.2f} ms")
    worst = max(times, key=times.get)
    verdict = "meets" if times[worst] < GOAL_CHECK_MS else "MISSES"
    median = statistics.median(times.values())
    print(f"slowest: {worst} {times[worst]:.2f} ms ({verdict} the goal); median {median:.2f} ms")

    for builder in args.step:
        ours, theirs = step_ratio(builder, args.steps, args.batch)
        ratio = ours / theirs
        verdict = "meets" if ratio <= GOAL_STEP_RATIO else "MISSES"
        print(f"\n{builder} training step, CPU ({torch.get_num_threads()} threads), batch {args.batch}: "
              f"playground {1000 * ours:.0f} ms, torchvision {1000 * theirs:.0f} ms, "
              f"ratio {ratio:.3f} ({verdict} the 5% goal)")


if __name__ == "__main__":
    main()
