"""The JSON Schema is generated from the models, committed for editors, and
accepts exactly what the loader accepts."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ROOT, SPECS

from playground.format.schema import schema_text, spec_json_schema
from playground.layers.registry import get_registry


def test_committed_schema_is_current():  # needs no validator: it runs everywhere
    committed = (ROOT / "spec.schema.json").read_text()
    assert committed == schema_text(), "regenerate: python -m playground.schema --out spec.schema.json"


def test_schema_lists_every_registered_type():
    schema = spec_json_schema()
    assert schema["properties"]["layers"]["items"] == {"$ref": "#/$defs/Layer"}
    layer = schema["$defs"]["Layer"]
    assert sorted(layer["properties"]["type"]["enum"]) == sorted([*get_registry().names(), "use"])
    selected = {rule["if"]["properties"]["type"]["const"] for rule in layer["allOf"]}
    assert selected == {*get_registry().names(), "use"}


def _best_error(instance):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    return jsonschema.exceptions.best_match(validator.iter_errors(instance))


def test_an_editor_is_told_which_key_of_which_layer_is_wrong():
    error = _best_error({"name": "x", "layers": [
        {"type": "conv2d", "out_channel": 3, "kernel_size": 5}, {"type": "relu"}]})
    assert "'out_channel' was unexpected" in error.message and list(error.absolute_path) == ["layers", 0]


def test_an_unknown_type_is_told_as_such():
    error = _best_error({"name": "x", "layers": [{"type": "maxpool", "kernel_size": 2}]})
    assert error.message.startswith("'maxpool' is not one of") and list(error.absolute_path) == ["layers", 0, "type"]


def test_nested_layers_are_checked_too():
    error = _best_error({"name": "x", "layers": [
        {"type": "residual", "body": [{"type": "conv2d", "out_channels": "wide", "kernel_size": 3}]}]})
    assert list(error.absolute_path)[:4] == ["layers", 0, "body", 0] and "wide" in error.message


def test_template_layers_take_parameters_and_are_still_checked():
    blocks = {"b": {"params": {"w": "int"}, "layers": [{"type": "conv2d", "out_channels": "$w", "kernel_size": 3}]}}
    spec = {"name": "x", "blocks": blocks, "layers": [{"type": "use", "block": "b", "with": {"w": 4}}]}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(spec, spec_json_schema())
    blocks["b"]["layers"][0]["kernel_sizes"] = 3
    error = _best_error(spec)
    assert "'kernel_sizes' was unexpected" in error.message
    assert list(error.absolute_path) == ["blocks", "b", "layers", 0]


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_specs_validate_against_the_schema(path):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(path.read_text()), spec_json_schema())


def test_schema_rejects_what_the_loader_rejects():
    jsonschema = pytest.importorskip("jsonschema")
    bad = {"name": "x", "layers": [{"type": "conv2d", "out_channels": -3, "kernel_size": 5}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, spec_json_schema())
    unknown = {"name": "x", "layers": [{"type": "relu", "inplace": True}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unknown, spec_json_schema())
    assert json.loads(schema_text())["title"] == "playground spec"
