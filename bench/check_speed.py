"""How long the static check takes as specs grow.

Times load_spec (YAML parse, block expansion, pydantic validation, shape
check) and, separately, the shape check alone: for chains of 10 to 10,000
layers, for ResNet-like specs of residual blocks (used from a template, 70 to
10,000 layers), and for specs/zoo/resnet18.yaml. Goals: a 1,000-layer chain under
50 ms, ResNet-18 under 10 ms, and time linear in the layer count for chains and
nested specs alike (the per-layer time stays flat).

    python bench/check_speed.py
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import playground

GOAL_1000_MS = 50.0
GOAL_RESNET18_MS = 10.0
ROOT = Path(__file__).resolve().parent.parent


def make_spec(n_layers: int) -> str:
    """conv2d/relu pairs that keep 8x28x28, then flatten and a classifier: n_layers in all."""
    body = ["  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}", "  - {type: relu}"]
    middle = [body[i % 2] for i in range(n_layers - 3)] + ["  - {type: relu}"]
    return "name: deep\nbudget: {max_activation_mb: 1000000}\nlayers:\n" + "\n".join(
        middle + ["  - {type: flatten}", "  - {type: linear, out_features: 10}"]) + "\n"


def nested_spec(n_layers: int) -> str:
    """Stages of residual blocks from one template (7 layers a block), about n_layers in all."""
    blocks = max(1, n_layers // 7)
    stages = math.ceil(blocks / 500)
    uses = [f"  - {{type: use, block: basic, name: stage{s}, times: {min(500, blocks - 500 * s)}}}"
            for s in range(stages)]
    return ("name: nested\ndata: {dataset: none}\ninput: {channels: 8, height: 8, width: 8}\n"
            "budget: {max_activation_mb: 1000000, max_params: 1000000000}\n"
            "blocks:\n  basic:\n    layers:\n      - type: residual\n        body:\n"
            "          - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}\n"
            "          - {type: batchnorm2d}\n          - {type: relu}\n"
            "          - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}\n"
            "          - {type: batchnorm2d}\n        after: [{type: relu}]\nlayers:\n" + "\n".join(uses) + "\n")


def best_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    playground.load_spec(make_spec(10))  # warm up: registry, schema, imports
    print(f"{'layers':>7} {'load_spec best':>15} {'median':>9} {'per layer':>10} {'shape check':>12}")
    results = {}
    for n in (10, 100, 1000, 10000):
        text = make_spec(n)
        repeat = 20 if n <= 1000 else 5
        best, median = best_ms(lambda text=text: playground.load_spec(text), repeat)
        spec = playground.load_spec(text)
        assert len(spec.layers) == n
        check, _ = best_ms(lambda spec=spec: playground.summarize(spec), repeat)
        results[n] = best
        print(f"{n:>7} {best:>12.2f} ms {median:>6.2f} ms {1000 * best / n:>7.1f} us {check:>9.2f} ms")
    growth = (results[10000] / 10000) / (results[100] / 100)
    print(f"per-layer time, 10,000 vs 100 layers: {growth:.2f}x (1.0 = perfectly linear)")
    verdict = "meets" if results[1000] < GOAL_1000_MS else "MISSES"
    print(f"1,000 layers: {results[1000]:.1f} ms, {verdict} the {GOAL_1000_MS:.0f} ms goal")

    print(f"\n{'nested':>7} {'load_spec best':>15} {'median':>9} {'per layer':>10} {'shape check':>12}")
    nested = {}
    for n in (70, 700, 10000):
        text = nested_spec(n)
        spec = playground.load_spec(text)
        count = sum(1 for _ in playground.summarize(spec).walk())
        repeat = 10 if n <= 1000 else 3
        best, median = best_ms(lambda text=text: playground.load_spec(text), repeat)
        check, _ = best_ms(lambda spec=spec: playground.summarize(spec), repeat)
        nested[count] = best
        print(f"{count:>7} {best:>12.2f} ms {median:>6.2f} ms {1000 * best / count:>7.1f} us {check:>9.2f} ms")
    (small, t_small), *_, (big, t_big) = sorted(nested.items())
    print(f"per-layer time, {big:,} vs {small} nested layers: {(t_big / big) / (t_small / small):.2f}x")

    resnet = (ROOT / "specs" / "zoo" / "resnet18.yaml").read_text()
    best, median = best_ms(lambda: playground.load_spec(resnet), 30)
    verdict = "meets" if best < GOAL_RESNET18_MS else "MISSES"
    print(f"\nspecs/zoo/resnet18.yaml: {best:.2f} ms best, {median:.2f} ms median, {verdict} the "
          f"{GOAL_RESNET18_MS:.0f} ms goal")


if __name__ == "__main__":
    main()
