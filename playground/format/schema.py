"""JSON Schema of the spec format, generated from the pydantic models of the
registered layers, so editors validate and complete spec files.

    python -m playground.schema > spec.schema.json
    python -m playground.schema --out spec.schema.json

Spec files point at it with ``# yaml-language-server: $schema=../spec.schema.json``.

Every list of layers refers to ``$defs/Layer``, which selects the layer's own
definition by its ``type`` with ``if``/``then`` (a plain ``oneOf`` makes
validators report every member's complaint; with ``if``/``then`` an editor says
"'out_channel' was unexpected" for that layer). Block templates' layers refer
to ``$defs/TemplateLayer``: the same definitions, where any value may also be
a ``$parameter``.
"""

from __future__ import annotations

import argparse
import json
import sys

from playground.core.fileio import atomic_write_text
from playground.format.spec import spec_model
from playground.format.templates import EXPRESSION, Use
from playground.layers.registry import Registry, get_registry

PLACEHOLDER = {"type": "string", "pattern": EXPRESSION.pattern,
               "description": "A parameter of the block, or arithmetic on them: $width, $kernel // 2, "
                              "$rate * $index / $times."}


def spec_json_schema(registry: Registry | None = None) -> dict:
    registry = registry or get_registry()
    schema = spec_model(registry).model_json_schema()
    defs = schema["$defs"]
    defs["Use"] = Use.model_json_schema(by_alias=True)
    by_type = {name: registry[name].__name__ for name in registry.names()}
    by_type["use"] = "Use"
    schema = _replace_unions(schema)
    defs = schema["$defs"]
    defs["Layer"] = _selector(by_type, "Layer", "")
    for name in by_type.values():
        defs[f"{name}Template"] = _template(defs[name])
    defs["TemplateLayer"] = _selector(by_type, "TemplateLayer", "Template")
    defs["Placeholder"] = PLACEHOLDER
    defs["BlockDef"]["properties"]["layers"]["items"] = {"$ref": "#/$defs/TemplateLayer"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "playground spec"
    return schema


def _replace_unions(node):
    """Every discriminated union over the layer types -> a reference to $defs/Layer."""
    if isinstance(node, dict):
        if "discriminator" in node and "oneOf" in node:
            return {"$ref": "#/$defs/Layer"}
        return {k: _replace_unions(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_unions(v) for v in node]
    return node


def _selector(by_type: dict[str, str], title: str, suffix: str) -> dict:
    return {
        "title": title, "type": "object", "required": ["type"],
        "description": "A layer: its `type` selects which keys it takes.",
        "properties": {"type": {"enum": sorted(by_type), "description": "The layer type."}},
        "allOf": [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                   "then": {"$ref": f"#/$defs/{name}{suffix}"}} for t, name in sorted(by_type.items())],
    }


def _template(definition: dict) -> dict:
    """A layer definition in which any value but the type may be a $parameter."""
    out = _retarget(definition)
    props = {}
    for key, prop in out.get("properties", {}).items():
        if key == "type":
            props[key] = prop
            continue
        alternatives = {"anyOf": [prop, {"$ref": "#/$defs/Placeholder"}]}
        if "description" in prop:
            alternatives["description"] = prop["description"]
        props[key] = alternatives
    out["properties"] = props
    return out


def _retarget(node):
    """A copy whose layer references point at template layers."""
    if isinstance(node, dict):
        return {k: ("#/$defs/TemplateLayer" if k == "$ref" and v == "#/$defs/Layer" else _retarget(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def schema_text(registry: Registry | None = None) -> str:
    return json.dumps(spec_json_schema(registry), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.schema",
        description="Print or write the JSON Schema of the spec format.")
    parser.add_argument("--out", help="write to this file (atomically) instead of standard output")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0
