"""The datasets a spec can name: facts only (image shape, classes, statistics).

Loading lives in playground.data; the static check needs only these facts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    torchvision_class: str   # class name in torchvision.datasets
    folder: str              # torchvision's folder under the data root
    channels: int
    height: int
    width: int
    classes: tuple[str, ...]
    mean: float              # standard normalization statistics of the training split
    std: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (
        DatasetInfo("mnist", "MNIST", "MNIST", 1, 28, 28,
                    tuple(str(d) for d in range(10)), mean=0.1307, std=0.3081),
        DatasetInfo("fashion_mnist", "FashionMNIST", "FashionMNIST", 1, 28, 28,
                    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), mean=0.2860, std=0.3530),
    )
}
