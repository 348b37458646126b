"""The shipped architecture specs are torchvision's models exactly (random
weights; nothing downloaded): equal parameter count, equal multiset of
parameter shapes, equal MACs by PyTorch's FlopCounterMode, and, after copying
torchvision's state dict into the built model in order, equal outputs."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torchvision
from conftest import SPECS
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.efficientnet import MBConv

import playground
from playground.layers.modules import StochasticDepth

MODELS = {   # spec -> (torchvision model, published parameters, MACs at 3x224x224)
    "resnet18": (lambda: torchvision.models.resnet18(), 11_689_512, 1_814_073_344),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 3_504_872, 300_774_272),
    "alexnet": (lambda: torchvision.models.alexnet(), 61_100_840, 714_188_480),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False),
                  6_624_904, 1_498_376_192),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), 5_288_548, 385_814_752),
}


@pytest.mark.parametrize("name", MODELS)
def test_spec_is_the_torchvision_model(name):
    make, params, macs = MODELS[name]
    torch.manual_seed(0)
    reference = make().eval()
    spec = playground.load_spec(SPECS / f"{name}.yaml")
    summary = playground.summarize(spec)
    model = playground.build(spec).eval()

    assert summary.total_params == params == sum(p.numel() for p in reference.parameters())
    assert Counter(tuple(p.shape) for p in model.parameters()) == \
        Counter(tuple(p.shape) for p in reference.parameters())
    x = torch.randn(2, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = reference(x[:1])
    assert summary.total_macs == macs == counter.get_total_flops() // 2

    ours = model.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in reference.state_dict().values()]
    model.load_state_dict(dict(zip(ours, reference.state_dict().values(), strict=True)))
    # Both models in this process, in the same memory layout and threads: in fact the same
    # bits (also with AVX2 or SSE4.1 kernels, or one thread). The bound is relative to the
    # outputs' size, as an absolute 1e-5 would pass anything for mobilenet_v2, whose random
    # weights give outputs of ~3e-9; 1e-5 of the largest output leaves room for two module
    # trees that reach another kernel on some CPU, and none for a wrong layer.
    with torch.no_grad():
        for ours_out, theirs in ((model(x[:1]), expected), (model(x), reference(x))):
            assert theirs.abs().max() > 0
            torch.testing.assert_close(ours_out, theirs, rtol=0, atol=1e-5 * theirs.abs().max().item())


def test_efficientnet_b0_trains_as_torchvision():
    """In train mode too: batch norm's batch statistics, stochastic depth ('row', p rising as
    0.2 * block / 16) and the classifier's dropout, drawn in the same order from the same seed,
    give the same outputs; every stochastic_depth's p and mode and every batch norm's eps and
    momentum are torchvision's, in order. torchvision's MBConv holds a StochasticDepth also where
    it has no skip (and never calls it); the spec has one only in the blocks with a skip."""
    torch.manual_seed(0)
    reference = torchvision.models.efficientnet_b0().train()
    model = playground.build(playground.load_spec(SPECS / "efficientnet_b0.yaml")).train()
    ours = model.state_dict()
    model.load_state_dict(dict(zip(ours, reference.state_dict().values(), strict=True)))

    theirs_sd = [(m.stochastic_depth.p, m.stochastic_depth.mode) for m in reference.modules()
                 if isinstance(m, MBConv) and m.use_res_connect]
    assert [(m.p, m.mode) for m in model.modules() if isinstance(m, StochasticDepth)] == theirs_sd
    assert len(theirs_sd) == 9 and theirs_sd[0] == (0.2 * 2 / 16, "row") and theirs_sd[-1][0] > 0.17

    def norms(net):
        return [(m.eps, m.momentum, m.affine, m.track_running_stats)
                for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms(model) == norms(reference) and len(norms(model)) == 49

    x = torch.randn(4, 3, 224, 224)
    for seed in range(3):
        torch.manual_seed(seed)
        ours_out = model(x)
        torch.manual_seed(seed)
        theirs = reference(x)
        assert theirs.abs().max() > 0
        torch.testing.assert_close(ours_out, theirs, rtol=0, atol=1e-5 * theirs.abs().max().item())
    # and the running statistics moved alike
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5 * max(b.abs().max().item(), 1e-30))
    # the draws matter: another seed gives other outputs
    torch.manual_seed(99)
    assert not torch.allclose(model(x), theirs)
