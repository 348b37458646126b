"""Time from an edit to the updated shape table, without the Streamlit round trip.

Measures what the app does after every edit: editing.check_text (YAML parse,
validation, shape check and summary), and for a layer-editor edit also the
round-trip YAML edit (ruamel.yaml, which keeps comments and styles), and the
table rows the page draws. Goals: under 50 ms for the default spec, under
100 ms for specs/zoo/resnet18.yaml (blocks: expansion and the nested table), under
200 ms for a 200-layer spec.

    python bench/edit_speed.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from playground.app import editing, views
from playground.format import edits

ROOT = Path(__file__).resolve().parent.parent
GOALS_MS = {"mnist_cnn (8 layers)": 50.0, "resnet18 (blocks)": 100.0, "200 layers": 200.0}


def deep_spec(n_layers: int) -> str:
    body = ["  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}", "  - {type: relu}"]
    head = ["  - {type: flatten}", "  - {type: linear, out_features: 10}"]
    layers = [body[i % 2] for i in range(n_layers - 2)] + head
    return "name: deep\nbudget: {max_activation_mb: 100000}\nlayers:\n" + "\n".join(layers) + "\n"


def timings(fn, repeat: int = 30) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - start))
    return statistics.median(samples), max(samples)


def main() -> None:
    cases = {"mnist_cnn (8 layers)": (ROOT / "specs" / "mnist_cnn.yaml").read_text(),
             "resnet18 (blocks)": (ROOT / "specs" / "zoo" / "resnet18.yaml").read_text(), "200 layers": deep_spec(200)}
    editing.check_text(cases["200 layers"])  # warm up: registry and schema
    print(f"{'spec':22}{'text edit (median / worst)':>30}{'layer-editor edit (median / worst)':>38}  goal")
    for name, text in cases.items():
        checked = editing.check_text(text)
        assert checked.ok, checked.error
        text_edit = timings(lambda text=text: views.table_rows(editing.check_text(text), 1))

        def widget_edit(text=text):
            views.table_rows(editing.check_text(edits.set_field(text, 0, "out_channels", 12)), 1)

        widget = timings(widget_edit)
        goal = GOALS_MS[name]
        verdict = "meets" if max(text_edit[0], widget[0]) < goal else "MISSES"
        print(f"{name:22}{text_edit[0]:18.2f} / {text_edit[1]:6.2f} ms{widget[0]:26.2f} / {widget[1]:6.2f} ms"
              f"  {verdict} < {goal:.0f} ms")


if __name__ == "__main__":
    main()
