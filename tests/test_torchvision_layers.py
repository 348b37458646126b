"""The layers that make torchvision's ConvNeXt, EfficientNet and ShuffleNetV2
writable (layernorm2d, layernorm, stochastic_depth, channel_shuffle; gelu's
approximate) against torchvision's own code: the same outputs in one
process, torchvision's tensors loading one to one, the same random draws in
train mode; their errors located and worded; and a spec with all of them
through the check table, ONNX in onnxruntime and the readable source,
TorchScript and .pt2 files loaded where playground cannot be imported. The
harness in test_layers.py covers their shapes, counts and source."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import assert_located, layer_spec
from torch import nn
from torchvision.models.convnext import LayerNorm2d as TorchvisionLayerNorm2d
from torchvision.models.shufflenetv2 import channel_shuffle
from torchvision.ops import StochasticDepth as TorchvisionStochasticDepth

from playground.check.analysis import check_layer
from playground.check.builder import build_layer
from playground.layers.base import ShapeError
from playground.layers.registry import get_registry
from playground.layers.shapes import Shape


def _layer(config: dict):
    return get_registry()[config["type"]].model_validate(config)


def _built(config: dict, x_shape: tuple[int, ...]) -> nn.Module:
    return build_layer(_layer(config), Shape(x_shape))[0]


def _written(config: dict, x_shape: tuple[int, ...]) -> nn.Module:
    """The module the readable-source export writes, built from its text alone."""
    from playground.export.source import _Writer

    layer = _layer(config)
    writer = _Writer()
    expression = writer.layer(layer, check_layer(layer, Shape(x_shape)))
    namespace: dict = {"nn": nn, "torch": torch}
    for code in writer.definitions:
        exec(code, namespace)
    return eval(expression, namespace)


def _randomized(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


# layernorm2d ---------------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [1e-6, 1e-5])
def test_layernorm2d_takes_torchvisions_weights_and_computes_the_same(eps):
    reference = _randomized(TorchvisionLayerNorm2d(12, eps=eps)).eval()
    for module in (_built({"type": "layernorm2d", "eps": eps}, (12, 5, 7)),
                   _written({"type": "layernorm2d", "eps": eps}, (12, 5, 7))):
        assert {k: v.shape for k, v in module.state_dict().items()} == \
            {k: v.shape for k, v in reference.state_dict().items()} == {"weight": (12,), "bias": (12,)}
        module.load_state_dict(reference.state_dict(), strict=True)
        module.eval()
        x = torch.randn(3, 12, 5, 7)
        with torch.no_grad():
            assert torch.equal(module(x), reference(x))
        assert module.eps == eps


def test_layernorm2d_without_affine_has_no_parameters_like_torchvisions():
    reference = TorchvisionLayerNorm2d(6, elementwise_affine=False)
    module = _built({"type": "layernorm2d", "elementwise_affine": False}, (6, 4, 4))
    assert list(module.state_dict()) == list(reference.state_dict()) == []
    x = torch.randn(2, 6, 4, 4)
    assert torch.equal(module(x), reference(x))


def test_layernorm_defaults_are_torchs():
    for type_name, x_shape in (("layernorm", (16,)), ("layernorm2d", (16, 3, 3))):
        module = _built({"type": type_name}, x_shape)
        plain = nn.LayerNorm(16)
        assert (module.eps, module.elementwise_affine, module.normalized_shape) == \
            (plain.eps, plain.elementwise_affine, plain.normalized_shape) == (1e-5, True, (16,))


# layernorm -----------------------------------------------------------------------------------

def test_layernorm_is_torchs_layernorm_over_the_features():
    reference = _randomized(nn.LayerNorm(16, eps=1e-6))
    module = _built({"type": "layernorm", "normalized_shape": 16, "eps": 1e-6}, (16,))
    assert type(module) is nn.LayerNorm
    module.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 16)
    assert torch.equal(module(x), reference(x))


# stochastic_depth ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("x_shape", [(16,), (6, 5, 4)])
def test_stochastic_depth_draws_what_torchvision_draws(mode, p, x_shape):
    reference = TorchvisionStochasticDepth(p, mode).train()
    config = {"type": "stochastic_depth", "p": p, "mode": mode}
    x = torch.randn(64, *x_shape)
    for module in (_built(config, x_shape), _written(config, x_shape)):
        module.train()
        for seed in (0, 1, 2):
            torch.manual_seed(seed)
            expected = reference(x)
            torch.manual_seed(seed)
            assert torch.equal(module(x), expected)
        module.eval()
        assert torch.equal(module(x), x)


def test_stochastic_depth_drops_rows_or_the_batch():
    """Not only equal to torchvision's, but doing what it says: whole samples dropped in
    'row' mode, all or nothing in 'batch' mode, survivors scaled by 1 / (1 - p)."""
    x = torch.ones(256, 3, 2, 2)
    torch.manual_seed(0)
    rows = _built({"type": "stochastic_depth", "p": 0.5, "mode": "row"}, (3, 2, 2)).train()(x)
    per_row = rows.flatten(1)
    assert set(per_row.unique().tolist()) == {0.0, 2.0}
    assert (per_row == per_row[:, :1]).all() and 64 < int((per_row[:, 0] == 0).sum()) < 192
    batch = _built({"type": "stochastic_depth", "p": 0.5, "mode": "batch"}, (3, 2, 2)).train()
    outcomes = set()
    for seed in range(8):
        torch.manual_seed(seed)
        outcomes.add(tuple(batch(x).unique().tolist()))
    assert outcomes == {(0.0,), (2.0,)}


# channel_shuffle -----------------------------------------------------------------------------

@pytest.mark.parametrize("groups", [1, 2, 3, 4, 6, 12])
def test_channel_shuffle_is_torchvisions_function(groups):
    x = torch.randn(3, 12, 5, 7)
    config = {"type": "channel_shuffle", "groups": groups}
    for module in (_built(config, (12, 5, 7)), _written(config, (12, 5, 7))):
        y = module(x)
        assert torch.equal(y, channel_shuffle(x, groups)) and torch.equal(y, nn.ChannelShuffle(groups)(x))
        assert y.is_contiguous()


# errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("config,x_shape,field,message,fix", [
    ({"type": "channel_shuffle", "groups": 5}, (12, 4, 4), "groups",
     "groups=5 does not divide its input's 12 channels (12x4x4).",
     "Use groups: 4 or 6 (the nearest that divide 12), or change the channels before it."),
    ({"type": "channel_shuffle", "groups": 16}, (12, 4, 4), "groups",
     "groups=16 does not divide its input's 12 channels (12x4x4).",
     "Use groups: 12 (the nearest that divides 12), or change the channels before it."),
    ({"type": "channel_shuffle", "groups": 2}, (7, 4, 4), "groups",
     "groups=2 does not divide its input's 7 channels (7x4x4).",
     "Use groups: 1 (the nearest that divides 7), or change the channels before it."),
    ({"type": "layernorm2d", "num_channels": 8}, (12, 4, 4), "num_channels",
     "num_channels=8, but its input 12x4x4 has 12 channels.", "Set num_channels: 12, or leave it out to infer it."),
    ({"type": "layernorm", "normalized_shape": 10}, (16,), "normalized_shape",
     "normalized_shape=10, but its input 16 has 16 features.",
     "Set normalized_shape: 16, or leave it out to infer it."),
])
def test_shape_errors_word_for_word(config, x_shape, field, message, fix):
    with pytest.raises(ShapeError) as info:
        _layer(config).output_shape(Shape(x_shape))
    assert (info.value.field, info.value.message, info.value.fix) == (field, message, fix)


def _spec(*layers: str) -> str:
    return layer_spec(*layers, name="tv_layers", size=8)




@pytest.mark.parametrize("layers,path,words", [
    (["{type: conv2d, out_channels: 12, kernel_size: 1}", "{type: channel_shuffle, groups: 5}"],
     ("layers", 1, "groups"), ["12 channels", "groups: 4 or 6"]),
    (["{type: layernorm2d, num_channels: 4}"], ("layers", 0, "num_channels"), ["num_channels=4", "3 channels"]),
    (["{type: flatten}", "{type: layernorm, normalized_shape: 100}"], ("layers", 1, "normalized_shape"),
     ["normalized_shape=100", "192"]),
    (["{type: layernorm}"], ("layers", 0), ["layernorm needs", "3x8x8", "flatten"]),          # rank
    (["{type: flatten}", "{type: layernorm2d}"], ("layers", 1), ["layernorm2d needs", "192"]),
    (["{type: flatten}", "{type: channel_shuffle, groups: 2}"], ("layers", 1), ["channel_shuffle needs"]),
    (["{type: channel_shuffle, groups: 0}"], ("layers", 0, "groups"), ["greater than or equal to 1"]),
    (["{type: channel_shuffle, groups: 2.0}"], ("layers", 0, "groups"), ["integer"]),
    (["{type: channel_shuffle}"], ("layers", 0, "groups"), ["required"]),
    (["{type: stochastic_depth, p: 1.5, mode: row}"], ("layers", 0, "p"), ["less than or equal to 1"]),
    (["{type: stochastic_depth, p: 0.1, mode: rows}"], ("layers", 0, "mode"), ["'row' or 'batch'"]),
    (["{type: stochastic_depth, mode: row}"], ("layers", 0, "p"), ["required"]),
    (["{type: layernorm2d, eps: 0}"], ("layers", 0, "eps"), ["greater than 0"]),
    (["{type: gelu, approximate: fast}"], ("layers", 0, "approximate"), ["'none' or 'tanh'"]),
])
def test_bad_input_is_a_located_error(layers, path, words):
    assert_located(_spec(*layers), path, words)


# a spec with every one of them ---------------------------------------------------------------

ALL = _spec(
    "{type: conv2d, name: stem, out_channels: 12, kernel_size: 3, padding: 1}",
    "{type: layernorm2d, name: ln2d, eps: 1.0e-6}",
    "{type: residual, name: block, body: [{type: conv2d, out_channels: 12, kernel_size: 3, padding: 1, "
    "groups: depthwise}, {type: layernorm2d, eps: 1.0e-6}, {type: gelu, approximate: tanh}, "
    "{type: stochastic_depth, name: sd, p: 0.2, mode: row}]}",
    "{type: channel_shuffle, name: shuffle, groups: 3}",
    "{type: gelu}",
    "{type: adaptive_avgpool2d, output_size: 1}",
    "{type: flatten}",
    "{type: layernorm, name: ln, eps: 1.0e-6}",
    "{type: stochastic_depth, p: 0.5, mode: batch}",
    "{type: linear, out_features: 5}",
)


@pytest.fixture
def all_layers(tmp_path) -> Path:
    path = tmp_path / "tv_layers.yaml"
    path.write_text(ALL)
    return path


def test_the_check_prints_their_rows(all_layers, capsys):
    from playground.check.cli import main

    assert main([str(all_layers)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[4:] if line.strip()}
    assert rows["1"] == ["ln2d", "layernorm2d", "12x8x8", "24", "0"]
    assert rows["2.body.1"] == ["layernorm2d", "12x8x8", "24", "0"]
    assert rows["2.body.2"] == ["gelu", "12x8x8", "0", "0"]
    assert rows["2.body.3"] == ["sd", "stochastic_depth", "12x8x8", "0", "0"]
    assert rows["3"] == ["shuffle", "channel_shuffle", "12x8x8", "0", "0"]
    assert rows["7"] == ["ln", "layernorm", "12", "24", "0"]
    assert rows["8"] == ["stochastic_depth", "12", "0", "0"]
    assert rows["total"] == ["593", "27,708"]   # 336 + 24 + (120 + 24) + 24 + 65; MACs: convolutions, linear


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_onnx_source_torchscript_and_pt2_agree(all_layers, tmp_path):
    from test_export import assert_exports_everywhere

    source = assert_exports_everywhere(all_layers, tmp_path)
    assert "class LayerNorm2d(nn.LayerNorm)" in source and "class StochasticDepth" in source
    assert "class ChannelShuffle" in source
