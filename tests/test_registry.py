"""The registry: decorator registration, conflicts, entry points (the built-ins
load through the same entry-point path as third-party plugins), and a spec
schema that follows whatever is registered."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

import playground
from playground.format.schema import spec_json_schema
from playground.format.spec import spec_model
from playground.layers import BUILTINS, Elementwise, Layer
from playground.layers.registry import ENTRY_POINT_GROUP, PluginError, Registry


class Square(Elementwise):
    """x squared (a mock plugin)."""

    type: Literal["square"] = "square"
    scale: float = Field(1.0, gt=0, description="Multiplier.")
    example = {"type": "square"}

    def build(self, x):
        from torch import nn

        class _Square(nn.Module):
            def forward(self, t):
                return t * t

        return _Square()


def test_decorator_registers_and_returns_the_class(registry):
    assert registry.register(Square) is Square
    assert registry["square"] is Square and "square" in registry


def test_a_registered_type_validates_like_a_builtin(registry, mnist_text):
    registry.register(Square)
    spec = playground.load_spec(mnist_text.replace("  - {type: relu}\n", "  - {type: square, scale: 2}\n", 1))
    assert spec.layers[2].type == "square" and spec.layers[2].scale == 2
    with pytest.raises(playground.SpecError, match=r"layers\[2\] \(square\)\.scale: .*greater than 0"):
        playground.load_spec(mnist_text.replace("  - {type: relu}\n", "  - {type: square, scale: 0}\n", 1))
    assert "square" in str(spec_json_schema(registry)["$defs"])


def test_mock_plugins_stay_inside_their_fixture(mnist_text):
    # test_a_registered_type_validates_like_a_builtin registered 'square' on a fixture registry only.
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(mnist_text.replace("{type: relu}", "{type: square}", 1))
    assert "unknown layer type 'square'" in str(info.value)
    assert "Valid types: conv2d, maxpool2d" in str(info.value)


def test_two_plugins_claiming_one_name_names_both(registry):
    class OtherRelu(Elementwise):
        """Another relu."""
        type: Literal["relu"] = "relu"

    with pytest.raises(PluginError) as info:
        registry.register(OtherRelu, source="acme-layers 1.0 (entry point relu = acme:OtherRelu)")
    assert "layer type 'relu' is claimed by two plugins" in str(info.value)
    assert "builtins (test)" in str(info.value) and "acme-layers 1.0" in str(info.value)


@pytest.mark.parametrize("obj,message", [
    (int, "must be a subclass of playground.layers.Layer"),
    (Layer, "type must be Literal"),
])
def test_invalid_plugins(registry, obj, message):
    with pytest.raises(PluginError, match=message):
        registry.register(obj)


def test_builtins_load_through_entry_points():
    registry = Registry().load_entry_points()  # the real installed metadata
    for cls in BUILTINS:
        assert registry.plugin(cls.type_name()).cls is cls
        assert issubclass(registry[cls.type_name()], cls)   # containers: a subclass holding this registry's types
        assert registry.plugin(cls.type_name()).source.startswith("playground ")


def test_broken_entry_point_names_its_package(monkeypatch):
    from importlib import metadata

    broken = metadata.EntryPoint(name="broken", value="no_such_module:Thing", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr("playground.layers.registry.entry_points", lambda group: [broken])
    with pytest.raises(PluginError, match="entry point broken = no_such_module:Thing.*failed to load"):
        Registry().load_entry_points()


def test_empty_registry_explains_itself():
    with pytest.raises(PluginError, match="no layer plugins are registered"):
        spec_model(Registry())
