"""Parts of a model by name: the module path each row of the check's table
builds (``layer3.0.body.conv1``), and which parameters a spec's ``train.freeze``
and ``trainable`` leave frozen, so that the table can say it before any
weight exists (the model is built on torch's meta device: shapes, no memory).

A part is a layer's or block's name, or a dotted module path; ``all`` is
every one. ``playground.train.finetune`` applies the same rule to a run.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from playground.check.analysis import Summary
from playground.core.errors import PlaygroundError, did_you_mean
from playground.format.spec import SpecBase


class PartError(PlaygroundError, ValueError):
    """A part name (train.freeze, trainable, lr_parts, init.skip) that is no module of the model."""


def check_names(model: nn.Module, names, field: str) -> None:
    """PartError for the first of ``names`` (the spec's ``field``) that names no module of ``model``."""
    known = [name for name, _ in model.named_modules() if name]
    present = set(known)
    for i, name in enumerate(names):
        if name != "all" and name not in present:
            tops = [n for n in known if "." not in n]
            raise PartError(f"{field}[{i}]: the model has no layer or block {name!r}.{did_you_mean(name, known)}\n"
                            f"  Name a layer or block, or a dotted module path (its top level: "
                            f"{', '.join(tops[:12])}{', ...' if len(tops) > 12 else ''}).")


def inside(key: str, name: str) -> bool:
    """Whether the tensor or module ``key`` is the part ``name`` or in it (``layer1`` holds
    ``layer1.0.conv1.weight``; ``all`` holds everything)."""
    return name == "all" or key == name or key.startswith(name + ".")


def frozen_parameters(model: nn.Module, freeze: Iterable[str], trainable: Iterable[str]) -> frozenset[str]:
    """The names of ``model``'s parameters inside a part of ``freeze`` and in no part of ``trainable``."""
    freeze, trainable = list(freeze), list(trainable)
    return frozenset(key for key, _ in model.named_parameters()
                     if any(inside(key, n) for n in freeze) and not any(inside(key, n) for n in trainable))


def row_modules(spec: SpecBase, summary: Summary) -> tuple[nn.Module, dict[tuple, str]]:
    """The spec's model built on the meta device, and the module path of each row of ``summary``
    (by the row's spec path) that builds a module of its own."""
    import torch

    from playground.check import builder

    built: dict[tuple, nn.Module] = {}
    with torch.device("meta"):
        model = builder.build(spec, summary, record=built)
    names = {id(module): name for name, module in model.named_modules()}
    return model, {path: names[id(module)] for path, module in built.items() if id(module) in names}


def frozen_by_row(spec: SpecBase, summary: Summary) -> dict[tuple, int]:
    """How many of each row's parameters ``train.freeze`` freezes, by the row's spec path (only
    for a spec that freezes something)."""
    model, paths = row_modules(spec, summary)
    check_names(model, spec.train.freeze, "train.freeze")
    check_names(model, spec.train.trainable, "train.trainable")
    frozen = frozen_parameters(model, spec.train.freeze, spec.train.trainable)
    sizes = {key: value.numel() for key, value in model.named_parameters()}
    return {path: sum(n for key, n in sizes.items() if key in frozen and (name == "" or inside(key, name)))
            for path, name in paths.items()}
