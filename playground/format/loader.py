"""read_spec: YAML text, a file or parsed data -> a validated spec, or SpecError.

A spec is read and validated once. Overrides (the command line's ``--lr``, a
sweep's values, the page's Train fields) are set on the parsed document
before validation, by the path grammar of ``playground.format.paths``, so any
problem found later still names the spec's file and lines. The shape check
(``playground.check``) is a separate step, run once with the real data root.

pydantic's validation errors are rewritten here into located Problems: the
path (``layers[3].out_channels``), the YAML line, the value received, and for
an unknown type or key a "did you mean" and the valid names.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, ValidationError

from playground.core.errors import Path, Problem, SpecError, did_you_mean, fail, path_str, short_repr
from playground.core.speed import gc_paused
from playground.format.paths import PathError, set_path
from playground.format.spec import Budget, Data, InputShape, SpecBase, Train, spec_model
from playground.format.templates import check_depth, expand
from playground.format.yamlsource import parse
from playground.layers.base import module_name_problem
from playground.layers.registry import Registry, get_registry

_SECTIONS: dict[str, type[BaseModel]] = {"input": InputShape, "data": Data, "train": Train, "budget": Budget}
_SPEC_FILE_SUFFIXES = (".yaml", ".yml")


def read_spec(source: str | os.PathLike | Mapping, *, registry: Registry | None = None,
              overrides: Mapping[str, Any] | None = None) -> SpecBase:
    """Read and validate a spec from a file path, YAML text, or already-parsed data.

    A ``pathlib.Path``, or a one-line string naming an existing file or ending in
    .yaml/.yml, is read as a file; any other string is YAML text. ``overrides``
    maps field paths (``train.lr``, ``data.batch_size``, ``layers.conv1.out_channels``)
    to values that replace the document's (None: no override). Raises SpecError,
    whose message names every problem's place and fix. No shape check: that is
    ``playground.check.analyze``.
    """
    registry = registry or get_registry()
    with gc_paused():
        filename = None
        lines: dict[Path, int] = {}
        if isinstance(source, Mapping):
            for section in ("layers", "blocks"):   # before the copy, which recurses
                check_depth(source.get(section), (section,))
            data: Any = copy.deepcopy(dict(source))
        else:
            text, filename = _read(source)
            try:
                doc = parse(text)
            except SpecError as err:
                raise err.located(None, filename) from None
            data, lines = doc.data, doc.lines
        if overrides:
            data, lines = _overridden(data, lines, overrides, filename)
        return validate(data, registry=registry, lines=lines, filename=filename)


def with_overrides(spec: SpecBase, *, registry: Registry | None = None, **fields: Any) -> SpecBase:
    """A copy of ``spec`` with fields of its ``train`` or ``data`` section
    replaced (``epochs=3``, ``lr=0.02``, ``batch_size=32``; None: unchanged),
    validated again (SpecError naming e.g. ``train.lr``). The copy keeps the
    spec's file and lines, so any later problem is still located there. No
    shape check."""
    overrides = {f"{'data' if key in Data.model_fields else 'train'}.{key}": value
                 for key, value in fields.items() if value is not None}
    if not overrides:
        return spec
    filename, lines, expansion = spec._origin or (None, {}, None)
    data, lines = _overridden(spec.to_dict(), lines, overrides, filename)
    new = validate(data, registry=registry, lines=lines, filename=filename)
    if expansion is not None:
        new._origin = (filename, lines, expansion)   # the blocks as the file wrote them, not as expanded
    return new


def _overridden(data: Any, lines: dict[Path, int | None], overrides: Mapping[str, Any],
                filename: str | None) -> tuple[Any, dict[Path, int | None]]:
    """``data`` with each override set; the lines of what they replaced forgotten
    (a bad override is not the file's line), every other line kept."""
    if not isinstance(data, Mapping):
        return data, lines   # validation says what the document should be
    data = dict(data)
    for path, value in overrides.items():
        if value is None:
            continue
        try:
            set_path(data, path, value)
        except PathError as err:
            raise fail((), f"cannot override {err}").located(None, filename) from None
        dotted = tuple(path.split("."))
        lines = {p: n for p, n in lines.items() if p[:len(dotted)] != dotted}
        lines[dotted] = None   # a problem there names the file, not the line of its section
    return data, lines


def validate(data: Any, *, registry: Registry | None = None, lines: dict[Path, int] | None = None,
             filename: str | None = None) -> SpecBase:
    """pydantic validation only (no shape check), with located, rewritten errors."""
    registry = registry or get_registry()
    if not isinstance(data, Mapping):
        raise fail((), f"the spec must be a mapping with keys such as name and layers. "
                       f"Received: {short_repr(data)}.",
                   "Start the file with `name: my_model` and a `layers:` list.").located(lines, filename)
    lines = lines or {}
    try:
        data, expansion = expand(data, registry.layer_fields, lines, rewriter(registry))
    except SpecError as err:   # a bad use or block; inside a block, placed in its template
        raise err.located(lines, filename) from None
    try:
        spec = spec_model(registry).model_validate(data)
    except ValidationError as exc:
        problems = _rewrite(exc, data, registry)
        raise expansion.error(SpecError(problems)).located(lines, filename) from None
    spec._origin = (filename, lines, expansion)
    return spec


def read_document(source: str | os.PathLike) -> Any:
    """A spec file's (or YAML text's) parsed document, as plain data, through the
    same safe reader as ``read_spec`` (SpecError, located, for unreadable YAML)."""
    text, filename = _read(source)
    try:
        return parse(text).data
    except SpecError as err:
        raise err.located(None, filename) from None


def _read(source: str | os.PathLike) -> tuple[str, str | None]:
    if isinstance(source, str) and (
            "\n" in source or not (source.endswith(_SPEC_FILE_SUFFIXES) or os.path.isfile(source))):
        return source, None
    path = FilePath(source)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail((), "no such file.", "Check the path; specs live under specs/.").located(None, str(path)) from None
    except IsADirectoryError:
        raise fail((), "this is a folder, not a spec file.").located(None, str(path)) from None
    except OSError as exc:
        raise fail((), f"cannot read the file: {exc.strerror}.").located(None, str(path)) from None
    try:
        return raw.decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise fail((), "the file is not UTF-8 text.", "Save it as UTF-8.",
                   line=line).located(None, str(path)) from None


# -- rewriting pydantic errors ----------------------------------------------

# Names pydantic puts in an error's location for union members, e.g. 'tuple[int, int]'.
_UNION_MARKER = re.compile(r"[\[\](-]|^(int|float|str|bool|none|literal)$")


def _rank(error_type: str, value: Any = None) -> int:
    """Which of several errors on one value (from union members) to show first.
    A choice of words ('same' or 'valid') speaks for a string only."""
    if error_type == "literal_error" and not isinstance(value, str):
        return 4
    if error_type.endswith("_type") or error_type == "is_instance_of":
        return 3
    if error_type.endswith("_parsing"):
        return 2
    return 1 if error_type == "literal_error" else 0


def _clean_path(loc: tuple, registry: Registry) -> Path:
    parts = list(loc)
    # A layer's own type name right after its list index is the tagged union's member.
    parts = [p for k, p in enumerate(parts)
             if not (k >= 2 and isinstance(parts[k - 1], int) and isinstance(p, str) and p in registry)]
    return tuple(p for p in parts if isinstance(p, int) or not _UNION_MARKER.search(str(p)))


def _innermost_layer(path: Path, data: Mapping, registry: Registry) -> tuple[int | None, Any]:
    """How long the prefix of ``path`` naming its innermost layer is (2 for
    ``layers[3]...``, 4 for ``layers[3].body[0]...``), and that layer as written;
    (None, None) for a path outside the layers."""
    if not path or path[0] != "layers":
        return None, None
    found: tuple[int | None, Any] = (None, None)
    node: Any = data.get("layers") if isinstance(data, Mapping) else None
    layer_list, fields = True, ()   # at a list of layers; the layer fields of the last layer
    for k, part in enumerate(path[1:], start=2):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):   # a generator of layers, already consumed
            node = None
        if layer_list and isinstance(part, int):
            found, layer_list = (k, node), False
            kind = node.get("type") if isinstance(node, dict) else None
            fields = getattr(registry[kind], "layer_fields", ()) if isinstance(kind, str) and kind in registry else ()
        elif found[0] == k - 1 and part in fields:
            layer_list = isinstance(node, list)   # a dict of lists (concat's branches) continues below
        elif found[0] == k - 2 and path[k - 2] in fields and isinstance(node, list):
            layer_list = True                     # branches.<name> is a list of layers
        else:
            layer_list = False
    return found


def _model_at(path: Path, data: Mapping, registry: Registry) -> tuple[type[BaseModel] | None, str | None, int]:
    """The pydantic model holding the field at ``path``, a layer label if in a
    layer, and how many parts of ``path`` lead to that model."""
    n, raw = _innermost_layer(path, data, registry)
    if n is not None:
        if isinstance(raw, dict):
            kind = raw.get("type")
            label = f"{kind} '{raw['name']}'" if isinstance(raw.get("name"), str) else str(kind)
            cls = registry[kind] if isinstance(kind, str) and kind in registry else None
            return cls, (label if cls else None), n
        return None, None, n
    if len(path) >= 2 and path[0] in _SECTIONS:
        model, n = _SECTIONS[path[0]], 1
        while n < len(path) - 1:   # a section inside a section: data.augment
            field = model.model_fields.get(path[n]) if isinstance(path[n], str) else None
            inner = field.annotation if field is not None else None
            if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                break
            model, n = inner, n + 1
        return model, None, n
    return SpecBase, None, 0


def _rewrite(exc: ValidationError, data: Mapping, registry: Registry,
             at: tuple[Path, type[BaseModel], str | None] | None = None) -> list[Problem]:
    """Located problems from pydantic's errors on ``data``; or, with ``at`` =
    (place, model, label), from validating one ``model`` found at that place
    (a block use, the blocks section)."""
    # One problem per field: union members each report on the same value. The one
    # that got furthest into the value speaks (an item of a list the user wrote
    # says more than "should be 'same' or 'valid'"), then the closest by _rank.
    by_field: dict[Path, tuple[Path, dict]] = {}
    for err in exc.errors(include_url=False):
        path = (*at[0], *_clean_path(err["loc"], registry)) if at else _clean_path(err["loc"], registry)
        n = len(at[0]) if at else _innermost_layer(path, data, registry)[0]
        field = path[:n + 1] if n is not None else path[:2]
        kept = by_field.get(field)
        if kept is None or ((-len(path), _rank(err["type"], err.get("input")))
                            < (-len(kept[0]), _rank(kept[1]["type"], kept[1].get("input")))):
            by_field[field] = (path, err)
    where = (at[1], at[2], len(at[0])) if at else None
    found = list(by_field.values())
    renames = _renames(found)
    return [_problem(path, err, data, registry, where, rename_to=found[renames[i]][0][-1] if i in renames else None)
            for i, (path, err) in enumerate(found) if i not in renames.values()]


def _renames(found: list[tuple[Path, dict]]) -> dict[int, Any]:
    """{index of an unknown key: index of the missing required key it is a typo of}, in
    the same layer or section: `kernal_size: 5` where `kernel_size` is required is one
    problem (rename the key), not a missing key and an unknown one."""
    import difflib

    missing = {(path[:-1], path[-1]): i for i, (path, err) in enumerate(found)
               if err["type"] == "missing" and path and isinstance(path[-1], str)}
    out: dict[int, Any] = {}
    for i, (path, err) in enumerate(found):
        if err["type"] == "extra_forbidden" and path and isinstance(path[-1], str):
            keys = [key for owner, key in missing if owner == path[:-1] and missing[(owner, key)] not in
                    out.values()]
            close = difflib.get_close_matches(path[-1], keys, n=1, cutoff=0.6)
            if close:
                out[i] = missing[(path[:-1], close[0])]
    return out


def rewriter(registry: Registry):
    """For the block expansion: a SpecError from validating ``model`` at ``place``."""
    def rewrite(exc: ValidationError, place: Path, model: type[BaseModel], label: str | None) -> SpecError:
        return SpecError(_rewrite(exc, {}, registry, (place, model, label)))
    return rewrite


def _problem(path: Path, err: dict, data: Mapping, registry: Registry,
             where: tuple[type[BaseModel], str | None, int] | None = None, rename_to: str | None = None) -> Problem:
    """One pydantic error as a located problem. ``rename_to``: the unknown key is a
    typo of this missing required key (``_renames``), said as the rename it needs."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    model, label, n = where or _model_at(path, data, registry)
    key = path[-1] if path and isinstance(path[-1], str) else None
    # the field inside its layer or section, or the top-level key
    names = [p for p in path[n:] if isinstance(p, str)]
    fields = {f.alias or k: f for k, f in model.model_fields.items()} if model is not None else {}
    field = fields.get(names[0]) if names else None
    at_layer = model is not SpecBase and n == len(path)   # the layer itself, not one of its fields
    layer = path[:n] if label else None
    types = ", ".join([*registry.names(), "use"])

    if "at" in ctx:   # a model-level rule that knows which field it is about
        return Problem(tuple(ctx["at"]), err["msg"].rstrip(".") + ".", ctx.get("fix"))
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        return Problem((*path, "type"), f"unknown layer type '{tag}'.{did_you_mean(tag, [*registry, 'use'])}",
                       f"Valid types: {types}.", label=None)
    if kind == "union_tag_not_found":
        return Problem(path, "this layer has no 'type'.", f"Add `type:` with one of: {types}.")
    if at_layer and kind == "model_attributes_type":   # a layer that is not a mapping
        fix = (f"Write it as `- {{type: {value}}}`." if isinstance(value, str) and value in registry
               else f"Write each layer as a mapping, e.g. `- {{type: relu}}`. Valid types: {types}.")
        return Problem(path, f"a layer must be a mapping with a 'type'. Received: {short_repr(value)}.", fix)
    if kind == "extra_forbidden" and key is not None:
        owner = model.type_name() if label else (path_str(path[:n]) if n else "the spec")
        # a layer's own type goes without saying; it has at least `name`
        valid = [f.alias or k for k, f in model.model_fields.items() if k != "type" or not label]
        valid.sort(key=lambda k: k == "register_before")   # the layer's own keys before the one every layer has
        if rename_to is not None:   # keeping its value
            scalar = isinstance(value, (int, float, str)) and not isinstance(value, bool)
            return Problem(path, f"unknown key '{key}' for {owner}; the required key '{rename_to}' is missing.",
                           f"Rename `{key}` to `{rename_to}`, keeping its value"
                           + (f": `{rename_to}: {value}`." if scalar else "."), label=label, layer=layer)
        return Problem(path, f"unknown key '{key}' for {owner}.{did_you_mean(key, valid)}",
                       f"Valid keys: {', '.join(valid)}.", label=label, layer=layer)
    if kind == "string_pattern_mismatch" and key == "name" and isinstance(value, str) \
            and (why := module_name_problem(value)) is not None:   # a layer's name: the module rule, in words
        return Problem(path, f"name '{value}' cannot name a module of the built model: {why[0]}.",
                       f"Rename it, e.g. name: {why[1]}.", label=label, layer=layer)
    if kind == "missing" and key is not None:
        what = f" ({field.description.rstrip('.')})" if field is not None and field.description else ""
        example = model.example.get(key) if model is not None and hasattr(model, "example") else None
        fix = f"Add `{key}: {example}`." if example is not None else f"Add `{key}:` with a value."
        return Problem(path, f"missing required key '{key}'{what}.", fix, label=label, layer=layer)

    message = err["msg"].removeprefix("Value error, ").rstrip(".") + "."
    received = f"{key}={short_repr(value)}" if key else short_repr(value)
    if not isinstance(value, (dict, list)) or kind.endswith("_type"):
        message += f" Received: {received}."
    if kind == "literal_error" and isinstance(value, str):
        message += did_you_mean(value, re.findall(r"'([^']*)'", str(ctx["expected"])))
    fix = f"{names[0]}: {field.description}" if field is not None and field.description else None
    return Problem(path, message, fix, label=label, layer=layer)
