"""What can be exported and how: a run folder (its trained weights) or a spec
(fresh weights from its seed), written as ONNX, TorchScript, torch.export's
.pt2 or readable Python source. Each format becomes bytes in memory first, so
a file is only ever written whole (and the page can offer it for download)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from playground.check.analysis import Summary, analyze, load_checked
from playground.check.builder import build
from playground.core.errors import PlaygroundError, SpecError
from playground.export.source import python_source
from playground.format.spec import SpecBase
from playground.layers.source import Unsupported
from playground.runs import folders as runs

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported": ".pt2", "python": ".py"}
DEFAULT_OPSET = 18
OPSETS = range(14, 24)   # the opsets this torch's ONNX exporter and onnxruntime both take
EXAMPLE_BATCH = 2        # torch.export specializes a size-1 dimension; the batch stays dynamic from 2


class ExportError(PlaygroundError, RuntimeError):
    """An export that cannot be done; the message says what and how to fix it."""


@dataclass
class Exportable:
    """A model ready to export: the spec, its model in eval mode on the CPU, what it came from."""

    spec: SpecBase
    summary: Summary
    model: nn.Module
    classes: tuple[str, ...]
    origin: str          # "run RUN_DIR (epoch 3)" or "spec FILE (fresh weights, seed 1)"
    notes: tuple[str, ...] = ()   # what a person should know (a run's spec.yaml edited after training)

    @property
    def normalization(self) -> dict:
        return {"mean": self.spec.data.mean, "std": self.spec.data.std,
                "input": "N x " + "x".join(map(str, self.summary.input_shape)) + " images scaled to [0, 1], "
                         "then (x - mean) / std per channel"}


def load(source: str | Path) -> Exportable:
    """A run folder (its checkpoint's weights) or a spec file (weights from its seed)."""
    path = Path(source)
    if path.is_dir():
        return _from_run(path)
    if not path.exists():
        raise ExportError(f"{path} does not exist.\n  Give a run folder (runs/NAME-TIME) or a spec file (.yaml).")
    try:
        spec, summary = load_checked(path)
    except SpecError as err:
        raise ExportError(str(err)) from None
    return from_spec(spec, str(path), summary)


def from_spec(spec: SpecBase, where: str = "the page", summary: Summary | None = None) -> Exportable:
    """A checked spec with fresh weights: those a training run of it starts from (its seed).
    ``summary``: the check's result where the caller has it."""
    summary = summary if summary is not None else analyze(spec)
    torch.manual_seed(spec.train.seed)
    model = build(spec, summary).eval()
    info = spec.dataset
    return Exportable(spec, summary, model, info.classes if info else (),
                      f"spec {where} (fresh weights, seed {spec.train.seed})")


def _from_run(run_dir: Path) -> Exportable:
    from playground.train.inference import load_run

    if not (run_dir / runs.CHECKPOINT_FILE).exists() and not (run_dir / runs.INFO_FILE).exists():
        raise ExportError(f"{run_dir} is not a run folder (no {runs.CHECKPOINT_FILE}, no {runs.INFO_FILE}).\n"
                          "  Give a run folder (runs/NAME-TIME) or a spec file (.yaml).")
    try:
        run = load_run(run_dir, "cpu")
    except runs.RunError as exc:
        raise ExportError(f"{exc}\n  Export a run folder with a checkpoint its spec can load, or a spec file.") \
            from None
    except SpecError as exc:
        raise ExportError(f"the checkpoint in {run_dir} holds no valid spec: {exc}") from None
    notes = ()
    if run.spec_edits:
        shown = ", ".join(run.spec_edits[:5]) + (f" and {len(run.spec_edits) - 5} more" if len(run.spec_edits) > 5
                                                  else "")
        notes = (f"{run_dir / runs.SPEC_FILE} was edited after training ({shown}); this is the spec the "
                 "weights were trained with, from the checkpoint.",)
    return Exportable(run.spec, run.summary, run.model, run.classes, f"run {run_dir} (epoch {run.epoch})", notes)


class _Normalized(nn.Module):
    """The model with its input normalization inside: it takes images scaled to [0, 1]."""

    def __init__(self, model: nn.Module, mean, std, channels: int):
        super().__init__()
        self.model = model
        values = [(v if isinstance(v, list) else [v] * channels) for v in (mean, std)]
        self.register_buffer("mean", torch.tensor(values[0]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(values[1]).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def to_bytes(item: Exportable, fmt: str, *, opset: int = DEFAULT_OPSET, normalize: bool = False) -> bytes:
    """The model in format ``fmt``, as the bytes of its file."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}'.\n  Use one of: {', '.join(FORMATS)}.")
    if fmt == "python":
        if normalize:
            raise ExportError("--normalize-in-graph applies to onnx, torchscript and exported.\n"
                              "  The python file carries MEAN and STD and a preprocess() function instead.")
        try:
            return python_source(item.spec, item.summary, item.classes).encode()
        except Unsupported as exc:
            raise ExportError(f"cannot write {item.spec.name} as python source: {exc}.") from None
    model = item.model
    if normalize:
        model = _Normalized(model, item.spec.data.mean, item.spec.data.std, item.summary.input_shape[0]).eval()
    example = torch.randn(EXAMPLE_BATCH, *item.summary.input_shape)
    buffer = io.BytesIO()
    try:
        if fmt == "onnx":
            _onnx(item, model, example, buffer, opset, normalize)
        elif fmt == "torchscript":
            _torchscript(item, model, buffer, normalize)
        else:
            _exported(model, example, buffer)
    except ExportError:
        raise
    except Exception as exc:   # a layer the exporter cannot take: say which format and what it said
        raise ExportError(f"cannot export {item.spec.name} to {fmt}: {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}\n"
                          "  A layer plugin's module must be traceable by torch for this format.") from None
    return buffer.getvalue()


def metadata(item: Exportable, normalize: bool) -> dict[str, str]:
    """What a consumer needs to feed the model, as string pairs."""
    facts = {"playground.spec": item.spec.name, "playground.source": item.origin,
             "playground.input_shape": json.dumps(list(item.summary.input_shape)),
             "playground.mean": json.dumps(item.spec.data.mean), "playground.std": json.dumps(item.spec.data.std),
             "playground.normalization": "inside the graph: feed images scaled to [0, 1]" if normalize else
             "feed (x - mean) / std per channel, x: images scaled to [0, 1]"}
    if item.classes:
        facts["playground.classes"] = json.dumps(list(item.classes))
    return facts


def _onnx(item: Exportable, model: nn.Module, example: torch.Tensor, out: io.BytesIO, opset: int,
          normalize: bool) -> None:
    if opset not in OPSETS:
        raise ExportError(f"ONNX opset {opset} is out of range.\n  Use {OPSETS.start} to {OPSETS.stop - 1} "
                          f"(default {DEFAULT_OPSET}).")
    import warnings

    import onnx

    raw = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the exporter's notes on its own internals, not the user's concern
        torch.onnx.export(model, (example,), raw, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    graph = onnx.load_from_string(raw.getvalue())
    for key, value in metadata(item, normalize).items():
        graph.metadata_props.add(key=key, value=value)
    graph.doc_string = f"{item.spec.name} from playground ({item.origin})"
    onnx.checker.check_model(graph)
    out.write(graph.SerializeToString())


def _scriptable(model: nn.Module) -> nn.Module:
    """What torch.jit.script is given: a copy where the model holds a Reordered (scripting swaps each
    for a plain nn.Sequential in run order, in place, and the caller's model must stay as it is)."""
    from playground.layers.modules import Reordered

    if any(isinstance(m, Reordered) for m in model.modules()):
        import copy

        return copy.deepcopy(model)
    return model


def _torchscript(item: Exportable, model: nn.Module, out: io.BytesIO, normalize: bool) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # torch.jit.script's deprecation notice
        scripted = torch.jit.script(_scriptable(model))
        torch.jit.save(scripted, out, _extra_files={"playground.json": json.dumps(metadata(item, normalize))})


def _exported(model: nn.Module, example: torch.Tensor, out: io.BytesIO) -> None:
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, out)
