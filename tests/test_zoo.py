"""Every file in specs/zoo/ is the torchvision builder it is named after, exactly:
parameters, MACs, state-dict shapes in order, outputs in eval and train mode
after copying torchvision's tensors, and every setting only training sees
(tests/zoo_judge.py says how each is compared). A zoo file whose name is not a
torchvision builder fails; none is skipped."""

from __future__ import annotations

import pytest
import torch
import torchvision
import yaml
from conftest import ZOO
from zoo_judge import judge

import playground

ZOO_FILES = sorted(ZOO.glob("*.yaml"))
FAMILIES = ("alexnet", "convnext", "densenet", "efficientnet_b", "efficientnet_v2", "googlenet", "inception",
            "maxvit", "mnasnet", "mobilenet_v2", "mobilenet_v3", "regnet", "resnet", "resnext", "shufflenet_v2",
            "squeezenet", "swin_", "swin_v2", "vgg", "vit_", "wide_resnet")


@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.stem)
def test_zoo_spec_is_the_torchvision_builder(path):
    verdict = judge(path)
    assert verdict.params > 0 and verdict.macs > 0


def test_every_zoo_file_names_a_builder_and_every_family_has_one():
    builders = set(torchvision.models.list_models(module=torchvision.models))
    assert {p.stem for p in ZOO_FILES} <= builders
    missing = [f for f in FAMILIES if not any(p.stem.startswith(f) for p in ZOO_FILES)]
    assert not missing, f"families without a zoo spec: {missing}"


def test_no_zoo_file_needs_a_budget_of_its_own():
    """The defaults admit the zoo: no file raises them or lowers its batch to fit (VGG-19's 143.7M
    parameters, EfficientNetV2-L's 140 GB of activations per batch of 64 at 480x480 included)."""
    documents = {p.name: yaml.safe_load(p.read_text()) for p in ZOO_FILES}
    assert not [n for n, d in documents.items() if "budget" in d or d.get("data") != {"dataset": "none"}]


def test_the_default_budget_admits_vit_h_14_and_refuses_a_typo():
    """ViT-H/14 (632M parameters), written from vit_b_16.yaml's template, checks with the default
    budget and has torchvision's parameter count; a linear of a million outputs over a flattened
    224x224 image (1.5e11 parameters) is refused by the check, before any weight exists."""
    text = (ZOO / "vit_b_16.yaml").read_text()
    for old, new in (("name: vit_b_16", "name: vit_h_14"),
                     ("out_channels: 768, kernel_size: 16, stride: 16",
                      "out_channels: 1280, kernel_size: 14, stride: 14"),
                     ("times: 12, with: {dim: 768, heads: 12, mlp: 3072}",
                      "times: 32, with: {dim: 1280, heads: 16, mlp: 5120}")):
        assert old in text
        text = text.replace(old, new)
    summary = playground.summarize(playground.load_spec(text))
    with torch.device("meta"):
        reference = torchvision.models.vit_h_14()
    assert summary.total_params == sum(p.numel() for p in reference.parameters()) == 632_045_800

    typo = {"name": "typo", "data": {"dataset": "none"}, "input": {"channels": 3, "height": 224, "width": 224},
            "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 1_000_000}]}
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(typo)
    (problem,) = info.value.problems
    assert problem.reason == "budget" and "150,529,000,000 parameters" in problem.message
