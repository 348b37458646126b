"""Starting weights (a spec's ``init``): torchvision's published weights, an
earlier run's checkpoint, or a state-dict file, read safely and matched onto a
spec-built model by one rule, before any training step.

The rule. The source's tensors pair with the model's state dict by name when
the source names the model's tensors (a playground run, a file saved from a
playground model); otherwise one for one in order, which is torchvision's
order for a zoo spec (the zoo specs register their tensors exactly as
torchvision's builders do). Each pair must agree in shape. The one exception
is the head: the last layer with weights, when it differs from the source only
in its output size (3 classes against ImageNet's 1,000), stays freshly
initialized, and the run says so. Tensors of the layers ``init.skip`` names
stay fresh too. Anything else that does not fit is a WeightsError naming the
first tensor, e.g. ``layer3.0.body.conv1.weight: 256x128x3x3 in the spec,
256x256x3x3 in the weights``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from playground.check.parts import inside
from playground.core.errors import PlaygroundError, did_you_mean
from playground.layers.shapes import fmt
from playground.runs import folders as runs

TORCHVISION = "torchvision:"
STATE_FILES = (".pt", ".pth")


class WeightsError(PlaygroundError, RuntimeError):
    """Starting weights that cannot be found, read safely, or matched onto the spec's model."""


@dataclass(frozen=True)
class Source:
    """Weights read from a source, before matching: its tensors under its own names, in its order."""

    words: str                        # what it is, for messages: "torchvision's ResNet18_Weights.IMAGENET1K_V1"
    tensors: dict[str, torch.Tensor]
    meta: dict                        # what the weights document (torchvision's: categories, transforms)


@dataclass(frozen=True)
class Matched:
    """The pairs to copy (model key -> tensor) and the model's tensors left fresh, with why."""

    pairs: dict[str, torch.Tensor]
    fresh: dict[str, str]             # model key -> why it stays freshly initialized
    by_name: bool


def read(source: str, *, download: bool = True) -> Source:
    """The tensors of ``source``: ``torchvision:<Weights>.<NAME>``, a run folder, or a state-dict file."""
    if source.startswith(TORCHVISION):
        return _torchvision(source[len(TORCHVISION):], download)
    path = Path(source).expanduser()
    if path.is_dir():
        checkpoint = runs.load_checkpoint(path)
        return Source(f"the run {path}", _tensors(checkpoint.get("model"), path), {"spec": checkpoint.get("spec")})
    if not path.exists():
        raise WeightsError(f"init.weights: {source} is not a file or a run folder.\n"
                           f"  Give {TORCHVISION}<Weights>.<NAME> (torchvision's, e.g. "
                           f"{TORCHVISION}ResNet18_Weights.IMAGENET1K_V1), a run folder, or a .pt/.pth state dict.")
    if path.suffix not in STATE_FILES or not path.is_file():
        raise WeightsError(f"init.weights: {path} is not a state-dict file ({', '.join(STATE_FILES)}).\n"
                           "  Save one with torch.save(model.state_dict(), 'weights.pt'), or give a run folder.")
    try:
        payload = runs.load_safely(path, made_by="A state dict holds tensors only.")
    except runs.RunError as exc:
        raise WeightsError(str(exc)) from None
    if isinstance(payload, dict) and payload.get("format") == runs.CHECKPOINT_FORMAT:   # a checkpoint.pt
        payload = payload.get("model")
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):     # as Lightning saves
        payload = payload["state_dict"]
    return Source(f"the file {path}", _tensors(payload, path), {})


def _tensors(payload, where) -> dict[str, torch.Tensor]:
    if not (isinstance(payload, dict) and payload
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items())):
        raise WeightsError(f"{where} holds no state dict (a mapping of names to tensors).\n"
                           "  Save one with torch.save(model.state_dict(), 'weights.pt').")
    return dict(payload)


def torchvision_weights(name: str):
    """torchvision's weights enum member for ``ResNet18_Weights.IMAGENET1K_V1``; WeightsError if none."""
    from torchvision import models

    try:
        return models.get_weight(name)
    except (ValueError, KeyError, AttributeError, TypeError):
        pass
    known = [f"{type(w).__name__}.{w.name}" for model in models.list_models(module=models)
             for w in models.get_model_weights(model)]
    raise WeightsError(f"init.weights: torchvision has no weights named {name}.{did_you_mean(name, known)}\n"
                       f"  Name them as torchvision does, e.g. {TORCHVISION}ResNet18_Weights.IMAGENET1K_V1 "
                       "(torchvision.models.get_model_weights('resnet18') lists a model's).")


def default_weights(builder: str) -> str | None:
    """torchvision's default weights for its builder ``builder`` (a zoo spec's name), as init.weights
    names them (``torchvision:ResNet18_Weights.IMAGENET1K_V1``); None where it has none."""
    from torchvision import models

    try:
        weights = models.get_model_weights(builder).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None
    return f"{TORCHVISION}{type(weights).__name__}.{weights.name}"


def cached_file(weights) -> Path:
    """Where torch's hub cache keeps ``weights``' file: $TORCH_HOME/hub/checkpoints/<its file name>."""
    from urllib.parse import urlparse

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def _torchvision(name: str, download: bool) -> Source:
    weights = torchvision_weights(name)
    words = f"torchvision's {type(weights).__name__}.{weights.name}"
    path = cached_file(weights)
    if not path.exists():
        why = "downloading is switched off"
        if download:
            try:   # torch's hub: a progress bar, the file's hash checked, written whole into the cache
                torch.hub.load_state_dict_from_url(weights.url, progress=True, check_hash=True, weights_only=True)
            except Exception as exc:  # network errors come in many types
                why = f"downloading it failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        if not path.exists():
            raise WeightsError(f"{words} are not in {path.parent}, and {why}.\n"
                               f"  Put {path.name} (from {weights.url}) in {path.parent}, or set TORCH_HOME to "
                               "a folder whose hub/checkpoints holds it.")
    try:
        tensors = runs.load_safely(path, made_by="torchvision's weights hold tensors only.")
    except runs.RunError as exc:
        raise WeightsError(str(exc)) from None
    return Source(words, _tensors(tensors, path), dict(weights.meta, transforms=weights.transforms))


def preprocessing(source: Source) -> dict | None:
    """What torchvision's weights document of their preprocessing (their ``transforms()``): the
    mean and std, the crop (crop size over resize size: 224/256 = 0.875) and the crop's size;
    None for weights that document none (a run, a file)."""
    make = source.meta.get("transforms")
    if make is None:
        return None
    t = make()
    crop, resize = getattr(t, "crop_size", None), getattr(t, "resize_size", None)
    return {"mean": [float(v) for v in t.mean], "std": [float(v) for v in t.std],
            "crop": round(crop[0] / resize[0], 6) if crop and resize else None, "size": crop[0] if crop else None}


def follow(spec, source: Source):
    """``spec`` with the weights' documented preprocessing as its image folder's defaults (the mean,
    std and crop the spec leaves out), and the notes that say so; other datasets keep their own."""
    from playground.format.datasets import IMAGE_FOLDER

    pre = preprocessing(source)
    data = spec.data
    if pre is None or data.dataset != IMAGE_FOLDER or spec.input is None or spec.input.channels != len(pre["mean"]):
        return spec, []
    update = {key: pre[key] for key in ("mean", "std", "crop") if getattr(data, key) is None and pre[key] is not None}
    notes = []
    if update:
        notes.append(f"preprocessing from {source.words}: " + ", ".join(
            f"{key} {_short(value)}" for key, value in update.items())
            + " (data." + ", data.".join(update) + " in the spec override it)")
    if pre["size"] and (spec.input.height, spec.input.width) != (pre["size"], pre["size"]):
        notes.append(f"{source.words} were trained on {pre['size']}x{pre['size']} crops; the spec's input is "
                     f"{spec.input.height}x{spec.input.width}")
    if not update:
        return spec, notes
    return spec.model_copy(update={"data": data.model_copy(update=update)}), notes


def _short(value) -> str:
    return f"[{', '.join(f'{v:g}' for v in value)}]" if isinstance(value, list) else f"{value:g}"


def head_keys(model: torch.nn.Module) -> list[str]:
    """The state-dict keys of the model's head: the last module, in registration order, that holds
    parameters of its own."""
    last = None
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            last = name
    if last is None:
        return []
    prefix = f"{last}." if last else ""
    return [key for key, _ in model.named_parameters() if key.startswith(prefix) and "." not in key[len(prefix):]]


def match(model: torch.nn.Module, source: Source, skip: list[str] = ()) -> Matched:
    """Pair ``source``'s tensors with ``model``'s state dict by the module's rule; WeightsError naming
    the first tensor that does not fit."""
    ours = model.state_dict()
    theirs = source.tensors
    missing = [key for key in ours if key not in theirs and not any(inside(key, s) for s in skip)]
    by_name = not missing
    if by_name:   # every tensor the model takes is named in the source: a playground model's
        extra = [key for key in theirs if key not in ours and not any(inside(key, s) for s in skip)]
        if extra:
            raise WeightsError(f"{extra[0]}: in the weights, not in the spec ({source.words}).\n  {_fit_hint(skip)}")
        named = [(key, key, theirs.get(key)) for key in ours if key in theirs]
    elif len(theirs) == len(ours):   # named otherwise: in order, as the zoo specs register torchvision's
        named = [(key, their_key, tensor) for key, (their_key, tensor) in zip(ours, theirs.items(), strict=True)]
    else:
        raise WeightsError(f"{missing[0]}: in the spec, not in the weights, and {source.words} hold "
                           f"{len(theirs)} tensors against the spec's {len(ours)}: they are not the same network.\n"
                           f"  {_fit_hint(skip)}")
    head = set(head_keys(model))
    pairs, fresh = {}, {}
    for key, their_key, tensor in named:
        if any(inside(key, s) for s in skip):
            fresh[key] = "init.skip"
            continue
        mine = ours[key]
        if tuple(tensor.shape) != tuple(mine.shape):
            if key in head and tensor.dim() == mine.dim() and tensor.shape[1:] == mine.shape[1:]:
                fresh[key] = f"the head: {mine.shape[0]:,} outputs in the spec, {tensor.shape[0]:,} in the weights"
                continue
            named_as = "" if by_name or their_key == key else f" (the weights' {their_key})"
            raise WeightsError(f"{key}: {fmt(tuple(mine.shape))} in the spec, {fmt(tuple(tensor.shape))} in the "
                               f"weights{named_as} ({source.words}).\n  {_fit_hint(skip)}")
        pairs[key] = tensor
    return Matched(pairs, fresh, by_name)


def _fit_hint(skip) -> str:
    return ("Use the spec these weights were trained with (for torchvision's, the zoo spec of the same name), "
            "or name the layers to leave fresh in init.skip" + (f" (now {', '.join(skip)})" if skip else "") + ".")


def load_into(model: torch.nn.Module, source: Source, skip: list[str] = ()) -> list[str]:
    """Copy the matched tensors into ``model`` (in place, in the model's dtype); the notes a run
    prints about it."""
    matched = match(model, source, skip)
    ours = model.state_dict()
    with torch.no_grad():
        for key, tensor in matched.pairs.items():
            ours[key].copy_(tensor)
    notes = [f"weights from {source.words}: {len(matched.pairs)} tensors loaded"
             + (" by name" if matched.by_name else " in order")]
    fresh_layers = sorted({key.rsplit(".", 1)[0] for key in matched.fresh})
    if fresh_layers:
        whys = sorted(set(matched.fresh.values()))
        notes.append(f"left freshly initialized: {', '.join(fresh_layers)} ({'; '.join(whys)})")
    return notes
