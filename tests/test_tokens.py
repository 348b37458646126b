"""Token sequences and channels-last maps: the layers that make ViT, ConvNeXt and
ShuffleNetV2 writable (permute, flatten's start_dim, linear and layernorm over
the last axis, class_token, pos_embedding, take_token, mean_tokens,
layer_scale, self_attention; the split container; register_before and
shortcut_first for a reference's state-dict order) against torchvision's own
modules; their errors located and worded; and a spec holding all of them
through the check table, ONNX in onnxruntime, and the readable source,
TorchScript and .pt2 loaded where playground cannot be imported. The harness
in test_layers.py covers their shapes, counts and source one by one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import assert_located, layer_spec
from torch import nn
from torchvision.models.vision_transformer import EncoderBlock
from twins import copy_by_position, seeded

import playground
from playground.check.analysis import load_checked
from playground.layers.base import ShapeError
from playground.layers.registry import get_registry
from playground.layers.shapes import Shape


def _spec(*layers: str) -> str:
    return layer_spec(*layers, name="tokens", size=8)




ENCODER = [   # torchvision's ViT EncoderBlock, written as layers
    "{type: residual, body: [{type: layernorm, eps: 1.0e-6}, {type: self_attention, num_heads: 4}, "
    "{type: dropout, p: 0.1}]}",
    "{type: residual, body: [{type: layernorm, eps: 1.0e-6}, {type: linear, out_features: 64}, {type: gelu}, "
    "{type: dropout, p: 0.1}, {type: linear, out_features: 32}, {type: dropout, p: 0.1}]}",
]
PATCHES = ["{type: conv2d, name: conv_proj, out_channels: 32, kernel_size: 2, stride: 2}",
           "{type: flatten, start_dim: 2}", "{type: permute, dims: [0, 2, 1]}"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_an_encoder_block_is_torchvisions(mode):
    spec, _ = load_checked(_spec(*PATCHES, *ENCODER))
    model = playground.build(spec)
    torch.manual_seed(0)
    block = EncoderBlock(num_heads=4, hidden_dim=32, mlp_dim=64, dropout=0.1, attention_dropout=0.0,
                         norm_layer=lambda d: nn.LayerNorm(d, eps=1e-6))
    patches = nn.Conv2d(3, 32, 2, 2)
    reference = nn.Sequential(patches, nn.Flatten(2), _Transpose(), block)
    copy_by_position(model, reference)
    model.train(mode == "train"), reference.train(mode == "train")
    x = torch.randn(4, 3, 8, 8)
    theirs, ours = seeded(reference, x, 1), seeded(model, x, 1)   # N x 16 x 32
    assert ours.shape == (4, 16, 32)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert mode == "eval" or not torch.allclose(seeded(model, x, 2), theirs)   # the dropouts draw


class _Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


def test_class_token_position_embedding_and_the_taken_token():
    spec, summary = load_checked(_spec(*PATCHES, "{type: class_token, name: class_token, register_before: conv_proj}",
                                       "{type: pos_embedding}", "{type: layernorm}", "{type: take_token}"))
    assert [r.output_shape for r in summary.rows] == [(32, 4, 4), (32, 16), (16, 32), (17, 32), (17, 32),
                                                      (17, 32), (32,)]
    assert summary.total_params == (3 * 4 * 32 + 32) + 32 + 17 * 32 + 64
    model = playground.build(spec)
    assert list(model.state_dict())[:3] == ["class_token.token", "conv_proj.weight", "conv_proj.bias"]
    token = model.class_token.token
    assert token.shape == (1, 1, 32) and not token.any()        # ViT's: zeros at first
    embedding = model[4].embedding
    assert embedding.shape == (1, 17, 32) and 0.01 < embedding.std().item() < 0.03
    with torch.no_grad():
        token.normal_()
        x = torch.randn(2, 3, 8, 8)
        tokens = model.conv_proj(x).flatten(2).transpose(1, 2)                     # N x 16 x 32
        tokens = torch.cat([token.expand(2, -1, -1), tokens], dim=1) + embedding   # N x 17 x 32
        expected = nn.functional.layer_norm(tokens, (32,), model[5].weight, model[5].bias)[:, 0]
        torch.testing.assert_close(model(x), expected)
        scripted = torch.jit.script(model)       # run order kept where registration order differs
        torch.testing.assert_close(scripted(x), expected)


def test_mean_tokens_averages_them():
    spec, summary = load_checked(_spec(*PATCHES, "{type: mean_tokens}"))
    model = playground.build(spec)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), model.conv_proj(x).flatten(2).mean(dim=2))
    assert summary.output_shape == (32,)


CNBLOCK = ("{type: residual, body: [{type: conv2d, name: dwconv, out_channels: 8, kernel_size: 7, padding: 3, "
           "groups: depthwise}, "
           "{type: permute, dims: [0, 2, 3, 1]}, {type: layernorm, eps: 1.0e-6}, {type: linear, out_features: 32}, "
           "{type: gelu}, {type: linear, out_features: 8}, {type: permute, dims: [0, 3, 1, 2]}, "
           "{type: layer_scale, name: scale, register_before: dwconv}, {type: stochastic_depth, p: 0.2, mode: row}]}")


def test_a_channels_last_block_is_convnexts():
    from torchvision.models.convnext import CNBlock

    spec, summary = load_checked(_spec("{type: conv2d, out_channels: 8, kernel_size: 1}", CNBLOCK))
    rows = {r.type: r for r in summary.walk() if r.depth == 1}
    assert rows["permute"].output_shape == (8, 8, 8) and rows["linear"].output_shape == (8, 8, 8)
    assert summary.rows[1].params == 8 * 49 + 8 + 16 + 8 * 32 + 32 + 32 * 8 + 8 + 8   # dw, ln, fc1, fc2, scale
    model = playground.build(spec)
    torch.manual_seed(0)
    block = CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.2)
    reference = nn.Sequential(nn.Conv2d(3, 8, 1), block)
    copy_by_position(model, reference)   # layer_scale, a parameter of the block itself, comes before its layers
    x = torch.randn(4, 3, 8, 8)
    for train in (False, True):
        model.train(train), reference.train(train)
        torch.manual_seed(3)
        theirs = reference(x)
        torch.manual_seed(3)
        torch.testing.assert_close(model(x), theirs, rtol=0, atol=1e-6)


def test_split_is_shufflenets_chunk_unit():
    spec, summary = load_checked(_spec(
        "{type: conv2d, out_channels: 8, kernel_size: 1}",
        "{type: split, branches: {keep: [{type: identity}], mix: [{type: conv2d, out_channels: 4, kernel_size: 3, "
        "padding: 1}, {type: relu}]}}", "{type: channel_shuffle, groups: 2}"))
    assert [r.output_shape for r in summary.walk()][1:4] == [(8, 8, 8), (4, 8, 8), (4, 8, 8)]
    model = playground.build(spec)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        y = model[0](x)
        kept, mixed = y.chunk(2, dim=1)
        branch = model[1].branches["mix"]
        expected = torch.cat([kept, branch(mixed)], dim=1)
        expected = expected.unflatten(1, (2, 4)).transpose(1, 2).flatten(1, 2)
        torch.testing.assert_close(model(x), expected)


def test_shortcut_first_registers_the_shortcut_first():
    body = "[{type: conv2d, name: f, out_channels: 6, kernel_size: 3, padding: 1}]"
    for first, order in ((False, ["0.body.f.weight", "0.body.f.bias", "0.shortcut.0.weight"]),
                         (True, ["0.shortcut.0.weight", "0.body.f.weight", "0.body.f.bias"])):
        spec, _ = load_checked(_spec(f"{{type: residual, body: {body}, shortcut: [{{type: conv2d, out_channels: 6, "
                                     f"kernel_size: 1, bias: false}}], shortcut_first: {str(first).lower()}}}"))
        model = playground.build(spec)
        assert list(model.state_dict()) == order
        x = torch.randn(1, 3, 8, 8)
        torch.testing.assert_close(model(x), model[0].body(x) + model[0].shortcut(x))


@pytest.mark.parametrize("layers,path,words", [
    # a map in the wrong layout: the permute that turns it
    (["{type: permute, dims: [0, 2, 3, 1]}", "{type: conv2d, out_channels: 4, kernel_size: 1}"], ("layers", 1),
     ["conv2d needs a CxHxW feature map (channels first), but its input is an HxWxC map (channels last) (8x8x3).",
      "Insert `- {type: permute, dims: [0, 3, 1, 2]}` before it."]),
    (["{type: layernorm}"], ("layers", 0),
     ["layernorm needs a flat (features,) vector, an LxD token sequence or an HxWxC map (channels last), but its "
      "input is a CxHxW feature map (3x8x8).", "`- {type: flatten}`", "`- {type: permute, dims: [0, 2, 3, 1]}`"]),
    (["{type: permute, dims: [0, 2, 3, 1]}", "{type: concat, branches: {a: [{type: identity}], b: [{type: relu}]}}"],
     ("layers", 1), ["concat joins along the channels", "dims: [0, 3, 1, 2]"]),
    (["{type: permute, dims: [0, 2, 1, 3]}"], ("layers", 0, "dims"),
     ["puts the channels of its CxHxW input (3x8x8) in the middle", "[0, 2, 3, 1]"]),
    (["{type: permute, dims: [0, 1, 1, 2]}"], ("layers", 0, "dims"),
     ["dims=[0, 1, 1, 2] is not an order of its input's 4 dimensions [0, 1, 2, 3]", "0 first"]),
    (["{type: permute, dims: [1, 0, 2, 3]}"], ("layers", 0, "dims"), ["with the batch first"]),
    (["{type: flatten, start_dim: 4}"], ("layers", 0, "start_dim"), ["start_dim=4", "between 1 and 3"]),
    (["{type: flatten, start_dim: 3, end_dim: 2}"], ("layers", 0, "end_dim"), ["end_dim=2 is not between"]),
    # tokens
    ([*PATCHES, "{type: self_attention, num_heads: 5}"], ("layers", 3, "num_heads"),
     ["num_heads=5 does not divide its input's 32 features (16x32 tokens)", "Use num_heads: 4 (it divides 32)"]),
    ([*PATCHES, "{type: take_token, index: 16}"], ("layers", 3, "index"),
     ["index=16, but its input 16x32 has 16 tokens.", "from 0 to 15"]),
    (["{type: class_token}"], ("layers", 0), ["class_token needs an LxD token sequence", "3x8x8"]),
    ([*PATCHES, "{type: linear, in_features: 30, out_features: 4}"], ("layers", 3, "in_features"),
     ["in_features=30, but its input 16x32 has 32 features on its last axis.", "Set in_features: 32"]),
    # registration order
    (["{type: relu, name: a}", "{type: relu, name: b, register_before: c}"], ("layers", 1, "register_before"),
     ["register_before: c names no earlier layer of layers.", "Name one of the layers before it: a."]),
    (["{type: relu, name: a, register_before: b}", "{type: relu, name: b}"], ("layers", 0, "register_before"),
     ["names no earlier layer", "Give the earlier layer a name"]),
    # split
    (["{type: conv2d, out_channels: 5, kernel_size: 1}",
      "{type: split, branches: {a: [{type: identity}], b: [{type: relu}]}}"], ("layers", 1, "branches"),
     ["2 branches cut its input's 5 channels (5x8x8) into unequal parts."]),
])
def test_bad_input_is_a_located_error(layers, path, words):
    assert_located(_spec(*layers), path, words)


def test_the_shape_rules_are_pure_arithmetic():
    permute = get_registry()["permute"].model_validate({"type": "permute", "dims": [0, 2, 3, 1]})
    y = permute.output_shape(Shape((96, 56, 56)))
    assert y == (56, 56, 96) and y.channels_last
    back = get_registry()["permute"].model_validate({"type": "permute", "dims": [0, 3, 1, 2]}).output_shape(y)
    assert back == (96, 56, 56) and not back.channels_last
    linear = get_registry()["linear"].model_validate({"type": "linear", "out_features": 384})
    z = linear.output_shape(y)
    assert z == (56, 56, 384) and z.channels_last
    assert linear.macs(y, z) == 56 * 56 * 96 * 384
    attention = get_registry()["self_attention"].model_validate({"type": "self_attention", "num_heads": 12})
    assert attention.macs(Shape((197, 768)), Shape((197, 768))) == 4 * 197 * 768 ** 2 + 2 * 197 ** 2 * 768
    assert attention.param_count(Shape((197, 768))) == 4 * 768 * 768 + 4 * 768
    with pytest.raises(ShapeError):
        attention.output_shape(Shape((197, 100)))


ALL = _spec(*PATCHES, "{type: class_token, name: class_token, register_before: conv_proj}", "{type: pos_embedding}",
            *ENCODER, "{type: layernorm, eps: 1.0e-6}", "{type: layer_scale, init: 0.5}", "{type: take_token}",
            "{type: linear, out_features: 5}")
MAPS = _spec("{type: conv2d, out_channels: 8, kernel_size: 1}", CNBLOCK,
             "{type: split, branches: {keep: [{type: identity}], mix: [{type: conv2d, out_channels: 4, "
             "kernel_size: 3, padding: 1}]}}", "{type: adaptive_avgpool2d, output_size: 1}",
             "{type: flatten}", "{type: linear, out_features: 5}")


@pytest.fixture(params=["vit", "maps"])
def spec_file(request, tmp_path) -> Path:
    path = tmp_path / f"{request.param}.yaml"
    path.write_text(ALL if request.param == "vit" else MAPS)
    return path


def test_the_check_prints_token_rows(tmp_path, capsys):
    from playground.check.cli import main

    spec = tmp_path / "tokens.yaml"
    spec.write_text(ALL)
    assert main([str(spec)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[4:] if line.strip()}
    assert rows["2"] == ["permute", "16x32", "tokens", "0", "0"]        # 16 tokens of 32
    assert rows["3"] == ["class_token", "class_token", "17x32", "tokens", "32", "0"]
    attention_macs = 4 * 17 * 32 * 32 + 2 * 17 * 17 * 32
    assert rows["5.body.1"] == ["self_attention", "17x32", "tokens", "4,224", f"{attention_macs:,}"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_onnx_source_torchscript_and_pt2_agree(spec_file, tmp_path):
    from test_export import assert_exports_everywhere

    source = assert_exports_everywhere(spec_file, tmp_path)
    assert "class SelfAttention" in source or "class LayerScale" in source
