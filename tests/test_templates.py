"""Reusable blocks: a template declared once, used with a repeat count and
values for the first repetition; what the expansion makes, and its limits."""

from __future__ import annotations

import time

import pytest
import yaml
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


def test_one_use_of_a_one_layer_block_is_that_layer_named_after_the_use_else_its_own_name():
    block = {"params": {"p": {"type": "float", "default": 0.5}}, "layers": [{"type": "dropout", "p": "$p",
                                                                            "name": "inner"}]}
    spec = playground.load_spec(_spec({"drop": block}, [{"type": "use", "block": "drop", "name": "d1"},
                                                        {"type": "use", "block": "drop", "with": {"p": 0.1}}]))
    assert [(layer.type, layer.name, layer.p) for layer in spec.layers] == [("dropout", "d1", 0.5),
                                                                            ("dropout", "inner", 0.1)]


def test_a_repeated_one_layer_block_says_its_layer_name_would_be_lost():
    """Each repetition is the layer, named by its index: the template's own name has no place to go."""
    block = {"params": {}, "layers": [{"type": "relu", "name": "act"}]}
    text = yaml.safe_dump(_spec({"act": block}, [{"type": "use", "block": "act", "name": "acts", "times": 3}]),
                          sort_keys=False)
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    assert str(info.value) == (
        "line 13: blocks.act.layers[0].name: block 'act' has one layer, so each of the 3 repetitions of use 'acts' "
        "at layers[0] is that layer, named by its index (acts.0, acts.1, ...): its name 'act' would not be used.\n"
        "  Leave `name:` out of the block's layer, or use the block once per name.")
    del block["layers"][0]["name"]   # without it, the repetitions are acts.0, acts.1, acts.2
    rows = playground.summarize(playground.load_spec(_spec({"act": block}, [
        {"type": "use", "block": "act", "name": "acts", "times": 3}]))).rows
    assert [(r.name, [c.path for c in r.children]) for r in rows] == [
        ("acts", [("layers", 0, "layers", 0), ("layers", 0, "layers", 1), ("layers", 0, "layers", 2)])]


def test_module_names_follow_the_stages():
    names = [n for n, _ in playground.build(playground.load_spec(SPECS / "zoo" / "resnet18.yaml")).named_parameters()]
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
    spec = playground.load_spec(SPECS / "zoo" / "resnet18.yaml")
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
    ({"layer": [{"type": "relu"}]}, "unknown key 'layer' for blocks.b; the required key 'layers' is missing."),
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


# Arithmetic in templates, and the repetition's $index and $times.

MNAS = """\
name: t
data: {dataset: none}
input: {channels: 4, height: 16, width: 16}
blocks:
  mb:   # MNASNet's inverted residual without its shortcut (torchvision's _InvertedResidual)
    params: {in: int, out: int, kernel: int, stride: {type: int, default: 1}, expansion: {type: int, default: 3}}
    layers:
      - {type: conv2d, out_channels: $in * $expansion, kernel_size: 1, bias: false}
      - {type: batchnorm2d}
      - {type: relu}
      - {type: conv2d, out_channels: $in * $expansion, kernel_size: $kernel, stride: $stride,
         padding: $kernel // 2, groups: $in * $expansion, bias: false}
      - {type: batchnorm2d}
      - {type: relu}
      - {type: conv2d, out_channels: $out, kernel_size: 1, bias: false}
      - {type: batchnorm2d}
layers:
  - {type: use, block: mb, name: a, with: {in: 4, out: 8, kernel: 3}}
  - {type: use, block: mb, name: b, with: {in: 8, out: 16, kernel: 5, stride: 2}}
"""


def _mnas_by_hand():
    import torch
    from torch import nn

    def block(c_in, c_out, kernel, stride, expansion=3):
        mid = c_in * expansion
        return nn.Sequential(
            nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, kernel, padding=kernel // 2, stride=stride, groups=mid, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    return nn.Sequential(block(4, 8, 3, 1), block(8, 16, 5, 2)), torch


def test_an_mnasnet_block_computes_its_padding_from_its_kernel():
    spec = playground.load_spec(MNAS)
    depthwise = [stage.layers[3] for stage in spec.layers]
    assert [(c.kernel_size, c.padding, c.groups) for c in depthwise] == [(3, 1, 12), (5, 2, 24)]
    model = playground.build(spec)
    by_hand, torch = _mnas_by_hand()
    assert [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in by_hand.parameters()]
    count = sum(p.numel() for p in by_hand.parameters())
    assert sum(p.numel() for p in model.parameters()) == count == playground.summarize(spec).total_params
    x = torch.randn(2, 4, 16, 16)
    assert model.eval()(x).shape == by_hand.eval()(x).shape == (2, 16, 8, 8)
    assert playground.summarize(spec).output_shape == (16, 8, 8)


def _drops(model) -> list[float]:
    import torch
    return [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]


def test_a_rate_rises_with_the_repetition_index():
    block = {"params": {"rate": "float"}, "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "dropout", "p": "$rate * $index / $times"}]}
    spec = playground.load_spec(_spec({"sd": block}, [
        {"type": "use", "block": "sd", "name": "stage", "times": 4, "with": {"rate": 0.2}}]))
    drops = _drops(playground.build(spec))
    assert drops == [0.2 * i / 4 for i in range(4)] and len(set(drops)) == 4


def test_a_rate_over_the_whole_network_counts_blocks_across_stages():
    """torchvision's stochastic depth: p * block_id / total_blocks over every
    stage; each stage gives the index its first block has in the network."""
    block = {"params": {"rate": "float", "start": "int", "total": "int"}, "layers": [
        {"type": "dropout", "p": "$rate * ($start + $index) / $total"}]}
    stage = {"type": "use", "block": "sd", "with": {"rate": 0.5, "total": 5}}
    spec = playground.load_spec(_spec({"sd": block}, [
        {**stage, "name": "s1", "times": 2, "with": {**stage["with"], "start": 0}},
        {**stage, "name": "s2", "times": 3, "with": {**stage["with"], "start": 2}}]))
    assert _drops(playground.build(spec)) == [0.5 * i / 5 for i in range(5)]


def test_index_and_times_are_given_to_every_repetition_and_first_is_index_0():
    block = {"params": {"w": "int", "stride": {"type": "int", "default": 1}}, "layers": [
        {"type": "conv2d", "out_channels": "$w + $index", "kernel_size": 1, "stride": "$stride",
         "padding": "$times - 3"}]}
    spec = playground.load_spec(_spec({"b": block}, [
        {"type": "use", "block": "b", "name": "u", "times": 3, "with": {"w": 2}, "first": {"stride": 2}}]))
    convs = spec.layers[0].layers
    assert [(c.out_channels, c.stride, c.padding) for c in convs] == [(2, 2, 0), (3, 1, 0), (4, 1, 0)]


@pytest.mark.parametrize("written,value", [
    ("$w // 2", 3), ("$w % 4", 3), ("$w * 4 - 1", 27), ("-$w + 10", 3), ("($w + 1) * 2", 16),
    ("- ($w - 9)", 2), ("$w * 2 // 3", 4), ("$w - -1", 8),
])
def test_int_arithmetic_stays_int_so_out_channels_accepts_it(written, value):
    block = {"params": {"w": "int"}, "layers": [{"type": "conv2d", "out_channels": written, "kernel_size": 1}]}
    spec = playground.load_spec(_spec({"b": block}, [{"type": "use", "block": "b", "with": {"w": 7}}]))
    out = spec.layers[0].out_channels
    assert out == value and type(out) is int
    assert playground.summarize(spec).output_shape == (value, 16, 16)


@pytest.mark.parametrize("written,value", [("$w / 2", 4.0), ("$w * 0.5", 4.0), ("$w // 2.0", 4.0),
                                           ("$w * 1e-1", 0.8)])
def test_division_and_float_numbers_give_floats(written, value):
    from playground.format.templates import Expression
    result = Expression(written).evaluate({"w": 8})
    assert result == pytest.approx(value) and type(result) is float


def test_a_float_where_an_int_is_needed_is_told_by_the_layer():
    block = {"params": {"w": "int"}, "layers": [{"type": "conv2d", "out_channels": "$w / 2", "kernel_size": 1}]}
    p = _problem(_spec({"b": block}, [{"type": "use", "block": "b", "with": {"w": 8}}]))
    assert p.path == ("blocks", "b", "layers", 0, "out_channels") and "4.0" in p.message


def test_a_parameter_alone_keeps_its_value_and_type():
    block = {"params": {"k": "list", "s": "str", "p": "any", "w": "int"}, "layers": [
        {"type": "residual", "body": [{"type": "conv2d", "out_channels": "$w", "kernel_size": "$k",
                                       "padding": "$p"}], "shortcut": "$s"},
        {"type": "conv2d", "out_channels": "$times", "kernel_size": "$times", "padding": "$index"}]}
    spec = playground.load_spec(_spec({"b": block}, [{"type": "use", "block": "b", "name": "u", "with": {
        "k": [3, 1], "s": "projection", "p": "same", "w": 5}}]))
    res, conv = spec.layers[0].layers
    assert (res.body[0].kernel_size, res.body[0].padding, res.body[0].out_channels) == ((3, 1), "same", 5)
    assert res.shortcut == "projection"
    assert (conv.out_channels, conv.kernel_size, conv.padding) == (1, 1, 0) and type(conv.padding) is int


def test_arithmetic_passes_through_a_use_inside_a_block():
    outer = {"params": {"w": "int"}, "layers": [
        {"type": "use", "block": "conv", "with": {"out": "$w * 2", "stride": "$index + 1"}}]}
    spec = playground.load_spec(_spec({"conv": CONV, "outer": outer}, [
        {"type": "use", "block": "outer", "name": "o", "times": 2, "with": {"w": 3}}]))
    assert playground.summarize(spec).output_shape == (6, 8, 8)
    strides = [rep.layers[0].stride for rep in spec.layers[0].layers]
    assert strides == [1, 2]


BAD = """\
name: t
data: {{dataset: none}}
input: {{channels: 4, height: 8, width: 8}}
blocks:
  mb:
    params: {{kernel: int, k: list, z: {{type: int, default: 0}}}}
    layers:
      - {{type: relu}}
      - {{type: conv2d, out_channels: 4, kernel_size: $kernel, padding: {padding}}}
layers:
  - {{type: use, block: mb, name: s, times: 2, with: {{kernel: 3, k: [1, 1]}}}}
"""
NOTE = "in block 'mb' as used by layers[0] (use 's', line 11): repetition 1 of 2, kernel=3, k=[1, 1], z=0."


def _bad(padding: str):
    p = _problem(BAD.format(padding=padding))
    assert (p.path, p.line, p.note) == (("blocks", "mb", "layers", 1, "padding"), 9, NOTE)
    return p


def test_an_unknown_name_in_an_expression_is_located_with_did_you_mean():
    p = _bad("$kernal // 2")
    assert p.message == "$kernal is not a parameter of block 'mb'. Did you mean 'kernel'? Received: '$kernal // 2'."
    assert p.fix == "Declare it under blocks.mb.params, or use one of: $kernel, $k, $z."
    assert p.render("n.yaml").splitlines() == [
        "n.yaml:9: blocks.mb.layers[1].padding: " + p.message, "  " + p.fix, "  " + NOTE]
    assert "Did you mean 'index'?" in _bad("$indx").message   # $name alone: as before, and index/times suggested


def test_division_by_zero_is_located():
    p = _bad("$kernel // ($z * 2)")
    assert p.message == "'$kernel // ($z * 2)' divides by ($z * 2), which must not be 0. Received: z=0."
    assert p.fix == "Give the parameters values that keep the divisor nonzero."
    assert _bad("$kernel % 0").message == "'$kernel % 0' divides by 0, which must not be 0. Received: '$kernel % 0'."


def test_a_parameter_that_is_not_a_number_is_refused_in_arithmetic():
    p = _bad("$k * 2")
    assert p.message == ("arithmetic takes numbers (int or float); $k is list. "
                         "Received: k=[1, 1] in '$k * 2'.")
    assert p.fix == "Give k as int or float, or write $k alone to pass it as it is."


@pytest.mark.parametrize("written,message", [
    ("$kernel //", "expected a number, a $parameter, '(' or '-' at the end of the expression. "
                   "Received: '$kernel //'."),
    ("$kernel ** 2", "expected a number, a $parameter, '(' or '-' at character 10 of the expression. "
                     "Received: '$kernel ** 2'."),
    ("($kernel + 1", "expected ')' at the end of the expression. Received: '($kernel + 1'."),
    ("$kernel 2", "expected an operator (+ - * / // %) or the end at character 9 of the expression. "
                  "Received: '$kernel 2'."),
    ("$kernel + __import__", "expected a number, a $parameter, '(' or '-' at character 11 of the expression. "
                             "Received: '$kernel + __import__'."),
    ("$ kernel", "expected a parameter name after '$' at character 1 of the expression. Received: '$ kernel'."),
    ("-$kernel)", "expected an operator (+ - * / // %) or the end at character 9 of the expression. "
                  "Received: '-$kernel)'."),
])
def test_a_malformed_expression_is_located(written, message):
    p = _bad(written)
    assert p.message == message
    assert p.fix.startswith("Write a parameter alone ($width), or arithmetic over parameters and numbers")


def test_an_expression_too_long_or_too_deep_is_refused():
    from playground.format.templates import MAX_EXPRESSION, MAX_EXPRESSION_DEPTH
    long = "$kernel" + " + 1" * 60
    p = _bad(long)
    assert p.message.startswith(f"an expression is at most {MAX_EXPRESSION} characters. Received: {len(long)} ")
    deep = "(" * (MAX_EXPRESSION_DEPTH + 1) + "$kernel" + ")" * (MAX_EXPRESSION_DEPTH + 1)
    assert _bad(deep).message.startswith(f"an expression nests at most {MAX_EXPRESSION_DEPTH} parentheses")
    assert _bad("-" * (MAX_EXPRESSION_DEPTH + 1) + "$kernel").message.startswith("an expression nests at most")
    ok = "(" * MAX_EXPRESSION_DEPTH + "$kernel // 2" + ")" * MAX_EXPRESSION_DEPTH
    spec = playground.load_spec(BAD.format(padding=ok))
    assert spec.layers[0].layers[1].layers[1].padding == 1


def test_an_infinite_result_is_refused():
    assert _bad("$kernel * 1e308 * 10").message == ("'$kernel * 1e308 * 10' must give a finite number. "
                                                    "Received: inf with kernel=3.")


@pytest.mark.parametrize("name", ["index", "times"])
def test_index_and_times_cannot_be_declared(name):
    text = BAD.format(padding=1).replace("z: {type: int, default: 0}", f"{name}: int")
    p = _problem(text)
    assert (p.path, p.line) == (("blocks", "mb", "params", name), 6)
    assert p.message.startswith(f"a block cannot declare a parameter named '{name}': ${name} is ")
    assert p.fix == "Give the parameter another name."


def test_a_string_that_does_not_start_with_a_parameter_is_left_as_it_is():
    block = {"params": {"w": "int"}, "layers": [{"type": "conv2d", "out_channels": "$w", "kernel_size": 3,
                                                 "padding": "same"}]}
    spec = playground.load_spec(_spec({"b": block}, [{"type": "use", "block": "b", "with": {"w": 2}}]))
    assert spec.layers[0].padding == "same"


def test_a_number_in_a_template_used_at_several_widths_gets_the_fix_that_holds_in_every_use():
    """Not 'Set in_channels: 128', which fails in the uses at other widths (and says
    'Set in_channels: 64' once followed): how many uses fail, and the parameter."""
    from conftest import SPECS

    import playground
    from playground.core.errors import SpecError

    text = (SPECS / "zoo" / "resnet18.yaml").read_text()
    conv2 = "- {type: conv2d, name: conv2, out_channels: $width,"
    for written in (64, 128):
        bad = text.replace(conv2, conv2.replace("conv2, ", f"conv2, in_channels: {written}, "))
        with pytest.raises(SpecError) as info:
            playground.load_spec(bad)
        (p,) = info.value.problems
        assert p.path == ("blocks", "basic", "layers", 0, "body", 3, "in_channels")
        assert p.fix.startswith(f"`in_channels: {written}` fails in 6 of 8 uses of block 'basic' (they need ")
        assert p.fix.endswith("Write `in_channels: $width`, which holds in every use, or leave it out to infer it.")
    fixed = text.replace(conv2, conv2.replace("conv2, ", "conv2, in_channels: $width, "))
    assert playground.summarize(playground.load_spec(fixed)).total_params == 11_689_512   # the fix holds
    conv1 = "- {type: conv2d, name: conv1, out_channels: $width,"
    bad = text.replace(conv1, conv1.replace("conv1, ", "conv1, in_channels: 64, "))
    with pytest.raises(SpecError) as info:   # a block's first conv takes the stage before's width: no parameter
        playground.load_spec(bad)
    assert info.value.problems[0].fix == ("`in_channels: 64` fails in 5 of 8 uses of block 'basic' (they need 128, "
                                          "256, 512). Leave it out to infer it: no one number holds in every use.")
