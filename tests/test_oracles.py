"""Independent oracles for the numbers playground computes outside the shape
check: torchvision's transforms for data preparation, data with known
statistics for the normalization constants, the documented randperm recipe
for shuffling, and a hand-computed example for evaluation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pytest
import torch
from tinydata import write_dataset

import playground
from playground.format.datasets import DATASETS
from playground.layers import Elementwise
from playground.train import data as datamod
from playground.train.inference import Evaluation, confusion_matrix

# -- data preparation ---------------------------------------------------------

@pytest.mark.parametrize("mean,std", [(0.1307, 0.3081), (0.5, 0.25), (0.0, 1.0)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_to_tensor_equals_torchvision_transforms(mean, std, channels_last):
    from PIL import Image
    from torchvision import transforms

    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours = datamod.to_tensor(images, mean, std, torch.device("cpu"), channels_last)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    theirs = torch.stack([pipeline(Image.fromarray(img.numpy(), mode="L")) for img in images])
    assert ours.shape == theirs.shape == (7, 1, 28, 28)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_pixel_statistics_on_data_with_known_statistics():
    half = torch.zeros(4, 8, 8, dtype=torch.uint8)
    half[:, :, :4] = 255                                # half black, half white
    assert datamod.pixel_statistics(half) == pytest.approx((0.5, 0.5))
    flat = torch.full((3, 5, 5), 51, dtype=torch.uint8)  # 51 / 255 = 0.2 everywhere
    assert datamod.pixel_statistics(flat) == pytest.approx((0.2, 0.0))
    ramp = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)   # uniform over 0..255
    mean, std = datamod.pixel_statistics(ramp)
    assert mean == pytest.approx(0.5) and std == pytest.approx((256 ** 2 - 1) ** 0.5 / (12 ** 0.5) / 255)


def test_default_statistics_are_the_documented_ones():
    # the PyTorch MNIST example's Normalize((0.1307,), (0.3081,)); Fashion-MNIST's widely used 0.2860 / 0.3530
    assert (DATASETS["mnist"].mean, DATASETS["mnist"].std) == (0.1307, 0.3081)
    assert (DATASETS["fashion_mnist"].mean, DATASETS["fashion_mnist"].std) == (0.2860, 0.3530)
    spec = playground.load_spec({"name": "n", "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10}],
                                 "data": {"dataset": "fashion_mnist"}})
    assert (spec.data.mean, spec.data.std) == (0.2860, 0.3530)


REAL_DATA = Path(os.environ.get("PLAYGROUND_DATA", "data"))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_default_statistics_match_the_real_training_split(name):
    info = DATASETS[name]
    if not all((REAL_DATA / info.files_folder / f).exists() for f in info.files):
        pytest.skip(f"needs the real {name} under $PLAYGROUND_DATA")
    raw = datamod.load_raw(name, REAL_DATA, download=False)
    mean, std = datamod.pixel_statistics(raw.train.images)
    rounded = [round(v, 4) for v in mean] if isinstance(mean, tuple) else round(mean, 4)
    assert rounded == (list(info.mean) if isinstance(info.mean, tuple) else info.mean)
    rounded = [round(v, 4) for v in std] if isinstance(std, tuple) else round(std, 4)
    assert rounded == (list(info.std) if isinstance(info.std, tuple) else info.std)


# -- shuffling ----------------------------------------------------------------

def test_epoch_order_is_the_documented_randperm_recipe():
    from playground.train.engine import epoch_order

    for seed, epoch in [(1, 0), (1, 1), (7, 3), (0, 0)]:
        expected = torch.randperm(500, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        assert torch.equal(epoch_order(500, seed, epoch), expected)
    assert not torch.equal(epoch_order(500, 1, 0), epoch_order(500, 1, 1))   # each epoch reshuffles
    assert not torch.equal(epoch_order(500, 1, 0), epoch_order(500, 2, 0))
    assert sorted(epoch_order(500, 1, 0).tolist()) == list(range(500))


class Keep(torch.nn.Module):
    """Identity that keeps a copy of every training batch it sees."""

    seen: list[torch.Tensor] = []

    def forward(self, t):
        if self.training:
            Keep.seen.append(t.detach().clone())
        return t


class Recorder(Elementwise):
    """Identity that records training batches (a test plugin)."""

    type: Literal["recorder"] = "recorder"

    def build(self, x):
        return Keep()


def test_training_visits_the_images_in_the_documented_order(registry, tmp_path):
    from playground.train.engine import train

    registry.register(Recorder)
    Keep.seen = []
    root = write_dataset(tmp_path / "data", n_train=96, n_test=20)
    spec = playground.load_spec({
        "name": "order", "layers": [{"type": "recorder"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}],
        "data": {"batch_size": 40}, "train": {"epochs": 2, "seed": 5, "device": "cpu"}})
    train(spec, out=tmp_path / "run", data_dir=root, download=False)
    raw = datamod.load_raw("mnist", root, download=False)
    images = datamod.to_tensor(raw.train.images, spec.data.mean, spec.data.std, torch.device("cpu"))
    expected = []
    for epoch in range(2):
        order = torch.randperm(96, generator=torch.Generator().manual_seed(5 * 1_000_003 + epoch))
        expected += [images[order[i:i + 40]] for i in range(0, 96, 40)]   # 40, 40, 16
    seen = Keep.seen
    assert [tuple(b.shape) for b in seen] == [tuple(b.shape) for b in expected]
    for got, want in zip(seen, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


RECIPES = {"tutorial": "", "modern": "schedule: cosine, nesterov: true, momentum: 0.9, label_smoothing: 0.1, "}


@pytest.mark.parametrize("recipe", RECIPES)
def test_training_equals_a_hand_written_loop(tmp_path, data_dir, recipe):
    """Two epochs of the engine against the plain PyTorch loop a tutorial would
    write (float32, contiguous memory, the documented shuffling): same weights,
    same per-epoch training loss. The modern recipe's pieces come from PyTorch:
    Nesterov SGD, CosineAnnealingLR stepped every batch, cross-entropy's label
    smoothing."""
    import torch.nn.functional as F
    from tinydata import TINY

    from playground.check.builder import build
    from playground.runs import folders as runs
    from playground.train.engine import train

    # no dropout: its masks follow the memory layout, which the engine picks for speed
    text = TINY.replace("epochs: 3", "epochs: 2").replace("  - {type: dropout, p: 0.2}\n", "")
    if RECIPES[recipe]:
        text = text.replace("momentum: 0.5, ", "").replace("train: {", "train: {" + RECIPES[recipe])
    spec = playground.load_spec(text)
    t = spec.train
    assert (t.schedule, t.nesterov, t.label_smoothing) == (("cosine", True, 0.1) if RECIPES[recipe] else
                                                            ("constant", False, 0.0))
    train(spec, out=tmp_path / "run", data_dir=data_dir, download=False)

    raw = datamod.load_raw("mnist", data_dir, download=False)
    x = (raw.train.images.float() / 255 - spec.data.mean) / spec.data.std   # N x 28 x 28
    x, y = x[:, None], raw.train.labels.long()                              # N x 1 x 28 x 28
    torch.manual_seed(spec.train.seed)
    model = build(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.nesterov)
    steps = -(-len(x) // spec.data.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=2 * steps) \
        if t.schedule == "cosine" else None
    losses = []
    for epoch in range(2):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(spec.train.seed * 1_000_003 + epoch))
        total = 0.0
        for i in range(0, len(x), spec.data.batch_size):
            idx = order[i:i + spec.data.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx], label_smoothing=t.label_smoothing)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item()
        losses.append(total / -(-len(x) // spec.data.batch_size))
    got = runs.load_checkpoint(tmp_path / "run")["model"]
    for name, want in model.state_dict().items():
        torch.testing.assert_close(got[name], want, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    assert [m["train_loss"] for m in runs.read_metrics(tmp_path / "run")] == pytest.approx(losses, rel=1e-4)


# -- evaluation ---------------------------------------------------------------

def test_evaluation_against_a_hand_computed_example():
    #            true:  0  0  1  2  2  2  1
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    predictions = torch.tensor([0, 1, 1, 2, 0, 2, 1])
    ev = Evaluation.of(labels, predictions, ("a", "b", "c"), 0.5, torch.zeros(7, 2, 2))
    # rows are the true classes, columns the predicted ones
    assert ev.confusion.tolist() == [[1, 1, 0],
                                     [0, 2, 0],
                                     [1, 0, 2]]
    assert ev.accuracy == pytest.approx(5 / 7)
    assert ev.per_class_accuracy == pytest.approx([1 / 2, 2 / 2, 2 / 3])
    assert confusion_matrix(torch.tensor([1]), torch.tensor([0]), 2).tolist() == [[0, 0], [1, 0]]


def test_per_class_accuracy_of_a_class_with_no_images_is_zero():
    ev = Evaluation.of(torch.tensor([0, 0]), torch.tensor([0, 1]), ("a", "b"), 0.0, torch.zeros(2, 1, 1))
    assert ev.per_class_accuracy == [0.5, 0.0]


def test_the_printed_matrix_says_rows_are_true_classes():
    from types import SimpleNamespace

    from playground.train.evaluate import render

    ev = Evaluation.of(torch.tensor([0, 1, 1]), torch.tensor([1, 1, 1]), ("cat", "dog"), 0.1, torch.zeros(3, 1, 1))
    run = SimpleNamespace(spec=SimpleNamespace(name="pets"), run_dir="runs/pets", epoch=2)
    text = render(ev, run)
    assert "confusion matrix (rows: true class, columns: predicted)" in text
    assert "cat        0     1" in text and "dog        0     2" in text
    assert "test accuracy: 66.67%" in text
