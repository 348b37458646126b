"""The JSON Schema is generated from the models, committed for editors, and
accepts exactly what the loader accepts."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ROOT, SPECS

from playground.registry import get_registry
from playground.schema import schema_text, spec_json_schema


def test_committed_schema_is_current():  # needs no validator: it runs everywhere
    committed = (ROOT / "spec.schema.json").read_text()
    assert committed == schema_text(), "regenerate: python -m playground.schema --out spec.schema.json"


def test_schema_lists_every_registered_type():
    schema = spec_json_schema()
    mapping = schema["properties"]["layers"]["items"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(get_registry().names())


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
