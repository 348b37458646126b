"""A sweep's plan: the ``--set PATH=VALUES`` lines parsed, checked against the
spec (each path exists, every value is a valid spec), and the sampler, trials
and folders chosen. Nothing here trains or opens a study."""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core.errors import PlaygroundError, SpecError
from playground.format.paths import PathError, set_path
from playground.format.yamlsource import parse

SAMPLERS = ("grid", "random", "tpe")
RANGE = re.compile(r"^\s*(loguniform|uniform|int)\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)\s*$")


class SweepError(PlaygroundError, ValueError):
    """A sweep that cannot start: a bad --set, a path that names nothing."""


@dataclass(frozen=True)
class Choice:
    path: str
    values: tuple | None = None          # a list of values
    kind: str | None = None              # or a range: loguniform, uniform, int
    low: float = 0.0
    high: float = 0.0

    def suggest(self, trial):
        if self.values is not None:
            return trial.suggest_categorical(self.path, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high))
        return trial.suggest_float(self.path, self.low, self.high, log=self.kind == "loguniform")


def parse_set(text: str) -> Choice:
    """``train.lr=[0.01, 0.1]`` or ``train.lr=loguniform(1e-4, 1e-1)``."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip():
        raise SweepError(f"--set {text!r}: write PATH=VALUES, e.g. --set train.lr=[0.01,0.05]")
    match = RANGE.match(values)
    if match:
        kind, low, high = match.groups()
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise SweepError(f"--set {text!r}: the bounds of {kind}() must be numbers") from None
        if not lo < hi or (kind == "loguniform" and lo <= 0):
            raise SweepError(f"--set {text!r}: {kind}() needs low < high" + (" and low > 0" if kind == "loguniform"
                                                                           else ""))
        return Choice(path.strip(), kind=kind, low=lo, high=hi)
    try:   # the spec reader's YAML: 1e-3 is a number here as in a spec file, and tags or aliases are refused
        parsed = parse(values).data
    except SpecError as err:
        problem = err.problems[0]
        raise SweepError(f"--set {text!r}: {problem.message}" + (f"\n  {problem.fix}" if problem.fix else "")) \
            from None
    if not isinstance(parsed, list) or not parsed:
        raise SweepError(f"--set {text!r}: VALUES is a YAML list such as [0.01, 0.05], or a range: "
                         "loguniform(1e-4, 1e-1), uniform(0, 0.5), int(8, 64)")
    return Choice(path.strip(), values=tuple(parsed))


def candidate(doc: dict, values: dict[str, Any]) -> dict:
    out = copy.deepcopy(doc)
    for path, value in values.items():
        try:
            set_path(out, path, value)
        except PathError as err:
            raise SweepError(f"--set {err}") from None
    return out


def _unknown_field(err: SpecError) -> str | None:
    """A check message that says a --set path names no field (not a value that does not fit)."""
    for problem in err.problems:
        if "unknown key" in problem.message:
            return str(err)
    return None


@dataclass(frozen=True)
class Plan:
    """A sweep, checked and ready to run: the base spec document, the fields
    to vary, the sampler, how many trials, and where the study and runs live."""
    doc: dict
    choices: tuple[Choice, ...]
    sampler: str
    total: int
    study: str
    folder: Path
    storage: str
    epochs: int | None = None
    data_dir: str | None = None
    download: bool = True      # a missing built-in dataset is downloaded


def plan(doc: Any, sets: list[str], *, sampler: str | None = None, trials: int | None = None,
         study: str | None = None, out: str | Path | None = None, storage: str | None = None,
         epochs: int | None = None, data_dir: str | None = None, download: bool = True,
         sweeps_base: str | Path = "sweeps") -> Plan:
    """Check a sweep before anything runs. ``doc`` is the base spec: its parsed
    document, or a spec file's path (then its problems name the file's lines).
    SweepError for a bad --set, a path that names no field or a sampler that
    cannot take the values; SpecError (located) when the base spec itself does
    not pass the check."""
    from playground.check.analysis import load_spec
    from playground.format.datasets import data_root
    from playground.format.loader import read_document

    root = data_root(data_dir)   # where the trials will look for an image folder
    source = doc
    if isinstance(doc, (str, os.PathLike)):
        doc = read_document(doc)

    choices = tuple(parse_set(s) for s in sets)
    if not choices:
        raise SweepError("give at least one field to vary: PATH=VALUES, e.g. train.lr=[0.01,0.05]")
    paths = [c.path for c in choices]
    if len(set(paths)) < len(paths):
        raise SweepError(f"a field is given twice: {', '.join(sorted({p for p in paths if paths.count(p) > 1}))}")
    if not isinstance(doc, dict):
        raise SweepError("the spec is not a YAML mapping of sections (name, input, layers, ...)")
    spec = load_spec(source, data_root=root)   # the file itself where there is one: its lines
    sampler = sampler or ("grid" if all(c.values is not None for c in choices) else "tpe")
    if sampler not in SAMPLERS:
        raise SweepError(f"unknown sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
    if sampler == "grid" and any(c.values is None for c in choices):
        raise SweepError("the grid sampler needs a list of values for every field (for ranges use tpe or random)")
    if trials is not None and trials < 1:
        raise SweepError(f"trials must be at least 1. Received: {trials}")
    if epochs is not None and epochs < 1:
        raise SweepError(f"epochs must be at least 1. Received: {epochs}")
    first = {c.path: (c.values[0] if c.values is not None else c.low) for c in choices}
    try:
        load_spec(candidate(doc, first), data_root=root)
    except SpecError as err:   # a value that does not fit is the trial's to refuse; a path to nothing is ours
        unknown = _unknown_field(err)
        if unknown:
            raise SweepError(f"a path names no field:\n{unknown}") from None
    name = study or spec.name
    folder = Path(out) if out is not None else Path(sweeps_base) / name
    points = math.prod(len(c.values) for c in choices) if all(c.values is not None for c in choices) else None
    if trials is not None and points is not None and trials > points:   # a trial at a point taken gives way
        raise SweepError(f"--trials {trials}: the values given make {points} distinct points, and each trains once."
                         f"\n  Give --trials {points} or fewer, or more values (or a range for the tpe or random "
                         "sampler).")
    total = trials or (points if sampler == "grid" else min(10, points or 10))
    return Plan(doc, choices, sampler, total, name, folder,
                storage or f"sqlite:///{(folder / 'study.db').resolve()}", epochs, data_dir, download)


def setting(c: Choice) -> str:
    """'train.lr=[0.01, 0.05]' or 'train.lr=loguniform(0.001, 0.1)': a choice as the summary and a study record it."""
    return f"{c.path}={list(c.values)}" if c.values is not None else f"{c.path}={c.kind}({c.low:g}, {c.high:g})"
