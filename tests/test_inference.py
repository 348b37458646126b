"""Using a trained run: the digit preparation against hand-worked examples of
the MNIST recipe (fit a 20x20 box keeping the aspect, centre by mass in
28x28), and what a loaded run and an evaluation carry."""

from __future__ import annotations

import pytest
import torch
from tinydata import TINY, write_dataset

import playground
from playground.train.engine import train
from playground.train.inference import Evaluation, digit_to_input, evaluate_run, load_run


def _canvas(patch: torch.Tensor, top: int = 30, left: int = 50, size: int = 120) -> torch.Tensor:
    canvas = torch.zeros(size, size)
    canvas[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
    return canvas


def _expected(rows: slice, cols: slice, value: int = 255) -> torch.Tensor:
    out = torch.zeros(28, 28, dtype=torch.uint8)
    out[rows, cols] = value
    return out


def test_a_square_fills_the_20x20_box_in_the_middle():
    # 10x10 -> scaled by 2 to 20x20; mass centre 9.5 -> top = round(14 - 9.5 - 0.5) = 4
    assert torch.equal(digit_to_input(_canvas(torch.full((10, 10), 255.0))), _expected(slice(4, 24), slice(4, 24)))


def test_a_tall_bar_keeps_its_aspect_and_is_centred_by_mass():
    # 10x5 -> 20x10; centre (9.5, 4.5) -> top 4, left round(14 - 4.5 - 0.5) = 9
    assert torch.equal(digit_to_input(_canvas(torch.full((10, 5), 255.0))), _expected(slice(4, 24), slice(9, 19)))


def test_a_thin_line_keeps_one_pixel():
    # 1x40 -> scale 0.5 -> 1x20 (never 0 rows); centre (0, 9.5) -> top round(13.5) = 14 (to even), left 4
    got = digit_to_input(_canvas(torch.full((1, 40), 255.0)))
    assert torch.equal(got, _expected(slice(14, 15), slice(4, 24)))
    got = digit_to_input(_canvas(torch.full((40, 1), 255.0)))         # and standing up
    assert torch.equal(got, _expected(slice(4, 24), slice(14, 15)))


def test_downscaling_averages_areas():
    checker = (torch.arange(40)[:, None] + torch.arange(40)[None, :]) % 2 * 255.0   # 40x40, 1-pixel cells
    # every 2x2 block averages to 127.5, which rounds to 128
    assert torch.equal(digit_to_input(_canvas(checker)), _expected(slice(4, 24), slice(4, 24), 128))


def test_faint_marks_up_to_20_are_ignored():
    drawing = _canvas(torch.full((10, 10), 255.0))
    drawing[0, 0] = 20          # a faint speck far away: not part of the digit
    assert torch.equal(digit_to_input(drawing), _expected(slice(4, 24), slice(4, 24)))
    drawing[0, 0] = 21          # just visible: now it is, and the crop grows to include it
    assert not torch.equal(digit_to_input(drawing), _expected(slice(4, 24), slice(4, 24)))


def test_any_input_type_and_a_blank_canvas():
    square = _canvas(torch.full((10, 10), 255.0)).to(torch.uint8)
    assert torch.equal(digit_to_input(square), _expected(slice(4, 24), slice(4, 24)))
    assert torch.equal(digit_to_input(square.numpy()), _expected(slice(4, 24), slice(4, 24)))
    blank = digit_to_input(torch.zeros(50, 50))
    assert blank.dtype == torch.uint8 and blank.shape == (28, 28) and blank.sum() == 0


def _placed(patch: torch.Tensor, top: int, left: int) -> torch.Tensor:
    out = torch.zeros(28, 28, dtype=torch.uint8)
    out[top:top + patch.shape[0], left:left + patch.shape[1]] = patch.to(torch.uint8)
    return out


def test_a_lopsided_digit_is_kept_inside_the_image():
    # An L: mass centre (14.1, 4.9) would put the 20x20 box at top -1, left 9: it is moved to 0 and 8.
    ell = torch.zeros(20, 20)
    ell[:, 0], ell[19, :] = 255.0, 255.0
    assert torch.equal(digit_to_input(_canvas(ell)), _placed(ell, 0, 8))
    # Turned half round (mass top right): top 9 and left -1 become 8 and 0.
    turned = ell.flip(0).flip(1)
    assert torch.equal(digit_to_input(_canvas(turned)), _placed(turned, 8, 0))


def test_values_outside_0_255_are_clipped_not_wrapped():
    bright = digit_to_input(_canvas(torch.full((10, 10), 400.0)))
    assert torch.equal(bright, _expected(slice(4, 24), slice(4, 24)))       # 255, not 400 % 256
    dark = torch.full((10, 10), 255.0)
    dark[:, 3:7] = -100.0   # between two strokes: inside the crop, below the stroke threshold
    got = digit_to_input(_canvas(dark))   # scaled by 2: columns 6-13 of the 20x20 box are the gap
    assert got[4:24, 4 + 6:4 + 14].max() == 0 and got.max() == 255


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    data = write_dataset(root / "data")
    spec = playground.load_spec(TINY.replace("epochs: 3", "epochs: 1"))
    train(spec, out=root / "run", data_dir=data, download=False)
    return root / "run", data


def test_a_loaded_run_says_what_it_is(trained):
    run_dir, _ = trained
    run = load_run(run_dir, "cpu")
    assert run.run_dir == run_dir and run.device == torch.device("cpu") and run.epoch == 1
    assert all(p.device.type == "cpu" for p in run.model.parameters())


def test_an_evaluation_carries_the_test_set(trained):
    from playground.train.data import load_raw

    run_dir, data = trained
    ev = evaluate_run(load_run(run_dir, "cpu"), data, download=False)
    raw = load_raw("mnist", data, download=False)
    assert torch.equal(ev.images, raw.test.images) and torch.equal(ev.labels, raw.test.labels)
    assert len(ev.predictions) == 80 and ev.confusion.sum() == 80
    assert ev.accuracy == pytest.approx((ev.predictions == ev.labels).float().mean().item())


def test_evaluation_downloads_missing_data_by_default(trained, tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    run_dir, _ = trained
    monkeypatch.setattr(tvd.MNIST, "download", lambda self: write_dataset(type(tmp_path)(self.root)))
    ev = evaluate_run(load_run(run_dir, "cpu"), tmp_path / "fresh")   # downloading is the default
    assert len(ev.labels) == 80


def test_evaluation_of_keeps_what_it_was_given():
    labels, preds, images = torch.tensor([1, 0]), torch.tensor([1, 1]), torch.zeros(2, 3, 3)
    ev = Evaluation.of(labels, preds, ("a", "b"), 0.25, images)
    assert torch.equal(ev.labels, labels) and torch.equal(ev.predictions, preds) and ev.images is images
    assert (ev.test_loss, ev.classes, ev.accuracy) == (0.25, ("a", "b"), 0.5)


def test_a_run_loads_straight_onto_the_device_asked_for(trained, monkeypatch):
    # No second real device here, so "meta" (shapes only, no memory) stands in for a GPU:
    # the checkpoint is mapped to it and the model lives on it, never detouring through the CPU.
    from playground.runs import folders as runs
    from playground.train import devices, inference

    meta = devices.DeviceSetup(torch.device("meta"), False, None, 1)
    asked, seen = [], []
    monkeypatch.setattr(inference.devices, "resolve", lambda name: asked.append(name) or meta)
    real = runs.load_checkpoint
    monkeypatch.setattr(inference.runs, "load_checkpoint",
                        lambda run_dir, map_location: seen.append(map_location) or real(run_dir, map_location))
    run_dir, _ = trained
    run = load_run(run_dir, "cuda:1")
    assert asked == ["cuda:1"] and seen == [torch.device("meta")]
    assert run.device == torch.device("meta") and run.run_dir == run_dir
    assert {p.device.type for p in run.model.parameters()} == {"meta"}


def test_evaluation_without_downloading_names_the_missing_files(trained, tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from playground.train.data import DataError

    run_dir, _ = trained
    monkeypatch.setattr(tvd.MNIST, "download", lambda self: pytest.fail("downloaded although told not to"))
    with pytest.raises(DataError, match="MNIST"):
        evaluate_run(load_run(run_dir, "cpu"), tmp_path / "empty", download=False)
