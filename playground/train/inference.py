"""Using a trained run: load its model, predict classes, evaluate on the test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from playground.check.analysis import Summary, analyze
from playground.check.builder import build
from playground.format.datasets import data_root
from playground.format.loader import read_spec
from playground.format.spec import SpecBase
from playground.runs import folders as runs
from playground.train import data as datamod
from playground.train import devices


@dataclass
class LoadedRun:
    run_dir: Path
    spec: SpecBase
    model: torch.nn.Module   # in eval mode, on ``device``
    epoch: int               # epochs complete when the checkpoint was written
    device: torch.device
    classes: tuple[str, ...] = ()   # the class names, in output order
    summary: Summary | None = None  # the check's result, with the data root below
    data_root: Path | None = None   # where the run's data is looked up
    spec_edits: tuple[str, ...] = ()  # fields of spec.yaml edited since training (the spec above is the truth)


def load_run(run_dir: str | Path, device: str = "cpu", data_dir: str | Path | None = None) -> LoadedRun:
    """Rebuild a run's model from its checkpoint (loaded with weights_only=True);
    RunError when the checkpoint holds no spec or weights that do not fit it.
    The spec is checked once, with ``data_dir``, else the data root the run
    recorded, else the default one (an image folder's classes are counted there)."""
    run_dir = Path(run_dir)
    setup = devices.resolve(device)
    ckpt = runs.load_checkpoint(run_dir, map_location=setup.device)
    if not isinstance(ckpt.get("spec"), dict) or "model" not in ckpt:
        raise runs.RunError(f"the checkpoint in {run_dir} holds no spec or no weights.")
    root = data_root(data_dir or _recorded_root(run_dir))
    spec = read_spec(ckpt["spec"])
    summary = analyze(spec, root)
    model = build(spec, summary).to(setup.device)
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:
        detail = str(exc).split("\n\t")
        raise runs.RunError(f"the weights in {run_dir / runs.CHECKPOINT_FILE} do not match its spec "
                            f"'{spec.name}':\n  " + "\n  ".join(d.strip() for d in detail[1:4] or detail[:1])
                            + "\n  The checkpoint is damaged or was written by another spec.") from None
    info = spec.dataset   # checkpoints from before classes were recorded: a built-in dataset's
    classes = tuple(ckpt.get("classes") or (info.classes if info else ()))
    return LoadedRun(run_dir, spec, model.eval(), ckpt["epoch"], setup.device, classes, summary, root,
                     tuple(runs.spec_edits(run_dir, ckpt["spec"])))


def _recorded_root(run_dir: Path) -> str | None:
    try:
        return runs.read_run_info(run_dir).data_root   # None when unrecorded or damaged
    except runs.RunError:   # no run.json, or not the mapping it should be
        return None


def predict_proba(run: LoadedRun, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities for uint8 images (N x H x W, 0-255, white digit on black)."""
    x = datamod.to_tensor(images, run.spec.data.mean, run.spec.data.std, run.device)
    with torch.inference_mode():
        return torch.softmax(run.model(x).float(), dim=1).cpu()


@dataclass
class Evaluation:
    accuracy: float
    test_loss: float
    classes: tuple[str, ...]
    confusion: torch.Tensor        # K x K, rows = true class, columns = predicted
    predictions: torch.Tensor      # one per test image
    labels: torch.Tensor
    images: torch.Tensor           # the test images as read (uint8, N x H x W), for browsing

    @classmethod
    def of(cls, labels: torch.Tensor, predictions: torch.Tensor, classes: tuple[str, ...], test_loss: float,
           images: torch.Tensor) -> Evaluation:
        labels, predictions = labels.cpu(), predictions.cpu()
        return cls((predictions == labels).float().mean().item(), test_loss, classes,
                   confusion_matrix(labels, predictions, len(classes)), predictions, labels, images)

    @property
    def per_class_accuracy(self) -> list[float]:
        totals = self.confusion.sum(1).clamp(min=1)
        return (self.confusion.diag().double() / totals).tolist()


def evaluate_run(run: LoadedRun, data_dir=None, download: bool = True) -> Evaluation:
    from playground.train.engine import evaluate

    spec = run.spec
    root = data_root(data_dir)
    summary = run.summary if run.summary is not None and root == run.data_root else analyze(spec, root)
    raw = datamod.finish(datamod.load(spec.data, summary.input_shape, root, download=download))
    datamod.check_fits(raw, summary.input_shape, summary.output_shape[0])
    x = datamod.Images(raw.test.images, spec.data.mean, spec.data.std, run.device,
                       hold=datamod.held_bytes(raw.test) <= spec.data.memory_limit_mb * 2**20)
    y = raw.test.labels.to(run.device)
    loss, preds = evaluate(run.model, x, y, spec.data.test_batch_size)
    return Evaluation.of(y, preds, raw.classes, loss, raw.test.images)


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """K x K counts: row i, column j counts the images of true class i predicted as j."""
    k = num_classes
    return torch.bincount(labels.long() * k + predictions.long(), minlength=k * k).reshape(k, k)


def digit_to_input(gray, size: int = 28, box: int = 20) -> torch.Tensor:
    """A drawn digit (H x W, 0-255, light strokes on dark) -> the size x size uint8
    image a model trained on MNIST expects: cropped to its strokes, scaled to fit
    a box x box square keeping its aspect, and centred by its centre of mass,
    as the MNIST digits were prepared. Blank drawings give a blank image."""
    img = torch.as_tensor(gray, dtype=torch.float32)
    out = torch.zeros(size, size)
    ys, xs = torch.nonzero(img > 20, as_tuple=True)
    if len(ys) == 0:
        return out.to(torch.uint8)
    crop = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = torch.nn.functional.interpolate(crop[None, None], size=(nh, nw), mode="area")[0, 0]
    mass = small.sum()
    cy = (small.sum(1) * torch.arange(nh)).sum() / mass
    cx = (small.sum(0) * torch.arange(nw)).sum() / mass
    top = int(round(size / 2 - cy.item() - 0.5))
    left = int(round(size / 2 - cx.item() - 0.5))
    top, left = max(0, min(size - nh, top)), max(0, min(size - nw, left))
    out[top:top + nh, left:left + nw] = small
    return out.clamp(0, 255).round().to(torch.uint8)
