"""The spec format: pydantic models for everything but the layer list.

``SpecBase`` holds the fixed sections (name, input, data, train, budget). The
full ``Spec`` model, whose ``layers`` field is a discriminated union over the
registered layer plugins, is made by ``spec_model(registry)``; every spec a
user holds is an instance of a subclass of ``SpecBase``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from playground.core.errors import SpecError
from playground.format.datasets import DATASETS, IMAGE_FOLDER
from playground.format.templates import BlockDef
from playground.layers.base import Layer
from playground.layers.shapes import Shape

NO_DATASET = "none"   # a spec for checking, summarizing, building and exporting only
DatasetName = Literal[(*DATASETS, IMAGE_FOLDER, NO_DATASET)]
DEVICE_NAMES = r"auto|cpu|mps|cuda(:\d+)?"   # train.device and devices.resolve accept exactly these  # type: ignore[valid-type]


Mean = Annotated[float, Field(ge=-10, le=10)]
Std = Annotated[float, Field(gt=0, le=10)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class InputShape(Section):
    """Shape of one input image."""

    channels: int = Field(strict=True, ge=1, le=4096, description="Image channels (1 for grayscale).")
    height: int = Field(strict=True, ge=1, le=8192, description="Image height in pixels.")
    width: int = Field(strict=True, ge=1, le=8192, description="Image width in pixels.")

    def shape(self) -> Shape:
        return Shape((self.channels, self.height, self.width))


class Augment(Section):
    """Batched augmentation of the training images on the training device, drawn
    from (seed, epoch), so a resumed run sees the same images."""

    padding: int = Field(0, strict=True, ge=0, le=256,
                         description="Zero padding on each side before a random crop (CIFAR: 4); 0: no crop.")
    crop: int | None = Field(
        None, strict=True, ge=1, le=8192,
        description="Side of the random crop; defaults to the input's height (a square input) and must give it.")
    hflip: bool = Field(False, description="Flip each image left-right with probability 1/2.")
    cutout: int = Field(0, strict=True, ge=0, le=8192,
                        description="Side of a square set to the mean at a random place of each image, "
                                    "after crop and flip (Cutout; CIFAR-10: 16); 0: none.")


class Data(Section):
    """Dataset, batching and normalization. Defaults follow the MNIST tutorial."""

    dataset: DatasetName = Field(
        "mnist", description="torchvision dataset to train and test on; image_folder for your own images "
                             "(then path and input are required); none for a spec that is only "
                             "checked, summarized, built and exported (then input is required).")
    path: str | None = Field(
        None, min_length=1,
        description="image_folder: the folder holding train/<class>/<image> and test/<class>/<image> (val/ "
                    "accepted for test); relative paths are under the data root.")
    resize: Literal["center_crop", "stretch"] = Field(
        "center_crop", description="image_folder: how images become the input's size: center_crop scales "
                                   "them to cover it and cuts the middle (keeps the aspect); stretch scales "
                                   "each side to fit.")
    crop: float | None = Field(
        None, gt=0, le=1,
        description="image_folder, center_crop: the part of the covering size that is kept, as torchvision's "
                    "Resize(256) then CenterCrop(224) keeps 224/256 = 0.875. Default 1 (all of it), or the "
                    "starting weights' own (init.weights from torchvision: their transforms' crop over resize).")
    memory_limit_mb: float = Field(
        4096.0, gt=0, le=2**24,
        description="Largest data held in memory, normalized (4 bytes a value); a larger dataset is read "
                    "batch by batch from its uint8 (image_folder: memory-mapped) copy, with the same batches.")
    batch_size: int = Field(64, ge=1, le=65536, description="Training batch size.")
    test_batch_size: int = Field(1000, ge=1, le=65536, description="Batch size for evaluation.")
    mean: Mean | list[Mean] | None = Field(
        None, description="Normalization mean: one number, or one per channel; defaults to the dataset's "
                          "(MNIST: 0.1307, CIFAR-10: [0.4914, 0.4822, 0.4465]; image_folder: its training "
                          "images', worked out when they are first read).")
    std: Std | list[Std] | None = Field(
        None, description="Normalization std: one number, or one per channel; defaults to the dataset's "
                          "(MNIST: 0.3081, CIFAR-10: [0.2470, 0.2435, 0.2616]).")
    augment: Augment = Field(default_factory=Augment, description=Augment.__doc__)

    @model_validator(mode="after")
    def _dataset_statistics(self):
        if (self.dataset == IMAGE_FOLDER) != (self.path is not None):
            if self.path is None:
                raise PydanticCustomError("path_required", "dataset image_folder needs a path", {
                    "at": ("data", "path"),
                    "fix": "Add `path: DIR`, a folder holding train/<class>/<image> and test/<class>/<image>."})
            raise PydanticCustomError("path_unused", "path applies to dataset image_folder, not {d}", {
                "d": self.dataset, "at": ("data", "path"),
                "fix": "Remove path, or set dataset: image_folder to train on the images in it."})
        info = DATASETS.get(self.dataset)
        if self.dataset == IMAGE_FOLDER:   # mean and std left out: the training images' own, when they are read
            return self
        if info is None:   # no dataset: inputs are taken as they come
            self.mean = 0.0 if self.mean is None else self.mean
            self.std = 1.0 if self.std is None else self.std
            return self
        if self.mean is None:
            self.mean = list(info.mean) if isinstance(info.mean, tuple) else info.mean
        if self.std is None:
            self.std = list(info.std) if isinstance(info.std, tuple) else info.std
        return self


class Train(Section):
    """Optimizer and schedule. Defaults follow the MNIST tutorial."""

    epochs: int = Field(10, ge=1, le=10000, description="Passes over the training set.")
    optimizer: Literal["sgd", "adam", "adamw"] = Field("sgd", description="Optimizer.")
    lr: float = Field(0.01, gt=0, le=10, description="Learning rate.")
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD momentum (sgd only; default 0.5).")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty.")
    nesterov: bool = Field(False, description="Nesterov momentum (sgd with momentum only).")
    schedule: Literal["constant", "cosine", "onecycle", "step"] = Field(
        "constant", description="Learning-rate schedule, set at every step: constant; cosine (to 0 by the last "
                                "step); onecycle (up to lr over the first 30% of the steps, then down, as "
                                "torch's OneCycleLR); step (times gamma every step_epochs epochs).")
    warmup_epochs: float = Field(
        0.0, ge=0, le=1000, description="Epochs of linear warmup from 0 to lr before the schedule (not onecycle).")
    step_epochs: int = Field(30, ge=1, le=10000, description="step schedule: epochs between drops.")
    gamma: float = Field(0.1, gt=0, le=1, description="step schedule: the factor of each drop.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing (0: none).")
    seed: int = Field(1, ge=0, le=2**32 - 1, description="Random seed for weights, shuffling and dropout.")
    device: str = Field(
        "auto", pattern=rf"^({DEVICE_NAMES})$",
        description="auto picks CUDA, then Apple MPS, then CPU; or cpu, cuda, cuda:N, mps.")
    amp: bool = Field(
        True, description="Train in bfloat16 autocast where the device computes bfloat16 natively (CUDA GPUs "
                          "that support it; CPUs with AMX or AVX-512 BF16), float32 elsewhere; false: float32 "
                          "everywhere (the command line's --no-amp). The test pass is float32 on the CPU.")

    freeze: list[PartName] = Field(
        default_factory=list, max_length=1000,
        description="Layers and blocks (by name or dotted module path, e.g. layer1, layer3.0; all: every one) "
                    "whose parameters do not train: no gradient, no optimizer state.")
    trainable: list[PartName] = Field(
        default_factory=list, max_length=1000,
        description="Parts that train inside a frozen one: freeze: [all] with trainable: [fc] trains the head "
                    "alone.")
    unfreeze_epoch: int | None = Field(
        None, ge=2, le=10000, description="From this epoch (1-based) on, the frozen parts train too.")
    frozen_norm: Literal["eval", "train"] = Field(
        "eval", description="A frozen part's batch norms: eval keeps their running statistics (they normalize "
                            "as the weights were trained, the convention of Keras and timm); train updates them "
                            "from the batches, as an unfrozen layer's do.")
    lr_parts: dict[PartName, Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=dict, max_length=1000,
        description="Learning rates of parts (by name or dotted module path), e.g. {fc: 0.01} with a smaller "
                    "train.lr for the rest; the schedule scales each the same way.")

    @field_validator("momentum")
    @classmethod
    def _momentum_is_sgd_only(cls, momentum, info: ValidationInfo):
        optimizer = info.data.get("optimizer", "sgd")
        if momentum is not None and optimizer != "sgd":
            raise ValueError(f"momentum applies to sgd only, not to {optimizer}; "
                             "remove it or set optimizer: sgd")
        return momentum

    @model_validator(mode="after")
    def _sgd_momentum_default(self):
        if self.optimizer == "sgd" and self.momentum is None:
            self.momentum = 0.5
        if self.nesterov and not (self.optimizer == "sgd" and self.momentum):
            raise PydanticCustomError("nesterov", "nesterov needs optimizer sgd with a momentum above 0", {
                "at": ("train", "nesterov"), "fix": "Set optimizer: sgd and momentum: 0.9, or remove nesterov."})
        if self.unfreeze_epoch is not None and not self.freeze:
            raise PydanticCustomError("unfreeze", "unfreeze_epoch needs a frozen part", {
                "at": ("train", "unfreeze_epoch"),
                "fix": "Freeze a part (freeze: [layer1]), or remove unfreeze_epoch."})
        if self.trainable and not self.freeze:
            raise PydanticCustomError("trainable", "trainable names exceptions to freeze, and nothing is frozen", {
                "at": ("train", "trainable"), "fix": "Add freeze: [all], or remove trainable."})
        if self.warmup_epochs > self.epochs:
            raise PydanticCustomError("warmup", "warmup_epochs={w} is longer than the run's {e} epochs", {
                "w": self.warmup_epochs, "e": self.epochs, "at": ("train", "warmup_epochs"),
                "fix": "Warm up for a few epochs at most, e.g. warmup_epochs: 1."})
        return self


PartName = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.]*$")]


class Init(Section):
    """Where the weights start from: fresh (seeded by train.seed), or weights trained before."""

    weights: str | None = Field(
        None, min_length=1, max_length=1000,
        description="torchvision's published weights for a zoo spec, named as torchvision names them "
                    "(torchvision:ResNet18_Weights.IMAGENET1K_V1; from torch's hub cache in $TORCH_HOME, "
                    "downloaded when online), a run folder (its checkpoint), or a state-dict file (.pt, .pth). "
                    "Loaded safely (weights_only). The command line's --init overrides it.")
    skip: list[PartName] = Field(
        default_factory=list, max_length=1000,
        description="Layers and blocks (by name or dotted module path, e.g. fc, layer4.1) whose tensors are not "
                    "loaded: they stay freshly initialized. A last layer whose size differs from the weights' "
                    "(another class count) is left fresh without being named here.")


class Budget(Section):
    """Size limits checked before any weight is allocated."""

    max_params: int = Field(
        2_000_000_000, ge=1, description="Largest parameter count accepted (the default admits every torchvision "
                                         "classification model, ViT-H/14's 632M included).")
    max_activation_mb: float = Field(
        262144.0, gt=0, description="Largest float32 activation memory per training batch, in MiB (the default "
                                    "admits the torchvision zoo at its input size and a batch of 64).")


class SpecBase(Section):
    """A model spec: an input shape, a list of layers, and how to train it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100,
                      description="Spec name; run folders are named after it.")
    input: InputShape | None = Field(
        None, description="Input image shape; defaults to the dataset's (1x28x28 for MNIST).")
    layers: list[Layer] = Field(min_length=1, description="The layers, applied in order.")
    blocks: dict[str, BlockDef] | None = Field(
        None, description="Reusable blocks: name -> {params, layers}; used by `- {type: use, block: NAME}` "
                          "entries of layers.")
    data: Data = Field(default_factory=Data, description=Data.__doc__)
    init: Init = Field(default_factory=Init, description=Init.__doc__)
    train: Train = Field(default_factory=Train, description=Train.__doc__)
    budget: Budget = Field(default_factory=Budget, description=Budget.__doc__)

    # Where the spec came from, for locating later problems: (filename, lines, expansion).
    _origin: Any = PrivateAttr(default=None)

    def locate(self, err: SpecError) -> SpecError:
        """``err`` placed in the file this spec was read from: problems inside
        blocks in their templates, every problem with its line. A spec made in
        code has no file: ``err`` itself."""
        origin = self._origin
        return origin[2].error(err).located(origin[1], origin[0]) if origin else err

    @model_validator(mode="after")
    def _default_input(self):   # first: the checks after it read the input
        folder = self.data.dataset == IMAGE_FOLDER
        if self.input is None:
            if self.dataset is None:
                raise PydanticCustomError(   # "at": where the loader places the problem
                    "input_required", "input is required when data.dataset is {d}", {
                        "d": self.data.dataset, "at": ("input",),
                        "fix": "Add `input: {channels: 3, height: 224, width: 224}` (the shape the model takes"
                               + ("; images are resized to it)." if folder else ").")})
            c, h, w = self.dataset.shape
            self.input = InputShape(channels=c, height=h, width=w)
        if folder and self.input.channels not in (1, 3):
            raise PydanticCustomError("folder_channels", "images are read as grayscale (1 channel) or RGB (3), "
                                      "not {c} channels", {"c": self.input.channels, "at": ("input", "channels"),
                                                           "fix": "Set channels: 3 (RGB) or 1 (grayscale)."})
        return self

    @model_validator(mode="after")
    def _statistics_per_channel(self):
        channels = self.input.channels
        for key in ("mean", "std"):
            value = getattr(self.data, key)
            if isinstance(value, list) and len(value) != channels:
                raise PydanticCustomError(
                    "per_channel", "data.{key} has {n} values, but the input has {c}",
                    {"key": key, "n": len(value), "c": f"{channels} channel{'s' if channels > 1 else ''}",
                     "at": ("data", key),
                     "fix": f"Give one number, or one per channel ({channels})."})
        return self

    @model_validator(mode="after")
    def _crop_fits(self):
        a = self.data.augment
        _, h, w = self.input.shape()
        if a.cutout > min(h, w):
            raise PydanticCustomError("cutout", "a {c}x{c} cutout is larger than the {h}x{w} input", {
                "c": a.cutout, "h": h, "w": w, "at": ("data", "augment", "cutout"),
                "fix": f"Use a cutout of at most half the image's side, e.g. cutout: {min(h, w) // 2}."})
        if a.padding == 0 and a.crop is None:
            return self
        crop = a.crop if a.crop is not None else h
        if crop > h + 2 * a.padding or crop > w + 2 * a.padding:
            raise PydanticCustomError("crop", "a {crop}x{crop} crop is larger than the {ph}x{pw} padded image", {
                "crop": crop, "ph": h + 2 * a.padding, "pw": w + 2 * a.padding, "at": ("data", "augment", "crop"),
                "fix": f"Use crop: {h} (the input's size) or more padding."})
        if (crop, crop) != (h, w):
            raise PydanticCustomError("crop", "a {crop}x{crop} crop does not give the model's {h}x{w} input", {
                "crop": crop, "h": h, "w": w, "at": ("data", "augment", "crop"),
                "fix": f"Leave crop out (it defaults to {h}), or change the spec's input."})
        return self

    @property
    def dataset(self):
        """The DatasetInfo of a built-in data.dataset; None for ``none`` and ``image_folder``
        (whose facts come from the folder: analysis.dataset_facts)."""
        return DATASETS.get(self.data.dataset)

    @property
    def trainable(self) -> bool:
        """It names data to train on (not ``dataset: none``)."""
        return self.data.dataset != NO_DATASET

    def to_dict(self) -> dict:
        """Plain data that validates back to an equal spec: every value written
        out, except the None of an optional field left out (e.g. a layer name)."""
        return _dump(self)


def _dump(model: BaseModel) -> dict:
    return {key: _plain(value) for key, field in type(model).model_fields.items()
            if not ((value := getattr(model, key)) is None and field.default is None)}


def _plain(value: Any) -> Any:
    """Models, lists, tuples and mappings at any depth as YAML-ready plain data
    (a block definition's parameters are models inside a mapping)."""
    if isinstance(value, BaseModel):
        return _dump(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def spec_model(registry) -> type[SpecBase]:
    """The pydantic Spec model whose ``layers`` accept every type registered in
    ``registry`` (made once per registry and set of plugins)."""
    def make():
        item = registry.layer_item()
        return create_model("Spec", __base__=SpecBase, __module__=__name__,
                            layers=(list[item], Field(min_length=1,
                                                      description=SpecBase.model_fields["layers"].description)))
    return registry.cached("spec_model", make)
