"""Swin's and MaxViT's layers (shifted_window_attention, patch_merging, partition_attention),
torchvision's own modules, inside specs: their rows in the check, errors located and worded,
and ONNX in onnxruntime, readable source, TorchScript and .pt2 loaded where playground cannot
be imported. The harness in test_layers.py covers their shapes, counts and source one by one;
tests/test_zoo.py, whole networks."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_located, layer_spec
from torchvision.models.swin_transformer import SwinTransformerBlock, SwinTransformerBlockV2
from twins import copy_by_position, seeded

import playground
from playground.check.analysis import load_checked


def _spec(*layers: str) -> str:
    return layer_spec(*layers, name="windows", size=16)


def _block(version: int, shift: int) -> list[str]:
    """torchvision's SwinTransformerBlock (V1 pre-norm, V2 post-norm, its norms registered first) on a
    16x8x8 channels-last map."""
    attention = (f"{{type: shifted_window_attention, name: attn, window_size: 4, shift_size: {shift}, "
                 f"num_heads: 2, version: {version}}}")
    mlp = ("{type: linear, name: fc1, out_features: 64}, {type: gelu}, {type: dropout, p: 0.0}, "
           "{type: linear, out_features: 16}, {type: dropout, p: 0.0}")
    depth = "{type: stochastic_depth, p: 0.1, mode: row}"
    if version == 1:
        return [f"{{type: residual, body: [{{type: layernorm}}, {attention}, {depth}]}}",
                f"{{type: residual, body: [{{type: layernorm}}, {mlp}, {depth}]}}"]
    return [f"{{type: residual, body: [{attention}, {{type: layernorm, register_before: attn}}, {depth}]}}",
            f"{{type: residual, body: [{mlp}, {{type: layernorm, register_before: fc1}}, {depth}]}}"]


STEM = ["{type: conv2d, out_channels: 16, kernel_size: 2, stride: 2}", "{type: permute, dims: [0, 2, 3, 1]}"]


@pytest.mark.parametrize("version,shift", [(1, 0), (1, 2), (2, 2)])
def test_a_swin_block_is_torchvisions(version, shift):
    spec, summary = load_checked(_spec(*STEM, *_block(version, shift)))
    assert summary.output_shape == (8, 8, 16)
    model = playground.build(spec)
    torch.manual_seed(0)
    block = (SwinTransformerBlock if version == 1 else SwinTransformerBlockV2)(
        16, 2, [4, 4], [shift, shift], mlp_ratio=4.0, stochastic_depth_prob=0.1)
    reference = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 2, 2), _ChannelsLast(), block)
    copy_by_position(model, reference)
    x = torch.randn(4, 3, 16, 16)
    for train in (False, True):
        model.train(train), reference.train(train)
        torch.testing.assert_close(seeded(model, x, 5), seeded(reference, x, 5), rtol=0, atol=1e-5)


class _ChannelsLast(torch.nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


@pytest.mark.parametrize("layers,path,words", [
    (["{type: shifted_window_attention, window_size: 4, num_heads: 2}"], ("layers", 0),
     ["needs an HxWxC map (channels last)", "dims: [0, 2, 3, 1]"]),
    ([*STEM, "{type: shifted_window_attention, window_size: 4, num_heads: 3}"], ("layers", 2, "num_heads"),
     ["num_heads=3"]),
    ([*STEM, "{type: shifted_window_attention, window_size: 4, shift_size: 4, num_heads: 2}"],
     ("layers", 2, "shift_size"), ["shift"]),
    ([*STEM, "{type: patch_merging}", "{type: conv2d, out_channels: 4, kernel_size: 1}"], ("layers", 3),
     ["conv2d needs a CxHxW feature map (channels first)", "dims: [0, 3, 1, 2]"]),
    (["{type: conv2d, out_channels: 16, kernel_size: 1}",
      "{type: partition_attention, partition_type: grid, partition_size: 5, head_dim: 4}"],
     ("layers", 1, "partition_size"), ["partition_size=5"]),
    (["{type: conv2d, out_channels: 16, kernel_size: 1}",
      "{type: partition_attention, partition_type: window, partition_size: 4, head_dim: 5}"],
     ("layers", 1, "head_dim"), ["head_dim=5 does not divide its input's 16 channels"]),
])
def test_bad_input_is_a_located_error(layers, path, words):
    assert_located(_spec(*layers), path, words)


SWIN = _spec(*STEM, "{type: layernorm}", *_block(1, 0), *_block(2, 2), "{type: patch_merging}",
             "{type: patch_merging, version: 2}", "{type: permute, dims: [0, 3, 1, 2]}",
             "{type: adaptive_avgpool2d, output_size: 1}", "{type: flatten}", "{type: linear, out_features: 5}")
MAXVIT = _spec("{type: conv2d, out_channels: 16, kernel_size: 2, stride: 2}",
               "{type: partition_attention, partition_type: window, partition_size: 4, head_dim: 8}",
               "{type: partition_attention, partition_type: grid, partition_size: 4, head_dim: 8, "
               "stochastic_depth: 0.1}",
               "{type: adaptive_avgpool2d, output_size: 1}", "{type: flatten}", "{type: linear, out_features: 5}")


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name", ["swin", "maxvit"])
def test_onnx_source_torchscript_and_pt2_agree(name, tmp_path):
    from test_export import assert_exports_everywhere

    path = tmp_path / f"{name}.yaml"
    path.write_text(SWIN if name == "swin" else MAXVIT)
    source = assert_exports_everywhere(path, tmp_path, needs_torchvision=True)
    assert "from torchvision.models." in source.split("def preprocess")[0]   # imports at the top


def test_the_check_prints_their_rows(tmp_path, capsys):
    from playground.check.cli import main

    path = tmp_path / "swin.yaml"
    path.write_text(SWIN)
    assert main([str(path)]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[4:] if line.strip()}
    assert rows["1"] == ["permute", "8x8x16", "HWC", "0", "0"]
    assert rows["7"][:3] == ["patch_merging", "4x4x32", "HWC"]
    assert rows["8"][:3] == ["patch_merging", "2x2x64", "HWC"]
    assert rows["9"][:2] == ["permute", "64x2x2"]
