"""The one path grammar of sweeps, spec diffs and the page: a field of a spec
document named by its keys, list items that carry a ``name`` by that name,
never by position.

    train.lr                              a section's field
    layers.conv1.out_channels             a layer by its name
    blocks.basic.layers.conv1.kernel_size a block template's layer
    layers.layer2.with.width              a block use's value

``set_path`` writes a field so named; ``flatten`` reads a document back as
``path: value`` pairs in the same grammar (unnamed items as ``layers[3]``).
"""

from __future__ import annotations

import re
from typing import Any

from playground.core.errors import did_you_mean


class PathError(ValueError):
    """A path that names no field of the document; the message starts with the path."""


_STEP = re.compile(r"[^.\[\]]+")


def set_path(doc: dict, path: str, value: Any) -> None:
    """Set the field ``path`` of a spec document; list items are found by their
    ``name`` (layers, block layers), never by position."""
    parts = _STEP.findall(path)
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[:i])
        if isinstance(node, list):
            named = {item.get("name"): item for item in node if isinstance(item, dict) and item.get("name")}
            if part not in named:
                raise PathError(f"{path}: {where or 'the spec'} has no layer named '{part}'."
                                 f"{did_you_mean(part, named)} Layers are addressed by their names "
                                 f"({', '.join(named) or 'none is named: add name: to the layer'}).")
            node = named[part]
        elif isinstance(node, dict):
            if part not in node:
                if i == 0 and part in ("train", "data", "init", "budget"):   # a section left out: its defaults
                    node[part] = {}
                else:
                    raise PathError(f"{path}: {where or 'the spec'} has no '{part}'."
                                     f"{did_you_mean(part, node)}")
            node = node[part]
        else:
            raise PathError(f"{path}: {'.'.join(parts[:i + 1])} is a value, not a section or a list.")
    if not isinstance(node, dict):
        raise PathError(f"{path}: {'.'.join(parts[:-1])} is not a mapping of fields.")
    node[parts[-1]] = value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A resolved spec as ``path: value`` pairs, list items that carry a name
    addressed by it (``layers.conv1.out_channels``), the others by position
    (``layers[3].type``)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            name = item.get("name")
            out.update(flatten(item, f"{prefix}.{name}" if isinstance(name, str) else f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out
