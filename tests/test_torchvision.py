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

import playground

MODELS = {   # spec -> (torchvision model, published parameters, MACs at 3x224x224)
    "resnet18": (lambda: torchvision.models.resnet18(), 11_689_512, 1_814_073_344),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 3_504_872, 300_774_272),
    "alexnet": (lambda: torchvision.models.alexnet(), 61_100_840, 714_188_480),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False),
                  6_624_904, 1_498_376_192),
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
