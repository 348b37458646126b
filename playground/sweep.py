"""python -m playground.sweep SPEC --set PATH=VALUES ...: variants of a spec,
trained as ordinary runs, searched on Optuna.

    python -m playground.sweep specs/mnist_cnn.yaml --set train.lr=[0.01,0.05] \\
        --set layers.conv1.out_channels=[10,20] --epochs 2

``PATH`` names a spec field: ``train.lr``, ``data.batch_size``,
``layers.conv1.out_channels`` (a layer by its name), deeper through blocks by
names too (``blocks.basic.layers.conv1.kernel_size``, ``layers.layer2.with.width``).
``VALUES`` is a YAML list, or for the random and TPE samplers a range:
``loguniform(1e-4, 1e-1)``, ``uniform(0, 0.5)``, ``int(8, 64)``.

Optuna's study holds the state (a SQLite file in the sweep folder, or any
Optuna storage URL shared by workers on several machines, each started with
the same command). Every trial is a run folder ``trial-NNN`` in the sweep
folder; a candidate the static check refuses is recorded with its message
and trains nothing; weak trials are pruned after an epoch (median pruner).
The sweep folder ends with ``summary.txt`` (best first) and ``best.yaml``.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from playground import texts
from playground.errors import SpecError, did_you_mean
from playground.fileio import atomic_write_text

SAMPLERS = ("grid", "random", "tpe")
RANGE = re.compile(r"^\s*(loguniform|uniform|int)\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)\s*$")


class SweepError(ValueError):
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
    try:
        parsed = yaml.safe_load(values)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, list) or not parsed:
        raise SweepError(f"--set {text!r}: VALUES is a YAML list such as [0.01, 0.05], or a range: "
                         "loguniform(1e-4, 1e-1), uniform(0, 0.5), int(8, 64)")
    return Choice(path.strip(), values=tuple(parsed))


_STEP = re.compile(r"[^.\[\]]+")


def set_path(doc: dict, path: str, value: Any) -> None:
    """Set the field ``path`` of a spec document; list items are found by their
    ``name`` (layers, block layers), never by position."""
    parts = _STEP.findall(path)
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[:i])
        if isinstance(node, list):
            named = {item.get("name"): item for item in node if isinstance(item, dict) and item.get("name")}
            if part not in named:
                raise SweepError(f"--set {path}: {where or 'the spec'} has no layer named '{part}'."
                                 f"{did_you_mean(part, named)} Layers are addressed by their names "
                                 f"({', '.join(named) or 'none is named: add name: to the layer'}).")
            node = named[part]
        elif isinstance(node, dict):
            if part not in node:
                if i == 0 and part in ("train", "data", "budget"):   # a section left out: its defaults
                    node[part] = {}
                else:
                    raise SweepError(f"--set {path}: {where or 'the spec'} has no '{part}'."
                                     f"{did_you_mean(part, node)}")
            node = node[part]
        else:
            raise SweepError(f"--set {path}: {'.'.join(parts[:i + 1])} is a value, not a section or a list.")
    if not isinstance(node, dict):
        raise SweepError(f"--set {path}: {'.'.join(parts[:-1])} is not a mapping of fields.")
    node[parts[-1]] = value


def candidate(doc: dict, values: dict[str, Any]) -> dict:
    out = copy.deepcopy(doc)
    for path, value in values.items():
        set_path(out, path, value)
    return out


def _unknown_field(err: SpecError) -> str | None:
    """A check message that says a --set path names no field (not a value that does not fit)."""
    for problem in err.problems:
        if "unknown key" in problem.message:
            return str(err)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.sweep",
                                     description="Train variants of a spec and keep the best, on Optuna.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUES", dest="sets",
                        help="a field and its values, e.g. train.lr=[0.01,0.05] or train.lr=loguniform(1e-4,1e-1)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials in all (all workers together); default: the grid's size, else 10")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None,
                        help="grid (every combination; the default when every --set is a list), random or tpe")
    parser.add_argument("--storage", default=None, help="an Optuna storage URL (default: SQLite in the sweep folder)")
    parser.add_argument("--study", default=None, help="study name (default: the spec's name)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the spec's)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None, help="the sweep folder (default: sweeps/<study>)")
    args = parser.parse_args(argv)

    from playground.loader import load_spec

    try:
        choices = [parse_set(s) for s in args.sets]
        if not choices:
            raise SweepError("give at least one --set PATH=VALUES")
        text = Path(args.spec).read_text()
        doc = yaml.safe_load(text)
        spec = load_spec(args.spec)
        sampler_name = args.sampler or ("grid" if all(c.values is not None for c in choices) else "tpe")
        if sampler_name == "grid" and any(c.values is None for c in choices):
            raise SweepError("the grid sampler needs a list of values for every --set (ranges: --sampler tpe)")
        first = {c.path: (c.values[0] if c.values is not None else c.low) for c in choices}
        try:
            load_spec(candidate(doc, first))
        except SpecError as err:
            unknown = _unknown_field(err)
            if unknown:
                raise SweepError(f"a --set path names no field:\n{unknown}") from None
    except (SweepError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        print(err, file=sys.stderr)
        return 2

    study_name = args.study or spec.name
    folder = Path(args.out or Path("sweeps") / study_name)
    folder.mkdir(parents=True, exist_ok=True)
    grid = math.prod(len(c.values) for c in choices) if sampler_name == "grid" else None
    total = args.trials or grid or 10
    study = open_study(study_name, args.storage or f"sqlite:///{(folder / 'study.db').resolve()}", sampler_name,
                       choices)
    run_trials(study, doc, choices, folder, total, epochs=args.epochs, data_dir=args.data_dir)
    summary = write_summary(study, doc, folder)
    print(summary, file=sys.stderr)
    return 0


def open_study(name: str, storage: str, sampler_name: str, choices: list[Choice]):
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    samplers = {"grid": lambda: optuna.samplers.GridSampler({c.path: list(c.values) for c in choices}, seed=0),
                "random": lambda: optuna.samplers.RandomSampler(seed=0),
                "tpe": lambda: optuna.samplers.TPESampler(seed=0)}
    import time

    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(5):   # workers started together race to create the database's tables: try again
        try:
            store = storage
            if storage.startswith(("sqlite", "postgresql", "mysql")):
                # A heartbeat marks the trials of a killed worker as failed, and they are tried again.
                store = RDBStorage(storage, heartbeat_interval=2, grace_period=6,
                                   heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                                   engine_kwargs={"connect_args": {"timeout": 30}} if storage.startswith("sqlite")
                                   else {})
            return optuna.create_study(study_name=name, storage=store, sampler=samplers[sampler_name](),
                                       pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
                                       direction="maximize", load_if_exists=True)
        except SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)


def run_trials(study, doc: dict, choices: list[Choice], folder: Path, total: int, *, epochs=None,
               data_dir=None) -> None:
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from playground.loader import load_spec
    from playground.training import EpochDone, RunEnded, Trainer, with_overrides

    def objective(trial) -> float:
        values = {c.path: c.suggest(trial) for c in choices}
        # Two workers may draw the same grid point at once: the later trial number gives way, untrained.
        earlier = [t.number for t in trial.study.get_trials(deepcopy=False, states=(
            TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
                   if t.number < trial.number and t.params == trial.params and not t.user_attrs.get("duplicate")]
        if earlier:
            trial.set_user_attr("duplicate", earlier[0])
            raise optuna.TrialPruned()
        try:
            spec = load_spec(candidate(doc, values))
        except SpecError as err:   # the check refuses it: recorded, nothing trained
            trial.set_user_attr("refused", str(err))
            raise optuna.TrialPruned() from None
        spec = with_overrides(spec, epochs=epochs)
        run_dir = folder / f"trial-{trial.number:03d}"
        trial.set_user_attr("run", str(run_dir))
        trainer = Trainer(spec, out=run_dir, data_dir=data_dir, download=True)
        accuracy, pruned = 0.0, False
        for event in trainer.events():
            if isinstance(event, EpochDone):
                accuracy = event.test_accuracy
                trial.report(accuracy, event.epoch)
                if event.epoch < event.epochs and trial.should_prune():
                    pruned = True
                    trainer.stop()
            elif isinstance(event, RunEnded):
                break
        if pruned:
            raise optuna.TrialPruned()
        return accuracy

    def report(study, trial) -> None:   # a line per finished trial: the sweep's progress
        if trial.user_attrs.get("duplicate") is not None:
            return
        values = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        outcome = ("refused by the check" if trial.user_attrs.get("refused") else
                   f"{100 * trial.value:.2f}% test accuracy" if trial.value is not None else trial.state.name.lower())
        finished = sum(1 for t in study.get_trials(deepcopy=False, states=states) if "duplicate" not in t.user_attrs)
        print(f"trial {trial.number} ({finished}/{total}): {values}: {outcome}", file=sys.stderr, flush=True)

    states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = sum(1 for t in study.get_trials(deepcopy=False, states=states) if "duplicate" not in t.user_attrs)
    grid = isinstance(study.sampler, optuna.samplers.GridSampler)   # it stops the study once every point is done
    if done < total:
        study.optimize(objective, n_trials=None if grid else total - done, catch=(),
                       callbacks=[report] if grid else [MaxTrialsCallback(total, states=states), report])


def write_summary(study, doc: dict, folder: Path) -> str:
    from optuna.trial import TrialState

    ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = [t for t in study.get_trials(deepcopy=False, states=ended) if "duplicate" not in t.user_attrs]
    order = sorted(trials, key=lambda t: (t.state != TrialState.COMPLETE, -(t.value or 0.0), t.number))
    names = list(order[0].params) if order else []
    rows = [("trial", "status", "test acc", *names, "run")]
    for t in order:
        status = "refused" if t.user_attrs.get("refused") else t.state.name.lower()
        rows.append((str(t.number), status, f"{100 * t.value:.2f}%" if t.value is not None else "—",
                     *(str(t.params.get(n, "—")) for n in names), t.user_attrs.get("run", "—")))
    lines = [texts.aligned(rows)]
    refused = [t for t in order if t.user_attrs.get("refused")]
    for t in refused:
        lines.append(f"\ntrial {t.number} refused by the check:\n{t.user_attrs['refused']}")
    text = f"study {study.study_name}: {len(trials)} trials, best first\n" + "\n".join(lines) + "\n"
    atomic_write_text(folder / "summary.txt", text)
    complete = [t for t in order if t.state == TrialState.COMPLETE]
    if complete:
        best = candidate(doc, complete[0].params)
        atomic_write_text(folder / "best.yaml", f"# best trial {complete[0].number} of study {study.study_name}: "
                                                f"{100 * complete[0].value:.2f}% test accuracy\n"
                          + yaml.safe_dump(best, sort_keys=False))
    return text


if __name__ == "__main__":
    raise SystemExit(main())
