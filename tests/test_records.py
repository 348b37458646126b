"""Run folders as a record: python -m playground.runs (golden table, sorting,
JSON, damaged folders listed as such) and python -m playground.compare (the
spec diff by layer names, golden text), on run folders written here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

import playground
from playground.runs import cli as runs_cli
from playground.runs import folders as runs
from playground.runs import listing as records

GOLDEN = ROOT / "tests" / "golden"
# Regenerate after a deliberate change: PLAYGROUND_GOLDEN=write pytest tests/test_records.py
WRITE = os.environ.get("PLAYGROUND_GOLDEN") == "write"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if WRITE:
        path.write_text(text)
    assert text == path.read_text()


def _run(base: Path, folder: str, spec: dict, accuracies: list[float], **info) -> Path:
    run = base / folder
    run.mkdir(parents=True)
    runs.write_spec(run, spec)
    runs.write_metrics(run, [{"epoch": i + 1, "train_loss": round(1.0 / (i + 2), 4), "test_loss": 0.5,
                              "test_accuracy": a} for i, a in enumerate(accuracies)])
    runs.write_info(run, {"spec": spec["name"], "status": "completed", "device": "cpu, 2 threads, float32",
                          "params": 8490, "macs": 467200, "dataset": spec["data"]["dataset"],
                          "epochs_trained": len(accuracies), "test_accuracy": accuracies[-1], "seconds": 12.5,
                          "world_size": 1, "started": folder.split("-", 1)[1], **info})
    runs.save_checkpoint(run, {"epoch": len(accuracies), "model": {}})   # a whole one: listed without a remark
    return run


@pytest.fixture
def base(tmp_path) -> Path:
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml").to_dict()
    base = tmp_path / "runs"
    _run(base, "mnist_cnn-20261128-100000", spec, [0.95, 0.97, 0.9781])
    other = json.loads(json.dumps(spec))
    other["name"] = "wide"
    other["layers"][0]["out_channels"] = 20
    if "in_channels" in other["layers"][3]:
        other["layers"][3]["in_channels"] = 20
    other["train"]["lr"] = 0.05
    _run(base, "wide-20261128-110000", other, [0.96, 0.985, 0.981], seconds=95.0, world_size=2,
         device="cpu, 1 threads, float32; 2 processes (gloo)")
    _run(base, "tiny-20261128-120000", {**spec, "name": "tiny"}, [0.5], status="stopped", epochs_trained=0.4,
         seconds=1.0)
    damaged = base / "broken-20261128-130000"
    damaged.mkdir()
    (damaged / runs.INFO_FILE).write_text("{not json")
    half = base / "half-20261128-140000"
    half.mkdir()
    runs.write_spec(half, spec)           # a run that died before its run.json
    (base / "notes").mkdir()              # not a run folder at all: not listed
    return base


def test_the_runs_table(base, capsys):
    assert runs_cli.main([str(base)]) == 0
    _golden("runs.table.txt", capsys.readouterr().out)


def test_sorted_by_accuracy_best_first_and_as_json(base, capsys):
    assert runs_cli.main([str(base), "--sort", "accuracy", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [Path(r["folder"]).name for r in rows][:3] == ["wide-20261128-110000", "mnist_cnn-20261128-100000",
                                                           "tiny-20261128-120000"]
    assert rows[0]["best_accuracy"] == 0.985 and rows[0]["last_accuracy"] == 0.981 and rows[0]["world_size"] == 2
    damaged = {Path(r["folder"]).name: r["problem"] for r in rows if r["problem"]}
    assert set(damaged) == {"broken-20261128-130000", "half-20261128-140000"}
    assert damaged == {"broken-20261128-130000": "run.json is damaged",
                       "half-20261128-140000": "no run.json: ended before it started"}


def test_a_run_json_with_damaged_values_is_a_row_that_says_so(tmp_path):
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml").to_dict()
    run = _run(tmp_path, "odd-20261128-150000", spec, [0.9], params="many", seconds="long")
    (row,) = records.list_records(tmp_path)
    assert (row.status, row.params, row.seconds, row.last_accuracy) == ("completed", None, None, 0.9)
    assert row.problem == "run.json's params, seconds are damaged"
    assert records.row_texts(row)[2] == "completed (run.json's params, seconds are damaged)"
    runs.write_info(run, {**runs.read_info(run), "status": ["completed"], "params": 8490, "seconds": 1.0})
    (row,) = records.list_records(tmp_path)
    assert records.row_texts(row)[2] == "damaged: run.json's status is damaged" and row.params == 8490
    (run / runs.INFO_FILE).write_text('["not", "a", "mapping"]')
    (row,) = records.list_records(tmp_path)
    assert row.problem == "run.json is damaged" and row.spec is None


def test_a_run_json_from_before_some_fields_reads_as_what_it_has(tmp_path):
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml").to_dict()
    run = _run(tmp_path, "old-20261128-150000", spec, [0.9])
    runs.write_info(run, {"spec": "mnist_cnn", "status": "completed", "epochs_done": 2})
    (row,) = records.list_records(tmp_path)
    assert (row.epochs_done, row.world_size, row.dataset, row.seconds, row.problem) == (2, 1, "mnist", None, None)


def test_compare_names_what_changed_by_layer_name(base, capsys):
    from playground.runs.compare import main

    assert main([str(base / "mnist_cnn-20261128-100000"), str(base / "wide-20261128-110000")]) == 0
    out = capsys.readouterr().out
    assert "layers.conv1.out_channels: 10 -> 20" in out and "train.lr: 0.01 -> 0.05" in out
    _golden("compare.two.txt", out)


def test_flatten_addresses_named_layers_by_name_and_others_by_position():
    flat = records.flatten({"layers": [{"type": "conv2d", "name": "conv1", "out_channels": 10},
                                       {"type": "relu"}], "train": {"lr": 0.1}})
    assert flat == {"layers.conv1.type": "conv2d", "layers.conv1.name": "conv1", "layers.conv1.out_channels": 10,
                    "layers[1].type": "relu", "train.lr": 0.1}


def test_compare_refuses_a_folder_without_a_spec(tmp_path, capsys):
    from playground.runs.compare import main

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "is not a readable run folder" in capsys.readouterr().err


def test_a_training_run_records_what_the_table_shows(spec, tmp_path, data_dir):
    from playground.format.loader import with_overrides
    from playground.train.engine import train

    train(with_overrides(spec, epochs=1), out=tmp_path / "runs" / "r1", data_dir=data_dir)
    (row,) = records.list_records(tmp_path / "runs")
    assert (row.spec, row.status, row.dataset, row.world_size) == ("tiny", "completed", "mnist", 1)
    assert row.macs == playground.summarize(spec).total_macs and row.best_accuracy == row.last_accuracy


def test_compare_plot_draws_every_run_curve_into_a_png(base, tmp_path, capsys):
    from PIL import Image

    from playground.runs.compare import main

    pytest.importorskip("matplotlib")
    chart = tmp_path / "out" / "curves.png"
    assert main([str(base / "mnist_cnn-20261128-100000"), str(base / "wide-20261128-110000"),
                 "--plot", str(chart)]) == 0
    assert f"Chart: {chart}" in capsys.readouterr().out
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == (1200, 480)
        assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10   # drawn, not blank
    assert [p.name for p in chart.parent.iterdir()] == ["curves.png"]        # no temporary file left


def test_the_chart_holds_each_runs_numbers():
    pytest.importorskip("matplotlib")
    from playground.runs import plots

    metrics = [[{"epoch": 1, "train_loss": 0.9, "test_loss": 0.8, "test_accuracy": 0.5},
                {"epoch": 2, "train_loss": 0.4, "test_loss": 0.45, "test_accuracy": 0.75}],
               [{"epoch": 1, "train_loss": 0.7, "test_loss": 0.6, "test_accuracy": 0.625}]]
    acc, loss = plots.curves_figure(["a", "b"], metrics).axes
    assert [list(line.get_ydata()) for line in acc.lines] == [[50.0, 75.0], [62.5]]
    assert [line.get_label() for line in acc.lines] == ["a", "b"]
    assert [list(line.get_ydata()) for line in loss.lines] == [[0.9, 0.4], [0.8, 0.45], [0.7], [0.6]]
    assert loss.lines[0].get_color() == loss.lines[1].get_color() == acc.lines[0].get_color()
    assert loss.lines[1].get_linestyle() == "--" and loss.lines[0].get_linestyle() == "-"


def test_compare_plot_refuses_a_file_type_before_any_work(base, tmp_path, capsys):
    from playground.runs.compare import main

    assert main([str(base / "mnist_cnn-20261128-100000"), str(base / "wide-20261128-110000"),
                 "--plot", str(tmp_path / "curves.txt")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "must end in .png, .svg, .pdf. Received: .txt" in err
    assert not (tmp_path / "curves.txt").exists()


def test_compare_plot_without_matplotlib_says_how_to_install_it(base, tmp_path, capsys, monkeypatch):
    import sys

    from playground.runs.compare import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib now raises ImportError
    assert main([str(base / "mnist_cnn-20261128-100000"), str(base / "wide-20261128-110000"),
                 "--plot", str(tmp_path / "c.png")]) == 2
    assert "pip install 'playground[plot]'" in capsys.readouterr().err
