"""How long the static check takes as specs grow.

Times load_spec (YAML parse, pydantic validation, shape check) and, separately,
the shape check alone, for specs of 10 to 10,000 layers. Goal: a 1,000-layer
spec in under 50 ms, and time linear in the layer count (the per-layer time
stays flat).

    python bench/check_speed.py
"""

from __future__ import annotations

import statistics
import time

import playground

GOAL_1000_MS = 50.0


def make_spec(n_layers: int) -> str:
    """conv2d/relu pairs that keep 8x28x28, then flatten and a classifier: n_layers in all."""
    body = ["  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}", "  - {type: relu}"]
    middle = [body[i % 2] for i in range(n_layers - 3)] + ["  - {type: relu}"]
    return "name: deep\nbudget: {max_activation_mb: 1000000}\nlayers:\n" + "\n".join(
        middle + ["  - {type: flatten}", "  - {type: linear, out_features: 10}"]) + "\n"


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


if __name__ == "__main__":
    main()
