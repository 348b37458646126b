"""The cache of decoded datasets: a folder of ``.npy`` files per dataset (the
splits' uint8 images and int64 labels) with a sealed ``meta.json`` that says
what they were made from, so that a later run maps them from disk instead of
parsing or decoding anything, and never uses a cache that is stale, partial or
changed since it was written.

It lives under ``$PLAYGROUND_CACHE`` (else ``$XDG_CACHE_HOME/playground``,
else ``~/.cache/playground``). Two kinds use it: image folders
(``imagefolder``: decoded in parallel) and torchvision's datasets (``data``:
read once through torchvision's classes, then from here without importing
torchvision). A cache is written into a temporary folder, sealed, then put in
place by renames: readers see the old cache, the new one, or none.

Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from playground.core.fileio import atomic_write_text, clean_leftovers, temp_name

CACHE_ENV = "PLAYGROUND_CACHE"
SPLITS = ("train", "test")
FILES = ("train.npy", "train.labels.npy", "test.npy", "test.labels.npy")


def root() -> Path:
    base = os.environ.get(CACHE_ENV) or (Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "playground")
    return Path(base).expanduser()


def checksum(path: Path) -> int:
    """CRC-32 of a file's bytes (zlib's, over 1 GB/s): what the cache's files held when written."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def _sealed(meta: dict) -> int:
    """CRC-32 of meta.json's own content (all but this seal), so a changed value is seen."""
    return zlib.crc32(json.dumps({k: v for k, v in meta.items() if k != "sealed"}, sort_keys=True).encode())


def begin(folder: Path) -> Path:
    """A fresh temporary folder beside ``folder`` to write its cache into, after
    clearing what a killed writer of the same cache left."""
    clean_leftovers(folder.parent, folder.name)
    tmp = folder.with_name(temp_name(folder.name) + "cache.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def seal(tmp: Path, meta: dict) -> None:
    """Write ``meta`` as ``tmp``'s meta.json, with the checksums of its split files and its own seal;
    last, so that a folder without it is never used."""
    meta = {**meta, "checksums": {name: checksum(tmp / name) for name in FILES}}
    meta["sealed"] = _sealed(meta)
    atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=1))


def publish(tmp: Path, target: Path) -> None:
    """Put the sealed folder ``tmp`` at ``target``; readers see the old cache or the new one."""
    old = target.with_name(temp_name(target.name) + "cache.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def read_meta(folder: Path, expect: dict) -> dict | None:
    """``folder``'s meta.json if the cache there is whole and was made as ``expect`` says (each of its
    keys with that value: the source's fingerprint, the reader's version); None for anything else,
    a file whose bytes changed since it was sealed (same-size garbage included) among them."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if not isinstance(meta, dict) or any(meta.get(key) != value for key, value in expect.items()):
            return None
        if meta.get("sealed") != _sealed(meta):   # meta.json itself changed since it was written
            return None
        sums = meta.get("checksums")
        if not isinstance(sums, dict) or any(sums.get(n) != checksum(folder / n) for n in FILES):
            return None
    except (OSError, ValueError, TypeError):
        return None
    return meta


def class_names(meta: dict) -> list[str] | None:
    """The class names a cache's meta.json lists, if they are a non-empty list of texts; else None."""
    classes = meta.get("classes")
    ok = isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
    return classes if ok else None


def read_splits(folder: Path, shape: list, classes: int) -> tuple[tuple[np.ndarray, np.ndarray], ...] | None:
    """The (images, labels) of each split, images memory-mapped copy-on-write, if every one is uint8 of
    ``shape`` per image with as many int64 labels, all below ``classes``; else None."""
    try:
        splits = tuple((np.load(folder / f"{s}.npy", mmap_mode="c"), np.load(folder / f"{s}.labels.npy"))
                       for s in SPLITS)
    except (OSError, ValueError):
        return None
    for images, labels in splits:
        if images.dtype != np.uint8 or list(images.shape[1:]) != list(shape) or labels.dtype != np.int64 \
                or labels.ndim != 1 or len(labels) != len(images) \
                or (len(labels) and not 0 <= labels.min() <= labels.max() < classes):
            return None
    return splits
