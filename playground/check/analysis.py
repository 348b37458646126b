"""The static check: every layer's output shape, parameters and MACs by
arithmetic, before any weight exists; or a SpecError at the first layer that
does not fit.

Checks, in order: layer and branch names that can name modules (torch's
rules), unique layer names; the input against the dataset's images; each
layer's input rank and its own shape rule; the last layer against the
dataset's class count; the parameter and activation budgets.
A spec with ``data: {dataset: none}`` skips the two dataset checks: any
input, any output shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from playground.core.errors import Path, Problem, SpecError, fail, path_str
from playground.core.speed import gc_paused
from playground.format.loader import read_spec
from playground.format.spec import SpecBase
from playground.layers.base import Layer, ShapeError, module_name_problem
from playground.layers.shapes import Shape, fmt, numel

BYTES_PER_VALUE = 4  # float32
_RANK_WORDS = {1: "a flat (features,) vector", 2: "an LxD token sequence", 3: "a CxHxW feature map"}
_MAP_WORDS = {"first": "a CxHxW feature map (channels first)", "last": "an HxWxC map (channels last)"}
# Into which layout a permute takes a map (torch's dims, the batch first).
_TO_LAYOUT = {"first": "[0, 3, 1, 2]", "last": "[0, 2, 3, 1]"}


@dataclass(frozen=True)
class LayerRow:
    """One layer's facts. A container's row holds its layers' rows as
    ``children``, and counts their parameters and MACs."""

    index: int                      # position in the top-level list
    name: str | None
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    path: Path = ()                 # ('layers', 3, 'body', 0): where the layer is in the spec
    children: tuple[LayerRow, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'" if self.name else self.type

    @property
    def depth(self) -> int:
        """0 for a top-level layer, 1 for a layer inside a container, ..."""
        return sum(isinstance(p, int) for p in self.path) - 1

    def walk(self, max_depth: int | None = None) -> Iterator[LayerRow]:
        """This row, then its descendants in spec order, down to ``max_depth``."""
        yield self
        if max_depth is None or self.depth < max_depth:
            for child in self.children:
                yield from child.walk(max_depth)


@dataclass(frozen=True)
class Summary:
    """Per-layer facts and totals; shapes exclude the batch dimension.
    ``rows`` are the top-level layers; ``walk()`` goes through the tree."""

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

    def walk(self, max_depth: int | None = None) -> Iterator[LayerRow]:
        """Every row in spec order, containers before what they hold, down to ``max_depth``."""
        for row in self.rows:
            yield from row.walk(max_depth)


def _layer_problem(path: Path, layer: Layer, err: ShapeError) -> SpecError:
    field = (err.field,) if isinstance(err.field, str) else tuple(err.field or ())
    return SpecError([Problem((*path, *field), err.message, err.fix, label=layer.label(), reason="shape",
                              layer=path, needs=err.needs)])


def _rank_problem(path: Path, layer: Layer, x: Shape, ranks: tuple[int, ...]) -> SpecError:
    wanted = layer.input_words or " or ".join(_RANK_WORDS.get(r, f"a rank-{r} input") for r in ranks)
    got = _RANK_WORDS.get(len(x), f"a rank-{len(x)} tensor")
    message = f"{layer.type} needs {wanted}, but its input is {got} ({fmt(x)})."
    if min(ranks) < len(x):   # it wants fewer dimensions: flattening first is the fix
        fix = f"Insert `- {{type: flatten}}` before it (it would flatten {fmt(x)} to {numel(x)})."
    else:
        fix = f"Move it before the layer that flattens the feature map, or use a layer that accepts {got}."
    return SpecError([Problem(path, message, fix, label=layer.label(), reason="rank", layer=path)])


def _layout_problem(path: Path, layer: Layer, x: Shape) -> SpecError:
    """A map in the other layout: the permute that turns it, or for a linear after a CxHxW map, the
    classic fix first (flatten into a vector)."""
    wanted = layer.map_layout
    got = "last" if x.channels_last else "first"
    permute = f"`- {{type: permute, dims: {_TO_LAYOUT[wanted]}}}`"
    if wanted == "last" and 1 in (layer.input_ranks or ()):   # linear, layernorm: over the last axis
        others = [_RANK_WORDS[r] for r in layer.input_ranks if r != 3]
        message = (f"{layer.type} needs {', '.join(others)} or {_MAP_WORDS['last']}, but its input is "
                   f"{_MAP_WORDS[got].split(' (')[0]} ({fmt(x)}).")
        fix = (f"Insert `- {{type: flatten}}` before it (it would flatten {fmt(x)} to {numel(x)}); or, to apply it "
               f"to every pixel's channels, {permute}.")
    else:
        message = f"{layer.type} needs {_MAP_WORDS[wanted]}, but its input is {_MAP_WORDS[got]} ({fmt(x)})."
        fix = f"Insert {permute} before it."
    return SpecError([Problem(path, message, fix, label=layer.label(), reason="rank", layer=path)])


class _Walk:
    """The shape walk over a tree of layers: rows, located errors, activations."""

    def __init__(self) -> None:
        self.activations = 0

    def chain(self, prefix: Path, layers: list[Layer], x: Shape, rows: list[LayerRow]) -> Shape:
        """Run ``layers`` (found at ``prefix``) on ``x``, appending a row per layer."""
        seen: dict[str, int] = {}
        for j, layer in enumerate(layers):
            if layer.name is None:
                continue
            wrong = module_name_problem(layer.name)
            if wrong is not None:
                raise fail((*prefix, j, "name"), f"name '{layer.name}' cannot name a module of the built model: "
                           f"{wrong[0]}.", f"Rename the layer, e.g. {wrong[1]}.",
                           label=layer.label(), reason="name", layer=(*prefix, j))
            if layer.name in seen:
                where = path_str((prefix[-1], seen[layer.name]))   # a sibling: 'layers[0]', 'body[1]'

                raise fail((*prefix, j, "name"), f"name '{layer.name}' is already used by {where}.",
                           "Give every layer a different name, or leave names out.",
                           label=layer.label(), reason="name", layer=(*prefix, j))
            seen[layer.name] = j
        for j, layer in enumerate(layers):
            target = layer.register_before
            if target is not None and seen.get(target, j) >= j:
                earlier = [n for n, k in seen.items() if k < j]
                raise fail((*prefix, j, "register_before"),
                           f"register_before: {target} names no earlier layer of {path_str((prefix[-1],))}.",
                           (f"Name one of the layers before it: {', '.join(earlier)}." if earlier else
                            "Give the earlier layer a name, and put that name here."),
                           label=layer.label(), reason="name", layer=(*prefix, j))
        for j, layer in enumerate(layers):
            x = self.layer((*prefix, j), layer, x, rows)
        return x

    def layer(self, path: Path, layer: Layer, x: Shape, rows: list[LayerRow]) -> Shape:
        ranks = layer.input_ranks
        if ranks is not None and len(x) not in ranks:
            raise _rank_problem(path, layer, x, ranks)
        if len(x) == 3 and layer.map_layout != "any" and ranks is not None \
                and ("last" if x.channels_last else "first") != layer.map_layout:
            raise _layout_problem(path, layer, x)
        children: list[LayerRow] = []
        for where, _ in layer.layer_lists() if layer.holds_layers else ():
            wrong = module_name_problem(where[1]) if len(where) == 2 else None   # a branch's name
            if wrong is not None:
                raise fail((*path, *where), f"branch name '{where[1]}' cannot name a module of the built model: "
                           f"{wrong[0]}.", f"Rename the branch, e.g. {wrong[1]}.",
                           label=layer.label(), reason="name", layer=path)
        try:
            if layer.holds_layers:
                y = layer.output_shape(x, lambda where, layers, x_: self.chain((*path, *where), layers, x_, children))
            else:
                y = layer.output_shape(x)
        except ShapeError as err:
            raise _layer_problem(path, layer, err) from None
        if not isinstance(y, Shape):
            y = Shape(y)
        if not y or min(y) < 1:
            raise fail(path, f"its output shape {fmt(y) or '()'} has an empty dimension.",
                       "Check this layer's sizes against its input.", label=layer.label(), reason="shape",
                       layer=path)
        params, macs = layer.param_count(x), layer.macs(x, y)
        for child in children:
            params += child.params
            macs += child.macs
        rows.append(LayerRow(path[1], layer.name, layer.type, x, y, params, macs, path,   # Shapes: tuples
                             tuple(children)))
        self.activations += numel(y)
        return y


def check_layer(layer: Layer, x: Shape) -> LayerRow:
    """One layer (a container with all it holds) on input shape ``x``: its row,
    or a SpecError located at ``layers[0]``."""
    rows: list[LayerRow] = []
    _Walk().layer(("layers", 0), layer, Shape(x), rows)
    return rows[0]


def analyze(spec: SpecBase, data_root=None) -> Summary:
    """Run the static check; return the Summary or raise a located SpecError.
    ``data_root``: where an image folder's relative path is looked up (default:
    $PLAYGROUND_DATA, else ./data)."""
    rows: list[LayerRow] = []
    try:
        with gc_paused():   # every row lives on: the cyclic collector would only rescan them
            return _analyze(spec, rows, data_root)
    except SpecError as err:
        located = _in_every_use(spec, err, spec.locate(err), data_root)
        located.rows = tuple(rows)  # what was worked out before the failure, for partial tables
        raise located from None


MAX_USES_CHECKED = 64


def _at(spec: SpecBase, path: Path):
    node = spec
    for part in path:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    return node


def _in_every_use(spec: SpecBase, err: SpecError, located: SpecError, data_root) -> SpecError:
    """A number written in a block's template that is wrong in one use: the fix that
    holds in every use. Its one-use fix ("Set in_channels: 128") would be wrong in
    the uses at other widths (following it gave "Set in_channels: 64"). The spec is
    checked again with the number left out where it failed, until every use is
    known: the fix says in how many uses it fails, and names a parameter of the
    block that equals what each use needs (``$width``), else says to leave it out."""
    import dataclasses

    first, raw = (located.problems[0], err.problems[0]) if err.problems and located.problems else (None, None)
    origins = getattr(spec, "_origin", None)
    if first is None or raw.needs is None or first.path[:1] != ("blocks",) or origins is None or len(raw.path) < 2:
        return located
    key, template = raw.path[-1], first.path
    instances = [(o, (*o.expanded, *template[len(o.template):])) for o in origins[2].origins.values()
                 if template[:len(o.template)] == o.template]
    if len(instances) < 2:
        return located
    written = _at(spec, raw.path[:-1]).__dict__.get(key)
    trial, needs, problem = spec.model_copy(deep=True), {}, raw
    for _ in range(MAX_USES_CHECKED):
        needs[problem.path] = str(problem.needs)
        object.__setattr__(_at(trial, problem.path[:-1]), key, None)   # left out: inferred there
        try:
            _analyze(trial, [], data_root)
            break
        except SpecError as again:
            problem = again.problems[0]
            if trial.locate(again).problems[0].path != template or problem.needs is None:
                break
    needed = {path: needs.get(path, str(written)) for _, path in instances}
    params = [name for name, _ in instances[0][0].values
              if all(str(dict(o.values).get(name)) == needed[path] for o, path in instances)]
    block = instances[0][0].block
    values = ", ".join(dict.fromkeys(v for v in needed.values() if v != str(written)))
    said = f"`{key}: {written}` fails in {len(needs)} of {len(instances)} uses of block '{block}' (they need {values})."
    fix = (f"{said} Write `{key}: ${params[0]}`, which holds in every use, or leave it out to infer it."
           if params else f"{said} Leave it out to infer it: no one number holds in every use.")
    out = SpecError([dataclasses.replace(first, fix=fix), *located.problems[1:]], located.filename)
    return out


def load_checked(source, *, data_root=None, overrides=None, registry=None) -> tuple[SpecBase, Summary]:
    """Read, validate and check a spec in one pass: the spec and its Summary.
    ``data_root`` is where the run will look for an image folder, so its class
    count is the one compared with the last layer; ``overrides`` as for
    ``read_spec``. Every problem is a SpecError located in the spec's file."""
    with gc_paused():   # one pause over both: the collector would rescan what reading made
        spec = read_spec(source, registry=registry, overrides=overrides)
        return spec, analyze(spec, data_root)


def load_spec(source, *, data_root=None, overrides=None, registry=None) -> SpecBase:
    """A spec read, validated and shape-checked (``load_checked`` without the summary)."""
    return load_checked(source, data_root=data_root, overrides=overrides, registry=registry)[0]


def require_dataset(spec: SpecBase) -> None:
    """Training needs data: refuse a ``dataset: none`` spec with a located SpecError."""
    if not spec.trainable:
        from playground.format.datasets import DATASETS

        err = fail(("data", "dataset"),
                   "this spec names no dataset (dataset: none): it can be checked, summarized, built and "
                   "exported, not trained.",
                   f"Pick a dataset to train on: data: {{dataset: {next(iter(DATASETS))}}} "
                   f"(one of: {', '.join(DATASETS)}); its images must match the spec's input.", reason="input")
        raise spec.locate(err)


def dataset_facts(spec: SpecBase, data_root=None):
    """The DatasetInfo the check compares the model with: a built-in dataset's;
    an image folder's as the folder is now (its class folders; its images take
    the spec's input size); None for ``dataset: none`` or an image folder that
    cannot be listed (training then says why)."""
    from playground.format.datasets import IMAGE_FOLDER, DatasetInfo, folder_classes, folder_path
    from playground.format.datasets import data_root as default_root

    if spec.data.dataset != IMAGE_FOLDER:
        return spec.dataset
    folder = folder_path(spec.data.path, default_root(data_root))
    classes = folder_classes(folder)
    if classes is None:
        return None
    c, h, w = spec.input.shape()
    return DatasetInfo(f"the image folder {spec.data.path}", "ImageFolder", str(folder), c, h, w, classes,
                       mean=0.0, std=1.0)


def _analyze(spec: SpecBase, rows: list[LayerRow], data_root=None) -> Summary:
    layers = spec.layers
    dataset = dataset_facts(spec, data_root)   # None for `dataset: none`: any input, any output
    x = spec.input.shape()
    if dataset is not None and tuple(x) != dataset.shape:
        c, h, w = dataset.shape
        raise fail(("input",), f"input is {fmt(x)}, but {dataset.name} images are {fmt(dataset.shape)}.",
                   f"Set input: {{channels: {c}, height: {h}, width: {w}}}, or leave it out.", reason="input")

    walk = _Walk()
    walk.chain(("layers",), layers, x, rows)
    activations = numel(x) + walk.activations

    last, n_classes = rows[-1], (dataset.num_classes if dataset is not None else None)
    if n_classes is not None and last.output_shape != (n_classes,):
        layer = layers[-1]
        if len(last.output_shape) == 1 and "out_features" in type(layer).model_fields:
            raise fail((*last.path, "out_features"),
                       f"out_features={last.output_shape[0]}, but {dataset.name} has {n_classes} classes.",
                       f"Set out_features: {n_classes}.", label=layer.label(), reason="classes", layer=last.path)
        raise fail(last.path,
                   f"the model ends with {fmt(last.output_shape)}, but {dataset.name} needs "
                   f"{n_classes} class scores.",
                   f"End the model with a layer that outputs {n_classes} values, "
                   f"e.g. `- {{type: linear, out_features: {n_classes}}}`"
                   + (" after a flatten." if len(last.output_shape) > 1 else "."),
                   label=layer.label(), reason="classes", layer=last.path)

    total_params = sum(r.params for r in rows)
    budget = spec.budget
    if total_params > budget.max_params:
        big = max((r for r in _all(rows) if not r.children), key=lambda r: r.params)
        raise fail(big.path,
                   f"the model has {total_params:,} parameters, over budget.max_params={budget.max_params:,}; "
                   f"this layer alone has {big.params:,}.",
                   "Make this layer smaller (fewer channels or features, or pool before it), "
                   "or raise budget.max_params.", label=big.label, reason="budget", layer=big.path)
    act_mb = activations * BYTES_PER_VALUE * spec.data.batch_size / 2**20
    if act_mb > budget.max_activation_mb:
        big = max(_all(rows), key=lambda r: numel(r.output_shape))
        raise fail(big.path,
                   f"activations take {act_mb:,.0f} MiB per batch of {spec.data.batch_size}, over "
                   f"budget.max_activation_mb={budget.max_activation_mb:,.0f}; this layer's output "
                   f"{fmt(big.output_shape)} is the largest.",
                   "Shrink the feature maps (stride, pooling), lower data.batch_size, "
                   "or raise budget.max_activation_mb.", label=big.label, reason="budget", layer=big.path)

    return Summary(spec.name, tuple(spec.input.shape()), tuple(rows), total_params,
                   sum(r.macs for r in rows), activations, n_classes)


def _all(rows) -> Iterator[LayerRow]:
    for row in rows:
        yield from row.walk()
