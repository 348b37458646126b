"""The static check: every layer's output shape, parameters and MACs by
arithmetic, before any weight exists; or a SpecError at the first layer that
does not fit.

Checks, in order: unique layer names; the input against the dataset's
images; each layer's input rank and its own shape rule; the last layer
against the dataset's class count; the parameter and activation budgets.
A spec with ``data: {dataset: none}`` skips the two dataset checks: any
input, any output shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.errors import Problem, SpecError, fail
from playground.layers.base import Layer, ShapeError
from playground.shapes import Shape, fmt, numel
from playground.spec import SpecBase

BYTES_PER_VALUE = 4  # float32
_RANK_WORDS = {1: "a flat (features,) vector", 2: "a CxL sequence", 3: "a CxHxW feature map"}


@dataclass(frozen=True)
class LayerRow:
    index: int
    name: str | None
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'" if self.name else self.type


@dataclass(frozen=True)
class Summary:
    """Per-layer facts and totals; shapes exclude the batch dimension."""

    name: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    total_macs: int
    activation_values: int  # per sample, input and every layer output
    num_classes: int | None  # None when the spec names no dataset

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape

    def activation_bytes(self, batch_size: int = 1) -> int:
        return self.activation_values * BYTES_PER_VALUE * batch_size


def _layer_problem(i: int, layer: Layer, err: ShapeError) -> SpecError:
    path = ("layers", i, err.field) if err.field else ("layers", i)
    return SpecError([Problem(path, err.message, err.fix, label=layer.label(), reason="shape")])


def _rank_problem(i: int, layer: Layer, x: Shape, ranks: tuple[int, ...]) -> SpecError:
    wanted = " or ".join(_RANK_WORDS.get(r, f"a rank-{r} input") for r in ranks)
    got = _RANK_WORDS.get(len(x), f"a rank-{len(x)} tensor")
    message = f"{layer.type} needs {wanted}, but its input is {got} ({fmt(x)})."
    if min(ranks) < len(x):   # it wants fewer dimensions: flattening first is the fix
        fix = f"Insert `- {{type: flatten}}` before it (it would flatten {fmt(x)} to {numel(x)})."
    else:
        fix = f"Move it before the layer that flattens the feature map, or use a layer that accepts {got}."
    return SpecError([Problem(("layers", i), message, fix, label=layer.label(), reason="rank")])


def analyze(spec: SpecBase) -> Summary:
    """Run the static check; return the Summary or raise a located SpecError."""
    rows: list[LayerRow] = []
    try:
        return _analyze(spec, rows)
    except SpecError as err:
        origin = spec._origin
        located = err.located(origin[1], origin[0]) if origin else err
        located.rows = tuple(rows)  # what was worked out before the failure, for partial tables
        raise located from None


def require_dataset(spec: SpecBase) -> None:
    """Training needs data: refuse a ``dataset: none`` spec with a located SpecError."""
    if spec.dataset is None:
        from playground.datasets import DATASETS

        err = fail(("data", "dataset"),
                   "this spec names no dataset (dataset: none): it can be checked, summarized, built and "
                   "exported, not trained.",
                   f"Pick a dataset to train on: data: {{dataset: {next(iter(DATASETS))}}} "
                   f"(one of: {', '.join(DATASETS)}); its images must match the spec's input.", reason="input")
        origin = spec._origin
        raise err.located(origin[1], origin[0]) if origin else err


def _analyze(spec: SpecBase, rows: list[LayerRow]) -> Summary:
    layers = spec.layers
    seen: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.name is None:
            continue
        if layer.name in seen:
            raise fail(("layers", i, "name"),
                       f"name '{layer.name}' is already used by layers[{seen[layer.name]}].",
                       "Give every layer a different name, or leave names out.", label=layer.label(),
                       reason="name")
        seen[layer.name] = i

    dataset = spec.dataset   # None for `dataset: none`: any input, any output
    x = spec.input.shape()
    if dataset is not None and tuple(x) != dataset.shape:
        c, h, w = dataset.shape
        raise fail(("input",), f"input is {fmt(x)}, but {dataset.name} images are {fmt(dataset.shape)}.",
                   f"Set input: {{channels: {c}, height: {h}, width: {w}}}, or leave it out.", reason="input")

    activations = numel(x)
    for i, layer in enumerate(layers):
        ranks = layer.input_ranks
        if ranks is not None and len(x) not in ranks:
            raise _rank_problem(i, layer, x, ranks)
        try:
            y = layer.output_shape(x)
        except ShapeError as err:
            raise _layer_problem(i, layer, err) from None
        y = y if isinstance(y, Shape) else Shape(y)
        if len(y) == 0 or min(y) < 1:
            raise fail(("layers", i), f"its output shape {fmt(y) or '()'} has an empty dimension.",
                       "Check this layer's sizes against its input.", label=layer.label(), reason="shape")
        rows.append(LayerRow(i, layer.name, layer.type, tuple(x), tuple(y),
                             layer.param_count(x), layer.macs(x, y)))
        activations += numel(y)
        x = y

    last, n_classes = rows[-1], (dataset.num_classes if dataset is not None else None)
    if n_classes is not None and last.output_shape != (n_classes,):
        layer = layers[-1]
        if len(last.output_shape) == 1 and "out_features" in type(layer).model_fields:
            raise fail(("layers", last.index, "out_features"),
                       f"out_features={last.output_shape[0]}, but {dataset.name} has {n_classes} classes.",
                       f"Set out_features: {n_classes}.", label=layer.label(), reason="classes")
        raise fail(("layers", last.index),
                   f"the model ends with {fmt(last.output_shape)}, but {dataset.name} needs "
                   f"{n_classes} class scores.",
                   f"End the model with a layer that outputs {n_classes} values, "
                   f"e.g. `- {{type: linear, out_features: {n_classes}}}`"
                   + (" after a flatten." if len(last.output_shape) > 1 else "."),
                   label=layer.label(), reason="classes")

    total_params = sum(r.params for r in rows)
    budget = spec.budget
    if total_params > budget.max_params:
        big = max(rows, key=lambda r: r.params)
        raise fail(("layers", big.index),
                   f"the model has {total_params:,} parameters, over budget.max_params={budget.max_params:,}; "
                   f"this layer alone has {big.params:,}.",
                   "Make this layer smaller (fewer channels or features, or pool before it), "
                   "or raise budget.max_params.", label=big.label, reason="budget")
    act_mb = activations * BYTES_PER_VALUE * spec.data.batch_size / 2**20
    if act_mb > budget.max_activation_mb:
        big = max(rows, key=lambda r: numel(r.output_shape))
        raise fail(("layers", big.index),
                   f"activations take {act_mb:,.0f} MiB per batch of {spec.data.batch_size}, over "
                   f"budget.max_activation_mb={budget.max_activation_mb:,.0f}; this layer's output "
                   f"{fmt(big.output_shape)} is the largest.",
                   "Shrink the feature maps (stride, pooling), lower data.batch_size, "
                   "or raise budget.max_activation_mb.", label=big.label, reason="budget")

    return Summary(spec.name, tuple(spec.input.shape()), tuple(rows), total_params,
                   sum(r.macs for r in rows), activations, n_classes)
