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


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 200, n_test: int = 60, monkeypatch=None) -> Path:
    """A tiny CIFAR-10 or CIFAR-100 in torchvision's layout (pickled batches), with
    a colored patch whose position encodes the label. torchvision checks each
    file's MD5 against the real dataset's; ``monkeypatch`` points it at these."""
    import hashlib
    import pickle

    import torchvision.datasets as tvd

    from playground.format.datasets import DATASETS

    info = DATASETS[name]
    folder = root / info.files_folder
    folder.mkdir(parents=True, exist_ok=True)
    label_key = "labels" if name == "cifar10" else "fine_labels"

    def batch(n, seed):
        labels = torch.arange(n) % len(info.classes)
        gray = learnable_images(labels % 10, 32, seed)                         # N x 32 x 32
        images = torch.stack([gray, gray.flip(1), 255 - gray], dim=1)          # N x 3 x 32 x 32, as CIFAR stores it
        return {"data": images.reshape(n, -1).numpy(), label_key: labels.tolist()}

    files = dict(zip(info.files[:-1], [*(batch(n_train // 5, 10 + i) for i in range(5)), batch(n_test, 2)]
                     if name == "cifar10" else [batch(n_train, 1), batch(n_test, 2)], strict=True))
    meta_key = "label_names" if name == "cifar10" else "fine_label_names"
    files[info.files[-1]] = {meta_key: list(info.classes)}
    for file, content in files.items():
        (folder / file).write_bytes(pickle.dumps(content))
    if monkeypatch is not None:
        cls = getattr(tvd, info.torchvision_class)
        md5 = {f: hashlib.md5((folder / f).read_bytes()).hexdigest() for f in files}
        monkeypatch.setattr(cls, "train_list", [[f, md5[f]] for f, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[f, md5[f]] for f, _ in cls.test_list])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})
    return root


def write_svhn(root: Path, n_train: int = 200, n_test: int = 60, monkeypatch=None) -> Path:
    """A tiny SVHN in torchvision's layout (train_32x32.mat, test_32x32.mat: X is
    32 x 32 x 3 x N, y holds 1-10 with 10 for the digit 0)."""
    import hashlib

    import scipy.io
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        labels = torch.arange(n) % 10
        gray = learnable_images(labels, 32, seed)                                 # N x 32 x 32
        x = torch.stack([gray, 255 - gray, gray.flip(2)], dim=-1).permute(1, 2, 3, 0)   # 32 x 32 x 3 x N
        y = torch.where(labels == 0, 10, labels)[:, None]
        path = root / f"{split}_32x32.mat"
        scipy.io.savemat(path, {"X": x.numpy(), "y": y.numpy()})
        md5[split] = hashlib.md5(path.read_bytes()).hexdigest()
    if monkeypatch is not None:
        monkeypatch.setattr(tvd.SVHN, "split_list", {k: [v[0], v[1], md5[k]] for k, v in tvd.SVHN.split_list.items()
                                                      if k in md5})
    return root


FOLDER_CLASSES = ("circle", "square", "triangle")


def write_image_folder(root: Path, n_train: int = 12, n_test: int = 4, classes=FOLDER_CLASSES,
                       test_name: str = "test", broken: bool = True) -> Path:
    """An image folder (root/train/<class>/<image>, root/<test_name>/<class>/<image>)
    of PNG and JPEG files of several sizes and modes: noise with a bright patch
    whose position encodes the class. With ``broken``, one file in train/ is not
    an image and one is a truncated JPEG: both must be skipped."""
    from PIL import Image

    g = torch.Generator().manual_seed(7)
    for split, n in (("train", n_train), (test_name, n_test)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = (40, 48) if i % 2 else (36, 36)
                pixels = torch.randint(0, 60, (h, w, 3), generator=g, dtype=torch.uint8)
                r, c = 4 + 8 * (label % 3), 4 + 8 * (label // 3)
                pixels[r:r + 8, c:c + 8] = 255
                image = Image.fromarray(pixels.numpy())
                if i % 3 == 2:
                    image = image.convert("L")   # a grayscale file among color ones
                suffix = "jpg" if i % 2 else "png"
                image.save(folder / f"{name}_{i:03d}.{suffix}", quality=95)
    if broken:
        (root / "train" / classes[0] / "notes.txt").write_text("not an image")
        whole = (root / "train" / classes[1] / f"{classes[1]}_001.jpg").read_bytes()
        (root / "train" / classes[1] / "cut.jpg").write_bytes(whole[:len(whole) // 3])
        (root / "train" / classes[0] / ".DS_Store").write_bytes(b"\0\1")   # hidden: not data, not reported
    return root
