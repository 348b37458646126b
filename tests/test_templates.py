"""Reusable blocks: a template declared once, used with a repeat count and
values for the first repetition; what the expansion makes, and its limits."""

from __future__ import annotations

import time

import pytest
from conftest import SPECS

import playground
from playground import SpecError
from playground.format.templates import MAX_DEPTH, MAX_LAYERS


def _spec(blocks: dict, layers: list) -> dict:
    return {"name": "t", "data": {"dataset": "none"}, "input": {"channels": 4, "height": 16, "width": 16},
            "blocks": blocks, "layers": layers}


CONV = {"params": {"out": "int", "stride": {"type": "int", "default": 1}},
        "layers": [{"type": "conv2d", "out_channels": "$out", "kernel_size": 3, "stride": "$stride", "padding": 1},
                   {"type": "relu"}]}


def test_first_applies_to_the_first_repetition_only():
    spec = playground.load_spec(_spec({"conv": CONV}, [
        {"type": "use", "block": "conv", "name": "stage", "times": 3, "with": {"out": 8}, "first": {"stride": 2}}]))
    (stage,) = spec.layers
    assert stage.type == "sequential" and stage.name == "stage" and len(stage.layers) == 3
    strides = [rep.layers[0].stride for rep in stage.layers]
    assert strides == [2, 1, 1]
    assert playground.summarize(spec).output_shape == (8, 8, 8)


def test_one_use_of_a_one_layer_block_is_that_layer_named_after_the_use():
    block = {"params": {"p": {"type": "float", "default": 0.5}}, "layers": [{"type": "dropout", "p": "$p",
                                                                            "name": "inner"}]}
    spec = playground.load_spec(_spec({"drop": block}, [{"type": "use", "block": "drop", "name": "d1"},
                                                        {"type": "use", "block": "drop", "with": {"p": 0.1}}]))
    assert [(layer.type, layer.name, layer.p) for layer in spec.layers] == [("dropout", "d1", 0.5),
                                                                            ("dropout", None, 0.1)]


def test_module_names_follow_the_stages():
    names = [n for n, _ in playground.build(playground.load_spec(SPECS / "resnet18.yaml")).named_parameters()]
    assert "layer2.0.body.conv1.weight" in names and "layer2.0.shortcut.0.weight" in names
    assert "layer2.1.body.bn2.bias" in names and not any(n.startswith("layer1.0.shortcut") for n in names)


def test_blocks_use_blocks_with_their_parameters():
    outer = {"params": {"w": "int"}, "layers": [
        {"type": "use", "block": "conv", "with": {"out": "$w"}},
        {"type": "use", "block": "conv", "with": {"out": "$w"}, "times": 2}]}
    spec = playground.load_spec(_spec({"conv": CONV, "outer": outer}, [
        {"type": "use", "block": "outer", "name": "o", "with": {"w": 6}}]))
    assert playground.summarize(spec).output_shape == (6, 16, 16)


def test_an_indirect_cycle_is_named():
    a = {"layers": [{"type": "use", "block": "b"}]}
    b = {"layers": [{"type": "relu"}, {"type": "use", "block": "a"}]}
    with pytest.raises(SpecError) as info:
        playground.load_spec(_spec({"a": a, "b": b}, [{"type": "use", "block": "a"}]))
    (p,) = info.value.problems
    assert "block 'a' uses itself: a -> b -> a." in p.message
    assert p.path == ("blocks", "b", "layers", 1, "block")


def test_nesting_past_the_limit_is_refused_before_validation():
    layer: dict = {"type": "relu"}
    for _ in range(MAX_DEPTH + 5):
        layer = {"type": "sequential", "layers": [layer]}
    with pytest.raises(SpecError) as info:
        playground.load_spec(_spec({}, [layer]))
    (p,) = info.value.problems
    assert f"over the limit of {MAX_DEPTH}" in p.message and p.path[:3] == ("layers", 0, "layers")


def test_an_absurd_expansion_is_refused_before_anything_is_made():
    block = {"layers": [{"type": "relu"}] * 500}
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        playground.load_spec(_spec({"wide": block}, [{"type": "use", "block": "wide", "times": 1000}]))
    assert time.perf_counter() - started < 5   # no half-million layers were made first (a loose bound)
    (p,) = info.value.problems
    assert p.path == ("layers", 0, "times") and f"more than {MAX_LAYERS:,} layers" in p.message


def test_a_spec_keeps_its_blocks_and_round_trips():
    spec = playground.load_spec(SPECS / "resnet18.yaml")
    again = playground.load_spec(spec.to_dict())
    assert again.to_dict() == spec.to_dict()
    assert set(spec.to_dict()["blocks"]) == {"basic"}


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_writes_out_as_yaml_and_reads_back_equal(path):
    """What a run folder's spec.yaml and a checkpoint hold: plain YAML data,
    block definitions (models inside a mapping) included."""
    import yaml

    spec = playground.load_spec(path)
    text = yaml.safe_dump(spec.to_dict(), sort_keys=False)
    assert playground.load_spec(text).to_dict() == spec.to_dict()


@pytest.mark.parametrize("bad,message", [
    ({"params": {"w": "integer"}, "layers": [{"type": "relu"}]}, "Input should be 'int', 'float'"),
    ({"params": {}, "layers": []}, "at least 1 item"),
    ({"layer": [{"type": "relu"}]}, "unknown key 'layer' for blocks.b. Did you mean 'layers'?"),
    ({"params": {"w": {"type": "int", "defualt": 3}}, "layers": [{"type": "relu"}]},
     "unknown key 'defualt' for blocks.b.params.w. Did you mean 'default'?"),
])
def test_bad_block_definitions_are_located(bad, message):
    with pytest.raises(SpecError) as info:
        playground.load_spec(_spec({"b": bad}, [{"type": "relu"}]))
    problem = info.value.problems[0]
    assert problem.path[:2] == ("blocks", "b") and message in problem.message


def _problem(data) -> object:
    with pytest.raises(SpecError) as info:
        playground.load_spec(data)
    (problem,) = info.value.problems
    return problem


def test_a_use_without_blocks_says_where_to_define_them():
    p = _problem({"name": "t", "data": {"dataset": "none"}, "input": {"channels": 1, "height": 4, "width": 4},
                  "layers": [{"type": "residual", "body": [{"type": "use", "block": "conv"}]}]})
    assert p.path == ("layers", 0, "body", 0, "block")
    assert (p.message, p.fix) == ("no block named 'conv'.", "Define it under a top-level `blocks:` key.")


def test_the_note_names_a_use_inside_another_block_by_its_place_in_that_block():
    text = """\
name: t
data: {dataset: none}
input: {channels: 4, height: 8, width: 8}
blocks:
  inner:
    params: {w: int}
    layers:
      - {type: conv2d, out_channels: $w, kernel_size: 9}
  outer:
    layers:
      - {type: relu}
      - {type: use, block: inner, with: {w: 3}}
layers:
  - {type: use, block: outer}
"""
    p = _problem(text)
    assert (p.path, p.line) == (("blocks", "inner", "layers", 0, "kernel_size"), 8)
    assert p.note == ("in block 'outer' as used by layers[0] (line 14): no parameters; "
                      "in block 'inner' as used by blocks.outer.layers[1] (line 12): w=3.")


NESTED = """\
name: t
data: {dataset: none}
input: {channels: 4, height: 8, width: 8}
blocks:
  inner:
    params: {ch: int}
    layers:
      - {type: conv2d, out_channels: $ch, kernel_size: 3, padding: 1}
  outer:
    params: {ch: int}
    layers:
      - {type: use, block: inner, with: {ch: $ch}}
      - {type: relu}
layers:
  - {type: relu}
  - {type: relu}
  - {type: use, block: outer, name: o, with: {ch: 0}}
"""


def test_a_value_written_at_the_outermost_use_names_every_use_with_its_line():
    p = _problem(NESTED)
    assert (p.path, p.line) == (("blocks", "inner", "layers", 0, "out_channels"), 8)
    assert p.note == ("in block 'outer' as used by layers[2] (use 'o', line 17): ch=0; "
                      "in block 'inner' as used by blocks.outer.layers[0] (line 12): ch=0.")
    assert p.layer_index == 2
    assert p.render("n.yaml").splitlines()[-1] == f"  {p.note}"


def test_a_long_chain_of_uses_keeps_its_ends_and_counts_its_middle():
    blocks = {"b0": {"layers": [{"type": "conv2d", "out_channels": 0, "kernel_size": 1}]}}
    for k in range(1, 9):
        blocks[f"b{k}"] = {"layers": [{"type": "use", "block": f"b{k - 1}"}]}
    p = _problem(_spec(blocks, [{"type": "use", "block": "b8", "name": "top"}]))
    assert p.path == ("blocks", "b0", "layers", 0, "out_channels")
    uses = p.note.split("; ")
    assert len(uses) == 7 and uses[3] == "3 more uses"
    assert uses[0] == "in block 'b8' as used by layers[0] (use 'top'): no parameters"
    assert uses[-1] == "in block 'b0' as used by blocks.b1.layers[0]: no parameters."


def test_one_more_repetition_is_counted_in_the_singular():
    block = {"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "biass": True}]}
    p = _problem(_spec({"b": block}, [{"type": "use", "block": "b", "times": 2}]))
    assert p.path == ("blocks", "b", "layers", 0, "biass")
    assert p.note == "in block 'b' as used by layers[0]: repetition 1 of 2, no parameters. " \
                     "The same in 1 more use of this block."


def test_a_parameter_written_as_a_mapping_is_told_by_its_own_keys():
    p = _problem(_spec({"b": {"params": {"w": {"type": "integer"}}, "layers": [{"type": "relu"}]}},
                       [{"type": "relu"}]))
    assert p.path == ("blocks", "b", "params", "w", "type")
    assert p.message.startswith("Input should be 'int', 'float', 'bool', 'str', 'list' or 'any'. "
                                "Received: type='integer'.")


def test_a_block_without_parameters_says_none_are_declared():
    p = _problem(_spec({"b": {"layers": [{"type": "dropout", "p": "$rate"}]}}, [{"type": "use", "block": "b"}]))
    assert p.path == ("blocks", "b", "layers", 0, "p")
    assert p.fix == "Declare it under blocks.b.params, or use one of: none declared."


def test_an_unnamed_use_is_labelled_use():
    p = _problem(_spec({"conv": CONV}, [{"type": "use", "block": "conv", "times": "two", "with": {"out": 3}}]))
    assert p.place() == "layers[0] (use).times"


def test_a_value_shared_by_several_layers_is_the_same_in_each():
    block = {"params": {"k": {"type": "list", "default": [3, 1]}}, "layers": [
        {"type": "conv2d", "out_channels": 2, "kernel_size": "$k"}, {"type": "maxpool2d", "kernel_size": "$k"}]}
    spec = playground.load_spec(_spec({"b": block}, [{"type": "use", "block": "b", "name": "u"}]))
    conv, pool = spec.layers[0].layers
    assert conv.kernel_size == pool.kernel_size == (3, 1)


@pytest.mark.parametrize("written", ["foo", "[1, 2]", "7", "true"])
def test_blocks_that_are_not_a_mapping_are_located_at_blocks(written):
    text = f"""\
name: t
data: {{dataset: none}}
input: {{channels: 4, height: 8, width: 8}}
blocks: {written}
layers:
  - {{type: relu}}
"""
    p = _problem(text)
    assert (p.path, p.line) == (("blocks",), 4)
    assert p.message.startswith("the blocks section must be a mapping from block names to blocks. Received: ")
    assert p.fix == "Write it as `blocks: {name: {params: {...}, layers: [...]}}`, or leave `blocks:` out."


def test_a_parameter_given_in_first_only_is_missing_from_the_other_repetitions():
    """Found by the fuzz (a KeyError): `first` gives the second repetition nothing."""
    p = _problem(_spec({"conv": CONV}, [{"type": "relu"},
                                        {"type": "use", "block": "conv", "times": 3, "first": {"out": 8}}]))
    assert p.path == ("layers", 1, "first", "out")
    assert p.message == "block 'conv' needs out in each of its 3 repetitions; `first` gives it to the first only."
    assert p.fix == ("Give out under `with`, for every repetition (`first` may still give the first its own "
                     "value), or declare a default.")
    # one repetition is all first
    playground.load_spec(_spec({"conv": CONV}, [{"type": "use", "block": "conv", "first": {"out": 8}}]))


def test_a_name_given_by_a_use_is_reported_at_the_use():
    """One repetition of a one-layer block takes the use's name: a problem with
    the name is where the use writes it, not at the template's layer."""
    text = """\
name: t
data: {dataset: none}
input: {channels: 4, height: 8, width: 8}
blocks:
  drop:
    layers:
      - {type: dropout}
  pair:
    layers:
      - {type: relu}
      - {type: use, block: drop, name: forward}
layers:
  - {type: use, block: drop, name: d1}
  - {type: use, block: drop, name: d1}
"""
    p = _problem(text)
    assert (p.path, p.line, p.reason) == (("layers", 1, "name"), 14, "name")
    assert p.place() == "layers[1] (use 'd1').name" and p.note is None
    p = _problem(text[:text.rindex("  - {type: use")] + "  - {type: use, block: pair}\n")
    assert (p.path, p.line) == (("blocks", "pair", "layers", 1, "name"), 11)
    assert p.message.endswith("torch modules already have an attribute 'forward'.")
    assert p.note == "in block 'pair' as used by layers[1] (line 14): no parameters."


def test_a_branch_name_in_a_block_is_reported_in_the_block():
    block = {"layers": [{"type": "concat", "branches": {"a.b": [{"type": "relu"}], "c": [{"type": "relu"}]}}]}
    p = _problem(_spec({"two": block}, [{"type": "use", "block": "two", "name": "u"}]))
    assert p.path == ("blocks", "two", "layers", 0, "branches", "a.b") and p.reason == "name"
    assert p.note == "in block 'two' as used by layers[0] (use 'u'): no parameters."
