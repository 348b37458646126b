"""Editing a spec as a document: the operations behind the app's layer editor
and its live check. Pure functions over YAML text and plain dicts; no UI.

The YAML text is the one source of truth. ``check_text`` turns it into
whatever can be known (parsed document, spec, summary, located error and the
rows worked out before the error); the layer operations return new
documents, and ``dump`` turns a document back into spec-style YAML.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playground.analysis import LayerRow, Summary, analyze
from playground.errors import SpecError
from playground.fileio import atomic_write_text
from playground.loader import gc_paused, validate
from playground.registry import Registry, get_registry
from playground.spec import SpecBase
from playground.yamlsource import parse


@dataclass
class Checked:
    text: str
    doc: dict | None = None              # the parsed mapping, if the YAML parsed to one
    spec: SpecBase | None = None
    summary: Summary | None = None
    error: SpecError | None = None
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def doc_layers(self) -> list:
        """The document's layer entries as written (possibly invalid), or []."""
        return _layers(self.doc or {})

    @property
    def layer_count(self) -> int:
        return max(len(self.doc_layers), len(self.rows))

    @property
    def bad_layers(self) -> set[int]:
        return self.error.layer_indices if self.error else set()


def check_text(text: str, registry: Registry | None = None) -> Checked:
    """Everything the live view shows for ``text``; never raises for bad input."""
    with gc_paused():
        return _check(text, registry)


def _check(text: str, registry: Registry | None) -> Checked:
    result = Checked(text)
    try:
        doc = parse(text)
    except SpecError as err:
        result.error = err
        return result
    result.doc = doc.data if isinstance(doc.data, dict) else None
    try:
        result.spec = validate(doc.data, registry=registry, lines=doc.lines)
        result.summary = analyze(result.spec)
        result.rows = result.summary.rows
    except SpecError as err:
        result.error = err
        result.rows = err.rows
    return result


def leading_comments(text: str) -> str:
    """The comment lines at the top of a spec (kept when the editor rewrites it)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def dump(doc: dict, header: str = "") -> str:
    """A document as spec-style YAML: sections in block style, each layer on one line."""
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120)


def _layers(doc: dict) -> list:
    layers = doc.get("layers")
    return layers if isinstance(layers, list) else []


def add_layer(doc: dict, index: int, type_name: str, registry: Registry | None = None) -> dict:
    """A copy of ``doc`` with a new layer of ``type_name`` (its plugin's example) at ``index``."""
    registry = registry or get_registry()
    new = copy.deepcopy(doc)
    layers = _layers(new)
    layers.insert(max(0, min(index, len(layers))), dict(registry[type_name].example or {"type": type_name}))
    new["layers"] = layers
    return new


def delete_layer(doc: dict, index: int) -> dict:
    new = copy.deepcopy(doc)
    layers = _layers(new)
    if 0 <= index < len(layers):
        del layers[index]
    new["layers"] = layers
    return new


def move_layer(doc: dict, index: int, delta: int) -> dict:
    new = copy.deepcopy(doc)
    layers = _layers(new)
    target = index + delta
    if 0 <= index < len(layers) and 0 <= target < len(layers):
        layers[index], layers[target] = layers[target], layers[index]
    new["layers"] = layers
    return new


def set_field(doc: dict, index: int, name: str, value: Any) -> dict:
    """Set a layer field; None removes the key (back to its default, or inferred)."""
    new = copy.deepcopy(doc)
    layers = _layers(new)
    if 0 <= index < len(layers) and isinstance(layers[index], dict):
        if value is None:
            layers[index].pop(name, None)
        else:
            layers[index][name] = value
    return new


# -- saving -------------------------------------------------------------------

class SaveError(ValueError):
    """A spec that cannot be saved where asked."""


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def save_spec(text: str, filename: str, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``text`` atomically to ``folder/<filename>.yaml``. The name must be
    plain (letters, digits, _ and -), the file stays inside ``folder``, and an
    existing file is replaced only with ``overwrite=True``."""
    folder = Path(folder)
    stem = filename.strip()
    for suffix in (".yaml", ".yml"):
        stem = stem.removesuffix(suffix)
    if not _SAFE_NAME.match(stem):
        raise SaveError(f"'{filename}' is not a safe file name. Use letters, digits, _ and - "
                        "(up to 64), e.g. my_cnn.")
    path = folder / f"{stem}.yaml"
    if path.resolve().parent != folder.resolve():
        raise SaveError(f"'{filename}' would leave {folder}/.")
    if path.exists() and not overwrite:
        raise SaveError(f"{path} already exists. Choose another name, or allow overwriting.")
    return atomic_write_text(path, text if text.endswith("\n") else text + "\n")
