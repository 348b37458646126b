"""CIFAR-10 and CIFAR-100 through torchvision's own classes, normalized per
channel; tiny pickled batches written into a temporary folder."""

from __future__ import annotations

import pytest
import torch
from tinydata import write_cifar

import playground
from playground.format.datasets import DATASETS
from playground.train import data as datamod

SMALL = """\
name: small
data: {dataset: cifar10, batch_size: 20}
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu}
  - {type: adaptive_avgpool2d, output_size: 1}
  - {type: flatten}
  - {type: linear, out_features: 10}
train: {epochs: 1, lr: 0.05, device: cpu}
"""


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_read_through_torchvision_as_color_images(tmp_path, monkeypatch, name, classes):
    root = write_cifar(tmp_path, name, monkeypatch=monkeypatch)
    raw = datamod.load_raw(name, root, download=False)
    assert raw.train.images.shape == (200, 32, 32, 3) and raw.train.images.dtype == torch.uint8
    assert raw.test.images.shape == (60, 32, 32, 3) and len(raw.classes) == classes == DATASETS[name].num_classes
    datamod.check_fits(raw, (3, 32, 32), classes)


def test_per_channel_normalization_is_torchvisions(tmp_path, monkeypatch):
    from torchvision import transforms

    raw = datamod.load_raw("cifar10", write_cifar(tmp_path, monkeypatch=monkeypatch), download=False)
    mean, std = DATASETS["cifar10"].mean, DATASETS["cifar10"].std
    ours = datamod.to_tensor(raw.test.images[:5], mean, std, torch.device("cpu"))
    oracle = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    theirs = torch.stack([oracle(img.numpy()) for img in raw.test.images[:5]])
    assert ours.shape == (5, 3, 32, 32) and torch.allclose(ours, theirs, atol=1e-6)


def test_pixel_statistics_are_per_channel_for_color_images():
    images = torch.zeros(2, 4, 4, 3, dtype=torch.uint8)
    images[..., 0] = 255
    images[0, ..., 1] = 255
    mean, std = datamod.pixel_statistics(images)
    assert mean == (1.0, 0.5, 0.0) and std == pytest.approx((0.0, 0.5, 0.0))


def test_defaults_are_per_channel_and_a_spec_may_give_its_own():
    spec = playground.load_spec(SMALL)
    assert spec.input.shape() == (3, 32, 32)
    assert (spec.data.mean, spec.data.std) == ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
    spec = playground.load_spec(SMALL.replace("batch_size: 20}", "batch_size: 20, mean: 0.5, std: [0.2, 0.3, 0.4]}"))
    assert (spec.data.mean, spec.data.std) == (0.5, [0.2, 0.3, 0.4])


def test_a_mean_per_channel_must_match_the_channels():
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(SMALL.replace("batch_size: 20}", "batch_size: 20, mean: [0.5, 0.5]}"))
    (p,) = info.value.problems
    assert (p.path, p.line) == (("data", "mean"), 2)
    assert p.message == "data.mean has 2 values, but the input has 3 channels."
    assert p.fix == "Give one number, or one per channel (3)."


def test_missing_cifar_names_the_folder_and_files(tmp_path):
    with pytest.raises(datamod.DataError) as info:
        datamod.load_raw("cifar10", tmp_path, download=False)
    message = str(info.value)
    assert f"CIFAR10 is not in {tmp_path / 'cifar-10-batches-py'}, and downloading is switched off." in message
    assert "Put data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, batches.meta " \
           "(from cifar-10-python.tar.gz) in" in message


def test_train_a_small_net_on_tiny_cifar(tmp_path, monkeypatch, capsys):
    from playground.train.cli import main

    root = write_cifar(tmp_path / "data", monkeypatch=monkeypatch)
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    assert main([str(spec), "--data-dir", str(root), "--out", str(tmp_path / "run"), "--no-download"]) == 0
    err = capsys.readouterr().err
    assert "data: 200 train / 60 test images, 10 steps per epoch" in err and "epoch 1/1: train loss" in err


def test_svhn_is_read_as_color_images_with_its_zeros_labelled_0(tmp_path, monkeypatch):
    from tinydata import learnable_images, write_svhn

    root = write_svhn(tmp_path, monkeypatch=monkeypatch)
    raw = datamod.load_raw("svhn", root, download=False)
    assert raw.train.images.shape == (200, 32, 32, 3) and raw.test.images.shape == (60, 32, 32, 3)
    assert raw.train.labels[:11].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert raw.classes == tuple(str(d) for d in range(10))
    gray = learnable_images(torch.arange(200) % 10, 32, 1)
    assert torch.equal(raw.train.images[..., 0], gray) and torch.equal(raw.train.images[..., 1], 255 - gray)
    datamod.check_fits(raw, (3, 32, 32), 10)


def test_missing_svhn_names_the_files(tmp_path):
    with pytest.raises(datamod.DataError) as info:
        datamod.load_raw("svhn", tmp_path, download=False)
    assert f"Put train_32x32.mat, test_32x32.mat (uncompressed) in {tmp_path}," in str(info.value)
    assert "at a folder holding them." in str(info.value)


def test_the_cifar_resnet20_spec_has_he_et_als_size():
    from conftest import SPECS

    spec = playground.load_spec(SPECS / "cifar10_resnet20.yaml")
    summary = playground.summarize(spec)
    assert summary.total_params == 272_474 and summary.input_shape == (3, 32, 32)
    stages = [row for row in summary.rows if row.type == "sequential"]
    assert [len(s.children) for s in stages] == [3, 3, 3]
    assert [s.output_shape for s in stages] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert (spec.train.lr, spec.train.momentum, spec.train.schedule, spec.data.batch_size) == (0.1, 0.9, "cosine", 128)


def test_augmentation_is_torchvisions_random_crop_and_flip(tmp_path, monkeypatch):
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    raw = datamod.load_raw("cifar10", write_cifar(tmp_path, monkeypatch=monkeypatch), download=False)
    images = raw.train.images[:16]                                   # N x 32 x 32 x 3 uint8
    mean, std = DATASETS["cifar10"].mean, DATASETS["cifar10"].std
    offsets, flips = datamod.augment_plan(200, 4, True, seed=3, epoch=1)
    offsets, flips = offsets[:16], flips[:16]
    fill = -torch.tensor(mean) / torch.tensor(std)                    # a black pixel, normalized
    ours = datamod.augment(datamod.to_tensor(images, mean, std, torch.device("cpu")), offsets, flips, 4, fill)
    normalize = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    for i in range(16):
        img = TF.pad(images[i].permute(2, 0, 1), [4], fill=0)        # 3 x 40 x 40, black border
        img = TF.crop(img, int(offsets[i, 0]), int(offsets[i, 1]), 32, 32)
        if flips[i]:
            img = TF.horizontal_flip(img)
        torch.testing.assert_close(ours[i], normalize(img), rtol=0, atol=1e-6)
    assert 0 < int(flips.sum()) < 16 and int(offsets.max()) <= 8 and len({tuple(o) for o in offsets.tolist()}) > 4


def test_the_plan_depends_on_seed_and_epoch_only():
    a = datamod.augment_plan(100, 4, True, seed=1, epoch=0)
    assert all(torch.equal(x, y) for x, y in zip(a, datamod.augment_plan(100, 4, True, seed=1, epoch=0), strict=True))
    assert not torch.equal(a[0], datamod.augment_plan(100, 4, True, seed=1, epoch=1)[0])
    assert not datamod.augment_plan(100, 0, False, seed=1, epoch=0)[1].any()


@pytest.mark.parametrize("augment,message", [
    ("{padding: 2, crop: 40}", "a 40x40 crop is larger than the 36x36 padded image"),
    ("{padding: 4, crop: 28}", "a 28x28 crop does not give the model's 32x32 input"),
    ("{padding: -1}", "Input should be greater than or equal to 0"),
    ("{flip: true}", "unknown key 'flip' for data.augment. Did you mean 'hflip'?"),
])
def test_augmentation_settings_are_checked_where_written(augment, message):
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(SMALL.replace("batch_size: 20}", f"batch_size: 20, augment: {augment}}}"))
    (p,) = info.value.problems
    assert p.path[:2] == ("data", "augment") and message in p.message and p.line == 2


def test_cutout_is_the_papers_square_clipped_at_the_border():
    """Against DeVries and Taylor's per-image loop (rows y - L//2 .. y + L//2, clipped)."""
    x = torch.randn(40, 3, 32, 32)
    centers = datamod.cutout_plan(40, 32, 32, seed=2, epoch=5)
    centers[0], centers[1] = torch.tensor([0, 0]), torch.tensor([31, 16])   # corners clip
    ours = datamod.cutout(x, centers, 16)
    for i in range(40):
        y0, x0 = int(centers[i, 0]), int(centers[i, 1])
        mask = torch.ones(32, 32)
        mask[max(0, y0 - 8):min(32, y0 + 8), max(0, x0 - 8):min(32, x0 + 8)] = 0
        assert torch.equal(ours[i], x[i] * mask)
    assert int((ours[0] == 0).sum()) == 3 * 8 * 8 and int((ours[2] == 0).sum()) <= 3 * 16 * 16
    assert torch.equal(centers[2:], datamod.cutout_plan(40, 32, 32, seed=2, epoch=5)[2:])
    assert not torch.equal(centers[2:], datamod.cutout_plan(40, 32, 32, seed=2, epoch=6)[2:])


def test_cutout_is_checked_and_used_in_training(tmp_path, monkeypatch):
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(SMALL.replace("batch_size: 20}", "batch_size: 20, augment: {cutout: 40}}"))
    assert "data.augment.cutout" in str(info.value) and "a 40x40 cutout is larger than the 32x32 input" in str(
        info.value)
    from playground.train.engine import Trainer

    root = write_cifar(tmp_path, monkeypatch=monkeypatch)
    weights = {}
    for cut in (0, 16):
        spec = playground.load_spec(SMALL.replace("batch_size: 20}", f"batch_size: 20, augment: {{cutout: {cut}}}}}"))
        list(Trainer(spec, out=tmp_path / f"run{cut}", data_dir=root, download=False).events())
        weights[cut] = torch.load(tmp_path / f"run{cut}" / "checkpoint.pt", weights_only=True)["model"]
    assert not torch.equal(weights[0]["0.weight"], weights[16]["0.weight"])   # the images it learned from differ
