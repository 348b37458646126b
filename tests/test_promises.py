"""Behaviour the README promises, each with a test that fails when it breaks:
atomic writes, the class-count check for every ending shape, the NaN exit
status, a second Ctrl-C, the download-failure message, the label check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import ROOT
from test_training import NanAfter
from tinydata import TINY, write_dataset

import playground
from playground.app import editing
from playground.core import fileio
from playground.runs import folders as runs
from playground.train.data import DataError, check_fits, load_raw

# -- atomic writes ------------------------------------------------------------

def _fail_in_the_middle(monkeypatch):
    """Make every atomic write fail after its bytes are written, before they are
    made durable and moved into place (as a full disk or a crash would)."""
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fileio.os, "fsync", broken_fsync)


WRITERS = {
    "checkpoint.pt": lambda d: runs.save_checkpoint(d, {"epoch": 2, "model": {"w": torch.ones(3)}}),
    "metrics.jsonl": lambda d: runs.write_metrics(d, [{"epoch": 1, "test_accuracy": 0.5}] * 2),
    "run.json": lambda d: runs.write_info(d, {"status": "completed"}),
    "spec.yaml": lambda d: runs.write_spec(d, {"name": "new"}),
    "saved.yaml": lambda d: editing.save_spec("name: new\n", "saved", d, overwrite=True),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, name):
    old = b"the old, complete content\n"
    (tmp_path / name).write_bytes(old)
    _fail_in_the_middle(monkeypatch)
    with pytest.raises(fileio.WriteError, match="the disk is full"):   # an OSError, located and worded
        WRITERS[name](tmp_path)
    assert (tmp_path / name).read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_write_replaces_the_whole_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"x" * 100_000)  # longer than the new content: no leftovers
    WRITERS[name](tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert b"x" * 100 not in (tmp_path / name).read_bytes()


# -- the class-count check, for every ending shape ---------------------------

HEAD = [{"type": "conv2d", "out_channels": 10, "kernel_size": 5}]


@pytest.mark.parametrize("tail,accepted,message", [
    ([{"type": "flatten"}, {"type": "linear", "out_features": 10}], True, None),
    ([{"type": "adaptive_avgpool2d", "output_size": 1}, {"type": "flatten"}], True, None),   # 10x1x1 -> 10
    ([{"type": "flatten"}, {"type": "linear", "out_features": 5}], False,
     "out_features=5, but mnist has 10 classes"),
    ([{"type": "flatten"}, {"type": "linear", "out_features": 1}], False, "out_features=1"),
    ([], False, "the model ends with 10x24x24, but mnist needs 10 class scores"),
    ([{"type": "adaptive_avgpool2d", "output_size": 1}], False, "the model ends with 10x1x1"),
    ([{"type": "flatten"}], False, "the model ends with 5760"),
    ([{"type": "adaptive_avgpool2d", "output_size": 1}, {"type": "flatten"}, {"type": "relu"}], True, None),
])
def test_the_last_layer_must_give_one_score_per_class(tail, accepted, message):
    spec = {"name": "ending", "layers": HEAD + tail}
    if accepted:
        assert playground.summarize(playground.load_spec(spec)).output_shape == (10,)
        return
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(spec)
    assert message in str(info.value)
    assert {p.reason for p in info.value.problems} == {"classes"}
    assert info.value.problems[0].path[:2] == ("layers", len(HEAD + tail) - 1)


# -- training failures, from the command line ---------------------------------

def test_a_nan_loss_exits_1_from_the_command_line(registry, tmp_path, data_dir, capsys):
    from playground.train.cli import main

    registry.register(NanAfter)
    spec = tmp_path / "nan.yaml"
    spec.write_text(TINY.replace("  - {type: relu}\n", "  - {type: nan_after, calls: 15}\n"))
    assert main([str(spec), "--data-dir", str(data_dir), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "error: the training loss became NaN or infinite in epoch 2" in err
    assert runs.read_info(tmp_path / "run")["status"] == "failed"
    assert runs.load_checkpoint(tmp_path / "run")["epoch"] == 1


SLOW_STEPS = TINY.replace("out_channels: 4, kernel_size: 5, stride: 2", "out_channels: 64, kernel_size: 3") \
    .replace("epochs: 3", "epochs: 1000").replace("batch_size: 32", "batch_size: 320")


def test_a_second_ctrl_c_aborts_and_keeps_the_last_checkpoint(tmp_path, data_dir):
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_STEPS)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "playground.train", str(spec), "--data-dir", str(data_dir),
                             "--out", str(out)], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.time() + 90
    while time.time() < deadline and not (out / "checkpoint.pt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    while time.time() < deadline and "stopping after this step" not in "".join(err):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # the step is still running: abort now
    assert proc.wait(60) == 130
    reader.join(10)
    text = "".join(err)
    assert "aborted; the last checkpoint is kept." in text and "Traceback" not in text
    assert runs.read_info(out)["status"] == "interrupted"
    assert runs.load_checkpoint(out)["epoch"] >= 1


# -- data ---------------------------------------------------------------------

MIRRORS = ("Error downloading train-images-idx3-ubyte.gz:\nTried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n"
           "<urlopen error [Errno -2] Name or service not known>\nTried http://yann.lecun.com/exdb/mnist/, got:\n"
           "<urlopen error [Errno -2] Name or service not known>\n")


@pytest.mark.parametrize("error,why", [
    (lambda: __import__("urllib.error").error.URLError("Temporary failure in name resolution"),
     "downloading it failed (no download server could be reached: Temporary failure in name resolution; "
     "is this machine online?)."),
    (lambda: RuntimeError(MIRRORS),   # torchvision's, one line per mirror tried: said once, in one line
     "downloading it failed (no download server could be reached: Name or service not known; "
     "is this machine online?)."),
    (lambda: OSError("No space left on device"), "downloading it failed (OSError: No space left on device)."),
])
def test_a_failed_download_says_so_in_one_line_and_where_the_files_go(tmp_path, monkeypatch, error, why):
    import torchvision.datasets as tvd

    def offline(self):
        raise error()

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataError) as info:
        load_raw("mnist", tmp_path, download=True)
    message = str(info.value)
    assert message.splitlines()[0].endswith(why) and "urlopen" not in message
    assert f"Put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, " \
           f"t10k-labels-idx1-ubyte (uncompressed) in {tmp_path / 'MNIST' / 'raw'}" in message


def test_labels_beyond_the_model_outputs_are_refused(tmp_path):
    root = write_dataset(tmp_path / "data", classes=12)   # labels 0..11
    raw = load_raw("mnist", root, download=False)
    with pytest.raises(DataError, match=f"^the train labels in {root} go up to 11, but the model has 10 outputs"):
        check_fits(raw, (1, 28, 28), 10)


def test_labels_within_range_pass_the_label_check(tmp_path):
    root = write_dataset(tmp_path / "data")
    raw = load_raw("mnist", root, download=False)
    check_fits(raw, (1, 28, 28), 10)
    with pytest.raises(DataError, match="has 10 classes, but the model has 11 outputs"):
        check_fits(raw, (1, 28, 28), 11)


def test_the_readme_layout_names_every_module():
    """The README's layout section stays true: every module of playground and
    of each of its subpackages, and every subpackage, is in it."""
    import re

    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):]
    named = set(re.findall(r"[\w.]+\.py|\w+/", layout))
    package = ROOT / "playground"
    folders = [package, *(p.parent for p in package.glob("*/__init__.py"))]
    assert len(folders) > 8
    for folder in folders:
        for path in folder.iterdir():
            if path.name.startswith("_") or path.name == "__pycache__":
                continue
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                wanted = path.name if path.suffix == ".py" else f"{path.name}/"
                assert wanted in named, f"README layout misses {path.relative_to(ROOT)}"


TUTORIAL_SCRIPT = "tutorial_mnist.py"   # the tutorial's own script: it trains when run, so it is not imported here


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != TUTORIAL_SCRIPT))
def test_every_bench_script_still_imports(script):
    """The README's figures come from bench/: a bench whose imports broke when a module moved would
    leave them unmeasurable without a word."""
    import runpy

    runpy.run_path(str(ROOT / "bench" / script), run_name="bench")
