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

from playground import runs, texts
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
    return Choice(path.strip(), values=tuple(_number(v) for v in parsed))


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _number(value: Any) -> Any:
    """YAML 1.1 reads 1e-3 (no dot) as a string; a learning rate written so is a number."""
    return float(value) if isinstance(value, str) and _FLOAT.match(value) else value


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
    """Check a sweep before anything runs. SweepError for a bad --set, a path
    that names no field or a sampler that cannot take the values; SpecError
    (located) when the base spec itself does not pass the check."""
    from playground.loader import load_spec

    choices = tuple(parse_set(s) for s in sets)
    if not choices:
        raise SweepError("give at least one field to vary: PATH=VALUES, e.g. train.lr=[0.01,0.05]")
    paths = [c.path for c in choices]
    if len(set(paths)) < len(paths):
        raise SweepError(f"a field is given twice: {', '.join(sorted({p for p in paths if paths.count(p) > 1}))}")
    if not isinstance(doc, dict):
        raise SweepError("the spec is not a YAML mapping of sections (name, input, layers, ...)")
    spec = load_spec(doc)
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
        load_spec(candidate(doc, first))
    except SpecError as err:   # a value that does not fit is the trial's to refuse; a path to nothing is ours
        unknown = _unknown_field(err)
        if unknown:
            raise SweepError(f"a path names no field:\n{unknown}") from None
    name = study or spec.name
    folder = Path(out) if out is not None else Path(sweeps_base) / name
    grid = math.prod(len(c.values) for c in choices) if sampler == "grid" else None
    return Plan(doc, choices, sampler, trials or grid or 10, name, folder,
                storage or f"sqlite:///{(folder / 'study.db').resolve()}", epochs, data_dir, download)


class Stopped(Exception):
    """The sweep was asked to stop: the running trial is recorded as interrupted
    and goes on from its checkpoint when the sweep continues."""


@dataclass(frozen=True)
class TrialRow:
    number: int
    status: str                  # complete, pruned, refused, diverged, fail, interrupted, running
    accuracy: float | None       # 0..1, a completed trial's (or a pruned one's last report)
    params: dict
    run: str | None              # the trial's run folder
    message: str | None = None   # why it was refused, diverged or failed

    @property
    def done(self) -> bool:
        """Counts toward the sweep's trials (a failed or interrupted one is tried again)."""
        return self.status in ("complete", "pruned", "refused", "diverged")


def trial_rows(study) -> list[TrialRow]:
    """The study's trials, best first: completed by accuracy, then the rest by
    number. Duplicates (a grid point another worker took) and failures that
    were retried are left out."""
    from optuna.trial import TrialState

    all_trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in all_trials}
    rows = []
    for t in all_trials:
        attrs = t.user_attrs
        if "duplicate" in attrs or t.state == TrialState.WAITING or (t.state == TrialState.FAIL
                                                                     and t.number in retried):
            continue
        message = attrs.get("refused") or attrs.get("diverged")
        status = ("refused" if "refused" in attrs else "diverged" if "diverged" in attrs else
                  "interrupted" if "interrupted" in attrs else t.state.name.lower())
        value = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)]
                                                     if t.intermediate_values else None)
        rows.append(TrialRow(t.number, status, value, dict(t.params), attrs.get("run"), message))
    return sorted(rows, key=lambda r: (r.status != "complete", -(r.accuracy or 0.0) if r.status == "complete"
                                       else 0.0, r.number))


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
    parser.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    parser.add_argument("--out", default=None, help="the sweep folder (default: sweeps/<study>)")
    args = parser.parse_args(argv)

    from playground.data import DataError
    from playground.devices import DeviceError
    from playground.runs import RunError

    try:
        doc = yaml.safe_load(Path(args.spec).read_text())
        the_plan = plan(doc, args.sets, sampler=args.sampler, trials=args.trials, study=args.study, out=args.out,
                        storage=args.storage, epochs=args.epochs, data_dir=args.data_dir,
                        download=not args.no_download)
    except (SweepError, OSError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        print(err, file=sys.stderr)
        return 2
    import signal
    import threading

    asked = threading.Event()

    def on_sigint(signum, frame):   # first Ctrl-C: stop the running trial at its next step; second: now
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nstopping the running trial after this step (Ctrl-C again to abort)...", file=sys.stderr)
        asked.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        study = open_study(the_plan)
        run(the_plan, study=study, on_trial=_print_trial, should_stop=asked.is_set)
    except Stopped:
        print("stopped: the trial that was running kept its checkpoint and goes on from it when the same "
              "command continues the sweep.", file=sys.stderr)
        write_summary(study, the_plan.doc, the_plan.folder)
        return 130
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (DataError, DeviceError, RunError) as err:
        print(f"error: {err}\n  The sweep stopped; the same command continues it.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\naborted: the trial that was running goes on from its last checkpoint when the same command "
              "continues the sweep.",
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    print(write_summary(study, the_plan.doc, the_plan.folder), file=sys.stderr)
    return 0


def _print_trial(row: TrialRow, rows: list[TrialRow], total: int) -> None:   # a line per finished trial
    finished = sum(r.done for r in rows)
    values = ", ".join(f"{k}={v}" for k, v in row.params.items())
    outcome = {"refused": "refused by the check", "diverged": "diverged (loss not finite)"}.get(row.status) or (
        f"{100 * row.accuracy:.2f}% test accuracy" + (" (pruned)" if row.status == "pruned" else "")
        if row.accuracy is not None else row.status)
    print(f"trial {row.number} ({finished}/{total}): {values}: {outcome}", file=sys.stderr, flush=True)


def _setting(c: Choice) -> str:
    return f"{c.path}={list(c.values)}" if c.values is not None else f"{c.path}={c.kind}({c.low:g}, {c.high:g})"


def open_study(p: Plan):
    """Create the plan's study, or load it to continue; SweepError when a study
    of that name was started from another spec or other fields."""
    import time
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.ERROR)   # our own line per trial says how each ended
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    samplers = {"grid": lambda: optuna.samplers.GridSampler({c.path: list(c.values) for c in p.choices}, seed=0),
                "random": lambda: optuna.samplers.RandomSampler(seed=0),
                "tpe": lambda: optuna.samplers.TPESampler(seed=0)}
    if p.storage.startswith("sqlite:///"):
        p.folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):   # workers started together race to create the database's tables: try again
        try:
            store = p.storage
            if p.storage.startswith(("sqlite", "postgresql", "mysql")):
                # A heartbeat marks the trials of a killed worker as failed, and they are tried again.
                store = RDBStorage(p.storage, heartbeat_interval=2, grace_period=6,
                                   heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                                   engine_kwargs={"connect_args": {"timeout": 30}} if p.storage.startswith("sqlite")
                                   else {})
            study = optuna.create_study(study_name=p.study, storage=store, sampler=samplers[p.sampler](),
                                        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
                                        direction="maximize", load_if_exists=True)
            break
        except SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    settings = sorted(_setting(c) for c in p.choices)
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", p.doc)
        study.set_user_attr("settings", settings)
    elif study.user_attrs["spec"] != p.doc or study.user_attrs.get("settings", settings) != settings:
        from playground import records

        diff = records.spec_diff([study.user_attrs["spec"], p.doc])
        what = (records.diff_text(["study", "now"], diff) if diff else
                f"the fields it varies: {', '.join(study.user_attrs.get('settings', []))}; now: {', '.join(settings)}")
        raise SweepError(f"study '{p.study}' in {p.folder} was started from another spec or other fields, so "
                         f"its trials would not compare:\n{what}\n  Give another --study name (or --out folder) "
                         "for a new sweep, or the spec and settings it started from to continue it.")
    return study


def run(p: Plan, *, study=None, on_trial=None, on_event=None, should_stop=None):
    """Run the plan's trials until the study (``study``, else ``open_study(p)``)
    has ``p.total`` (a killed or stopped sweep continues: an interrupted trial
    goes on from its checkpoint, nothing twice). ``on_trial(row, rows, total)``
    after each trial, with all the study's rows, best first; ``on_event(number,
    params, event)`` for every training event; ``should_stop()`` polled while
    training and between trials: when it turns true, the running trial stops
    (with its checkpoint), no new one starts, and ``Stopped`` is raised.
    Returns the study."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState, create_trial

    from playground.loader import load_spec
    from playground.training import EpochDone, RunEnded, Trainer, TrainingError, with_overrides

    study = study if study is not None else open_study(p)
    states = (TrialState.COMPLETE, TrialState.PRUNED)

    def objective(trial) -> float:
        values = {c.path: c.suggest(trial) for c in p.choices}
        # Two workers may draw the same grid point at once: the later trial number gives way, untrained.
        earlier = [t.number for t in trial.study.get_trials(deepcopy=False, states=(
            TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
                   if t.number < trial.number and t.params == trial.params and not t.user_attrs.get("duplicate")]
        if earlier:
            trial.set_user_attr("duplicate", earlier[0])
            raise optuna.TrialPruned()
        resume_from = trial.user_attrs.get("run")   # set before training: this trial retries a stopped one
        if resume_from is not None and (Path(resume_from) / runs.CHECKPOINT_FILE).exists():
            # A retry of a stopped or killed trial: on from its checkpoint, its epochs reported again.
            run_dir = Path(resume_from)
            trainer = Trainer.resume(run_dir, data_dir=p.data_dir, download=p.download)
            for m in runs.read_metrics(run_dir):
                trial.report(m["test_accuracy"], m["epoch"])
        else:
            try:
                spec = load_spec(candidate(p.doc, values))
            except SpecError as err:   # the check refuses it: recorded, nothing trained
                trial.set_user_attr("refused", str(err))
                raise optuna.TrialPruned() from None
            spec = with_overrides(spec, epochs=p.epochs)
            run_dir = p.folder / f"trial-{trial.number:03d}"
            trainer = Trainer(spec, out=run_dir, data_dir=p.data_dir, download=p.download)
        trial.set_user_attr("run", str(run_dir))
        accuracy, pruned, stopped = 0.0, False, False
        try:
            for event in trainer.events():
                if on_event is not None:
                    on_event(trial.number, values, event)
                if should_stop is not None and not stopped and should_stop():
                    stopped = True
                    trainer.stop()
                if isinstance(event, EpochDone):
                    accuracy = event.test_accuracy
                    trial.report(accuracy, event.epoch)
                    if event.epoch < event.epochs and trial.should_prune():
                        pruned = True
                        trainer.stop()
                elif isinstance(event, RunEnded):
                    if event.status == "completed" and event.test_accuracy is not None:
                        accuracy = event.test_accuracy   # also when a resumed run had no epoch left
                    break
        except TrainingError as err:   # diverged: this value is bad, the sweep goes on
            trial.set_user_attr("diverged", str(err))
            raise optuna.TrialPruned() from None
        except BaseException:   # Ctrl-C, missing data, a device error: the point is tried again on continue
            trial.set_user_attr("interrupted", True)
            raise
        if stopped and not pruned:
            trial.set_user_attr("interrupted", True)
            raise Stopped()
        if pruned:
            raise optuna.TrialPruned()
        return accuracy

    def finished_count() -> int:
        return sum(r.done for r in trial_rows(study))

    def report(study, trial) -> None:
        if should_stop is not None and should_stop():
            study.stop()   # no new trial starts
        if on_trial is None or "duplicate" in trial.user_attrs or trial.state not in states:
            return
        rows = trial_rows(study)
        row = next((r for r in rows if r.number == trial.number), None)
        if row is not None:
            on_trial(row, rows, p.total)

    # Trials a stop or Ctrl-C interrupted go on from their checkpoints (the heartbeat does the same
    # for a killed worker's): a retry is a new trial that keeps the run folder.
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    for t in trials:
        if t.state == TrialState.FAIL and "interrupted" in t.user_attrs and t.number not in retried:
            attrs = {k: v for k, v in t.user_attrs.items() if k != "interrupted"}
            study.add_trial(create_trial(state=TrialState.WAITING, params=t.params, distributions=t.distributions,
                                         user_attrs=attrs, system_attrs={**t.system_attrs, "failed_trial": t.number}))
    grid = p.sampler == "grid"   # the grid sampler stops the study once every point is done
    done = finished_count()
    if done < p.total:
        study.optimize(objective, n_trials=None if grid else p.total - done, catch=(),
                       callbacks=[report] if grid else [MaxTrialsCallback(p.total, states=states), report])
        if should_stop is not None and should_stop() and finished_count() < p.total:
            raise Stopped()   # asked between two trials
    return study


def write_summary(study, doc: dict, folder: Path) -> str:
    """summary.txt (best first, with each refusal's message) and best.yaml, the
    best completed trial as a spec file; returns the summary's text."""
    rows = trial_rows(study)
    ended = [r for r in rows if r.status != "running"]
    names = list(ended[0].params) if ended else []
    table = [("trial", "status", "test acc", *names, "run")]
    for r in ended:
        table.append((str(r.number), r.status, texts.percent(r.accuracy) if r.accuracy is not None else "—",
                      *(str(r.params.get(n, "—")) for n in names), r.run or "—"))
    lines = [texts.aligned(table)]
    for r in ended:
        if r.message:   # why it was refused or diverged
            lines.append(f"\ntrial {r.number} {r.status}:\n{r.message}")
    text = f"study {study.study_name}: {len(ended)} trials, best first\n" + "\n".join(lines) + "\n"
    atomic_write_text(folder / "summary.txt", text)
    best = next((r for r in rows if r.status == "complete"), None)
    if best is not None:
        atomic_write_text(folder / "best.yaml", f"# best trial {best.number} of study {study.study_name}: "
                                                f"{texts.percent(best.accuracy)} test accuracy\n"
                          + yaml.safe_dump(candidate(doc, best.params), sort_keys=False))
    return text


if __name__ == "__main__":
    raise SystemExit(main())
