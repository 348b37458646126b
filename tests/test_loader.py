"""load_spec's sources (file, text, mapping) and how pydantic's errors are
rewritten: what each message says, shows and proposes."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import playground
from playground import SpecError
from playground.core.speed import gc_paused
from playground.format.loader import validate

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
    assert layer.message == "unknown key 'inplace' for relu." and layer.fix == "Valid keys: name, register_before."
    assert layer.label == "relu"
    assert section.message == "unknown key 'datset' for data. Did you mean 'dataset'?"
    assert section.fix.startswith("Valid keys: dataset, path, resize, crop, memory_limit_mb, batch_size")


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
     "Input should be a valid integer. Received: kernel_size='abc'."),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1.5},
     "Input should be a valid integer. Received: padding=1.5."),     # not "should be 'same' or 'valid'"
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


@pytest.mark.parametrize("section,value,message,fix", [
    ("input", 5, "Input should be a valid dictionary or instance of InputShape. Received: input=5.",
     "input: Input image shape; defaults to the dataset's (1x28x28 for MNIST)."),
    ("train", "fast", "Input should be a valid dictionary or instance of Train. Received: train='fast'.",
     "train: Optimizer and schedule. Defaults follow the MNIST tutorial."),
])
def test_a_section_that_is_not_a_mapping_is_explained_by_the_spec_field(section, value, message, fix):
    with pytest.raises(SpecError) as info:
        validate({"name": "n", "layers": [{"type": "flatten"}], section: value})
    (p,) = info.value.problems
    assert (p.path, p.message, p.fix, p.label) == ((section,), message, fix, None)


def _plain_plugin():
    from typing import Annotated, Literal

    from pydantic import Field, field_validator

    from playground.layers import Elementwise

    class Plain(Elementwise):
        """A mock plugin written tersely: fields without descriptions, a validator, a tie-prone union."""

        type: Literal["plain"] = "plain"
        width: int
        offset: Annotated[int, Field(ge=1)] | Annotated[int, Field(le=-1)] = 1
        even: int = 2
        counts: list[int] | int = 1
        example = {"type": "plain", "width": 1}

        @field_validator("even")
        @classmethod
        def _even(cls, value):
            if value % 2:
                raise ValueError("must be even.")
            return value

        def build(self, x):
            from torch import nn

            return nn.Identity()

    return Plain


def test_the_registry_passed_in_is_the_one_used():
    from playground.layers import BUILTINS
    from playground.layers.registry import Registry

    own = Registry()
    for cls in BUILTINS:
        own.register(cls, source="builtins (test)")
    own.register(_plain_plugin(), source="test")
    text = "name: n\nlayers:\n  - {type: plain, width: 3}\n  - {type: flatten}\n  - {type: linear, out_features: 10}\n"
    assert [layer.type for layer in playground.load_spec(text, registry=own).layers] == ["plain", "flatten", "linear"]
    with pytest.raises(SpecError, match="unknown layer type 'plain'"):
        playground.load_spec(text)   # the process registry has no such plugin


@pytest.mark.parametrize("layer,message,fix", [
    ({"type": "plain"}, "missing required key 'width'.", "Add `width: 1`."),   # no description to quote
    ({"type": "plain", "width": 1, "offset": 0}, "Input should be greater than or equal to 1. Received: offset=0.",
     None),   # two members fail alike: the first one listed speaks
    ({"type": "plain", "width": 1, "even": 3}, "must be even. Received: even=3.", None),
    ({"type": "plain", "width": [1, 2]}, "Input should be a valid integer. Received: width=[1, 2].", None),
    ({"type": "plain", "width": 1, "counts": "abc"},   # the list member fails first, but the int member is closer
     "Input should be a valid integer, unable to parse string as an integer. Received: counts='abc'.", None),
])
def test_terse_plugins_get_exact_messages(registry, layer, message, fix):
    registry.register(_plain_plugin())
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [layer]})
    (p,) = info.value.problems
    assert (p.message, p.fix, p.label) == (message, fix, "plain")


@pytest.mark.parametrize("data,path,message,fix", [
    ({"name": "n", "layers": [{"type": "flatten"}], "data": {"batch_size": 0}}, ("data", "batch_size"),
     "Input should be greater than or equal to 1. Received: batch_size=0.", "batch_size: "),
    ({"name": "n", "layers": [{"type": "flatten"}], "train": {"optimizer": "adam", "momentum": 0.9}},
     ("train", "momentum"),
     "momentum applies to sgd only, not to adam; remove it or set optimizer: sgd. Received: momentum=0.9.",
     "momentum: SGD momentum (sgd only; default 0.5)."),
    ({"name": "n", "layers": [{"out_features": 10}]}, ("layers", 0), "this layer has no 'type'.",
     "Add `type:` with one of: conv2d, maxpool2d, "),
    ({"name": "n", "layers": ["relu"]}, ("layers", 0), "a layer must be a mapping with a 'type'. Received: 'relu'.",
     "Write it as `- {type: relu}`."),
])
def test_messages_and_fixes_word_for_word(data, path, message, fix):
    with pytest.raises(SpecError) as info:
        validate(data)
    (p,) = info.value.problems
    assert (p.path, p.message) == (path, message)
    assert p.fix.startswith(fix), p.fix
    if fix.endswith("."):
        assert p.fix == fix


def test_file_problems_name_the_file(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError) as info:
        playground.load_spec(tmp_path / "list.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'list.yaml'}:1: the spec must be a mapping")
    with pytest.raises(SpecError) as info:
        playground.load_spec(tmp_path)
    assert str(info.value) == f"{tmp_path}: this is a folder, not a spec file."
    with pytest.raises(SpecError) as info:
        playground.load_spec(tmp_path / "list.yaml" / "x.yaml")
    assert str(info.value) == f"{tmp_path / 'list.yaml' / 'x.yaml'}: cannot read the file: Not a directory."
    (tmp_path / "latin1.yaml").write_bytes(b"name: n\n# caf\xe9\n")
    with pytest.raises(SpecError) as info:
        playground.load_spec(tmp_path / "latin1.yaml")
    assert str(info.value) == f"{tmp_path / 'latin1.yaml'}:2: the file is not UTF-8 text.\n  Save it as UTF-8."


def test_text_with_a_newline_is_text_even_if_it_ends_like_a_file_name():
    text = GOOD + "# copied from mnist.yaml"
    assert playground.load_spec(text).name == "n"


def test_a_plugins_whole_layer_check_points_at_the_layer(registry):
    from typing import Literal

    from pydantic import model_validator

    from playground.layers import Elementwise

    class Window(Elementwise):
        """A mock plugin with a check across two fields."""

        type: Literal["window"] = "window"
        low: int = 0
        high: int = 1

        @model_validator(mode="after")
        def _ordered(self):
            if self.low >= self.high:
                raise ValueError("low must be below high")
            return self

    registry.register(Window)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "layers": [{"type": "relu"}, {"type": "window", "low": 3, "high": 2,
                                                                         "name": "w"}]})
    (p,) = info.value.problems
    assert (p.path, p.label, p.message) == (("layers", 1), "window 'w'", "low must be below high.")


@pytest.mark.parametrize("field,value,path", [
    ("padding", [1, "x"], ("layers", 0, "padding", 1)),     # not "should be 'same' or 'valid'"
    ("padding", ["x", 1], ("layers", 0, "padding", 0)),
    ("kernel_size", [3, "x"], ("layers", 0, "kernel_size", 1)),
])
def test_a_list_with_one_bad_item_is_told_about_that_item(field, value, path):
    layer = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, field: value}
    with pytest.raises(SpecError) as info:
        validate({"name": "n", "layers": [layer]})
    (p,) = info.value.problems
    assert p.path == path
    assert p.message == "Input should be a valid integer. Received: 'x'."
    assert p.fix.startswith(f"{field}: ")


def test_every_bad_field_of_one_layer_is_reported():
    with pytest.raises(SpecError) as info:
        validate({"name": "n", "layers": [{"type": "conv2d", "out_channels": 0, "kernel_size": 0, "stride": "x"}]})
    assert [p.path for p in info.value.problems] == [
        ("layers", 0, "out_channels"), ("layers", 0, "kernel_size"), ("layers", 0, "stride")]
