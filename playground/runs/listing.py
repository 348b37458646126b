"""Run folders as a record: one row per run (what it trained, how far, how
well), and the differences between runs' resolved specs.

    python -m playground.runs [RUNS_DIR] [--sort accuracy] [--json]
    python -m playground.compare RUN RUN...

Rows come from ``run.json`` and ``metrics.jsonl`` alone (no model is built),
so listing a thousand runs is quick. A damaged or half-written folder is a
row that says so, never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playground.core import texts
from playground.format.paths import flatten
from playground.runs import folders as runs

RUN_FILES = (runs.INFO_FILE, runs.SPEC_FILE, runs.METRICS_FILE, runs.CHECKPOINT_FILE)


@dataclass(frozen=True)
class RunRecord:
    folder: str
    spec: str | None = None
    status: str | None = None
    dataset: str | None = None
    params: int | None = None
    macs: int | None = None
    epochs_done: float | None = None
    best_accuracy: float | None = None
    last_accuracy: float | None = None
    seconds: float | None = None
    device: str | None = None
    world_size: int | None = None
    started: str | None = None
    problem: str | None = None     # why the folder could not be read in full


def read_record(folder: Path) -> RunRecord:
    """The row of one run folder; ``problem`` says what is missing or damaged."""
    if not (folder / runs.INFO_FILE).exists():
        return RunRecord(str(folder), problem=f"no {runs.INFO_FILE}: ended before it started")
    try:
        info = runs.read_run_info(folder)
    except runs.RunError:   # not JSON, not UTF-8, not a mapping
        return RunRecord(str(folder), problem=f"{runs.INFO_FILE} is damaged")
    problems = []
    if info.damaged:   # values of the wrong kind: read as missing, and said
        problems.append(f"{runs.INFO_FILE}'s {', '.join(info.damaged)} {'is' if len(info.damaged) == 1 else 'are'}"
                        " damaged")
    try:
        metrics = runs.read_metrics(folder)
    except runs.RunError as exc:
        metrics = []
        problems.append(str(exc).splitlines()[0].replace(str(folder / runs.METRICS_FILE), runs.METRICS_FILE))
    status = info.status
    if runs.process_gone(info):   # killed with -9: it says running, and never will finish
        status = "interrupted"
        problems.append("its process is gone; --resume continues it")
    if status in ("completed", "stopped", "interrupted") and (broken := runs.checkpoint_problem(folder)):
        problems.append(broken)
    accuracies = [m["test_accuracy"] for m in metrics if isinstance(m, dict) and "test_accuracy" in m]
    last = accuracies[-1] if accuracies else info.test_accuracy
    # the best of every accuracy measured: a run stopped before its first epoch ended has
    # only the one taken at the stop (it read "best —" beside "last 85.96%")
    best = max([*accuracies, *([last] if last is not None else [])], default=None)
    dataset = info.dataset
    if dataset is None:   # runs from before run.json named it: read the resolved spec
        dataset = _spec_dataset(folder)
    return RunRecord(
        str(folder), info.spec, status, dataset, info.params, info.macs,
        info.epochs_trained if info.epochs_trained is not None else info.epochs_done,   # older runs: whole epochs
        best, last,
        info.seconds, info.device, info.world_size, info.started, "; ".join(problems) or None)


def _spec_dataset(folder: Path) -> str | None:
    try:
        data = resolved_spec(folder).get("data") or {}
    except (OSError, ValueError):
        return None
    return data.get("dataset", "mnist") if isinstance(data, dict) else None


def list_records(base: str | Path = runs.DEFAULT_RUNS) -> list[RunRecord]:
    """Every folder under ``base`` that holds any run file, newest first."""
    base = Path(base)
    if not base.is_dir():
        return []
    folders = [p for p in base.iterdir() if p.is_dir() and any((p / f).exists() for f in RUN_FILES)]
    rows = [read_record(p) for p in sorted(folders, key=lambda p: p.name)]
    return sorted(rows, key=lambda r: r.started or "", reverse=True)   # newest first; unreadable ones last


SORTS = {
    "accuracy": lambda r: (r.best_accuracy is None, -(r.best_accuracy or 0.0)),
    "time": lambda r: (r.seconds is None, r.seconds or 0.0),
    "params": lambda r: (r.params is None, r.params or 0),
    "name": lambda r: (r.spec or "", r.folder),
    "started": lambda r: 0,   # list_records' order: newest first
}

COLUMNS = ("run", "spec", "status", "dataset", "params", "MACs", "epochs", "best acc", "last acc", "time",
           "device", "procs")


def row_texts(r: RunRecord) -> tuple[str, ...]:
    status = r.status or "?"
    if r.problem:
        status = f"damaged: {r.problem}" if r.status is None else f"{status} ({r.problem})"
    device = (r.device or "—").split(",")[0]
    return (Path(r.folder).name, r.spec or "—", status, r.dataset or "—", texts.count(r.params), texts.count(r.macs),
            f"{r.epochs_done:g}" if isinstance(r.epochs_done, (int, float)) else "—",
            texts.percent(r.best_accuracy), texts.percent(r.last_accuracy), texts.duration(r.seconds), device,
            str(r.world_size) if r.world_size else "—")


def table(records: list[RunRecord]) -> str:
    """The runs as an aligned text table (numbers right-aligned)."""
    return texts.aligned([COLUMNS, *(row_texts(r) for r in records)], right={4, 5, 6, 7, 8, 9, 11}, rule=True)


def as_json(records: list[RunRecord]) -> str:
    return json.dumps([asdict(r) for r in records], indent=2)


# -- comparing specs ------------------------------------------------------------

def resolved_spec(folder: Path) -> dict:
    """A run folder's resolved spec as plain data; OSError or ValueError when it cannot be read."""
    import yaml

    try:
        data = yaml.safe_load((Path(folder) / runs.SPEC_FILE).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{runs.SPEC_FILE} is not YAML: {exc}") from None
    return data if isinstance(data, dict) else {}


def trained_spec(folder: Path, spec: dict) -> tuple[dict, list[str]]:
    """The spec a run's weights were trained with, and the fields in which ``spec`` (its spec.yaml)
    was edited since: the checkpoint's spec when the two differ, else ``spec`` as it is (also when
    there is no checkpoint to ask, or it cannot be loaded: the listing says why)."""
    if runs.checkpoint_problem(folder) is not None:
        return spec, []
    try:
        checkpoint = runs.load_checkpoint(folder)
    except runs.RunError:
        return spec, []
    trained = checkpoint.get("spec")
    if not isinstance(trained, dict):   # a checkpoint that does not say: spec.yaml is all there is
        return spec, []
    edits = runs.spec_edits(folder, trained)
    return (trained, edits) if edits else (spec, [])


MISSING = "—"


def spec_diff(specs: list[dict]) -> list[tuple[str, list[Any]]]:
    """The paths whose values differ between the specs, with each spec's value, in
    the specs' own order: each section, layer and field where it first comes in
    any of them (a field only the second spec's layers[0] has is listed with
    layers[0], not after train.*). ``name`` is among them when the names differ
    (``diff_text`` says it only when nothing else differs)."""
    flat = [flatten(s) for s in specs]
    rank: dict[tuple, int] = {}
    for f in flat:
        for path in f:
            parts = tuple(_PART.findall(path))
            for n in range(1, len(parts) + 1):
                rank.setdefault(parts[:n], len(rank))
    paths = sorted({p: None for f in flat for p in f},
                   key=lambda p: [rank[parts[:n]] for parts in [tuple(_PART.findall(p))]
                                  for n in range(1, len(parts) + 1)])
    return [(p, [f.get(p, MISSING) for f in flat]) for p in paths
            if len({json.dumps(f.get(p, MISSING), sort_keys=True) for f in flat}) > 1]


_PART = re.compile(r"\[\d+\]|[^.\[]+")   # 'layers[3].type' -> 'layers', '[3]', 'type'


def diff_text(names: list[str], diff: list[tuple[str, list[Any]]]) -> str:
    """``train.lr: 0.01 -> 0.05`` for two runs; a table with a column per run for more."""
    if not diff:
        return "The resolved specs are the same."
    if [path for path, _ in diff] == ["name"]:
        return "The resolved specs are the same except their names: " + ", ".join(map(_show, diff[0][1])) + "."
    diff = [(path, values) for path, values in diff if path != "name"]   # the names are the runs' own
    if len(names) == 2:
        return "\n".join(f"{path}: {_show(a)} -> {_show(b)}" for path, (a, b) in diff)
    return texts.aligned([("field", *names), *((path, *(_show(v) for v in values)) for path, values in diff)])


def _show(value: Any) -> str:
    return value if value == MISSING else json.dumps(value)


def curves_text(names: list[str], metrics: list[list[dict]]) -> str:
    """Each run's test accuracy and train loss per epoch, side by side."""
    epochs = max((len(m) for m in metrics), default=0)
    header = ["epoch", *(f"{n} acc" for n in names), *(f"{n} loss" for n in names)]
    rows = [header]
    for e in range(epochs):
        acc = [texts.percent(m[e]["test_accuracy"]) if e < len(m) else "" for m in metrics]
        loss = [f"{m[e]['train_loss']:.4f}" if e < len(m) else "" for m in metrics]
        rows.append([str(e + 1), *acc, *loss])
    return texts.aligned(rows, right=range(len(header)))
