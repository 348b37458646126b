"""Tiny datasets in torchvision's on-disk layout (IDX files under
<root>/<Dataset>/raw), written into a temporary folder for tests."""

from __future__ import annotations

import struct
from pathlib import Path

import torch


def _write_idx(path: Path, tensor: torch.Tensor) -> None:
    dims = tensor.shape
    magic = 0x0800 | len(dims)  # 0x08: unsigned byte data
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    path.write_bytes(header + tensor.to(torch.uint8).contiguous().numpy().tobytes())


def learnable_images(labels: torch.Tensor, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Noise plus a bright 4x4 patch whose position encodes the label."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 60, (len(labels), size, size), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        r, c = 2 + 5 * (label // 5), 2 + 5 * (label % 5)
        images[i, r:r + 4, c:c + 4] = 255
    return images


def write_dataset(root: Path, folder: str = "MNIST", n_train: int = 320, n_test: int = 80,
                  size: int = 28, classes: int = 10) -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        labels = torch.arange(n) % classes
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", learnable_images(labels, size, seed))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root
