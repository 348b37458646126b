"""Containers (residual, concat, gate, sequential): shapes and counts against
the built model, module names that follow the spec's nesting, scripting and
export, and errors located at the nested layer with its YAML line."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import module_name
from torch.utils.flop_counter import FlopCounterMode

import playground
from playground import ShapeError, SpecError

HEAD = """\
name: blocks
data: {dataset: none}
input: {channels: 3, height: 32, width: 32}
layers:
"""

NET = HEAD + """\
  - {type: conv2d, name: stem, out_channels: 16, kernel_size: 3, padding: 1}
  - type: residual
    name: down
    body:
      - {type: conv2d, name: conv1, out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false}
      - {type: batchnorm2d, name: bn1}
      - {type: relu}
    shortcut: projection
  - type: concat
    name: dense
    branches:
      keep: [{type: identity}]
      new:
        - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - type: gate
    name: se
    body:
      - {type: adaptive_avgpool2d, output_size: 1}
      - {type: conv2d, out_channels: 10, kernel_size: 1}
      - {type: relu}
      - {type: conv2d, out_channels: 40, kernel_size: 1}
      - {type: sigmoid}
  - type: residual
    body:
      - type: sequential
        name: inner
        layers:
          - {type: conv2d, out_channels: 40, kernel_size: 3, padding: 1}
          - {type: relu6}
  - {type: adaptive_avgpool2d, output_size: 1}
  - {type: flatten}
  - {type: linear, name: fc, out_features: 7}
"""


def test_every_row_matches_the_built_model():
    spec = playground.load_spec(NET)
    summary = playground.summarize(spec)
    model = playground.build(spec).eval()
    shapes = {}
    def record(name):
        def hook(module, inputs, output):
            shapes[name] = tuple(output.shape[1:])
        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in model.named_modules() if name]
    x = torch.randn(2, 3, 32, 32)
    with FlopCounterMode(display=False) as counter:
        y = model(x[:1])
    for h in hooks:
        h.remove()
    assert y.shape == (1, 7)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert 2 * summary.total_macs == counter.get_total_flops()
    modules = dict(model.named_modules())
    for row in summary.walk():
        name = module_name(row.path, spec)
        assert shapes[name] == row.output_shape, name
        assert sum(p.numel() for p in modules[name].parameters()) == row.params, name
    assert [r.depth for r in summary.walk(max_depth=0)] == [0] * len(spec.layers)


def test_module_names_follow_the_spec():
    names = [n for n, _ in playground.build(playground.load_spec(NET)).named_parameters()]
    assert names[:6] == ["stem.weight", "stem.bias", "down.body.conv1.weight", "down.body.bn1.weight",
                         "down.body.bn1.bias", "down.shortcut.0.weight"]
    assert "dense.branches.new.0.weight" in names and "se.body.1.weight" in names
    assert "4.body.inner.0.weight" in names


def test_projection_is_a_1x1_convolution_with_the_bodys_stride_then_batch_norm():
    model = playground.build(playground.load_spec(NET))
    conv, bn = model.down.shortcut
    assert (conv.kernel_size, conv.stride, conv.in_channels, conv.out_channels, conv.bias) == \
        ((1, 1), (2, 2), 16, 32, None)
    assert isinstance(bn, torch.nn.BatchNorm2d) and bn.num_features == 32


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_scripted_and_exported_models_give_the_same_outputs():
    model = playground.build(playground.load_spec(NET)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(torch.jit.script(model)(x), expected)
        assert torch.allclose(torch.export.export(model, (x,)).module()(x), expected, atol=1e-6)


def _error(text: str):
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    (problem,) = info.value.problems
    return problem


def test_residual_shapes_that_cannot_be_added_name_both_and_propose_the_projection():
    p = _error(NET.replace("    shortcut: projection\n", ""))
    assert p.path == ("layers", 1) and p.line == 6 and p.label == "residual 'down'"
    assert p.message == "cannot add the body's output 32x16x16 to the input 16x32x32: the shapes differ."
    assert p.fix.startswith("Set `shortcut: projection`")


def test_a_shortcut_list_that_does_not_fit_is_blamed():
    p = _error(NET.replace("    shortcut: projection\n", "    shortcut: [{type: maxpool2d, kernel_size: 2}]\n"))
    assert p.path == ("layers", 1, "shortcut") and p.line == 12
    assert "cannot add the body's output 32x16x16 to the shortcut 16x16x16" in p.message


def test_concat_branches_that_disagree_name_the_branch_and_its_shape():
    p = _error(NET.replace("out_channels: 8, kernel_size: 3, padding: 1", "out_channels: 8, kernel_size: 3"))
    assert p.path == ("layers", 2, "branches", "new") and p.line == 17
    assert p.message.startswith("branch 'new' gives 8x14x14, but branch 'keep' gives 32x16x16")


def test_a_gate_that_does_not_broadcast_is_refused():
    p = _error(NET.replace("out_channels: 40, kernel_size: 1", "out_channels: 39, kernel_size: 1"))
    assert p.path == ("layers", 3, "body") and "the gate's output 39x1x1 does not broadcast over its input " \
        "40x16x16" in p.message
    assert "out_channels: 40" in p.fix


def test_a_nested_layer_error_names_the_nested_place_and_line():
    p = _error(NET.replace("{type: conv2d, out_channels: 40, kernel_size: 3, padding: 1}",
                           "{type: conv2d, in_channels: 4, out_channels: 40, kernel_size: 3, padding: 1}"))
    assert p.path == ("layers", 4, "body", 0, "layers", 0, "in_channels") and p.line == 32
    assert p.layer_path == ("layers", 4, "body", 0, "layers", 0)
    assert p.render().startswith("line 32: layers[4].body[0].layers[0] (conv2d).in_channels: in_channels=4, "
                                 "but its input 40x16x16 has 40 channels.")


def test_a_typo_inside_a_block_gets_did_you_mean_there():
    p = _error(NET.replace("name: conv1, out_channels: 32", "name: conv1, out_channel: 32"))
    assert p.path == ("layers", 1, "body", 0, "out_channel") and p.line == 9
    assert p.place() == "layers[1].body[0] (conv2d 'conv1').out_channel"
    assert "Did you mean 'out_channels'?" in p.message


def test_an_unknown_type_inside_a_branch():
    p = _error(NET.replace("keep: [{type: identity}]", "keep: [{type: identiy}]"))
    assert p.path == ("layers", 2, "branches", "keep", 0, "type") and p.line == 16
    assert "Did you mean 'identity'?" in p.message


def test_names_are_unique_within_one_list_only():
    text = NET.replace("{type: relu}\n    shortcut", "{type: relu, name: conv1}\n    shortcut")
    p = _error(text)
    assert p.path == ("layers", 1, "body", 2, "name") and p.message == \
        "name 'conv1' is already used by body[0]."
    # the same name in another list is fine: names are scoped like module attributes
    playground.load_spec(NET.replace("{type: relu6}", "{type: relu6, name: conv1}"))


def test_a_projection_needs_feature_maps():
    text = HEAD + """\
  - {type: flatten}
  - type: residual
    body: [{type: linear, out_features: 5}]
    shortcut: projection
"""
    p = _error(text)
    assert p.path == ("layers", 1, "shortcut") and "a projection shortcut needs CxHxW feature maps" in p.message


def test_a_residual_over_flat_features_with_a_layer_shortcut():
    text = HEAD + """\
  - {type: flatten}
  - type: residual
    body: [{type: linear, out_features: 5}]
    shortcut: [{type: linear, out_features: 5, bias: false}]
"""
    summary = playground.summarize(playground.load_spec(text))
    assert summary.output_shape == (5,) and summary.total_params == 3072 * 5 + 5 + 3072 * 5


def test_a_third_party_container_plugs_in(registry):
    """A container from outside playground: its LayerItem field holds any registered layer."""
    from typing import Literal

    from pydantic import Field

    from playground.layers.base import Container
    from playground.layers.blocks import Sequential

    class Twice(Container):
        """Applies its body twice (the same modules, shared weights)."""

        type: Literal["twice"] = "twice"
        body: list[LayerItem] = Field(min_length=1, description="Layers applied twice.")  # noqa: F821
        layer_fields = ("body",)

        def output_shape(self, x, chain):
            y = chain(("body",), self.body, x)
            if y != x:
                raise ShapeError(f"the body changes {x} to {y}.", field="body")
            return y

        def build(self, x, chain):
            body, _ = chain(("body",), self.body, x)
            return torch.nn.Sequential(body, body)

    registry.register(Twice)
    registry.register(Sequential)
    spec = playground.load_spec({"name": "t", "data": {"dataset": "none"},
                                 "input": {"channels": 2, "height": 4, "width": 4},
                                 "layers": [{"type": "twice", "body": [
                                     {"type": "sequential", "layers": [{"type": "conv2d", "out_channels": 2,
                                                                        "kernel_size": 3, "padding": 1}]}]}]},
                                registry=registry)
    row = playground.summarize(spec).rows[0]
    assert row.children[0].children[0].params == 2 * 2 * 9 + 2
    model = playground.build(spec)
    assert model(torch.randn(1, 2, 4, 4)).shape == (1, 2, 4, 4)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "t", "data": {"dataset": "none"},
                              "input": {"channels": 2, "height": 4, "width": 4},
                              "layers": [{"type": "twice", "body": [{"type": "conv2d", "out_channel": 2,
                                                                     "kernel_size": 1}]}]}, registry=registry)
    assert info.value.problems[0].path == ("layers", 0, "body", 0, "out_channel")


@pytest.mark.parametrize("size,stride,out", [(8, 1, 8), (9, 3, 3), (7, 2, 4), (5, 5, 1)])
def test_a_projection_takes_the_stride_the_body_has(size, stride, out):
    text = HEAD.replace("height: 32, width: 32", f"height: {size}, width: {size}") + f"""\
  - type: residual
    body: [{{type: conv2d, out_channels: 6, kernel_size: 3, stride: {stride}, padding: 1}}]
    shortcut: projection
"""
    spec = playground.load_spec(text)
    (row,) = playground.summarize(spec).rows
    assert row.output_shape == (6, out, out)
    conv = playground.build(spec)[0].shortcut[0]
    assert conv.stride == (stride, stride) and conv.kernel_size == (1, 1) and conv.bias is None


def test_a_body_no_projection_can_follow_is_told_so():
    text = HEAD + """\
  - type: residual
    body: [{type: upsample, scale_factor: 2}]
    shortcut: projection
"""
    p = _error(text)
    assert p.path == ("layers", 0, "shortcut")
    assert p.message == "no 1x1 convolution stride takes 3x32x32 to the body's 3x64x64."
    assert p.fix == "Give the shortcut as a list of layers that produces the body's shape."


def test_the_diagram_adds_the_input_only_for_an_identity_shortcut():
    import re

    from playground.check.report import tree_diagram

    for shortcut, into_sum in (("identity", ["3x8x8", "3x8x8"]), ("projection", ["6x8x8", "6x8x8"])):
        out = 3 if shortcut == "identity" else 6
        text = HEAD.replace("height: 32, width: 32", "height: 8, width: 8") + f"""\
  - type: residual
    body: [{{type: conv2d, out_channels: {out}, kernel_size: 3, padding: 1}}]
    shortcut: {shortcut}
"""
        spec = playground.load_spec(text)
        dot = tree_diagram(spec, playground.summarize(spec))
        (plus,) = re.findall(r'(n\d+) \[label="\+"', dot)
        assert sorted(re.findall(rf'-> {plus} \[label=" ([0-9x]+)"\]', dot)) == into_sum
        assert (f"input -> {plus}" in dot) == (shortcut == "identity")


def test_block_fixes_word_for_word():
    concat = _error(NET.replace("out_channels: 8, kernel_size: 3, padding: 1", "out_channels: 8, kernel_size: 3"))
    assert concat.fix == "Change the branch's stride, padding or pooling so its height and width match."
    shortcut = _error(NET.replace("    shortcut: projection\n", "    shortcut: [{type: maxpool2d, kernel_size: 2}]\n"))
    assert shortcut.fix == "Make both branches produce the same shape."
    identity = _error(NET.replace("    shortcut: projection\n", ""))
    assert identity.fix == ("Set `shortcut: projection` (a 1x1 conv2d and batchnorm2d that match it), or change "
                            "the body to keep its input's shape.")


def test_a_projection_from_a_feature_map_to_features_is_refused():
    text = HEAD + """\
  - type: residual
    body: [{type: flatten}, {type: linear, out_features: 5}]
    shortcut: projection
"""
    p = _error(text)
    assert p.path == ("layers", 0, "shortcut")
    assert p.message == "a projection shortcut needs CxHxW feature maps; the body takes 3x32x32 to 5."
    assert p.fix == "Give the shortcut as a list of layers."


@pytest.mark.parametrize("old,new,path,line", [
    ("keep: [{type: identity}]", "keep: []", ("layers", 2, "branches", "keep"), 16),
    ("    shortcut: projection\n", "    shortcut: []\n", ("layers", 1, "shortcut"), 12),
])
def test_an_empty_list_of_layers_is_refused_where_written(old, new, path, line):
    """Found by the fuzz: the check took an empty branch or shortcut, then the build failed."""
    p = _error(NET.replace(old, new))
    assert (p.path, p.line) == (path, line)
    assert p.message == "List should have at least 1 item after validation, not 0."


@pytest.mark.parametrize("branch,fix", [("a.b", "a_b"), ("''", "b1"), ("a b", "a_b"), ("1x", "b1x")])
def test_a_branch_name_a_module_cannot_take_is_refused_at_its_key(branch, fix):
    """The check took these, then torch refused them (KeyError: module name can't contain ".")."""
    p = _error(NET.replace("keep: [{type: identity}]", f"{branch}: [{{type: identity}}]"))
    name = branch.strip("'")
    assert (p.path, p.line, p.reason) == (("layers", 2, "branches", name), 16, "name")
    assert p.message == (f"branch name '{name}' cannot name a module of the built model: a module name is ASCII "
                         "letters, digits and underscores, not starting with a digit, at most 64 characters.")
    assert p.fix == f"Rename the branch, e.g. {fix}."
    assert p.place() == f"layers[2] (concat 'dense').branches.{name}"


@pytest.mark.parametrize("old,new,path", [
    ("keep: [{type: identity}]", "keys: [{type: identity}]", ("layers", 2, "branches", "keys")),
    ("name: stem,", "name: forward,", ("layers", 0, "name")),
    ("name: conv1,", "name: training,", ("layers", 1, "body", 0, "name")),
    ("name: fc,", "name: spec_name,", ("layers", 7, "name")),
])
def test_a_name_torch_modules_already_have_is_refused(old, new, path):
    p = _error(NET.replace(old, new))
    taken = new.split(":")[0] if "branches" in path else new.split()[1].rstrip(",")
    assert (p.path, p.reason) == (path, "name")
    assert p.message.endswith(f"cannot name a module of the built model: torch modules already have an "
                              f"attribute '{taken}'.")
    assert p.fix.endswith(f", e.g. {taken}_1.")


def test_the_reserved_names_are_every_attribute_of_the_modules_the_build_makes():
    """The check knows them without torch; this keeps them in step with torch."""
    from playground.check.builder import Model
    from playground.layers.base import NAME_PATTERN, RESERVED_NAMES

    built = playground.build(playground.load_spec(NET))
    names = {n for m in (built, torch.nn.Sequential(), torch.nn.ModuleDict()) for n in dir(m)} | set(dir(Model))
    names -= {n for n in names if n.startswith("__") and n.endswith("__")}   # refused as a pattern
    names -= {n for n, _ in built.named_children()}                          # the spec's own layers
    assert names - RESERVED_NAMES == set()
    assert all(re.match(NAME_PATTERN, n) for n in RESERVED_NAMES)
