"""Datasets as tensors: read once through torchvision's own dataset classes
into the dataset cache (``cache``), from which later runs map them without
parsing anything or importing torchvision, then normalized once into one
tensor on the training device.

The data root comes from ``--data-dir``, else the ``PLAYGROUND_DATA``
environment variable, else ``./data``. torchvision's layout applies
(``<root>/MNIST/raw/train-images-idx3-ubyte``, ``<root>/cifar-10-batches-py/data_batch_1``, ...). A missing dataset is
downloaded unless downloading is switched off; if that fails, the error says
where the files must go.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from playground.core.errors import PlaygroundError, Setting
from playground.format.datasets import DATASETS, IMAGE_FOLDER, DatasetInfo, folder_path
from playground.layers.shapes import fmt
from playground.train import cache, imagefolder

READER_VERSION = 1   # bump when reading a torchvision dataset changes what its cache holds

DATA_ROOT = Setting("data_root")   # a fix that points at where the data is looked up


class DataError(PlaygroundError, RuntimeError):
    """A dataset that cannot be read, or that does not fit the spec. When the
    data is missing, the fix names ``DATA_ROOT``, which each front end words
    for its own control (``--data-dir``, the page's Data folder field)."""


@dataclass
class Split:
    images: torch.Tensor   # uint8, N x H x W
    labels: torch.Tensor   # int64, N


@dataclass
class RawData:
    info: DatasetInfo
    root: Path
    train: Split
    test: Split
    classes: tuple[str, ...]
    notes: tuple[str, ...] = ()       # what a person should know: files skipped, where the images came from
    statistics: tuple | None = None   # (mean, std) of the training split, when the spec leaves them to the data


Progress = imagefolder.Progress   # a split being decoded: yielded while loading an image folder


def load(data, input_shape: tuple[int, int, int], root: Path, *,
         download: bool = True) -> Generator[Progress, None, RawData]:
    """The spec's dataset (its ``data`` section) as uint8 splits, yielding Progress
    while an image folder is decoded: ``raw = yield from load(...)``, or
    ``finish(load(...))`` where no one watches."""
    if data.dataset != IMAGE_FOLDER:
        return load_raw(data.dataset, root, download=download)
    folder = folder_path(data.path, root)
    channels, height, width = input_shape
    try:
        cached = yield from imagefolder.load(folder, channels, height, width, data.resize,
                                             crop=data.crop if data.crop is not None else 1.0)
    except imagefolder.FolderError as exc:
        raise DataError(str(exc)) from None
    stats = tuple(cached.mean), tuple(cached.std)
    info = DatasetInfo(IMAGE_FOLDER, "ImageFolder", str(folder), channels, height, width, cached.classes,
                       mean=stats[0], std=stats[1])
    splits = [Split(torch.from_numpy(images), torch.from_numpy(labels)) for images, labels in (cached.train,
                                                                                                cached.test)]
    return RawData(info, folder, splits[0], splits[1], cached.classes, tuple(cached.notes()),
                   tuple(s[0] if channels == 1 else list(s) for s in stats))


def finish(steps: Generator):
    """Run a generator such as ``load`` to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def _torchvision_split(info: DatasetInfo, root: Path, train: bool, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.torchvision_class)
    raw = root / info.files_folder
    split = {"train": train} if info.split_arg == "train" else {"split": "train" if train else "test"}
    try:
        return cls(str(root), download=False, **split)
    except RuntimeError:
        if not download:
            raise _missing(info, raw, "downloading is switched off") from None
    try:
        return cls(str(root), download=True, **split)
    except Exception as exc:  # network errors come in many types
        raise _missing(info, raw, f"downloading it failed ({_download_failure(exc)})") from None


def _download_failure(exc: Exception) -> str:
    """Why a download failed, in one line: torchvision's message lists every mirror it
    tried with the same network error ('<urlopen error [Errno -2] Name or service not known>')."""
    import re

    text = str(exc)
    reasons = list(dict.fromkeys(re.findall(r"<urlopen error (.*?)>", text)))
    if reasons:
        return "no download server could be reached: " + "; ".join(
            re.sub(r"^\[Errno -?\d+\] ", "", r) for r in reasons) + "; is this machine online?"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _missing(info: DatasetInfo, raw: Path, why: str) -> DataError:
    source = f" (from {info.archive})" if info.archive else " (uncompressed)"

    return DataError(f"{info.torchvision_class} is not in {raw}, and {why}.\n"
                     f"  Put {', '.join(info.files)}{source} in {raw},\n"
                     "  or point ", DATA_ROOT, f" at a folder holding {info.files_folder or 'them'}.")


def load_raw(dataset: str, root: Path, *, download: bool = True) -> RawData:
    """Both splits of a torchvision dataset as uint8 tensors: from the cache when
    it was made from the dataset's files as they are now, else read with
    torchvision's class (downloading it if allowed) and cached for later runs."""
    info = DATASETS[dataset]
    folder = cache_folder(info, root)
    fingerprint = _fingerprint(info, root)
    if fingerprint is not None:
        cached = _from_cache(info, root, folder, fingerprint)
        if cached is not None:
            return cached
    raw = _read_torchvision(info, root, download)
    fingerprint = _fingerprint(info, root)   # (after a download, the files are there now)
    if fingerprint is None:   # torchvision read it from files other than the ones named: nothing to key a cache on
        return raw
    try:
        _write_cache(raw, folder, fingerprint)
    except OSError as exc:   # a read-only or full disk costs later runs a parse, never this one
        note = f"could not cache {info.torchvision_class} in {folder} ({exc.strerror or exc}): later runs read it again"
    else:
        note = f"{info.torchvision_class} read once from {root / info.files_folder} into the cache {folder}"
    return RawData(raw.info, raw.root, raw.train, raw.test, raw.classes, (*raw.notes, note))


def cache_folder(info: DatasetInfo, root: Path) -> Path:
    """Where the cache of ``info``'s dataset under the data root ``root`` lives: one per (dataset, root)."""
    key = f"{Path(root).resolve()}|{info.name}|v{READER_VERSION}"
    return cache.root() / "datasets" / f"{info.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _fingerprint(info: DatasetInfo, root: Path) -> list | None:
    """The dataset's files as they are now (name, size, modification time), or None if one is missing."""
    files = Path(root) / info.files_folder
    try:
        return [[name, st.st_size, st.st_mtime_ns] for name in info.files for st in [(files / name).stat()]]
    except OSError:
        return None


def _from_cache(info: DatasetInfo, root: Path, folder: Path, fingerprint: list) -> RawData | None:
    meta = cache.read_meta(folder, {"fingerprint": fingerprint, "reader": READER_VERSION, "dataset": info.name})
    if meta is None:
        return None
    classes, shape = cache.class_names(meta), meta.get("shape")
    if not (classes and isinstance(shape, list) and all(isinstance(v, int) for v in shape)):
        return None
    splits = cache.read_splits(folder, shape, len(classes))
    if splits is None:
        return None
    train, test = (Split(torch.from_numpy(images), torch.from_numpy(labels)) for images, labels in splits)
    return RawData(info, root, train, test, tuple(classes))


def _write_cache(raw: RawData, folder: Path, fingerprint: list) -> None:
    tmp = cache.begin(folder)
    try:
        for name, split in (("train", raw.train), ("test", raw.test)):
            np.save(tmp / f"{name}.npy", split.images.numpy())
            np.save(tmp / f"{name}.labels.npy", split.labels.numpy())
        cache.seal(tmp, {"dataset": raw.info.name, "fingerprint": fingerprint, "reader": READER_VERSION,
                         "source": str(Path(raw.root).resolve() / raw.info.files_folder),
                         "classes": list(raw.classes), "shape": list(raw.train.images.shape[1:])})
        cache.publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_torchvision(info: DatasetInfo, root: Path, download: bool) -> RawData:
    """Read both splits with torchvision's dataset class, as uint8 tensors."""
    splits = []
    for train in (True, False):
        ds = _torchvision_split(info, root, train, download)
        try:
            images = torch.as_tensor(ds.data)
            labels = torch.as_tensor(ds.labels if hasattr(ds, "labels") else ds.targets).long()
        except Exception as exc:
            raise DataError(f"cannot read {info.torchvision_class} from {root}: {exc}") from None
        if info.channels_first:   # kept as torchvision's other color datasets are: N x H x W x C
            images = images.permute(0, 2, 3, 1).contiguous()
        splits.append(Split(images, labels))
    return RawData(info, root, splits[0], splits[1], tuple(getattr(ds, "classes", info.classes)))


def check_fits(raw: RawData, input_shape: tuple[int, ...], num_outputs: int) -> None:
    """Refuse a dataset whose image size or class count disagrees with the spec."""
    for name, split in (("train", raw.train), ("test", raw.test)):
        images = split.images
        # N x H x W (grayscale) or N x H x W x C (color, as torchvision stores it): compared as C x H x W
        shape = (1, *images.shape[1:]) if images.dim() == 3 else (images.shape[3], *images.shape[1:3])
        if tuple(shape) != tuple(input_shape):
            raise DataError(f"the {name} images in {raw.root} are {fmt(shape)}, but the spec's input is "
                            f"{fmt(input_shape)}.\n"
                            "  Use a spec whose input matches the data, or the right data folder.")
        if len(split.labels) != len(images) or len(images) == 0:   # (an image folder's are checked as read)
            raise DataError(f"the {name} split in {raw.root} has {len(images)} images and "
                            f"{len(split.labels)} labels.\n  The files are damaged or incomplete.")
        top = int(split.labels.max())
        if top >= num_outputs or int(split.labels.min()) < 0:
            raise DataError(f"the {name} labels in {raw.root} go up to {top}, but the model has {num_outputs} "
                            f"outputs.\n  The last layer needs one output per class.")
    if len(raw.classes) != num_outputs:
        raise DataError(f"{_named(raw)} has {len(raw.classes)} classes, but the model has "
                        f"{num_outputs} outputs.\n  Set the last layer's out_features to {len(raw.classes)}.")


def _named(raw: RawData) -> str:
    return f"the image folder {raw.root}" if raw.info.name == IMAGE_FOLDER else raw.info.torchvision_class


def pixel_statistics(images: torch.Tensor):
    """Mean and (population) standard deviation of uint8 images scaled to [0, 1]:
    how the datasets' default normalization constants are computed, from the
    training split (MNIST: 0.1307, 0.3081). Color images (N x H x W x C) give
    one of each per channel."""
    x = images.double().div(255.0)
    if x.dim() == 4:
        flat = x.reshape(-1, x.shape[-1])   # every pixel, by channel
        return tuple(flat.mean(0).tolist()), tuple(flat.std(0, unbiased=False).tolist())
    return x.mean().item(), x.std(unbiased=False).item()


def to_tensor(images: torch.Tensor, mean, std, device: torch.device,
              channels_last: bool = False) -> torch.Tensor:
    """uint8 N x H x W (or N x H x W x C) -> float32 N x C x H x W on ``device``,
    normalized as ToTensor() + Normalize(mean, std) would do it, once for the
    whole split. ``mean`` and ``std``: one number, or one per channel."""
    x = images.to(device)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    m, s = (torch.tensor(v if isinstance(v, (list, tuple)) else (v,), dtype=torch.float32, device=device)
            .view(1, -1, 1, 1) for v in (mean, std))
    x = (x.float().div_(255.0).sub_(m)).div_(s)  # N x C x H x W
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


class Images:
    """A split's images in batches, as ``to_tensor`` normalizes them: either
    normalized once and held on the device, or (``hold=False``, for a split
    larger than the memory limit) read batch by batch from the uint8 source,
    which may be memory-mapped. Both give the same values for the same indices."""

    def __init__(self, images: torch.Tensor, mean, std, device: torch.device, channels_last: bool = False,
                 hold: bool = True):
        self.source, self.device, self.channels_last = images, device, channels_last
        self._norm = (mean, std, device)
        self.held = to_tensor(images, mean, std, device, channels_last) if hold else None
        self.channels = images.shape[3] if images.dim() == 4 else 1

    def __len__(self) -> int:
        return len(self.source)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """The images at ``idx``, N x C x H x W float32 on the device."""
        if self.held is not None:
            return self.held.index_select(0, idx)   # laid out N x C x H x W, whatever the held layout
        return to_tensor(self.source.index_select(0, idx.cpu()), *self._norm)

    def __getitem__(self, part: slice) -> torch.Tensor:
        if self.held is not None:
            return self.held[part]
        return to_tensor(self.source[part], *self._norm, self.channels_last)


def held_bytes(*splits: Split) -> int:
    """Memory the splits take normalized (float32), as ``Images(hold=True)`` keeps them."""
    return sum(4 * split.images.numel() for split in splits)


def black(mean, std, channels: int, device: torch.device) -> torch.Tensor:
    """A black pixel as ``to_tensor`` normalizes it, per channel: what zero padding becomes."""
    return to_tensor(torch.zeros(1, 1, 1, channels, dtype=torch.uint8), mean, std, device).reshape(channels)


def augment_plan(n: int, padding: int, hflip: bool, seed: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each training image's crop offset (row, column in the padded image) and
    flip for one epoch, drawn from (seed, epoch) alone: the same on every device
    and on resume. Offsets are 0..2*padding; flips are True with probability 1/2."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_000_003)   # not the shuffling's stream
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=g)
    flips = torch.rand(n, generator=g) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    return offsets, flips


def augment(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int, fill: torch.Tensor):
    """A batch N x C x H x W cropped at ``offsets`` from the image padded by
    ``padding`` with ``fill`` (per channel: black, once normalized), then flipped
    where ``flips``: torchvision's RandomCrop(padding) and RandomHorizontalFlip,
    batched on the batch's device."""
    n, c, h, w = x.shape
    if padding:
        padded = fill.view(1, c, 1, 1).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
        padded[:, :, padding:padding + h, padding:padding + w] = x
        rows = offsets[:, :1].to(x.device) + torch.arange(h, device=x.device)        # N x H
        cols = offsets[:, 1:].to(x.device) + torch.arange(w, device=x.device)        # N x W
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]   # N x H x W x C
        x = x.permute(0, 3, 1, 2)   # N x C x H x W, laid out channels-last
    flips = flips.to(x.device)
    return torch.where(flips[:, None, None, None], x.flip(3), x)


def cutout_plan(n: int, height: int, width: int, seed: int, epoch: int) -> torch.Tensor:
    """Each training image's cutout center (row, column) for one epoch, from
    (seed, epoch) alone, in a stream of its own (crops and flips stay as they are)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 700_000_001)
    return torch.stack([torch.randint(0, height, (n,), generator=g), torch.randint(0, width, (n,), generator=g)], 1)


def cutout(x: torch.Tensor, centers: torch.Tensor, size: int) -> torch.Tensor:
    """Cutout (DeVries and Taylor, 2017), batched: in each image of N x C x H x W,
    the size x size square at its center (rows center - size//2 up to
    center + size//2, clipped at the border) set to 0, the mean once normalized."""
    n, _, h, w = x.shape
    centers = centers.to(x.device)
    rows = torch.arange(h, device=x.device) - centers[:, :1] + size // 2        # N x H
    cols = torch.arange(w, device=x.device) - centers[:, 1:] + size // 2        # N x W
    inside = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]   # N x H x W
    return x.masked_fill(inside[:, None], 0.0)
