"""Your own images: an image folder of generated PNG and JPEG files (and a
broken one), decoded once into a cache, checked against the spec before
training, and streamed from the memory-mapped cache above the memory limit."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from tinydata import FOLDER_CLASSES, write_image_folder

import playground
from playground.core.errors import SpecError
from playground.runs import folders as runs
from playground.train import cache, imagefolder
from playground.train import data as datamod
from playground.train.engine import DataProgress, RunStarted, Trainer

FOLDER_SPEC = """\
name: shapes
input: {channels: 3, height: 32, width: 32}
data: {dataset: image_folder, path: shapes, batch_size: 8, test_batch_size: 5}
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu}
  - {type: flatten}
  - {type: linear, out_features: 3}
train: {epochs: 2, lr: 0.05, seed: 4, device: cpu}
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """tmp/shapes, with the data root pointing at tmp (the spec says path: shapes)."""
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path))
    return write_image_folder(tmp_path / "shapes")


def load(root, channels=3, size=32, resize="center_crop", workers=1):
    return datamod.finish(imagefolder.load(root, channels, size, size, resize, workers=workers))


def test_classes_shapes_and_labels_come_from_the_folders(folder):
    cached = load(folder)
    assert cached.classes == FOLDER_CLASSES
    images, labels = cached.train
    assert images.shape == (12 * 3, 32, 32, 3) and images.dtype == np.uint8   # the 2 broken files skipped
    assert sorted(set(labels.tolist())) == [0, 1, 2] and np.bincount(labels).tolist() == [12, 12, 12]
    assert cached.test[0].shape == (4 * 3, 32, 32, 3)
    gray = load(folder, channels=1)
    assert gray.train[0].shape == (36, 32, 32, 1)


def test_broken_and_non_image_files_are_skipped_and_named(folder):
    cached = load(folder)
    assert sorted(cached.skipped["train"]) == ["train/circle/notes.txt", "train/square/cut.jpg"]
    text = "\n".join(cached.notes())
    assert "skipped 2 train files that are not a readable image" in text
    assert "train/circle/notes.txt" in text and "train/square/cut.jpg" in text
    assert ".DS_Store" not in text   # hidden files are not data


def test_the_patch_that_encodes_the_class_is_where_it_was_drawn(folder):
    """Decoding keeps the picture: stretch maps the whole image, so a class's
    patch lands at its scaled position in the mean image of that class."""
    cached = load(folder, resize="stretch")
    images, labels = cached.train
    for label in range(3):
        mean = images[labels == label].astype(np.float64).mean(axis=(0, 3))   # 32 x 32
        row, col = np.unravel_index(mean.argmax(), mean.shape)
        assert 4 + 8 * label - 2 <= row * 40 / 32 <= 4 + 8 * label + 10, (label, row)
        assert col < 12


def test_center_crop_keeps_the_middle_and_stretch_keeps_everything(tmp_path):
    """A wide image red | blue | green, the blue band wider than the middle
    square: center-cropped to a square it is all blue; stretched it keeps the
    three bands."""
    for split in ("train", "test"):
        (tmp_path / split / "a").mkdir(parents=True)
        pixels = np.zeros((30, 90, 3), dtype=np.uint8)
        pixels[:, :20, 0] = pixels[:, 20:70, 2] = pixels[:, 70:, 1] = 255
        Image.fromarray(pixels).save(tmp_path / split / "a" / "bands.png")
    crop = load(tmp_path, size=12, resize="center_crop").train[0][0]
    assert (crop[..., 2] == 255).all() and (crop[..., :2] == 0).all()
    stretch = load(tmp_path, size=12, resize="stretch").train[0][0]
    assert (stretch[:, 0] == [255, 0, 0]).all() and (stretch[:, 6] == [0, 0, 255]).all()
    assert (stretch[:, -1] == [0, 255, 0]).all()


def test_decoding_happens_once_and_again_when_the_folder_changes(folder):
    first = list(imagefolder.load(folder, 3, 32, 32, workers=1))
    assert first and isinstance(first[-1], imagefolder.Progress) and first[-1].done == first[-1].total
    steps = imagefolder.load(folder, 3, 32, 32, workers=1)
    again = datamod.finish(steps)
    assert not again.decoded and "read from the cache" in again.notes()[-1]
    assert list(imagefolder.load(folder, 3, 32, 32, workers=1)) == []   # no decoding, no progress
    Image.new("RGB", (20, 20), "white").save(folder / "test" / "square" / "extra.png")
    changed = load(folder)
    assert changed.decoded and changed.test[0].shape[0] == 13
    assert load(folder, size=16).train[0].shape[1:] == (16, 16, 3)   # another size: its own cache


def test_parallel_decoding_gives_the_serial_result(folder):
    serial = load(folder)
    for path in cache.root().glob("image_folder/*"):
        import shutil
        shutil.rmtree(path)
    parallel = load(folder, workers=2)
    assert parallel.decoded
    assert np.array_equal(serial.train[0], parallel.train[0]) and np.array_equal(serial.train[1], parallel.train[1])
    assert parallel.skipped == serial.skipped


@pytest.mark.parametrize("change,message", [
    (lambda root: os.rename(root / "test" / "triangle", root / "test" / "star"),
     "different classes (only in train/: 'triangle'; only in test/: 'star')"),
    (lambda root: os.rename(root / "test", root / "elsewhere"), "has no test/ (or val/)"),
    (lambda root: [p.unlink() for p in (root / "train" / "square").iterdir()], "has no images for 1 class ('square')"),
])
def test_a_folder_laid_out_wrong_is_a_clear_error(folder, change, message):
    change(folder)
    with pytest.raises(datamod.DataError) as err:
        datamod.finish(datamod.load(playground.load_spec(FOLDER_SPEC).data, (3, 32, 32), folder.parent))
    assert message in str(err.value) and "train/<class>/<image>" in str(err.value) + "train/<class>/<image>"


def test_val_is_accepted_for_test(tmp_path):
    root = write_image_folder(tmp_path / "v", test_name="val", broken=False)
    assert load(root).test[0].shape[0] == 12


def test_missing_folder_names_the_place_and_the_layout(tmp_path):
    with pytest.raises(datamod.DataError, match=r"the image folder .*nowhere does not exist"):
        datamod.finish(datamod.load(playground.load_spec(FOLDER_SPEC.replace("path: shapes", "path: nowhere")).data,
                                    (3, 32, 32), tmp_path))


# -- the spec -------------------------------------------------------------------

@pytest.mark.parametrize("edit,where,words", [
    (("path: shapes, ", ""), "data.path", "dataset image_folder needs a path"),
    (("dataset: image_folder, ", ""), "data.path", "path applies to dataset image_folder, not mnist"),
    (("channels: 3", "channels: 2"), "input.channels", "grayscale (1 channel) or RGB (3), not 2 channels"),
    (("input: {channels: 3, height: 32, width: 32}\n", ""), "input", "input is required when data.dataset is "
                                                                    "image_folder"),
    (("path: shapes", "path: shapes, resize: squash"), "data.resize", "'center_crop' or 'stretch'"),
])
def test_spec_mistakes_are_located(edit, where, words):
    with pytest.raises(SpecError) as err:
        playground.load_spec(FOLDER_SPEC.replace(*edit))
    text = str(err.value)
    assert where in text and words in text


def test_the_check_compares_the_last_layer_with_the_class_folders(folder):
    with pytest.raises(SpecError) as err:
        playground.load_spec(FOLDER_SPEC.replace("out_features: 3", "out_features: 10"))
    problem = err.value.problems[0]
    assert problem.path == ("layers", 3, "out_features") and problem.fix == "Set out_features: 3."
    assert problem.line == 8 and "the image folder shapes has 3 classes" in problem.message
    assert playground.summarize(playground.load_spec(FOLDER_SPEC)).num_classes == 3


def test_without_the_folder_the_check_passes_and_training_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path))
    spec = playground.load_spec(FOLDER_SPEC.replace("out_features: 3", "out_features: 10"))
    assert playground.summarize(spec).num_classes is None
    with pytest.raises(datamod.DataError, match="shapes does not exist"):
        list(Trainer(spec, runs_base=tmp_path / "runs").events())


# -- training -------------------------------------------------------------------

def _train(spec, tmp_path, name):
    events = list(Trainer(spec, out=tmp_path / name, data_dir=tmp_path).events())
    model = torch.load(tmp_path / name / runs.CHECKPOINT_FILE, weights_only=True)["model"]
    return events, model


def test_training_fills_in_the_statistics_and_records_classes(folder, tmp_path):
    events, _ = _train(playground.load_spec(FOLDER_SPEC), tmp_path, "run")
    assert any(isinstance(e, DataProgress) for e in events)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.train_size == 36 and any("skipped 2 train files" in n for n in started.notes)
    resolved = playground.load_spec((tmp_path / "run" / "spec.yaml").read_text())
    cached = load(folder)
    assert resolved.data.mean == pytest.approx(list(cached.mean)) and len(resolved.data.std) == 3
    mean, std = datamod.pixel_statistics(torch.from_numpy(np.asarray(cached.train[0])))
    assert resolved.data.mean == pytest.approx(list(mean), abs=1e-5) and resolved.data.std == pytest.approx(
        list(std), abs=1e-5)
    from playground.train.inference import evaluate_run, load_run
    run = load_run(tmp_path / "run")
    assert run.classes == FOLDER_CLASSES
    evaluation = evaluate_run(run, tmp_path, download=False)
    assert evaluation.confusion.shape == (3, 3) and int(evaluation.confusion.sum()) == 12


def test_streaming_gives_the_batches_and_the_weights_of_holding(folder, tmp_path):
    """Over the memory limit the batches come from the memory-mapped uint8 cache,
    normalized one at a time: the same values, so the same training, bit for bit."""
    spec = playground.load_spec(FOLDER_SPEC.replace("path: shapes", "path: shapes, augment: {padding: 2, hflip: true}"))
    cached = load(folder)
    images = torch.from_numpy(cached.train[0])
    args = ([0.5, 0.4, 0.3], [0.2, 0.25, 0.3], torch.device("cpu"))
    held, streamed = datamod.Images(images, *args, hold=True), datamod.Images(images, *args, hold=False)
    idx = torch.randperm(len(images))[:10]
    assert torch.equal(held.take(idx), streamed.take(idx)) and torch.equal(held[3:9], streamed[3:9])

    _, in_memory = _train(spec, tmp_path, "held")
    events, streaming = _train(playground.load_spec(
        FOLDER_SPEC.replace("path: shapes", "path: shapes, augment: {padding: 2, hflip: true}, "
                                            "memory_limit_mb: 0.25")), tmp_path, "streamed")
    notes = next(e for e in events if isinstance(e, RunStarted)).notes
    assert any("0.6 MiB, over data.memory_limit_mb=0.25" in n for n in notes)
    assert all(torch.equal(in_memory[k], streaming[k]) for k in in_memory)
    held_metrics = runs.read_metrics(tmp_path / "held")
    assert [m["test_loss"] for m in held_metrics] == [m["test_loss"] for m in runs.read_metrics(tmp_path / "streamed")]


def test_the_example_folder_and_spec_train_from_the_command_line(tmp_path, monkeypatch, capsys):
    """examples/make_shapes.py writes a folder that specs/shapes_folder.yaml trains on;
    the first run shows decoding progress and says where the cache is."""
    import importlib.util

    from conftest import SPECS

    from playground.train.cli import main

    script = SPECS.parent / "examples" / "make_shapes.py"
    module = importlib.util.spec_from_file_location("make_shapes", script)
    make_shapes = importlib.util.module_from_spec(module)
    module.loader.exec_module(make_shapes)
    assert make_shapes.main([str(tmp_path / "shapes"), "--train", "20", "--test", "4"]) == 0
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path))
    args = [str(SPECS / "shapes_folder.yaml"), "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "decoding train" in err and "decoding test" in err and "note: decoded 72 images" in err
    assert "data: 60 train / 12 test images" in err
    assert main([*args[:-1], str(tmp_path / "again")]) == 0
    err = capsys.readouterr().err
    assert "decoding" not in err and "note: images read from the cache" in err


def test_check_looks_for_the_folder_under_its_data_dir(tmp_path, capsys, monkeypatch):
    from playground.check.cli import main

    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "empty"))
    write_image_folder(tmp_path / "elsewhere" / "shapes", broken=False)
    spec = tmp_path / "shapes.yaml"
    spec.write_text(FOLDER_SPEC.replace("out_features: 3", "out_features: 4"))
    assert main([str(spec)]) == 0   # not under $PLAYGROUND_DATA: the class count is not known
    assert main([str(spec), "--data-dir", str(tmp_path / "elsewhere")]) == 2
    assert "out_features=4, but the image folder shapes has 3 classes" in capsys.readouterr().err
