"""Export: a trained run, or a spec with fresh weights, as a file that leaves
playground: ONNX (with the input normalization in its metadata, or in the
graph), TorchScript, torch.export's .pt2, or one readable PyTorch source file.

    python -m playground.export runs/mnist_cnn-20261128-101500 --format onnx --out mnist.onnx
    playground.export("specs/zoo/resnet18.yaml", "python", "resnet18.py")

``formats`` turns a source into bytes; ``source`` writes the Python file
(from each layer's ``Layer.source``, the plugin contract in playground.layers);
``cli`` is the command. The module itself is callable, so
``playground.export(...)`` and ``from playground.export import export`` both work.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from playground.core.fileio import atomic_write, refuse_special
from playground.export.formats import DEFAULT_OPSET, FORMATS, Exportable, ExportError, from_spec, load, to_bytes


def default_out(source: str | Path, fmt: str) -> Path:
    """Where an export goes when --out is not given: next to a run's files, or named after the spec."""
    path = Path(source)
    return path / f"model{FORMATS[fmt]}" if path.is_dir() else Path(path.stem + FORMATS[fmt])


def export(source: str | Path, fmt: str, out: str | Path | None = None, *, force: bool = False,
           opset: int = DEFAULT_OPSET, normalize: bool = False, on_note=None) -> Path:
    """Export ``source`` (a run folder or a spec file) as ``fmt`` to ``out``;
    ExportError, with nothing written, when it cannot be done. ``on_note(text)`` hears what a
    person should know (a run whose spec.yaml was edited after training: the checkpoint's spec
    is exported)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'.\n  Use one of: {', '.join(FORMATS)}.")
    target = Path(out) if out is not None else default_out(source, fmt)
    if not target.parent.is_dir():
        raise ExportError(f"the folder {target.parent} does not exist.\n  Create it, or pick another --out.")
    if target.is_dir():
        raise ExportError(f"{target} is a folder.\n  Give a file name, e.g. {target / ('model' + FORMATS[fmt])}.")
    if target.exists() and not force:
        raise ExportError(f"{target} exists.\n  Use --force to replace it, or pick another --out.")
    refuse_special(target)   # a device, a pipe or a link at the target: said before the slow part
    item = load(source)
    for note in item.notes if on_note is not None else ():
        on_note(note)
    data = to_bytes(item, fmt, opset=opset, normalize=normalize)   # everything that can fail, first
    atomic_write(target, lambda f: f.write(data))
    return target


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs) -> Path:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["DEFAULT_OPSET", "FORMATS", "ExportError", "Exportable", "default_out", "export", "from_spec", "load",
           "to_bytes"]
