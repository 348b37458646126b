"""torchvision's datasets are read through torchvision once, then from the dataset
cache: no parsing and no torchvision import on later runs, and never a cache that
is stale, damaged or out of range. And a run says how long it took to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tinydata import TINY, write_dataset

from playground.core import clock
from playground.train import cache
from playground.train import data as datamod

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path):
    return write_dataset(tmp_path / "data", n_train=40, n_test=12)


def _no_torchvision(monkeypatch):
    """torchvision's MNIST made unusable: a read that reaches it fails the test."""
    import torchvision.datasets as tvd

    def refuse(*args, **kwargs):
        raise AssertionError("torchvision was asked to read the dataset")

    monkeypatch.setattr(tvd, "MNIST", refuse)


def _same(a: datamod.RawData, b: datamod.RawData) -> None:
    for x, y in ((a.train, b.train), (a.test, b.test)):
        assert torch.equal(x.images, y.images) and torch.equal(x.labels, y.labels)
        assert x.images.dtype == y.images.dtype == torch.uint8 and x.labels.dtype == y.labels.dtype == torch.int64
    assert a.classes == b.classes


def test_a_dataset_is_read_by_torchvision_once_then_from_the_cache(root, monkeypatch):
    first = datamod.load_raw("mnist", root, download=False)
    folder = datamod.cache_folder(first.info, root)
    assert first.notes == (f"MNIST read once from {root / 'MNIST' / 'raw'} into the cache {folder}",)
    _no_torchvision(monkeypatch)
    again = datamod.load_raw("mnist", root, download=False)
    _same(first, again)
    assert again.notes == () and again.root == root and again.info.name == "mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", *sorted(cache.FILES)]
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}~")]   # no temporary


def test_a_changed_dataset_file_is_read_again(root, monkeypatch):
    datamod.load_raw("mnist", root, download=False)
    write_dataset(root, n_train=24, n_test=12)   # new files at the same paths
    raw = datamod.load_raw("mnist", root, download=False)
    assert len(raw.train.images) == 24 and raw.notes and "read once" in raw.notes[0]


@pytest.mark.parametrize("damage", ["a byte of the images", "meta.json's classes", "a missing label file"])
def test_a_damaged_cache_is_never_used(root, damage):
    truth = datamod.load_raw("mnist", root, download=False)
    folder = datamod.cache_folder(truth.info, root)
    if damage == "a byte of the images":   # same size, other bytes: only the checksum tells
        data = bytearray((folder / "train.npy").read_bytes())
        data[-1] ^= 0xFF
        (folder / "train.npy").write_bytes(bytes(data))
    elif damage == "meta.json's classes":
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "classes": ["one class"]}))
    else:
        (folder / "test.labels.npy").unlink()
    raw = datamod.load_raw("mnist", root, download=False)
    _same(truth, raw)
    assert raw.notes and "read once" in raw.notes[0]   # read by torchvision again, and cached again


def test_a_sealed_cache_whose_labels_do_not_fit_its_classes_is_not_used(root):
    """Even a cache whose checksums all match (written by another program, say) is checked
    for what the run relies on: uint8 images of one shape, int64 labels below the class count."""
    truth = datamod.load_raw("mnist", root, download=False)
    folder = datamod.cache_folder(truth.info, root)
    meta = json.loads((folder / "meta.json").read_text())
    tmp = cache.begin(folder)
    for name in cache.FILES:
        (tmp / name).write_bytes((folder / name).read_bytes())
    labels = np.load(tmp / "train.labels.npy")
    labels[0] = 10   # MNIST has classes 0..9
    np.save(tmp / "train.labels.npy", labels)
    cache.seal(tmp, {k: v for k, v in meta.items() if k not in ("checksums", "sealed")})
    cache.publish(tmp, folder)
    assert cache.read_meta(folder, {"dataset": "mnist"}) is not None   # whole, as far as its seal says
    raw = datamod.load_raw("mnist", root, download=False)
    _same(truth, raw)


def test_a_cache_that_cannot_be_written_costs_later_runs_a_read_not_this_one(root, tmp_path, monkeypatch):
    blocker = tmp_path / "not a folder"
    blocker.write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker))
    raw = datamod.load_raw("mnist", root, download=False)
    assert len(raw.train.images) == 40
    (note,) = raw.notes
    assert note.startswith(f"could not cache MNIST in {blocker}/datasets/mnist-") and note.endswith(
        ": later runs read it again")


def test_training_reads_the_cache_without_importing_torchvision_and_says_how_long_it_took_to_start(root, tmp_path):
    """The command as a person runs it, twice: the second run imports no torchvision at all,
    and each run's start-up (from the process's start to its first step) is in its words and
    its run.json, phase by phase."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        launched = time.time()
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "playground.train", str(spec), "--epochs",
                               "1", "--data-dir", str(root), "--out", str(out)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append((launched, out, done.stderr))
    imported = [{line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
                for _, _, stderr in runs]
    assert "torchvision" in imported[0] and "torchvision" not in imported[1]
    assert not any(name.startswith("torchvision") for name in imported[1])
    for launched, out, stderr in runs:
        info = json.loads((out / "run.json").read_text())
        phases = [part.rsplit(" ", 2)[0] for part in info["startup"].split(", ")]
        assert phases == ["python", "spec", "torch", "data", "model", "run folder"]
        seconds = [float(part.rsplit(" ", 2)[1]) for part in info["startup"].split(", ")]
        assert 0 < info["startup_seconds"] < time.time() - launched
        assert sum(seconds) == pytest.approx(info["startup_seconds"], abs=0.01 * len(seconds))
        line = next(x for x in stderr.splitlines() if x.startswith("start-up: "))
        assert line.startswith(f"start-up: {info['startup_seconds']:.2f} s to the first step (python ")


def test_the_process_start_is_read_from_the_system(tmp_path):
    """Not the time the module was imported: a child that sleeps before importing it still
    reports when it was launched (to the system's clock ticks)."""
    launched = time.time()
    done = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5); from playground.core import clock; "
                           "print(repr(clock.process_started()))"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    started = float(done.stdout)
    if sys.platform.startswith("linux"):
        assert launched - 0.05 < started < launched + 0.3
    else:
        assert started > launched


def test_phases_add_up_to_the_time_since_they_began():
    phases = clock.Phases(time.time() - 1.0)
    phases.mark("before")
    time.sleep(0.02)
    phases.mark("after")
    (first, a), (second, b) = phases.parts
    assert (first, second) == ("before", "after") and a >= 1.0 and b >= 0.02
    assert a + b == pytest.approx(phases.since_began(), abs=0.01)
    assert phases.words() == f"before {a:.2f} s, after {b:.2f} s"
