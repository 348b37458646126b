"""Run folders: everything a training run leaves behind, written atomically.

    runs/<spec name>-<YYYYmmdd-HHMMSS>/
      spec.yaml        the resolved spec (defaults and overrides written out)
      metrics.jsonl    one JSON line per finished epoch
      checkpoint.pt    weights, optimizer, RNG state, epoch and spec; loads
                       with torch.load(weights_only=True)
      run.json         status (running, completed, stopped, failed), device,
                       settings, parameter count, latest accuracy
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import yaml

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


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    atomic_write_text(run_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in rows))


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_info(run_dir: Path, info: dict) -> None:
    atomic_write_text(run_dir / INFO_FILE, json.dumps(info, indent=2) + "\n")


def read_info(run_dir: Path) -> dict:
    path = Path(run_dir) / INFO_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{run_dir} is not a run folder (no {INFO_FILE}).") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is damaged: {exc}") from None


def save_checkpoint(run_dir: Path, payload: dict[str, Any]) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buffer)
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: f.write(buffer.getbuffer()))


def load_checkpoint(run_dir: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The run's checkpoint, loaded safely (weights_only=True: tensors and plain data only)."""
    import torch

    path = Path(run_dir) / CHECKPOINT_FILE
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir} is not a folder; give a run folder such as runs/mnist_cnn-20260101-120000.")
    if not path.exists():
        raise RunError(f"{run_dir} has no {CHECKPOINT_FILE}: the run stopped before its first checkpoint.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise RunError(f"{path} cannot be loaded safely: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} is not a playground checkpoint (format {CHECKPOINT_FORMAT}).")
    return payload


def list_runs(base: str | Path = DEFAULT_RUNS) -> list[Path]:
    """Run folders under ``base``, newest first."""
    base = Path(base)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if (p / INFO_FILE).is_file()]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)
