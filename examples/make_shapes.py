"""Write a small image folder to try `dataset: image_folder` with: pictures of
circles, squares and triangles, laid out as playground reads your own images.

    python examples/make_shapes.py data/shapes          # 1,500 train + 300 test pictures
    python -m playground.train specs/shapes_folder.yaml

Each picture has its own size (48 to 96 pixels a side, not all square), a
random background and shape color, position and size, and is saved as PNG or
JPEG, as a folder of real photos would be mixed.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def picture(kind: str, rng: random.Random) -> Image.Image:
    w, h = rng.randint(48, 96), rng.randint(48, 96)
    background = tuple(rng.randint(0, 255) for _ in range(3))
    color = tuple((c + rng.randint(80, 176)) % 256 for c in background)   # always far from the background
    image = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(image)
    side = rng.uniform(0.35, 0.7) * min(w, h)
    cx, cy = rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    if kind == "circle":
        draw.ellipse(box, fill=color)
    elif kind == "square":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=color)
    return image


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="where to write train/<class>/ and test/<class>/")
    p.add_argument("--train", type=int, default=500, help="pictures per class in train/ (default 500)")
    p.add_argument("--test", type=int, default=100, help="pictures per class in test/ (default 100)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    for split, n in (("train", args.train), ("test", args.test)):
        for kind in CLASSES:
            folder = args.folder / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                suffix = "jpg" if i % 2 else "png"
                picture(kind, rng).save(folder / f"{kind}_{i:04d}.{suffix}", quality=90)
    print(f"wrote {len(CLASSES) * (args.train + args.test)} pictures to {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
