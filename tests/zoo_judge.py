"""The judge of a zoo spec: ``specs/zoo/<builder>.yaml`` against torchvision's
``torchvision.models.<builder>`` (random weights; nothing downloaded).

It compares, in this order: the parameter count; the state dict's shapes in
order (parameters and buffers); MACs, ours by arithmetic against PyTorch's
FlopCounterMode on torchvision's module (multiply-adds = flops // 2, attention's
matmuls included); outputs
in eval mode after copying torchvision's tensors by position; every setting
only training sees, in the order the forward pass calls the modules (batch
norm eps/momentum, dropout p, stochastic-depth p and mode, layer norm eps,
attention dropout); and outputs in train mode, both models drawing from the
same seed. Run it on one file while writing a spec:

    python tests/zoo_judge.py specs/zoo/vit_b_16.yaml
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import playground

sys.path.insert(0, str(Path(__file__).resolve().parent))   # run as a script, too
from twins import copy_by_position  # noqa: E402

# Builders whose defaults make a module a spec does not describe: GoogLeNet and
# Inception v3 build auxiliary classifiers (a second and third output, used only
# by their training recipe) unless told not to; their init is slow and irrelevant.
BUILDER_OPTIONS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


@dataclass
class Verdict:
    builder: str
    params: int
    macs: int
    max_diff_eval: float
    max_diff_train: float
    spec_lines: int
    check_ms: float


def settings(module: nn.Module) -> tuple | None:
    """What training sees of a module and eval outputs do not show, or None."""
    kind = type(module).__name__
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return (kind, module.eps, module.momentum, module.affine, module.track_running_stats)
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return (kind, module.p, module.inplace and False)
    if kind == "StochasticDepth":
        return (kind, float(module.p), module.mode)
    if isinstance(module, nn.LayerNorm) or kind == "LayerNorm2d":
        return ("LayerNorm", module.eps, module.elementwise_affine, tuple(module.normalized_shape))
    if isinstance(module, nn.GroupNorm):
        return (kind, module.eps, module.num_groups, module.affine)
    if isinstance(module, nn.MultiheadAttention):
        return (kind, module.dropout, module.num_heads)
    return None


def seeded_run(model: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, list[tuple]]:
    """The output of one forward pass drawing from ``seed``, and the ``settings`` of every module it
    calls, in call order."""
    seen: list[tuple] = []
    hooks = [m.register_forward_pre_hook(lambda m, _a: seen.append(s) if (s := settings(m)) else None)
             for m in model.modules()]
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out, seen


def _bound(theirs: torch.Tensor) -> float:
    # Relative to the outputs' size: random weights give outputs anywhere from 1e-9 to 1e3.
    return 1e-5 * theirs.abs().max().item()


# The networks whose outputs CI does not compare: over 135M parameters (ViT-L and ViT-H, VGG-16 and
# VGG-19, RegNet-Y-32GF, ConvNeXt-L; most of the zoo's judging time). Their structure is judged all
# the same (parameters, state-dict shapes in order, MACs, every training setting in call order, on
# the meta device); every family keeps a smaller file whose outputs are compared (VGG-11 and VGG-13
# for the VGGs); `make test-long` compares the outputs of every file.
OUTPUTS_UP_TO = 135_000_000


def judge(path: Path, batch: int | None = None, outputs: bool | None = True) -> Verdict:
    """The Verdict on one zoo file, or an AssertionError saying what differs. ``batch``: 2 samples,
    1 for the largest networks (over 5 GMACs a sample), which keeps the whole zoo's judging short.
    ``outputs=False`` judges the structure alone, with no weights (max diffs read 0); None compares
    outputs up to OUTPUTS_UP_TO parameters."""
    path = Path(path)
    builder = path.stem
    t0 = time.perf_counter()
    spec = playground.load_spec(path)
    summary = playground.summarize(spec)
    check_ms = (time.perf_counter() - t0) * 1000
    make = getattr(torchvision.models, builder, None)
    if make is None:
        raise AssertionError(f"{path.name}: torchvision.models has no builder {builder!r}")
    if outputs is None:
        outputs = summary.total_params <= OUTPUTS_UP_TO
    if not outputs:
        return _structure(path, spec, summary, make, check_ms)

    torch.manual_seed(0)
    reference = make(**BUILDER_OPTIONS.get(builder, {}))
    with torch.no_grad():   # ViT starts its head (and class token) at zero: outputs would all be 0
        for p in reference.parameters():
            if p.dim() and not p.any():
                p.normal_(std=0.02)
    model = playground.build(spec, summary)

    n_params = sum(p.numel() for p in reference.parameters())
    assert summary.total_params == n_params == sum(p.numel() for p in model.parameters()), \
        (summary.total_params, n_params)
    copy_by_position(model, reference)

    if batch is None:
        batch = 2 if summary.total_macs < 5_000_000_000 else 1
    x = torch.randn(batch, *spec.input.shape())
    # MACs on the meta device (no weights, no arithmetic), with autograd on and the math kernel of
    # scaled_dot_product_attention: fused attention kernels have no FlopCounterMode formula.
    try:
        with torch.device("meta"):
            counted = make(**BUILDER_OPTIONS.get(builder, {})).eval()
    except NotImplementedError:   # RegNet reads tensor values while it builds: a copy, moved
        counted = copy.deepcopy(reference).eval().to("meta")
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        counted(x[:1].to("meta"))
    assert summary.total_macs == counter.get_total_flops() // 2, (summary.total_macs, counter.get_total_flops() // 2)

    reference.eval(), model.eval()
    with torch.no_grad():
        theirs, ours = reference(x), model(x)
    assert theirs.abs().max() > 0
    eval_diff = (ours - theirs).abs().max().item()
    assert eval_diff <= _bound(theirs), f"eval outputs differ by {eval_diff}"

    reference.train(), model.train()
    theirs, theirs_settings = seeded_run(reference, x, seed=1)
    ours, ours_settings = seeded_run(model, x, seed=1)
    assert ours_settings == theirs_settings, "training settings differ"
    train_diff = (ours - theirs).abs().max().item()
    assert train_diff <= _bound(theirs), f"train outputs differ by {train_diff}"
    lines = sum(1 for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return Verdict(builder, n_params, summary.total_macs, eval_diff, train_diff, lines, check_ms)


def _structure(path: Path, spec, summary, make, check_ms: float) -> Verdict:
    """judge without outputs: both models on the meta device, no weights and no arithmetic."""
    builder = path.stem
    try:
        with torch.device("meta"):
            reference = make(**BUILDER_OPTIONS.get(builder, {}))
    except NotImplementedError:   # RegNet reads tensor values while it builds
        reference = make(**BUILDER_OPTIONS.get(builder, {})).to("meta")
    with torch.device("meta"):
        model = playground.build(spec, summary)
    n_params = sum(p.numel() for p in reference.parameters())
    assert summary.total_params == n_params == sum(p.numel() for p in model.parameters()), \
        (summary.total_params, n_params)
    assert [tuple(v.shape) for v in model.state_dict().values()] == \
        [tuple(v.shape) for v in reference.state_dict().values()], "state-dict shapes differ in order"
    x = torch.empty(1, *spec.input.shape(), device="meta")
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        reference.eval()(x)
    assert summary.total_macs == counter.get_total_flops() // 2, (summary.total_macs, counter.get_total_flops() // 2)
    reference.train(), model.train()
    assert seeded_run(model, x, seed=1)[1] == seeded_run(reference, x, seed=1)[1], "training settings differ"
    lines = sum(1 for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return Verdict(builder, n_params, summary.total_macs, 0.0, 0.0, lines, check_ms)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(judge(Path(arg)))
