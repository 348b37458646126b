"""A spec's model as one readable, self-contained PyTorch file.

The file holds an ``nn.Module`` class named after the spec whose children
carry the model's own names (``conv1``, ``layer2.0.body.bn1``), so the run's
``state_dict`` loads with ``strict=True``; the classes its blocks need
(``Residual``, ``Concat``, ``Gate``), copied from playground.layers.modules; the
normalization constants; and a ``forward`` with each line's output shape.
Every layer writes its own construction through the plugin contract
(``Layer.source``); the same spec always gives the same bytes.
"""

from __future__ import annotations

import keyword
import re

from playground.check.analysis import LayerRow, Summary
from playground.check.builder import registration_order
from playground.core.errors import path_str
from playground.format.spec import SpecBase
from playground.layers.base import Layer
from playground.layers.shapes import Shape, fmt
from playground.layers.source import Unsupported


def class_name(spec_name: str) -> str:
    """'cifar10_resnet20' -> 'Cifar10Resnet20'."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", spec_name) if part)
    return name if name and name[0].isalpha() else f"Model{name}"


class _Writer:
    def __init__(self):
        self.definitions: list[str] = []

    def layer(self, layer: Layer, row: LayerRow) -> str:
        x = Shape(row.input_shape)
        try:
            if layer.holds_layers:
                def chain(where, layers, _x):   # the code of what the container holds at `where`
                    prefix = (*row.path, *where)
                    rows = [c for c in row.children if c.path[:-1] == prefix]
                    return self.chain(layers, rows), Shape(rows[-1].output_shape)

                expression = layer.source(x, chain)
            else:
                expression = layer.source(x)
            definitions = layer.source_definitions(x)
        except Unsupported as exc:
            raise Unsupported(f"{path_str(row.path)} ({layer.label()}): {exc}") from None
        for code in definitions:
            code = code.strip("\n")
            if code not in self.definitions:
                self.definitions.append(code)
        return expression

    def entries(self, layers: list[Layer], rows) -> list[tuple[str, str, str]]:
        """(name, expression, output shape) of each layer of a list."""
        return [(layer.name or str(j), self.layer(layer, row), fmt(row.output_shape))
                for j, (layer, row) in enumerate(zip(layers, rows, strict=True))]

    def chain(self, layers: list[Layer], rows) -> str:
        """An nn.Sequential of the layers, children named as the model names them (a Reordered
        where ``register_before`` registers them in another order than they run)."""
        entries = self.entries(layers, rows)
        order = registration_order(layers)
        if order is not None:
            code = _module_source("Reordered")
            if code not in self.definitions:
                self.definitions.append(code)
            by_name = {n: (e, s) for n, e, s in entries}
            lines = [f"    ({n!r}, {_indented(by_name[n][0], '    ')}),  # {by_name[n][1]}" for n in order]
            run = [n for n, _, _ in entries]
            return "Reordered(OrderedDict([\n" + "\n".join(lines) + f"\n]), run_order={run!r})"
        if all(layer.name is None for layer in layers):   # positional names: plain nn.Sequential
            lines = [f"    {_indented(e, '    ')},  # {s}" for _, e, s in entries]
            return "nn.Sequential(\n" + "\n".join(lines) + "\n)"
        lines = [f"    ({n!r}, {_indented(e, '    ')}),  # {s}" for n, e, s in entries]
        return "nn.Sequential(OrderedDict([\n" + "\n".join(lines) + "\n]))"


def _indented(expression: str, prefix: str) -> str:
    """A multi-line expression's continuation lines indented by ``prefix``."""
    return expression.replace("\n", "\n" + prefix)


def _constant(values) -> str:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    return "(" + ", ".join(repr(float(v)) for v in values) + ("," if len(values) == 1 else "") + ")"


def python_source(spec: SpecBase, summary: Summary, classes: tuple[str, ...] = ()) -> str:
    """The file's text (raises Unsupported naming the layer that cannot be written)."""
    writer = _Writer()
    name = class_name(spec.name)
    entries = writer.entries(spec.layers, summary.rows)
    while name in {d.split("(")[0].removeprefix("class ").strip() for d in writer.definitions}:
        name += "Model"
    by_name = {n: (e, s) for n, e, s in entries}
    registered = registration_order(spec.layers) or list(by_name)   # forward below runs them in spec order
    init = "\n".join(f"            ({n!r}, {_indented(by_name[n][0], '            ')}),  # {by_name[n][1]}"
                     for n in registered)
    forward = []
    for (n, _, s), layer in zip(entries, spec.layers, strict=True):
        attribute = layer.name is not None and n.isidentifier() and not keyword.iskeyword(n) \
            and not _nn_sequential_has(n)
        forward.append(f"        x = self.{n}(x)  # N x {s}" if attribute else
                       f"        x = self[{registered.index(n)}](x)  # {layer.type}, N x {s}")
    c, h, w = spec.input.shape()
    mean, std = spec.data.mean, spec.data.std
    header = [
        f'"""{name}: the model of the playground spec {spec.name!r}, as plain PyTorch.',
        "",
        f"Input: N x {fmt(summary.input_shape)} images scaled to [0, 1] and normalized per channel with",
        "MEAN and STD (``preprocess`` does both, from uint8 or [0, 1] images). Output: N x "
        f"{fmt(summary.output_shape)}" + (" class scores (logits), in the order of CLASSES." if classes else "."),
        "",
        f"    model = {name}()",
        "    model.load_state_dict(state_dict)   # e.g. torch.load(run's checkpoint.pt)['model']",
        "    scores = model(preprocess(images))",
        "",
        f"{summary.total_params:,} parameters. Needs "
        + ("torch and torchvision (whose modules it uses)." if any(_is_import(d) for d in writer.definitions)
           else "only torch."),
        '"""',
        "",
        "from collections import OrderedDict",
        "",
        "import torch",
        "from torch import nn",
        *[code for code in writer.definitions if _is_import(code)],
        "",
        f"INPUT_SHAPE = ({c}, {h}, {w})",
        f"MEAN = {_constant(mean if mean is not None else 0.0)}",
        f"STD = {_constant(std if std is not None else 1.0)}",
    ]
    if classes:
        header.append("CLASSES = (" + "".join(f"\n    {k!r}," for k in classes) + "\n)")
    body = [
        "",
        "",
        "def preprocess(images: torch.Tensor) -> torch.Tensor:",
        '    """N x C x H x W images, uint8 (0-255) or float (0-1) -> the normalized model input."""',
        "    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()",
        "    mean = torch.tensor(MEAN).view(1, -1, 1, 1)",
        "    std = torch.tensor(STD).view(1, -1, 1, 1)",
        "    return x.sub(mean).div(std)",
        *[line for code in writer.definitions if not _is_import(code) for line in ("", "", code)],
        "",
        "",
        f"class {name}(nn.Sequential):",
        f'    """{spec.name}: {len(spec.layers)} layers, {fmt(summary.input_shape)} -> '
        f'{fmt(summary.output_shape)}."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__(OrderedDict([",
        init,
        "        ]))",
        "",
        f"    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N x {fmt(summary.input_shape)}",
        *forward,
        "        return x",
        "",
    ]
    return "\n".join(header + body)


def _is_import(code: str) -> bool:
    """A definition that is an import line (a layer built from torchvision's own module)."""
    return code.startswith(("from ", "import "))


def _module_source(name: str) -> str:
    import inspect

    from playground.layers import modules

    return inspect.getsource(getattr(modules, name)).strip("\n")


def _nn_sequential_has(name: str) -> bool:
    """A child name that would be shadowed by an nn.Sequential attribute (train, eval, forward, ...)."""
    from torch import nn

    return hasattr(nn.Sequential, name)
