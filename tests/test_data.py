"""Where data comes from and what is refused before training starts."""

from __future__ import annotations

import pytest
import torch

from playground.core import texts
from playground.core.errors import PlaygroundError
from playground.format.datasets import DATASETS, data_root
from playground.train import data as datamod
from playground.train.data import DataError, RawData, Split, check_fits


def test_data_root_flag_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PLAYGROUND_DATA", raising=False)
    assert data_root() == data_root(None) == type(tmp_path)("data")
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_root("~/datasets") == tmp_path / "datasets"


def _raw(train_images, train_labels, test_images=None, test_labels=None, classes=10):
    test_images = train_images if test_images is None else test_images
    test_labels = train_labels if test_labels is None else test_labels
    return RawData(DATASETS["mnist"], "root", Split(train_images, train_labels), Split(test_images, test_labels),
                   tuple(str(i) for i in range(classes)))


def test_fits_when_everything_agrees():
    check_fits(_raw(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.tensor([0, 9, 3, 1])), (1, 28, 28), 10)


@pytest.mark.parametrize("raw,message", [
    (_raw(torch.zeros(4, 28, 28), torch.zeros(3, dtype=torch.long)),
     "the train split in root has 4 images and 3 labels"),
    (_raw(torch.zeros(0, 28, 28), torch.zeros(0, dtype=torch.long)),
     "the train split in root has 0 images and 0 labels"),
    (_raw(torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.long), torch.zeros(2, 28, 28),
          torch.tensor([0, 10])), "the test labels in root go up to 10, but the model has 10 outputs"),
    (_raw(torch.zeros(2, 28, 28), torch.tensor([0, -1])), "the train labels in root go up to 0"),
    (_raw(torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.long), torch.zeros(2, 32, 32)),
     "the test images in root are 1x32x32, but the spec's input is 1x28x28"),
    (_raw(torch.zeros(2, 28, 28, 3), torch.zeros(2, dtype=torch.long)),
     "the train images in root are 3x28x28, but the spec's input is 1x28x28"),
    (_raw(torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.long), classes=12), "MNIST has 12 classes, but the "
     "model has 10 outputs.\n  Set the last layer's out_features to 12."),
])
def test_what_does_not_fit_is_refused(raw, message):
    with pytest.raises(DataError) as info:
        check_fits(raw, (1, 28, 28), 10)
    assert message in str(info.value)


def test_color_images_are_prepared_channels_first():
    from PIL import Image
    from torchvision import transforms

    images = torch.randint(0, 256, (3, 8, 6, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ours = datamod.to_tensor(images, 0.5, 0.25, torch.device("cpu"))
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.25,) * 3)])
    theirs = torch.stack([pipeline(Image.fromarray(img.numpy(), mode="RGB")) for img in images])
    assert ours.shape == (3, 3, 8, 6)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert datamod.to_tensor(images, 0.5, 0.25, torch.device("cpu"), channels_last=True) \
        .is_contiguous(memory_format=torch.channels_last)


def test_a_data_error_names_the_setting_and_each_front_end_words_it(tmp_path):
    with pytest.raises(DataError) as info:
        datamod.load_raw("fashion_mnist", tmp_path, download=False)
    err = info.value
    assert err.render(texts.COMMAND_LINE).startswith("error: FashionMNIST is not in ")
    assert err.render(texts.COMMAND_LINE).endswith(
        "point --data-dir (or PLAYGROUND_DATA) at a folder holding FashionMNIST/raw.")
    assert err.message({"data_root": "the Data folder field"}).endswith(
        "point the Data folder field at a folder holding FashionMNIST/raw.")
    assert str(err).endswith("point the data root (data_dir=, else $PLAYGROUND_DATA) at a folder holding "
                             "FashionMNIST/raw.")   # no front end's words: from Python
    assert DataError("plain").message({"data_root": "anything"}) == "plain"
    assert err.exit_status == 2 and isinstance(err, PlaygroundError)


def test_color_images_fit_a_color_input():
    check_fits(_raw(torch.zeros(2, 28, 28, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)), (3, 28, 28), 10)


def test_prepared_data_lands_on_the_device_in_the_asked_layout():
    images = torch.randint(0, 256, (2, 5, 4, 3), dtype=torch.uint8)
    plain = datamod.to_tensor(images, 0.5, 0.5, torch.device("cpu"))
    assert plain.is_contiguous() and not plain.is_contiguous(memory_format=torch.channels_last)
    assert datamod.to_tensor(images, 0.5, 0.5, torch.device("meta")).device.type == "meta"


def test_a_missing_dataset_is_downloaded_into_the_data_root_then_read(tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    from tinydata import write_dataset

    calls = []

    def fake_download(self):   # what torchvision's download leaves behind, without a network
        calls.append(self.root)
        write_dataset(type(tmp_path)(self.root), n_train=30, n_test=12)

    monkeypatch.setattr(tvd.MNIST, "download", fake_download)
    raw = datamod.load_raw("mnist", tmp_path, download=True)
    assert calls and set(calls) == {str(tmp_path)}
    assert (len(raw.train.images), len(raw.test.images)) == (30, 12) and raw.root == tmp_path
    assert raw.classes[0].startswith("0")


def test_a_dataset_torchvision_cannot_read_is_a_data_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class Unreadable:
        data, targets, classes = "not images", None, ()

        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(tvd, "MNIST", Unreadable)
    with pytest.raises(DataError, match=f"^cannot read MNIST from {tmp_path}: "):
        datamod.load_raw("mnist", tmp_path, download=False)


def test_missing_data_messages_survive_braces_in_paths(tmp_path):
    root = tmp_path / "{weird} folder"
    with pytest.raises(DataError) as info:
        datamod.load_raw("mnist", root, download=False)
    page = info.value.message({"data_root": "the Data folder field"})
    assert str(root / "MNIST" / "raw") in page and page.endswith("point the Data folder field at a folder holding "
                                                                 "MNIST/raw.")
    assert page == info.value.message(texts.COMMAND_LINE).replace("--data-dir (or PLAYGROUND_DATA)",
                                                                  "the Data folder field")


def test_a_size_mismatch_says_how_to_fix_it():
    with pytest.raises(DataError) as info:
        check_fits(_raw(torch.zeros(2, 32, 32), torch.zeros(2, dtype=torch.long)), (1, 28, 28), 10)
    assert str(info.value) == ("the train images in root are 1x32x32, but the spec's input is 1x28x28.\n"
                               "  Use a spec whose input matches the data, or the right data folder.")


def test_a_half_downloaded_dataset_is_completed_by_downloading_by_default(tmp_path, monkeypatch):
    """Only the training files there (an interrupted download): the test split is
    fetched by default, and it is the test split that is read."""
    import torchvision.datasets as tvd
    from tinydata import write_dataset

    write_dataset(tmp_path, n_train=30, n_test=12)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "MNIST" / "raw" / name).unlink()
    monkeypatch.setattr(tvd.MNIST, "download", lambda self: write_dataset(type(tmp_path)(self.root), n_train=30,
                                                                          n_test=12))
    raw = datamod.load_raw("mnist", tmp_path)
    assert (len(raw.train.images), len(raw.test.images)) == (30, 12)
