"""Which parameters train, and at what rate: a spec's ``train.freeze``,
``trainable``, ``unfreeze_epoch``, ``frozen_norm`` and ``lr_parts`` on a built
model.

Parts are named as the model's modules are: a layer's or block's name, or a
dotted module path (``layer1``, ``layer3.0``, ``fc``); ``all`` is every one. A
frozen parameter has ``requires_grad`` off, so it gets no gradient, and the
optimizers skip it: no update, no weight decay, no optimizer state. Every
parameter is in the optimizer from the start (frozen ones too), so its state
dict has one layout for the whole run and a resume restores it exactly. A
frozen part's batch norms run in eval mode by default (``frozen_norm: eval``),
so their running statistics stay as the weights were trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from playground.check.parts import PartError, check_names, frozen_parameters, inside

__all__ = ["PartError", "Plan", "check_names", "counts", "hold_norms", "param_groups", "plan", "set_epoch"]


@dataclass(frozen=True)
class Plan:
    """The fine-tuning of one run: the frozen parameters and modules, and when they thaw."""

    frozen: frozenset[str]            # parameter names
    frozen_modules: tuple[str, ...]   # modules all of whose parameters (and buffers) are frozen
    unfreeze_epoch: int | None        # 1-based; None: frozen for the whole run
    norms_in_eval: bool

    def frozen_at(self, epoch: int) -> bool:
        """Whether the frozen parts are frozen in ``epoch`` (0-based)."""
        return bool(self.frozen) and (self.unfreeze_epoch is None or epoch + 1 < self.unfreeze_epoch)


def plan(model: torch.nn.Module, train) -> Plan:
    """The spec's ``train`` freezing on ``model``, its names checked."""
    check_names(model, train.freeze, "train.freeze")
    check_names(model, train.trainable, "train.trainable")
    frozen = frozen_parameters(model, train.freeze, train.trainable)
    modules = tuple(name for name, module in model.named_modules()
                    if isinstance(module, torch.nn.modules.batchnorm._NormBase)
                    and (params := [f"{name}.{p}" if name else p for p, _ in module.named_parameters()])
                    and all(p in frozen for p in params))
    return Plan(frozen, modules, train.unfreeze_epoch, train.frozen_norm == "eval")


def set_epoch(model: torch.nn.Module, p: Plan, epoch: int) -> None:
    """Each parameter's requires_grad as ``p`` says for ``epoch`` (0-based)."""
    frozen = p.frozen_at(epoch)
    for key, param in model.named_parameters():
        param.requires_grad_(not (frozen and key in p.frozen))


def hold_norms(model: torch.nn.Module, p: Plan, epoch: int) -> None:
    """After ``model.train()``: a frozen part's batch norms back in eval mode (their statistics kept)."""
    if p.norms_in_eval and p.frozen_at(epoch):
        for name in p.frozen_modules:
            model.get_submodule(name).eval()


def param_groups(model: torch.nn.Module, train) -> list[dict]:
    """The optimizer's parameter groups: one per ``lr_parts`` entry (in its order; a parameter goes
    to the first that holds it), then the rest at ``train.lr``. Each carries ``lr_scale``, its rate
    over ``train.lr``, which the schedule multiplies."""
    check_names(model, list(train.lr_parts), "train.lr_parts")
    taken, groups = set(), []
    for name, lr in train.lr_parts.items():
        params = [(k, v) for k, v in model.named_parameters() if inside(k, name) and k not in taken]
        taken.update(k for k, _ in params)
        if params:
            groups.append({"params": [v for _, v in params], "lr": lr, "lr_scale": lr / train.lr, "part": name})
    rest = [v for k, v in model.named_parameters() if k not in taken]
    if rest or not groups:
        groups.append({"params": rest, "lr": train.lr, "lr_scale": 1.0, "part": "rest"})
    return groups


def counts(model: torch.nn.Module, p: Plan, epoch: int = 0) -> tuple[int, int]:
    """(trainable, frozen) parameter counts in ``epoch``."""
    frozen = sum(v.numel() for k, v in model.named_parameters() if p.frozen_at(epoch) and k in p.frozen)
    return sum(v.numel() for v in model.parameters()) - frozen, frozen


def _stochastic(module: torch.nn.Module) -> bool:
    """Whether ``module`` draws at random while training (dropout, stochastic depth, attention dropout)."""
    from playground.layers.modules import StochasticDepth

    dropout = getattr(module, "dropout", None)
    return isinstance(module, (torch.nn.modules.dropout._DropoutNd, StochasticDepth)) or (
        isinstance(dropout, float) and dropout > 0)


def frozen_prefix(model: torch.nn.Module, p: Plan) -> int:
    """How many of ``model``'s top-level layers, from the first, compute the same outputs in every
    epoch while ``p`` freezes them: every parameter frozen, batch norms held in eval mode, nothing
    drawn at random. 0 when there is none worth caching (no parameters in it) or the model's
    children do not run in their registration order."""
    from playground.check.builder import Model

    if type(model) is not Model or not p.frozen or not p.norms_in_eval:
        return 0
    k, weights, held = 0, 0, set(p.frozen_modules)
    for name, child in model.named_children():
        params = [f"{name}.{key}" for key, _ in child.named_parameters()]
        norms_move = any(isinstance(m, torch.nn.modules.batchnorm._NormBase) and f"{name}.{key}".rstrip(".") not in held
                         for key, m in child.named_modules())   # (a norm without weights: its statistics move)
        if any(key not in p.frozen for key in params) or norms_move or any(_stochastic(m) for m in child.modules()):
            break
        k, weights = k + 1, weights + len(params)
    return k if weights else 0
