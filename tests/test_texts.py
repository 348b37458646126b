"""The words and numbers a run is described with, the same on every surface;
and the page's table rows, layer titles and error Markdown."""

from __future__ import annotations

import pytest

from playground.app import views
from playground.app.editing import check_text
from playground.core import texts


@pytest.mark.parametrize("value,shown", [(8490, "8,490"), (0, "0"), (None, "—"), (14346.4, "14,346"),
                                         (float("nan"), "—")])
def test_count(value, shown):
    assert texts.count(value) == shown


@pytest.mark.parametrize("value,shown", [(0.96781, "96.78%"), (1.0, "100.00%"), (0.0, "0.00%"), (None, "—")])
def test_percent(value, shown):
    assert texts.percent(value) == shown


@pytest.mark.parametrize("value,shown", [(11.49, "11.5 s"), (59.94, "59.9 s"), (754, "12 min 34 s"),
                                         (4000, "1 h 6 min")])
def test_duration(value, shown):
    assert texts.duration(value) == shown


@pytest.mark.parametrize("info,sentence", [
    ({"status": "completed", "seconds": 11.5, "test_accuracy": 0.9678},
     "Finished in 11.5 s: 96.78% test accuracy."),
    ({"status": "stopped", "epochs_trained": 1.3, "epochs_done": 1, "seconds": 12.04, "test_accuracy": 0.951},
     "Stopped in epoch 2 after 1.3 epochs (12.0 s): 95.10% test accuracy of the weights kept."),
    ({"status": "stopped", "epochs_trained": 2.0, "epochs_done": 2, "seconds": 3, "test_accuracy": 0.5},
     "Stopped after 2 epochs (3.0 s): 50.00% test accuracy of the weights kept."),
    ({"status": "stopped", "epochs_trained": 0.25, "epochs_done": 0, "test_accuracy": None},
     "Stopped in epoch 1 after 0.25 epochs: no test yet."),
    ({"status": "failed", "seconds": 2.0, "error": "loss diverged", "test_accuracy": None},
     "Failed in 2.0 s: loss diverged."),
    ({"status": "interrupted", "epochs_done": 1}, "Interrupted after 1 epoch; the last checkpoint is kept."),
    ({"status": "running", "epochs_done": 2, "epochs": 10, "test_accuracy": 0.9},
     "Running: 2 epochs of 10 done, 90.00% test accuracy."),
])
def test_outcome_sentences(info, sentence):
    assert texts.outcome(info) == sentence


def test_table_rows_after_an_error_keep_names_and_show_dashes(mnist_text):
    checked = check_text(mnist_text.replace("in_channels: 10", "in_channels: 7"))
    rows = views.table_rows(checked)
    assert [r["name"] for r in rows] == ["conv1", "", "", "conv2", "", "", "", "fc"]
    assert [r["status"] for r in rows[2:5]] == ["ok", "✗ error", "not checked"]
    assert rows[3]["output shape"] == rows[3]["params"] == rows[3]["MACs"] == "—"
    assert rows[0]["params"] == "260" and rows[0]["MACs"] == "144,000"


def test_layer_titles():
    checked = check_text("name: n\nlayers:\n  - {type: flatten, name: flat}\n"
                         "  - {type: linear, in_features: 5, out_features: 10}\n")
    assert [views.layer_title(v) for v in checked.layers] == ["0: flatten 'flat' → 784", "✗ 1: linear → ?"]


def test_diagram_names_every_layer_and_marks_the_failing_one(mnist_text):
    from playground.check.report import diagram

    checked = check_text(mnist_text.replace("kernel_size: 5}", "kernel_size: 50}", 1))
    dot = diagram(checked.layers, checked.input_shape)
    assert 'l0 [label="0: conv1\\nconv2d", fillcolor="#f8d7da"' in dot
    assert 'l7 [label="7: fc\\nlinear"' in dot and "layer 7" not in dot
    assert 'input -> l0 [label=" 1x28x28"]' in dot and 'l6 -> l7 [label=" ?"]' in dot


def test_diagram_labels_are_quoted_safely():
    from playground.check.report import diagram

    checked = check_text('name: n\nlayers:\n  - {type: relu, name: "a\\"b"}\n')
    assert 'label="0: a\\"b\\nrelu"' in diagram(checked.layers, checked.input_shape)


@pytest.mark.parametrize("message,markdown", [
    ("layers[7] (linear 'fc').in_features: in_features=300, but 320.\n  Set in_features: 320.",
     "layers\\[7\\] (linear 'fc').in\\_features: in\\_features=300, but 320.  \nSet in\\_features: 320."),
    ("costs $5 and *more*", "costs \\$5 and \\*more\\*"),
    ("Insert `- {type: flatten}` before layers[7]", "Insert `- {type: flatten}` before layers\\[7\\]"),
])
def test_error_markdown(message, markdown):
    assert views.error_markdown(message) == markdown


def test_tree_diagram_draws_branches_and_merges():
    import re

    import playground
    from playground.check.report import tree_diagram

    text = """\
name: d
data: {dataset: none}
input: {channels: 2, height: 8, width: 8}
layers:
  - type: concat
    name: mix
    branches:
      keep: [{type: identity}]
      new: [{type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}]
  - type: gate
    body: [{type: adaptive_avgpool2d, output_size: 1}, {type: sigmoid}]
"""
    spec = playground.load_spec(text)
    dot = tree_diagram(spec, playground.summarize(spec))
    assert dot.count("subgraph cluster_") == 2
    merges = dict(re.findall(r'(n\d+) \[label="(concat|×)", fillcolor="#ffffff", penwidth=2', dot))
    concat = next(n for n, label in merges.items() if label == "concat")
    gate = next(n for n, label in merges.items() if label == "×")
    into = re.findall(r"(\w+) -> (\w+) \[label=\" ([0-9x]+)\"\]", dot)
    assert sorted(shape for a, b, shape in into if b == concat) == ["2x8x8", "3x8x8"]    # one edge per branch
    assert sorted(shape for a, b, shape in into if b == gate) == ["5x1x1", "5x8x8"]      # the input and its gate
    assert [shape for a, _, shape in into if a == "input"] == ["2x8x8", "2x8x8"]    # both branches fork from it
    assert dot.rstrip().endswith(f'{gate} -> output [label=" 5x8x8"];\n}}'.rstrip())


def test_confusion_records_give_each_true_class_its_shares():
    import torch

    records = views.confusion_records(("a", "b"), torch.tensor([[3, 1], [0, 0]]))
    assert records == [{"true": "a", "predicted": "a", "images": 3, "share": 0.75},
                       {"true": "a", "predicted": "b", "images": 1, "share": 0.25},
                       {"true": "b", "predicted": "a", "images": 0, "share": 0.0},
                       {"true": "b", "predicted": "b", "images": 0, "share": 0.0}]


def test_the_shape_table_html_keeps_numbers_whole_and_marks_the_failing_row(mnist_text):
    checked = check_text(mnist_text.replace("in_features: 320", "in_features: 300"))
    html = views.table_html(views.table_rows(checked))
    assert html.count("<tr") == 1 + 8
    assert '<td class="num whole">5,020</td>' in html             # conv2's parameters, never wrapped
    assert '<tr class="bad">' in html and html.count('class="bad"') == 1
    assert "10x<wbr>24x<wbr>24" in html                             # a shape may break at its x only
    assert "max-height" not in html                                  # up to 30 rows: no inner scrolling
    long = views.table_html([{"#": str(i), "name": "<b>x</b>"} for i in range(31)])
    assert "max-height: 932px" in long and "<b>x</b>" not in long and "&lt;b&gt;x&lt;/b&gt;" in long


def test_grid_columns_fit_their_widest_text_and_charts_read_whole(monkeypatch):
    import pandas as pd

    from playground.page import widgets

    widths = views.column_widths(["time", "run"], [["2 min 5 s", "a"], ["11.5 s", "mnist_cnn-20261201-153012"]])
    assert widths["time"] >= views.CHAR_PX * len("2 min 5 s") + 16
    assert widths["run"] >= views.CHAR_PX * len("mnist_cnn-20261201-153012") + 16
    drawn = []
    monkeypatch.setattr(widgets.st, "vega_lite_chart", lambda frame, spec, **_: drawn.append(spec))
    frame = pd.DataFrame({"epoch": [1, 1], "acc": [96.780002, 96.78], "run": ["x-153012", "x-153530"]})
    widgets.line_chart(frame, "epoch", "acc", integer_x=True, color="run")
    (spec,) = drawn
    assert spec["encoding"]["y"]["axis"]["format"] == ".4~g"                  # 96.78, not 96.780002
    assert spec["encoding"]["color"]["legend"]["labelLimit"] == 0            # whole names, not 'x-15...'
