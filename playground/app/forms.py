"""Form descriptions of layer fields, derived from each plugin's pydantic model
(its JSON Schema): kind, bounds, choices, default and help. Any UI can turn
these into widgets, so a plugin's layer type gets an editor with no UI change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

KINDS = ("bool", "int", "float", "choice", "text", "yaml", "layers")


@dataclass(frozen=True)
class FieldForm:
    name: str
    kind: str                      # one of KINDS; "yaml" is free text read as YAML (unions, pairs);
    #                                "layers" is a block's list of layers, edited as YAML, one layer per line
    required: bool
    nullable: bool                 # None is allowed (e.g. "inferred")
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    help: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether a widget of this kind can show ``value`` as it is."""
        if value is None:
            return self.nullable or not self.required
        checks = {
            "bool": lambda v: isinstance(v, bool),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and self._in_range(v),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and self._in_range(v),
            "choice": lambda v: v in self.choices,
            "text": lambda v: isinstance(v, str),
            "yaml": lambda v: True,
            "layers": lambda v: True,
        }
        return checks[self.kind](value)

    def widget_kind(self, value: Any) -> str:
        """The widget that shows ``value``: this form's kind, or a YAML text box
        for a value that widget cannot hold (out of bounds, wrong type)."""
        if self.kind == "layers":
            return "layers"
        return self.kind if self.kind != "yaml" and self.accepts(value) else "yaml"

    @property
    def placeholder(self) -> str:
        """What an empty widget says: the default it falls back to, kept short
        enough for a narrow column."""
        if self.required:
            return "required"
        if self.default is None:
            return "inferred" if self.nullable else "not set"
        return f"default {_short(self.default)}"

    def _in_range(self, v: float) -> bool:
        return (self.minimum is None or v >= self.minimum) and (self.maximum is None or v <= self.maximum)


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def to_text(value: Any) -> str:
    """A field value as YAML for a text box: 3, [3, 5], same; a list of layers
    one per line (``- {type: relu}``); branches as ``name:`` then their layers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and not any(isinstance(v, list) and any(isinstance(x, dict) for x in v)
                                           for v in value.values()):
        return _flow(value)   # {width: 64}: one line
    if isinstance(value, dict):
        return "\n".join(f"{k}:\n" + "\n".join("  " + line for line in to_text(v).splitlines())
                         if isinstance(v, list) and any(isinstance(x, dict) for x in v) else f"{k}: {_flow(v)}"
                         for k, v in value.items())
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "\n".join(f"- {_flow(v)}" for v in value)
    return _short(value) if isinstance(value, (int, float, list, tuple)) else str(value)


def _flow(value: Any) -> str:
    """One line of YAML flow style: {type: conv2d, kernel_size: [3, 3]}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, str):
        import json

        plain = value and value.strip() == value and not any(c in value for c in ":#{}[],&*!|>'\"%@`") \
            and value.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "~")
        try:
            float(value)
            plain = False
        except ValueError:
            pass
        return value if plain else json.dumps(value)
    return _short(value)


def from_text(text: str) -> Any:
    """What was typed in a YAML text box: '' -> None (key removed), '3' -> 3,
    '[3, 5]' -> [3, 5]; text that is not valid YAML is kept as typed, so the
    check reports it at this field."""
    from playground.core.errors import SpecError
    from playground.format.yamlsource import parse

    if not text.strip():
        return None
    try:
        return parse(text).data
    except SpecError:
        return text


def _kind(schema: dict) -> tuple[str, dict]:
    if "enum" in schema or "const" in schema:
        return "choice", schema
    kinds = {"boolean": "bool", "integer": "int", "number": "float", "string": "text"}
    return kinds.get(schema.get("type"), "yaml"), schema


@functools.cache
def field_forms(model: type[BaseModel]) -> tuple[FieldForm, ...]:
    """One FieldForm per field of ``model`` except its ``type`` tag. Cached: a
    page draws the same layer types over and over, and the schema costs ~1 ms."""
    schema = model.model_json_schema()
    if "$ref" in schema:   # a container refers to itself: its own schema is among the definitions
        schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    forms = []
    holds = set(getattr(model, "layer_fields", ()))
    by_alias = {f.alias or n: n for n, f in model.model_fields.items()}   # `with` is the field with_
    for name, prop in schema.get("properties", {}).items():
        if name == "type":
            continue
        if name in holds:   # a block's layers: edited as YAML, one layer per line
            field = model.model_fields[name]
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            forms.append(FieldForm(name, "layers", name in required, False, default, help=_help(
                prop.get("description", ""), "layers", None, None, default, name in required, False)))
            continue
        options = prop.get("anyOf", [prop])
        non_null = [o for o in options if o.get("type") != "null"]
        nullable = len(non_null) < len(options)
        kind, inner = _kind(non_null[0]) if len(non_null) == 1 else ("yaml", {})
        lo = inner.get("minimum", inner.get("exclusiveMinimum"))
        hi = inner.get("maximum", inner.get("exclusiveMaximum"))
        choices = tuple(inner.get("enum", ())) or ((inner["const"],) if "const" in inner else ())
        field = model.model_fields[by_alias.get(name, name)]
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        forms.append(FieldForm(name, kind, name in required, nullable, default, lo, hi, choices,
                               _help(prop.get("description", ""), kind, lo, hi, default, name in required, nullable)))
    return tuple(forms)


def _help(description: str, kind: str, lo, hi, default, required: bool, nullable: bool) -> str:
    parts = [description]
    if lo is not None or hi is not None:
        parts.append(f"Range: {'' if lo is None else lo} to {'' if hi is None else hi}.")
    if required:
        parts.append("Required.")
    elif default is None and nullable:
        parts.append("Leave empty to leave it out.")
    else:
        parts.append(f"Default: {default!r}.")
    if kind == "yaml":
        parts.append("Written as YAML, e.g. 3 or [3, 5].")
    if kind == "layers":
        parts.append("Written as YAML, one layer per line: - {type: relu}.")
    return " ".join(p for p in parts if p)
