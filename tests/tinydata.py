"""Tiny datasets in torchvision's on-disk layout (IDX files under
<root>/<Dataset>/raw), written into a temporary folder for tests."""

from __future__ import annotations

import struct
from pathlib import Path

import torch

# A small spec that trains in a second on the tiny dataset (10 steps of 32 per epoch).
TINY = """\
name: tiny
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 5, stride: 2}
  - {type: relu}
  - {type: dropout, p: 0.2}
  - {type: flatten}
  - {type: linear, out_features: 10}
data: {batch_size: 32, test_batch_size: 40}
train: {epochs: 3, lr: 0.05, momentum: 0.5, seed: 3, device: cpu}
"""


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
