"""load_spec's sources (file, text, mapping) and how pydantic's errors are
rewritten: what each message says, shows and proposes."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import playground
from playground import SpecError
from playground.loader import gc_paused, validate

GOOD = "name: n\nlayers:\n  - {type: flatten}\n  - {type: linear, out_features: 10}\n"


def test_sources_files_text_and_mappings(tmp_path, monkeypatch):
    (tmp_path / "a.yml").write_text(GOOD)
    (tmp_path / "plain").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    for source in ("a.yml", tmp_path / "a.yml", "plain", GOOD, {"name": "n", "layers": [
            {"type": "flatten"}, {"type": "linear", "out_features": 10}]}):
        assert playground.load_spec(source).name == "n", source
    with pytest.raises(SpecError, match="^missing.yml: no such file.\n  Check the path; specs live under specs/."):
        playground.load_spec("missing.yml")


def test_file_errors_name_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text(GOOD.replace("out_features: 10", "out_features: 0"))
    with pytest.raises(SpecError) as info:
        playground.load_spec(tmp_path / "bad.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'bad.yaml'}:4: layers[1] (linear).out_features:")
    (tmp_path / "broken.yaml").write_text("name: [\n")
    with pytest.raises(SpecError, match=f"^{tmp_path / 'broken.yaml'}:2: invalid YAML"):
        playground.load_spec(tmp_path / "broken.yaml")


@pytest.mark.parametrize("data,message", [
    (["a", "list"], "the spec must be a mapping with keys such as name and layers. Received: ['a', 'list']."),
    ("x" * 100 + "\n", "Received: '" + "x" * 56 + "..."),   # long values are cut
])
def test_not_a_mapping(data, message):
    with pytest.raises(SpecError) as info:
        playground.load_spec(data) if isinstance(data, str) else validate(data)
    assert message in str(info.value)
    assert info.value.problems[0].fix == "Start the file with `name: my_model` and a `layers:` list."


@pytest.mark.parametrize("layer,path,message,fix", [
    ({"type": "dropout", "p": 2}, ("layers", 0, "p"), "Input should be less than or equal to 1. Received: p=2.",
     "p: Probability of zeroing an element."),
    ({"type": "linear"}, ("layers", 0, "out_features"),
     "missing required key 'out_features' (Output features (the class count, for the last layer)).",
     "Add `out_features: 10`."),
    ({"type": "conv2d", "out_channels": 4}, ("layers", 0, "kernel_size"), "missing required key 'kernel_size'",
     "Add `kernel_size: 3`."),
    ({"type": "gelu", "approximate": "tahn"}, ("layers", 0, "approximate"),
     "Received: approximate='tahn'. Did you mean 'tanh'?", None),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": [1, 2, 3]}, ("layers", 0, "kernel_size"),
     "Tuple should have at most 2 items after validation, not 3.",
     "kernel_size: Window size: an int, or [height, width]."),
    ("nosuch", ("layers", 0), "a layer must be a mapping with a 'type'. Received: 'nosuch'.",
     "Write each layer as a mapping, e.g. `- {type: relu}`. Valid types: "),
])
def test_layer_field_messages(layer, path, message, fix):
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [layer, {"type": "flatten"}]})
    (p,) = [p for p in info.value.problems if p.path[:2] == ("layers", 0)]
    assert p.path == path
    assert message in p.message, p.message
    if fix is not None:
        assert p.fix.startswith(fix), p.fix


def test_a_missing_key_without_an_example_asks_for_a_value():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"layers": [{"type": "relu"}]})
    (p,) = info.value.problems
    assert p.path == ("name",) and p.message.startswith("missing required key 'name' (Spec name;")
    assert p.fix == "Add `name:` with a value."


def test_unknown_keys_in_sections_and_layers():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [{"type": "relu", "inplace": True}],
                              "data": {"datset": "mnist"}})
    problems = {p.path: p for p in info.value.problems}
    layer, section = problems[("layers", 0, "inplace")], problems[("data", "datset")]
    assert layer.message == "unknown key 'inplace' for relu." and layer.fix == "Valid keys: name."
    assert layer.label == "relu"
    assert section.message == "unknown key 'datset' for data. Did you mean 'dataset'?"
    assert section.fix.startswith("Valid keys: dataset, batch_size")


def test_one_problem_per_value_even_for_unions():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": "x"}]})
    (p,) = info.value.problems
    assert p.path == ("layers", 0, "kernel_size") and "Received: kernel_size='x'." in p.message


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()   # left as it was
    finally:
        gc.enable()
    with pytest.raises(ZeroDivisionError), gc_paused():
        raise ZeroDivisionError
    assert gc.isenabled()


def test_a_loaded_file_remembers_where_it_came_from(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text(GOOD)
    spec = playground.load_spec(path)
    assert spec._origin[0] == str(path) and spec._origin[1][("layers", 1, "out_features")] == 4
    assert Path(spec._origin[0]).name == "n.yaml"


class _Marker:
    """An arbitrary Python type a plugin field may accept (validated with isinstance)."""


def _union_plugin():
    from typing import Annotated, Literal

    from pydantic import ConfigDict, Field

    from playground.layers import Elementwise

    class Sized(Elementwise):
        """A mock plugin whose fields are unions with the literal member first."""

        model_config = ConfigDict(arbitrary_types_allowed=True)
        type: Literal["sized"] = "sized"
        size: Literal["auto"] | Annotated[int, Field(gt=0)] = Field("auto", description="A size, or auto.")
        hook: Literal["none"] | _Marker = Field("none", description="A hook object, or none.")
        example = {"type": "sized"}

        def build(self, x):
            from torch import nn

            return nn.Identity()

    return Sized


@pytest.mark.parametrize("layer,message", [
    # several union members fail on one value: the message of the closest one is shown
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": "samee"},
     "Input should be 'same' or 'valid'. Received: padding='samee'. Did you mean 'same'?"),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": "abc"},
     "Input should be a valid integer, unable to parse string as an integer. Received: kernel_size='abc'."),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1.5},
     "Input should be a valid integer, got a number with a fractional part. Received: padding=1.5."),
    ({"type": "sized", "size": -3}, "Input should be greater than 0. Received: size=-3."),
    ({"type": "sized", "size": "big"}, "Input should be 'auto'. Received: size='big'."),
    ({"type": "sized", "hook": "x"}, "Input should be 'none'. Received: hook='x'."),
])
def test_union_errors_show_the_closest_member(registry, layer, message):
    registry.register(_union_plugin())
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [layer]})
    (p,) = info.value.problems
    assert p.message == message


def test_values_are_shown_whole_up_to_60_characters():
    shown = "x" * 58   # its repr, with quotes, is 60 characters
    with pytest.raises(SpecError) as info:
        validate(shown)
    assert f"Received: '{shown}'." in info.value.problems[0].message
    with pytest.raises(SpecError) as info:
        validate(shown + "y")
    assert f"Received: '{'x' * 56}...." in info.value.problems[0].message


def test_layers_given_as_a_tuple_are_labelled_like_a_list():
    with pytest.raises(SpecError) as info:
        validate({"name": "n", "layers": ({"type": "flatten"}, {"type": "linear", "out_features": 0, "name": "fc"})})
    (p,) = info.value.problems
    assert (p.path, p.label) == (("layers", 1, "out_features"), "linear 'fc'")


def test_layers_given_as_a_generator_still_get_a_clean_path():
    layers = (layer for layer in [{"type": "flatten"}, {"type": "linear", "out_features": 0}])
    with pytest.raises(SpecError) as info:
        validate({"name": "n", "layers": layers})
    (p,) = info.value.problems
    assert (p.path, p.label) == (("layers", 1, "out_features"), None)   # consumed: no label to read back
