"""Every file in specs/zoo/ is the torchvision builder it is named after, exactly:
parameters, MACs, state-dict shapes in order, outputs in eval and train mode
after copying torchvision's tensors, and every setting only training sees
(tests/zoo_judge.py says how each is compared). A zoo file whose name is not a
torchvision builder fails; none is skipped. The outputs of the networks over
135M parameters are compared by `make test-long` (PLAYGROUND_LONG=1), their
structure here; every family has a smaller file whose outputs are compared here."""

from __future__ import annotations

import pytest
import torchvision
import yaml
from conftest import LONG, ZOO
from zoo_judge import OUTPUTS_UP_TO, judge

import playground

ZOO_FILES = sorted(ZOO.glob("*.yaml"))
FAMILIES = ("alexnet", "convnext", "densenet", "efficientnet_b", "efficientnet_v2", "googlenet", "inception",
            "maxvit", "mnasnet", "mobilenet_v2", "mobilenet_v3", "regnet", "resnet", "resnext", "shufflenet_v2",
            "squeezenet", "swin_", "swin_v2", "vgg", "vit_", "wide_resnet")


@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.stem)
def test_zoo_spec_is_the_torchvision_builder(path):
    verdict = judge(path, outputs=True if LONG else None)
    assert verdict.params > 0 and verdict.macs > 0


def test_every_family_has_a_file_whose_outputs_are_compared():
    small = {p.stem for p in ZOO_FILES if playground.summarize(playground.load_spec(p)).total_params <= OUTPUTS_UP_TO}
    assert [f for f in FAMILIES if not any(s.startswith(f) for s in small)] == []


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


def test_the_default_budget_still_refuses_a_typo():
    """The zoo checks with the default budget (ViT-H/14's 632M parameters included: its file has no
    budget section); a linear of a million outputs over a flattened 224x224 image (1.5e11
    parameters) is still refused by the check, before any weight exists."""
    typo = {"name": "typo", "data": {"dataset": "none"}, "input": {"channels": 3, "height": 224, "width": 224},
            "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 1_000_000}]}
    with pytest.raises(playground.SpecError) as info:
        playground.load_spec(typo)
    (problem,) = info.value.problems
    assert problem.reason == "budget" and "150,529,000,000 parameters" in problem.message
