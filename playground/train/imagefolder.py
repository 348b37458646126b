"""Your own images as a dataset: ``DIR/train/<class>/<image>`` and
``DIR/test/<class>/<image>`` (``val/`` is accepted for ``test``), found with
torchvision's ImageFolder, decoded once, in parallel, into a uint8 cache that
later runs map from disk.

The cache (``cache``) holds each split as an N x H x W x C ``.npy`` file at
the spec's size and channels, the labels, and the training split's
per-channel statistics, one folder per (image folder, size, channels, resize
mode), and is rebuilt when a file in the image folder is added, removed or
changed. A file that cannot be decoded is
skipped and reported, never a crash.

Nothing here imports torch but the scan (torchvision's ImageFolder): decoding
needs only Pillow and numpy, on a pool of threads.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from playground.core.errors import PlaygroundError
from playground.train import cache

CACHE_ENV = cache.CACHE_ENV
DECODER_VERSION = 2          # bump when decoding changes what a cache holds (2: 16-bit images scaled)
TEST_NAMES = ("test", "val")
RESIZE_MODES = ("center_crop", "stretch")
CHUNK = 64                   # images per task handed to a decoding worker
SHOWN_SKIPS = 5              # names of skipped files quoted in messages


class FolderError(PlaygroundError, RuntimeError):
    """An image folder that cannot be used as a dataset (missing, mislaid, empty)."""


def layout_hint(root: Path) -> str:
    return (f"  Lay it out as {root}/train/<class>/<image> and {root}/test/<class>/<image> "
            "(val/ is accepted for test), one folder per class, the same classes in both.")


def split_dirs(root: Path) -> tuple[Path, Path]:
    """(train folder, test folder), or FolderError saying what is missing."""
    if not root.is_dir():
        raise FolderError(f"the image folder {root} does not exist.\n{layout_hint(root)}")
    train = root / "train"
    test = next((root / name for name in TEST_NAMES if (root / name).is_dir()), None)
    missing = [name for name, d in (("train/", train if train.is_dir() else None), ("test/ (or val/)", test))
               if d is None]
    if missing:
        found = sorted(p.name + "/" for p in root.iterdir() if p.is_dir())[:8]
        raise FolderError(f"the image folder {root} has no {' and no '.join(missing)} "
                          f"(it holds {', '.join(found) or 'no folders'}).\n{layout_hint(root)}")
    return train, test


@dataclass(frozen=True)
class Scan:
    """What an image folder holds: its classes and every file of each split."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]     # (path, class index)
    test: tuple[tuple[str, int], ...]
    test_name: str                          # "test" or "val"

    def fingerprint(self) -> str:
        """Changes when a file is added, removed, renamed or rewritten, also in place with its size and
        modification time kept (cp -p, rsync -a, tar x): the inode and the change time (ctime, which
        no program can set back) are part of it."""
        h = hashlib.sha256()
        for path, label in (*self.train, *self.test):
            st = os.stat(path)
            h.update(f"{os.path.relpath(path, self.root)}\t{label}\t{st.st_size}\t{st.st_mtime_ns}\t"
                     f"{st.st_ino}\t{st.st_ctime_ns}\n".encode())
        return h.hexdigest()


def _quoted(path: str | Path) -> str:
    """A path as messages show it: quoted, with a newline or a byte that is not UTF-8 escaped, so a
    file name can never print a line of its own."""
    return repr(str(path))


class _Split:
    """One split's classes (its visible folders, sorted) and files, as torchvision's ImageFolder
    orders them (by class, then by path), found under the rule for links: a link is followed only
    where it leads inside the image folder; one that leads outside, one that leads nowhere, one that
    leads back into a folder above it, and a name that is not UTF-8 are refused by name."""

    def __init__(self, d: Path, root: Path):
        inside = os.path.realpath(root)
        self.classes: list[str] = []
        self.samples: list[tuple[str, int]] = []
        entries = sorted(os.scandir(d), key=lambda e: e.name)
        for entry in entries:
            _check_name(entry.path)
        folders = [e for e in entries if not e.name.startswith(".") and _followed(e, inside) and e.is_dir()]
        self.classes = [e.name for e in folders]
        for label, entry in enumerate(folders):
            found: list[tuple[str, list[str]]] = []
            stack = [(entry.path, (os.path.realpath(entry.path),))]
            while stack:
                here, above = stack.pop()
                files, subdirs = [], []
                for e in sorted(os.scandir(here), key=lambda e: e.name):
                    _check_name(e.path)
                    if e.name.startswith(".") or not _followed(e, inside):
                        continue
                    if e.is_dir():
                        real = os.path.realpath(e.path)
                        if real in above:
                            raise FolderError(f"{_quoted(e.path)} links back to {_quoted(real)}, a folder it is "
                                              "in: the folder would never end.\n  Remove the link.")
                        subdirs.append((e.path, (*above, real)))
                    elif e.is_file():
                        files.append(e.name)
                found.append((here, files))
                stack.extend(reversed(subdirs))
            for here, files in sorted(found):
                self.samples += [(os.path.join(here, f), label) for f in files]


def _names(names: list[str], most: int = SHOWN_SKIPS) -> str:
    """The first few names, quoted, and how many more: a message stays a line long."""
    shown = ", ".join(map(_quoted, names[:most]))
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _check_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise FolderError(f"{_quoted(path)} has a name that is not UTF-8 text.\n  Rename it (or move it out of "
                          "the image folder).") from None


def _followed(entry: os.DirEntry, inside: str) -> bool:
    """Whether an entry is read: not a link, or a link to somewhere inside the image folder (else
    FolderError naming it)."""
    if not entry.is_symlink():
        return True
    target = os.path.realpath(entry.path)
    if not os.path.exists(target):
        raise FolderError(f"{_quoted(entry.path)} is a link to {_quoted(os.readlink(entry.path))}, which does not "
                          "exist.\n  Remove the link, or make what it names.")
    if os.path.commonpath([inside, target]) != inside:
        raise FolderError(f"{_quoted(entry.path)} is a link to {_quoted(target)}, outside the image folder: links "
                          "are followed only where they lead inside it.\n  Copy what it links to into the "
                          "folder, or remove the link.")
    return True


def scan(root: Path) -> Scan:
    """The folder's classes and files, in torchvision's ImageFolder order; FolderError when the
    layout is wrong, the splits disagree on classes, or a link or a name breaks the rule above."""
    train_dir, test_dir = split_dirs(root)
    splits = []
    for d in (train_dir, test_dir):
        try:
            found = _Split(d, root)
        except (FileNotFoundError, OSError) as exc:
            raise FolderError(f"cannot read the classes of {_quoted(d)}: {exc}\n{layout_hint(root)}") from None
        splits.append(found)
    train, test = splits
    if train.classes != test.classes:
        only_train = sorted(set(train.classes) - set(test.classes))
        only_test = sorted(set(test.classes) - set(train.classes))
        parts = [f"only in train/: {_names(only_train)}" if only_train else "",
                 f"only in {test_dir.name}/: {_names(only_test)}" if only_test else ""]
        raise FolderError(f"the two splits of {root} have different classes ({'; '.join(p for p in parts if p)}).\n"
                          "  Give both splits the same class folders (an empty folder is not enough for "
                          "training; every class needs images in train/).")
    for name, split in (("train", train), (test_dir.name, test)):
        empty = sorted(set(split.classes) - {split.classes[label] for _, label in split.samples})
        if empty:
            raise FolderError(f"{root}/{name}/ has no images for {len(empty):,} class{'es' if len(empty) > 1 else ''}"
                              f" ({_names(empty)}).\n  Put images in each class folder, or remove the folder "
                              "from both splits.")
    return Scan(root, tuple(train.classes), tuple(map(tuple, train.samples)), tuple(map(tuple, test.samples)),
                test_dir.name)


@dataclass(frozen=True)
class Preview:
    """An image folder at a glance, before anything is decoded: its classes,
    how many files each split has per class, and a few files of each class."""

    classes: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]          # split name -> files per class
    samples: tuple[tuple[str, str], ...]        # (class, path)


def preview(root: Path, per_class: int = 2) -> Preview:
    found = scan(root)
    counts = {name: tuple(sum(1 for _, label in split if label == k) for k in range(len(found.classes)))
              for name, split in (("train", found.train), (found.test_name, found.test))}
    samples = tuple((found.classes[k], path) for k in range(len(found.classes))
                    for path in [p for p, label in found.train if label == k][:per_class])
    return Preview(found.classes, counts, samples)


# -- decoding -----------------------------------------------------------------

def decode(path: str, channels: int, height: int, width: int, resize: str, crop: float = 1.0) -> np.ndarray:
    """One image file -> H x W x C uint8: converted to grayscale (1 channel) or
    RGB (3), then resized to height x width, either stretched or scaled to
    cover it and center-cropped (torchvision's Resize + CenterCrop, in one
    antialiased resampling; ``crop`` < 1 keeps that part of the covering size,
    as Resize(256) + CenterCrop(224) keeps 0.875). Raises on a file Pillow
    cannot decode."""
    from PIL import Image

    mode = "L" if channels == 1 else "RGB"
    with Image.open(path) as im:
        if resize == "center_crop":
            scale = max(height / im.height, width / im.width) / crop
            need = (max(width, round(im.width * scale)), max(height, round(im.height * scale)))
        else:
            need = (width, height)
        im.draft(mode, need)   # JPEG: decode at the smallest scale still at least the size needed
        im = _eight_bit(im).convert(mode)
        w, h = im.size
        box = (0, 0, w, h)
        if resize == "center_crop":   # the centered region of the target's aspect ratio
            if w * height > h * width:    # wider than the target
                cw = h * width / height
                box = ((w - cw) / 2, 0, (w + cw) / 2, h)
            else:
                ch = w * height / width
                box = (0, (h - ch) / 2, w, (h + ch) / 2)
            if crop < 1:   # the middle part of that region
                cx, cy, bw, bh = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]
                box = (cx - bw * crop / 2, cy - bh * crop / 2, cx + bw * crop / 2, cy + bh * crop / 2)
        im = im.resize((width, height), Image.Resampling.BILINEAR, box=box)
        return np.asarray(im, dtype=np.uint8).reshape(height, width, channels)


SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _eight_bit(im):
    """A 16-bit grayscale image (PNG, TIFF: Pillow's I;16 or I) scaled to 8 bits, as 8-bit pictures
    are: Pillow's own conversion clips it, and a 16-bit picture became almost all white."""
    if im.mode not in SIXTEEN_BIT:
        return im
    from PIL import Image

    values = np.asarray(im).astype(np.int64)
    return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), "L")


def _decode_chunk(images: np.ndarray, start: int, paths: Sequence[str], channels: int, height: int, width: int,
                  resize: str, crop: float = 1.0) -> list[tuple[int, str]]:
    """Decode ``paths`` into rows start.. of ``images``; the failures as (row, reason)."""
    failed = []
    for i, path in enumerate(paths):
        try:
            images[start + i] = decode(path, channels, height, width, resize, crop)
        except Exception as exc:   # any file that is not a readable image: skipped, reported
            failed.append((start + i, f"{type(exc).__name__}: {exc}"))
    return failed


@dataclass(frozen=True)
class Progress:
    """Progress of a pass over a split's images before training: ``done`` of ``total``, decoding
    them (an image folder's first use) or computing a frozen part's outputs (``task``)."""

    split: str
    done: int
    total: int
    seconds: float
    task: str = "decoding"

    @property
    def images_per_s(self) -> float:
        return self.done / max(self.seconds, 1e-9)


@dataclass
class Cached:
    """A decoded image folder, as the cache holds it (images memory-mapped)."""

    folder: Path                       # the cache folder
    classes: tuple[str, ...]
    train: tuple[np.ndarray, np.ndarray]      # images N x H x W x C uint8 (memory-mapped), labels int64
    test: tuple[np.ndarray, np.ndarray]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: dict[str, list[str]] = field(default_factory=dict)   # split -> relative paths of skipped files
    decoded: bool = False              # decoded in this call (False: read from the cache)
    seconds: float = 0.0               # decoding time, when decoded

    def notes(self) -> list[str]:
        """What a person should know about the data: files skipped, and where the images came from."""
        out = []
        for split, names in self.skipped.items():
            if names:
                shown = ", ".join(map(_quoted, names[:SHOWN_SKIPS])) + (", ..." if len(names) > SHOWN_SKIPS else "")
                out.append(f"skipped {len(names)} {split} file{'s' if len(names) > 1 else ''} that "
                           f"{'are' if len(names) > 1 else 'is'} not a readable image: {shown}")
        n = len(self.train[1]) + len(self.test[1])
        out.append(f"decoded {n:,} images in {self.seconds:.1f}s into the cache {self.folder}" if self.decoded
                   else f"images read from the cache {self.folder}")
        return out


def cache_folder(root: Path, channels: int, height: int, width: int, resize: str, crop: float = 1.0) -> Path:
    cropped = f"|crop{crop!r}" if crop != 1 else ""   # (the caches made before crop existed keep their names)
    key = f"{root.resolve()}|{channels}x{height}x{width}|{resize}{cropped}|v{DECODER_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache.root() / "image_folder" / f"{root.resolve().name}-{channels}x{height}x{width}-{resize}-{digest}"


def load(root: Path, channels: int, height: int, width: int, resize: str = "center_crop",
         workers: int | None = None, crop: float = 1.0) -> Generator[Progress, None, Cached]:
    """The image folder at ``root`` decoded to ``channels`` x ``height`` x
    ``width``: from the cache when it matches the folder, else decoded now,
    yielding Progress as it goes (``cached = yield from load(...)``)."""
    found = scan(root)
    fingerprint = found.fingerprint()
    folder = cache_folder(root, channels, height, width, resize, crop)
    cached = _read(folder, fingerprint)
    if cached is not None:
        return cached
    began = time.perf_counter()
    tmp = cache.begin(folder)
    try:
        skipped = {}
        for split, samples in (("train", found.train), (found.test_name, found.test)):
            failures = yield from _decode_split(tmp, "train" if split == "train" else "test", split, samples,
                                                channels, height, width, resize, crop, workers)
            skipped[split] = [os.path.relpath(samples[row][0], root) for row, _ in failures]
        if len(np.load(tmp / "train.labels.npy")) == 0:
            raise FolderError(f"none of the training images in {root}/train/ could be read "
                              f"({', '.join(skipped['train'][:SHOWN_SKIPS])}, ...).\n"
                              "  The files are not images Pillow can decode (PNG, JPEG, BMP, GIF, WebP, TIFF).")
        mean, std = _statistics(np.load(tmp / "train.npy", mmap_mode="r"))
        meta = {"fingerprint": fingerprint, "source": str(root.resolve()), "classes": list(found.classes),
                "shape": [height, width, channels], "resize": resize, "crop": crop, "mean": mean, "std": std,
                "skipped": skipped, "seconds": round(time.perf_counter() - began, 3), "decoder": DECODER_VERSION}
        cache.seal(tmp, meta)
        cache.publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cached = _read(folder, fingerprint)
    cached.decoded, cached.seconds = True, round(time.perf_counter() - began, 3)
    return cached


def _decode_split(tmp: Path, stem: str, split: str, samples, channels: int, height: int, width: int,
                  resize: str, crop: float, workers: int | None) -> Generator[Progress, None, list[tuple[int, str]]]:
    n = len(samples)
    out = tmp / f"{stem}.npy"
    images = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=(n, height, width, channels))
    paths = [p for p, _ in samples]
    chunks = [(start, paths[start:start + CHUNK]) for start in range(0, n, CHUNK)]
    workers = workers if workers is not None else min(os.cpu_count() or 1, len(chunks))
    began, done, failures = time.perf_counter(), 0, []
    yield Progress(split, 0, n, 0.0)
    args = (channels, height, width, resize, crop)
    # Threads: Pillow lets go of the GIL while it decodes and resamples, so they run
    # in parallel, with no process to start and nothing to copy back.
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="decode") as pool:
        jobs = {pool.submit(_decode_chunk, images, start, part, *args): len(part) for start, part in chunks}
        try:
            for job in as_completed(jobs):
                failures += job.result()
                done += jobs[job]
                yield Progress(split, done, n, time.perf_counter() - began)
        finally:   # stopped early (the consumer went away): drop the chunks not started
            for job in jobs:
                job.cancel()
    images.flush()
    del images
    labels = np.array([label for _, label in samples], dtype=np.int64)
    if failures:   # keep the readable images only, copied in order, a chunk at a time
        bad = np.zeros(n, dtype=bool)
        bad[[row for row, _ in failures]] = True
        keep = np.flatnonzero(~bad)
        full = np.load(out, mmap_mode="r")
        packed_path = tmp / f"{stem}.packed.npy"
        packed = np.lib.format.open_memmap(packed_path, mode="w+", dtype=np.uint8,
                                           shape=(len(keep), height, width, channels))
        for i in range(0, len(keep), 4096):
            packed[i:i + 4096] = full[keep[i:i + 4096]]
        packed.flush()
        del full, packed
        os.replace(packed_path, out)
        labels = labels[keep]
    np.save(tmp / f"{stem}.labels.npy", labels)
    return sorted(failures)


def _statistics(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of uint8 images scaled to [0, 1], a chunk at a time."""
    c = images.shape[-1]
    total, squares, count = np.zeros(c), np.zeros(c), 0
    for i in range(0, len(images), 2048):
        x = images[i:i + 2048].reshape(-1, c).astype(np.float64) / 255.0
        total += x.sum(0)
        squares += (x * x).sum(0)
        count += len(x)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def _read(folder: Path, fingerprint: str) -> Cached | None:
    """The cache in ``folder`` if it is complete, whole and made from the folder as it is now; None
    (decode again) for anything else: another fingerprint or decoder, a file whose bytes changed
    since it was written, labels out of range, values of the wrong kind."""
    meta = cache.read_meta(folder, {"fingerprint": fingerprint, "decoder": DECODER_VERSION})
    if meta is None:
        return None
    try:
        classes, mean, std, shape = cache.class_names(meta), meta["mean"], meta["std"], meta["shape"]
        channels = shape[-1]
        if not (classes and all(isinstance(v, list) and len(v) == channels
                        and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v) for v in (mean, std))
                and min(std) >= 0):
            return None
    except (KeyError, TypeError, IndexError, ValueError):
        return None
    splits = cache.read_splits(folder, shape, len(classes))
    if splits is None:
        return None
    return Cached(folder, tuple(classes), splits[0], splits[1], tuple(mean), tuple(std),
                  meta.get("skipped", {}) if isinstance(meta.get("skipped"), dict) else {},
                  seconds=meta.get("seconds", 0.0) if isinstance(meta.get("seconds"), (int, float)) else 0.0)
