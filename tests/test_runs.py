"""Run folders: naming, refusing to reuse a run, reading back what was written,
and clear errors for folders that are missing, not runs, or damaged."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest
import torch

from playground.core import fileio
from playground.runs import folders as runs
from playground.runs import listing as records
from playground.runs.folders import RunError


def test_run_folders_are_named_after_the_spec_and_never_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20261128-101500")
    first = runs.new_run_dir("net", base=tmp_path)
    second = runs.new_run_dir("net", base=tmp_path)
    third = runs.new_run_dir("net", base=tmp_path)
    assert [p.name for p in (first, second, third)] == ["net-20261128-101500", "net-20261128-101500-2",
                                                        "net-20261128-101500-3"]
    assert all(p.is_dir() for p in (first, second, third))


def test_run_folder_names_carry_the_time(tmp_path):
    import re

    path = runs.new_run_dir("net", base=tmp_path / "not" / "yet")   # the base is created as needed
    assert re.fullmatch(r"net-\d{8}-\d{6}", path.name)
    assert abs(time.mktime(time.strptime(path.name[4:], "%Y%m%d-%H%M%S")) - time.time()) < 120


def test_a_thousand_runs_in_one_second_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20261128-101500")
    (tmp_path / "net-20261128-101500").mkdir()
    for n in range(2, 1000):
        (tmp_path / f"net-20261128-101500-{n}").mkdir()
    with pytest.raises(RunError, match=f"^cannot create a run folder under {tmp_path}$"):
        runs.new_run_dir("net", base=tmp_path)


def test_out_must_be_new_or_empty(tmp_path):
    assert runs.new_run_dir("net", out=tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "empty").mkdir()
    assert runs.new_run_dir("net", out=tmp_path / "empty") == tmp_path / "empty"
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("x")
    with pytest.raises(RunError, match=r"already exists and is not empty.\n  Pick a new --out folder, or continue "
                                       r"that run with --resume"):
        runs.new_run_dir("net", out=tmp_path / "used")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="already exists"):
        runs.new_run_dir("net", out=tmp_path / "file")


def test_what_is_written_reads_back(tmp_path):
    rows = [{"epoch": 1, "test_accuracy": 0.5}, {"epoch": 2, "test_accuracy": 0.75}]
    runs.write_metrics(tmp_path, rows)
    assert runs.read_metrics(tmp_path) == rows
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2     # one JSON line per epoch
    runs.write_info(tmp_path, {"status": "running", "params": 8490})
    assert runs.read_info(tmp_path) == {"status": "running", "params": 8490}
    runs.write_spec(tmp_path, {"name": "net", "layers": [{"type": "relu"}]})
    assert (tmp_path / "spec.yaml").read_text() == "name: net\nlayers:\n- type: relu\n"   # key order kept
    runs.save_checkpoint(tmp_path, {"epoch": 3, "model": {"w": torch.arange(4.0)}})
    ckpt = runs.load_checkpoint(tmp_path)
    assert ckpt["epoch"] == 3 and ckpt["format"] == runs.CHECKPOINT_FORMAT
    assert torch.equal(ckpt["model"]["w"], torch.arange(4.0))


def test_missing_metrics_read_as_none_yet(tmp_path):
    assert runs.read_metrics(tmp_path) == []
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n\n')
    assert runs.read_metrics(tmp_path) == [{"epoch": 1}]


def test_info_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(RunError, match=f"{tmp_path} is not a run folder \\(no run.json\\)."):
        runs.read_info(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="run.json is damaged"):
        runs.read_info(tmp_path)
    (tmp_path / "run.json").write_bytes(b'{"status": "\xff"}')   # not UTF-8: damaged too, as the listing says
    with pytest.raises(RunError, match="run.json is damaged"):
        runs.read_info(tmp_path)
    assert records.read_record(tmp_path).problem == "run.json is damaged"


def test_run_info_writes_its_fields_in_order_and_the_ending_ones_once_set(tmp_path):
    info = runs.RunInfo(spec="net", status="running", device="cpu", world_size=1, params=8490, epochs=3,
                        epochs_done=0, epochs_trained=0.0, data_notes=("a note",), started="2026-11-28T10:15:00")
    fields = ["spec", "status", "device", "world_size", "backend", "params", "macs", "dataset",
              "epochs", "epochs_done", "epochs_trained", "test_accuracy", "data_root", "data_notes", "started", "host",
              "pid"]
    assert list(info.to_json()) == fields   # no start-up timed (a run folder written by hand), not ended
    info = dataclasses.replace(info, startup_seconds=5.2, startup="torch 2.61 s, data 0.07 s")
    written = info.to_json()
    assert list(written) == [*fields, "startup_seconds", "startup"]   # a running run has no updated, seconds or error
    assert written["data_notes"] == ["a note"] and written["test_accuracy"] is None
    ended = dataclasses.replace(info, status="failed", updated="2026-11-28T10:16:00", seconds=1.5, error="why")
    assert list(ended.to_json())[-3:] == ["updated", "seconds", "error"]
    runs.write_run_info(tmp_path, ended)
    assert runs.read_info(tmp_path) == ended.to_json()
    assert runs.read_run_info(tmp_path) == ended
    assert isinstance(runs.read_run_info(tmp_path).epochs_trained, float)   # 0.0 stays 0.0, 3 stays 3


def test_run_info_reads_older_and_damaged_files_as_far_as_it_can():
    old = runs.RunInfo.from_json({"status": "completed", "epochs_done": 2, "future_field": [1]})
    assert (old.status, old.epochs_done, old.world_size, old.dataset, old.data_notes) == (
        "completed", 2, 1, None, ())   # before world_size was recorded: one process
    assert old.damaged == ()
    bad = runs.RunInfo.from_json({"status": 3, "params": "many", "seconds": True, "data_notes": "x",
                                  "world_size": None, "test_accuracy": 0.5})
    assert (bad.status, bad.params, bad.seconds, bad.data_notes, bad.world_size, bad.test_accuracy) == (
        None, None, None, (), None, 0.5)
    assert bad.damaged == ("status", "params", "data_notes", "seconds")
    assert "damaged" not in bad.to_json()
    for not_a_mapping in ([1, 2], "run", None):
        with pytest.raises(ValueError, match="not the JSON mapping a run writes"):
            runs.RunInfo.from_json(not_a_mapping)


def test_run_info_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(RunError, match="is not a run folder"):
        runs.read_run_info(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(RunError, match="run.json is damaged: not the JSON mapping a run writes"):
        runs.read_run_info(tmp_path)


def test_checkpoint_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(RunError, match="is not a folder; give a run folder such as runs/"):
        runs.load_checkpoint(tmp_path / "missing")
    with pytest.raises(RunError, match="has no checkpoint.pt: the run stopped before its first checkpoint."):
        runs.load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="cannot be loaded safely: it is not a file torch can read") as info:
        runs.load_checkpoint(tmp_path)
    assert "weights_only" not in str(info.value)
    fileio.atomic_write(tmp_path / "checkpoint.pt", lambda f: torch.save({"format": 99}, f))
    with pytest.raises(RunError, match="is not a playground checkpoint"):
        runs.load_checkpoint(tmp_path)
    fileio.atomic_write(tmp_path / "checkpoint.pt", lambda f: torch.save([1, 2], f))
    with pytest.raises(RunError, match="is not a playground checkpoint"):
        runs.load_checkpoint(tmp_path)


def test_checkpoints_refuse_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    fileio.atomic_write(tmp_path / "checkpoint.pt", lambda f: torch.save({"format": 1, "x": Evil()}, f))
    with pytest.raises(RunError, match="cannot be loaded safely: it holds the Python object posix.system, and "
                                       "loading it could run code, so playground will not load it") as info:
        runs.load_checkpoint(tmp_path)
    assert "weights_only" not in str(info.value)   # torch's advice to load it anyway is not repeated


def test_checkpoints_load_where_they_are_asked_to(tmp_path):
    runs.save_checkpoint(tmp_path, {"epoch": 1, "model": {"w": torch.ones(2)}})
    assert runs.load_checkpoint(tmp_path, map_location="meta")["model"]["w"].device.type == "meta"
    assert runs.load_checkpoint(tmp_path)["model"]["w"].device.type == "cpu"


def test_list_runs_newest_first_and_only_runs(tmp_path):
    assert runs.list_runs(tmp_path / "none") == []
    for i, name in enumerate(["old", "new"]):
        (tmp_path / name).mkdir()
        runs.write_info(tmp_path / name, {"status": "completed"})
        stamp = time.time() - 100 + 50 * i
        os.utime(tmp_path / name, (stamp, stamp))
    (tmp_path / "not-a-run").mkdir()
    assert [p.name for p in runs.list_runs(tmp_path)] == ["new", "old"]


def test_written_files_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        path = fileio.atomic_write_text(tmp_path / "x.txt", "hello")
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert path.stat().st_mode & 0o777 == 0o644
    nested = fileio.atomic_write_text(tmp_path / "a" / "b" / "y.txt", "made its folders")
    assert nested.read_text() == "made its folders"


def test_info_is_indented_json(tmp_path):
    runs.write_info(tmp_path, {"a": 1})
    assert (tmp_path / "run.json").read_text() == json.dumps({"a": 1}, indent=2) + "\n"


def test_the_temporary_file_lies_beside_the_target(tmp_path):
    """Same folder (so the final rename is atomic, on one file system), hidden,
    named after the target, this machine and this process; gone once the write is done."""
    import os
    import socket

    seen = []

    def write(f):
        seen.extend(p.name for p in tmp_path.iterdir())
        f.write(b"new")

    fileio.atomic_write(tmp_path / "run.json", write)
    (temporary,) = seen
    assert temporary.startswith(f".run.json~{socket.gethostname()}~{os.getpid()}~") and temporary.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    fileio.atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_bytes() == "héllo".encode()


def test_spec_differences_come_in_the_specs_order_and_say_when_only_the_names_differ():
    from playground.runs.listing import diff_text, spec_diff

    a = {"name": "a", "layers": [{"type": "conv2d", "out_channels": 4}, {"type": "relu"}], "train": {"lr": 0.01}}
    b = {"name": "a", "layers": [{"type": "conv2d", "out_channels": 4, "padding": 1}, {"type": "gelu"}],
         "train": {"lr": 0.05}}
    assert [path for path, _ in spec_diff([a, b])] == ["layers[0].padding", "layers[1].type", "train.lr"]
    assert diff_text(["x", "y"], spec_diff([a, b])).splitlines()[0] == 'layers[0].padding: — -> 1'
    assert diff_text(["x", "y"], spec_diff([a, dict(a)])) == "The resolved specs are the same."
    assert diff_text(["x", "y"], spec_diff([a, {**a, "name": "b"}])) == \
        'The resolved specs are the same except their names: "a", "b".'


def test_a_run_stopped_before_its_first_epoch_ended_has_its_one_accuracy_as_best_and_last(tmp_path):
    from playground.runs import listing as records

    runs.write_info(tmp_path, {"spec": "net", "status": "stopped", "epochs_trained": 0.11, "test_accuracy": 0.8596})
    record = records.read_record(tmp_path)
    assert record.best_accuracy == record.last_accuracy == 0.8596
    runs.write_metrics(tmp_path, [{"epoch": 1, "test_accuracy": 0.9}, {"epoch": 2, "test_accuracy": 0.85}])
    runs.write_info(tmp_path, {"spec": "net", "status": "stopped", "epochs_trained": 2.4, "test_accuracy": 0.87})
    record = records.read_record(tmp_path)
    assert (record.best_accuracy, record.last_accuracy) == (0.9, 0.85)
