"""An image folder's first and later uses, side by side in one run, on a
generated folder of JPEG photos-sized pictures (varied sizes, 3 classes):

  first use      scan, parallel decode to 3x64x64 and the statistics, into the cache: images/s
  later runs     the same call again, read from the memory-mapped cache
  hand-written   one epoch of torchvision's ImageFolder with Resize + CenterCrop +
                 ToTensor through a DataLoader (one worker per core): what the
                 usual pipeline pays in every epoch

    python bench/folder_decode.py [--images 3000] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playground.train import imagefolder  # noqa: E402
from playground.train.data import finish  # noqa: E402


def write_folder(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        split = "test" if i % 10 == 0 else "train"
        folder = root / split / f"class{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        h, w = int(rng.integers(240, 480)), int(rng.integers(320, 640))
        small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)   # smooth, photo-like
        image = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        image.save(folder / f"{i:06d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pictures"
        os.environ[imagefolder.CACHE_ENV] = str(Path(tmp) / "cache")
        began = time.perf_counter()
        write_folder(root, args.images)
        print(f"{args.images:,} JPEG pictures (240-480 x 320-640) written in {time.perf_counter() - began:.1f} s; "
              f"decoded to 3x{args.size}x{args.size}, {args.workers} workers", flush=True)

        import torchvision.datasets  # noqa: F401  (imported before timing, as a training run has it)

        began = time.perf_counter()
        first = finish(imagefolder.load(root, 3, args.size, args.size, workers=args.workers))
        decode = time.perf_counter() - began
        began = time.perf_counter()
        again = finish(imagefolder.load(root, 3, args.size, args.size, workers=args.workers))
        cached = time.perf_counter() - began
        assert first.decoded and not again.decoded

        import torch
        from torchvision import datasets, transforms

        pipeline = transforms.Compose([transforms.Resize(args.size), transforms.CenterCrop(args.size),
                                       transforms.ToTensor()])
        loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(root / "train"), transform=pipeline),
                                             batch_size=128, shuffle=True, num_workers=args.workers)
        began = time.perf_counter()
        seen = sum(len(y) for _, y in loader)
        epoch = time.perf_counter() - began
    n = len(first.train[1]) + len(first.test[1])
    print(f"  first use     {decode:7.2f} s  {n / decode:8,.0f} images/s (scan, decode, statistics, cache)")
    print(f"  later runs    {cached:7.2f} s  (the cache, memory-mapped)")
    print(f"  hand-written  {epoch:7.2f} s  {seen / epoch:8,.0f} images/s, one epoch of train/ (decoded again "
          "every epoch)")
    print(f"hand-written epoch / later run: {epoch / cached:,.0f}x")


if __name__ == "__main__":
    main()
