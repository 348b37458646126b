"""The datasets a spec can name: facts only (image shape, classes, statistics),
the data root, and an image folder's classes as its folders list them.

Loading lives in playground.train.data; the static check needs only these facts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "PLAYGROUND_DATA"
DEFAULT_ROOT = "data"


def data_root(flag: str | os.PathLike | None = None) -> Path:
    """The data root: --data-dir, else $PLAYGROUND_DATA, else ./data."""
    return Path(flag or os.environ.get(DATA_ENV) or DEFAULT_ROOT).expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    torchvision_class: str   # class name in torchvision.datasets
    folder: str              # torchvision's folder under the data root
    channels: int
    height: int
    width: int
    classes: tuple[str, ...]
    mean: float | tuple[float, ...]   # normalization statistics of the training split: one, or per channel
    std: float | tuple[float, ...]
    files_folder: str = ""   # where its files go, under the root (MNIST: MNIST/raw)
    files: tuple[str, ...] = ()
    archive: str = ""        # what torchvision downloads, for messages
    split_arg: str = "train"  # torchvision's argument for the split: train=True/False, or split="train"/"test"
    channels_first: bool = False   # stored N x C x H x W (SVHN) rather than N x H x W x C

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


IMAGE_FOLDER = "image_folder"   # your own images: classes from its subfolders (playground.train.imagefolder)
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR100_CLASSES = tuple("""
    apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can
    castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin
    elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster
    man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
    pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
    skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
    tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())

DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (
        DatasetInfo("mnist", "MNIST", "MNIST", 1, 28, 28,
                    tuple(str(d) for d in range(10)), mean=0.1307, std=0.3081,
                    files_folder="MNIST/raw", files=IDX_FILES),
        DatasetInfo("fashion_mnist", "FashionMNIST", "FashionMNIST", 1, 28, 28,
                    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), mean=0.2860, std=0.3530,
                    files_folder="FashionMNIST/raw", files=IDX_FILES),
        # Per-channel statistics of the training splits (population std over every pixel).
        DatasetInfo("cifar10", "CIFAR10", "cifar-10-batches-py", 3, 32, 32,
                    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
                    files_folder="cifar-10-batches-py",
                    files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
                    archive="cifar-10-python.tar.gz"),
        DatasetInfo("cifar100", "CIFAR100", "cifar-100-python", 3, 32, 32, CIFAR100_CLASSES,
                    mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
                    files_folder="cifar-100-python", files=("train", "test", "meta"),
                    archive="cifar-100-python.tar.gz"),
        DatasetInfo("svhn", "SVHN", "", 3, 32, 32, tuple(str(d) for d in range(10)),
                    mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
                    files=("train_32x32.mat", "test_32x32.mat"), split_arg="split", channels_first=True),
    )
}


def folder_path(path: str, data_root: Path) -> Path:
    """``data.path`` as a folder: absolute (or ``~``) as written, else under the data root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else data_root / p


def folder_classes(root: Path) -> tuple[str, ...] | None:
    """The class folders of ``root/train``, sorted as ImageFolder sorts them;
    None when there are none to read. Cheap: one directory listing, so the
    static check can compare the class count with the last layer."""
    try:
        names = sorted(e.name for e in os.scandir(root / "train") if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return None
    return tuple(names) or None
