"""Run folders: everything a training run leaves behind, written atomically.

    runs/<spec name>-<YYYYmmdd-HHMMSS>/
      spec.yaml        the resolved spec (defaults and overrides written out)
      metrics.jsonl    one JSON line per finished epoch
      checkpoint.pt    weights, optimizer, RNG state, epoch and spec; loads
                       with torch.load(weights_only=True)
      run.json         status (running, completed, stopped, failed, interrupted),
                       device, settings, parameter count, latest accuracy: a
                       RunInfo, the one layout its writer and readers share
"""

from __future__ import annotations

import io
import json
import pickle
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from playground.core import processes
from playground.core.errors import PlaygroundError
from playground.core.fileio import atomic_write, atomic_write_text

SPEC_FILE = "spec.yaml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
INFO_FILE = "run.json"
CHECKPOINT_FORMAT = 1
DEFAULT_RUNS = "runs"


class RunError(PlaygroundError, RuntimeError):
    """A run folder that is missing, not a run, or damaged."""


def new_run_dir(spec_name: str, out: str | Path | None = None, base: str | Path = DEFAULT_RUNS) -> Path:
    """Create the run folder: ``out`` if given (it must be new or empty), else
    ``<base>/<spec name>-<timestamp>``. Never reuses a folder holding a run."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunError(f"{path} already exists and is not empty.\n"
                           f"  Pick a new --out folder, or continue that run with --resume {path}.")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = Path(base) / (f"{spec_name}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a run folder under {base}")


def write_spec(run_dir: Path, spec_dict: dict) -> None:
    atomic_write_text(run_dir / SPEC_FILE, yaml.safe_dump(spec_dict, sort_keys=False))


# What --resume may change in a run's spec without it being another run.
RESUME_SETTINGS = ("train.epochs", "train.device")


def spec_edits(run_dir: Path, checkpoint_spec: dict) -> list[str]:
    """The fields in which the run's spec.yaml differs from the spec its checkpoint was trained with
    (the truth about the weights), beyond what --resume sets; [] when they agree or spec.yaml cannot
    be read as a mapping (a missing file edits nothing)."""
    from playground.format.paths import flatten

    try:
        edited = yaml.safe_load((Path(run_dir) / SPEC_FILE).read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return []
    if not isinstance(edited, dict):
        return []
    ours, theirs = flatten(checkpoint_spec), flatten(edited)
    return sorted(k for k in set(ours) | set(theirs)
                  if ours.get(k) != theirs.get(k) and not k.startswith(RESUME_SETTINGS))


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in rows))


def read_metrics(run_dir: Path) -> list[dict]:
    """metrics.jsonl's rows, one JSON object per finished epoch ([] before the first); RunError naming
    the file and line when it is not what a run writes (a half line, a number too long, a folder)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    fix = ("  Delete the damaged line (each whole line is one epoch's record; the checkpoint holds the weights), "
           "or move the file away to keep no history.")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} cannot be read: {json_problem(exc)}.\n{fix}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise RunError(f"{path}, line {n}, is damaged: {json_problem(exc)}.\n{fix}") from None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise RunError(f"{path}, line {n}, is damaged: not an epoch's record (a JSON object with its epoch)."
                           f"\n{fix}")
        rows.append(row)
    return rows


def json_problem(exc: BaseException) -> str:
    """What is wrong with a file read as JSON, in a few words (never Python's advice on how to read it anyway)."""
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
        return f"not JSON ({exc.msg[0].lower() + exc.msg[1:]}, {where})"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return "it holds a number too long to be one a run writes"
    return str(exc)


def write_info(run_dir: Path, info: dict) -> None:
    atomic_write_text(run_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")


def read_info(run_dir: Path) -> dict:
    path = Path(run_dir) / INFO_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{run_dir} is not a run folder (no {INFO_FILE}).") from None
    except (OSError, ValueError) as exc:   # not JSON, or not UTF-8 text
        raise RunError(f"{path} is damaged: {json_problem(exc)}.") from None


_TEXT, _NUMBER, _NOTES = "text", "number", "notes"
# Fields written only once the run has ended: a running run's run.json has none of them.
ENDING_FIELDS = ("updated", "seconds", "error")
UNSET_LEFT_OUT = ("startup_seconds", "startup", *ENDING_FIELDS)   # written only once known


@dataclass(frozen=True)
class RunInfo:
    """run.json's layout: what a run trains and how far it got. The trainer
    writes it (``to_json``) and the runs listing reads it (``from_json``).

    Reading is tolerant: a field an older run did not record reads as its
    default, and a value of the wrong kind (a damaged file) reads as missing,
    its name kept in ``damaged`` (which is never written)."""

    spec: str | None = None
    status: str | None = None          # running, completed, stopped, failed, interrupted
    device: str | None = None          # in words, e.g. "cpu, 2 threads, contiguous, float32"
    world_size: int | None = 1         # processes; runs from before it was recorded had one
    backend: str | None = None         # "gloo" or "nccl" under torchrun
    params: int | None = None
    macs: int | None = None
    dataset: str | None = None
    epochs: int | None = None          # asked for
    epochs_done: int | None = None     # fully done
    epochs_trained: float | None = None   # including the part of an epoch a stop cut short, e.g. 1.3
    test_accuracy: float | None = None    # 0..1, of the weights in the checkpoint
    data_root: str | None = None
    data_notes: tuple[str, ...] = ()
    started: str | None = None         # YYYY-mm-ddTHH:MM:SS
    updated: str | None = None         # when the run ended
    seconds: float | None = None       # wall time of the whole run, resumed parts included
    error: str | None = None           # why a failed run failed
    host: str | None = None            # the machine and process that write it while it runs, so a
    pid: int | None = None             # listing can tell a live run from one whose process is gone
    startup_seconds: float | None = None   # from the command to the first step (to the last start, when resumed)
    startup: str | None = None         # where those seconds went: "torch 2.71 s, data 0.31 s, ..."
    damaged: tuple[str, ...] = field(default=(), repr=False)

    KINDS: ClassVar[dict[str, str]] = {
        "spec": _TEXT, "status": _TEXT, "device": _TEXT, "world_size": _NUMBER, "backend": _TEXT,
        "params": _NUMBER, "macs": _NUMBER, "dataset": _TEXT, "epochs": _NUMBER, "epochs_done": _NUMBER,
        "epochs_trained": _NUMBER, "test_accuracy": _NUMBER, "data_root": _TEXT, "data_notes": _NOTES,
        "started": _TEXT, "host": _TEXT, "pid": _NUMBER,
        "startup_seconds": _NUMBER, "startup": _TEXT, "updated": _TEXT, "seconds": _NUMBER, "error": _TEXT}

    def to_json(self) -> dict[str, Any]:
        """The fields in run.json's order; the start-up and ending fields only once set."""
        out: dict[str, Any] = {}
        for name in self.KINDS:
            value = getattr(self, name)
            if name in UNSET_LEFT_OUT and value is None:
                continue
            out[name] = list(value) if name == "data_notes" else value
        return out

    @classmethod
    def from_json(cls, data: Any) -> RunInfo:
        """run.json's parsed content as a RunInfo; ValueError when it is not a mapping."""
        if not isinstance(data, Mapping):
            raise ValueError("not the JSON mapping a run writes")
        values, damaged = {}, []
        for name, kind in cls.KINDS.items():
            if name not in data:
                continue
            value = data[name]
            if kind == _NOTES:
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    values[name] = tuple(value)
                elif value is not None:
                    damaged.append(name)
            elif value is None or _is_kind(value, kind):
                values[name] = value
            else:
                damaged.append(name)
        return cls(**values, damaged=tuple(damaged))


def _is_kind(value: Any, kind: str) -> bool:
    if kind == _TEXT:
        return isinstance(value, str)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    write_info(run_dir, info.to_json())


def read_run_info(run_dir: Path) -> RunInfo:
    """The run's run.json as a RunInfo; RunError when it is missing, not JSON or not a mapping."""
    data = read_info(run_dir)
    try:
        return RunInfo.from_json(data)
    except ValueError as exc:
        raise RunError(f"{Path(run_dir) / INFO_FILE} is damaged: {exc}.") from None


def save_checkpoint(run_dir: Path, payload: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buffer)
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: f.write(buffer.getbuffer()))


def load_safely(path: Path, map_location: Any = "cpu", made_by: str = "") -> Any:
    """A file torch saved, loaded with weights_only=True (tensors and plain data only: nothing
    in it can run code); RunError naming the file for anything else. ``made_by``: a sentence on
    what such a file holds, for the message about a file that holds a Python object."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:   # torch's advice (weights_only=False) is wrong for such a file
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise RunError(f"{path} cannot be loaded safely: it holds the Python object {found.group(1)}, and "
                           f"loading it could run code, so playground will not load it. {made_by}".rstrip()) \
                from None
        raise RunError(f"{path} cannot be loaded safely: it is not a file torch can read as tensors and "
                       "plain data (damaged, or not saved by torch).") from None
    except Exception as exc:
        raise RunError(f"{path} cannot be loaded safely: {type(exc).__name__}: {exc}") from None


def load_checkpoint(run_dir: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The run's checkpoint, loaded safely (weights_only=True: tensors and plain data only)."""

    path = Path(run_dir) / CHECKPOINT_FILE
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir} is not a folder; give a run folder such as runs/mnist_cnn-20260101-120000.")
    if not path.exists():
        raise RunError(f"{run_dir} has no {CHECKPOINT_FILE}: the run stopped before its first checkpoint.")
    payload = load_safely(path, map_location, "A checkpoint playground writes holds tensors and plain data only: "
                                              "this file was made elsewhere or changed.")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} is not a playground checkpoint (format {CHECKPOINT_FORMAT}).")
    return payload


def check_resumable(run_dir: Path) -> None:
    """Refuse, naming the file (and line), a run folder whose records --resume reads or writes but
    cannot: run.json, metrics.jsonl and spec.yaml as files of the kind a run writes. Changes nothing."""
    run_dir = Path(run_dir)
    for name in (SPEC_FILE, METRICS_FILE, INFO_FILE):
        path = run_dir / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise RunError(f"{path} is not a regular file (a folder, a link or a device), and --resume writes "
                           f"the run's {name} there.\n  Move it away and resume again.")
    read_run_info(run_dir)
    read_metrics(run_dir)


def process_gone(info: RunInfo) -> bool:
    """Whether a run that says ``running`` was written by a process of this machine that no longer
    exists (killed with -9, its machine restarted): it will never finish. False where it cannot tell
    (another machine, an older run without a pid)."""
    if info.status != "running" or not isinstance(info.pid, int) or info.host != processes.host():
        return False
    return processes.gone(info.pid)


def checkpoint_problem(run_dir: Path) -> str | None:
    """What is wrong with a run's checkpoint file (missing, empty, cut short, not a checkpoint, or
    holding a Python object that loading it would run), without loading it or importing torch: a
    zip's directory is at its end, so a truncated one has none, and the pickle inside names every
    object it would build. None when it is a whole checkpoint of tensors and plain data."""
    import zipfile

    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return f"no {CHECKPOINT_FILE}"
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            foreign = _foreign_object(archive.read(pickles[0])) if len(pickles) == 1 else "no single pickle"
    except (OSError, zipfile.BadZipFile, ValueError, KeyError):
        return f"{CHECKPOINT_FILE} is cut short or not a checkpoint"
    if foreign is not None:
        return f"{CHECKPOINT_FILE} holds the Python object {foreign}: it will not be loaded"
    return None


# What torch.save writes for tensors and plain data: anything else in a checkpoint's pickle is code.
_PLAIN = {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device")}


def _foreign_object(data: bytes) -> str | None:
    """The first object a pickle would build that is not a tensor, a storage or plain data; None
    when there is none. Protocol 4's STACK_GLOBAL reads its names from the two strings before it."""
    import pickletools

    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
            elif op.name == "STACK_GLOBAL":
                module, name = (strings[-2], strings[-1]) if len(strings) >= 2 else ("?", "?")
            else:
                if isinstance(arg, str):
                    strings.append(arg)
                continue
            plain = ((module, name) in _PLAIN or (module == "torch" and name.endswith("Storage"))
                     or (module == "torch._utils" and name.startswith("_rebuild_")))
            if not plain:
                return f"{module}.{name}"
    except (ValueError, EOFError, KeyError) as exc:   # not a whole pickle
        raise ValueError(str(exc)) from None
    return None


def list_runs(base: str | Path = DEFAULT_RUNS) -> list[Path]:
    """Run folders under ``base``, newest first."""
    base = Path(base)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / INFO_FILE).is_file()]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)
