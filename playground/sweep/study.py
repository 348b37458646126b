"""A sweep on Optuna: the study opened or continued, each trial trained as an
ordinary run folder, the trials read back as rows, the summary written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from playground.core import processes, texts
from playground.core.errors import SpecError
from playground.core.fileio import atomic_write_text
from playground.runs import folders as runs
from playground.sweep.planning import Plan, SweepError, candidate, setting


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
    return sorted(_rows(study.get_trials(deepcopy=False)),
                  key=lambda r: (r.status != "complete", -(r.accuracy or 0.0) if r.status == "complete" else 0.0,
                                 r.number))


def _first_line(exc: Exception) -> str:
    """A failed trial's reason for its row: the error's first line (the whole message is the sweep's)."""
    from playground.core.errors import PlaygroundError

    text = exc.message() if isinstance(exc, PlaygroundError) else f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _rows(all_trials: list) -> list[TrialRow]:
    """trial_rows, in the study's order."""
    from optuna.trial import TrialState

    retried = {t.system_attrs.get("failed_trial") for t in all_trials}
    rows = []
    for t in all_trials:
        attrs = t.user_attrs
        if "duplicate" in attrs or t.state == TrialState.WAITING or (t.state == TrialState.FAIL
                                                                     and t.number in retried):
            continue
        message = attrs.get("refused") or attrs.get("diverged") or attrs.get("failed")
        status = ("refused" if "refused" in attrs else "diverged" if "diverged" in attrs else
                  "interrupted" if "interrupted" in attrs else "fail" if "failed" in attrs else
                  t.state.name.lower())
        run = attrs.get("run")
        if run is not None and not (Path(run) / "run.json").exists():
            run = None   # the trial failed before its run began: its folder holds nothing to open
        value = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)]
                                                     if t.intermediate_values else None)
        rows.append(TrialRow(t.number, status, value, dict(t.params), run, message))
    return rows


# Where a study may live, and the driver each needs beyond optuna's own (sqlite is in Python).
DRIVERS = {"sqlite": "nothing more", "postgresql": "psycopg2-binary", "mysql": "pymysql"}


def open_study(p: Plan):
    """Create the plan's study, or load it to continue; SweepError when a study
    of that name was started from another spec or other fields."""
    import time
    import warnings

    import optuna
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import DatabaseError, SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.ERROR)   # our own line per trial says how each ended
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    from playground.sweep.grid import GridOrder

    samplers = {"grid": lambda: GridOrder(p.choices),
                "random": lambda: optuna.samplers.RandomSampler(seed=0),
                "tpe": lambda: optuna.samplers.TPESampler(seed=0)}
    scheme = p.storage.split("://", 1)[0].split("+", 1)[0] if "://" in p.storage else ""
    if scheme not in DRIVERS:
        raise SweepError(f"--storage {p.storage!r}: a study lives in SQLite (sqlite:///path/to/study.db, the "
                         "default: sweeps/<study>/study.db) or on a database server (postgresql://..., mysql://...)."
                         "\n  Give --storage as one of those, or leave it out.")
    if p.storage.startswith("sqlite:///"):
        db = Path(p.storage.removeprefix("sqlite:///"))
        if db.is_file() and db.stat().st_size == 0 and _trial_folders(p.folder):   # emptied: the trials are gone
            raise SweepError(_orphans(p, f"{db} is empty (0 bytes), so the study's trials are gone"))
        p.folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):   # workers started together race to create the database's tables: try again
        try:
            store = p.storage
            if p.storage.startswith(("sqlite", "postgresql", "mysql")):
                # A heartbeat marks the trials of a killed worker as failed, and they are tried again.
                # The heartbeat marks a killed worker's trial as failed (at once where its process is
                # known to be gone: reclaim); a failed trial is tried again from its checkpoint, any
                # number of times (retry_failed).
                store = RDBStorage(p.storage, heartbeat_interval=2, grace_period=6,
                                   engine_kwargs={"connect_args": {"timeout": 30}} if p.storage.startswith("sqlite")
                                   else {})
            study = optuna.create_study(study_name=p.study, storage=store, sampler=samplers[p.sampler](),
                                        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
                                        direction="maximize", load_if_exists=True)
            break
        except ImportError:   # no driver for the server's database
            raise SweepError(f"--storage {p.storage!r}: no Python driver for {scheme} is installed."
                             f"\n  Install one: pip install {DRIVERS[scheme]}.") from None
        except SQLAlchemyError as exc:
            damaged = isinstance(exc, DatabaseError) and any(
                w in str(exc) for w in ("not a database", "malformed", "file is encrypted"))
            if damaged:   # trying again would not help: say which file, and what to do
                raise SweepError(f"{p.storage.removeprefix('sqlite:///')} is not a whole SQLite database (damaged, "
                                 "or another kind of file), so the study cannot be read."
                                 "\n  Move it away (the trials' run folders stay) and run the same command to start "
                                 "the study afresh, or give another --study.") from None
            if attempt == 4:
                raise SweepError(f"--storage {p.storage!r}: the study's database cannot be opened: "
                                 f"{str(exc).splitlines()[0]}\n  Check that the database is reachable and "
                                 "not locked by another program.") from None
            time.sleep(0.5 + attempt)
    settings = sorted(setting(c) for c in p.choices)
    if not study.get_trials(deepcopy=False) and _trial_folders(p.folder):
        raise SweepError(_orphans(p, f"study '{p.study}' in {p.storage} has no trials"))
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", p.doc)
        study.set_user_attr("settings", settings)
    elif study.user_attrs["spec"] != p.doc or study.user_attrs.get("settings", settings) != settings:
        from playground.runs import listing as records

        diff = records.spec_diff([study.user_attrs["spec"], p.doc])
        what = (records.diff_text(["study", "now"], diff) if diff else
                f"the fields it varies: {', '.join(study.user_attrs.get('settings', []))}; now: {', '.join(settings)}")
        raise SweepError(f"study '{p.study}' in {p.folder} was started from another spec or other fields, so "
                         f"its trials would not compare:\n{what}\n  Give another --study name (or --out folder) "
                         "for a new sweep, or the spec and settings it started from to continue it.")
    return study


def _trial_folders(folder: Path) -> list[Path]:
    return sorted(folder.glob("trial-*")) if folder.is_dir() else []


def _orphans(p: Plan, why: str) -> str:
    """The message for a sweep folder whose trial folders no study holds."""
    found = _trial_folders(p.folder)
    return (f"{why}, but {p.folder} holds {len(found)} trial run folder{'s' * (len(found) != 1)} "
            f"({found[0].name}{', ...' if len(found) > 1 else ''}) that a sweep trained: continuing would train "
            "every point again beside them.\n  Their runs are whole (python -m playground.runs lists them). To "
            "start the sweep afresh, move the folder away or give another --out; to keep a damaged study's "
            "trials, restore its study.db from a copy.")


def run(p: Plan, *, study=None, on_trial=None, on_event=None, should_stop=None, on_wait=None):
    """Run the plan's trials until ``p.total`` of them are done (TrialRow.done)
    in the study (``study``, else ``open_study(p)``). Any number of kills,
    stops and failures lose nothing: a trial whose worker is gone is failed
    and tried again, from its checkpoint in its own run folder, and a grid
    point counts once it is done, not once it was tried. ``on_trial(row,
    rows, total)`` after each trial, with all the study's rows, best first;
    ``on_event(number, params, event)`` for every training event;
    ``should_stop()`` polled while training and between trials: when it turns
    true, the running trial stops (with its checkpoint), no new one starts,
    and ``Stopped`` is raised; ``on_wait(numbers)`` when nothing is left to
    start but trials other workers run (or ran before they were killed) are
    not done yet: this worker waits for them, so the sweep it ends is whole.
    Returns the study."""
    import time

    study = study if study is not None else open_study(p)
    objective, report = Objective(p, on_event, should_stop), TrialReport(p.total, on_trial)
    waited_for = None
    while True:
        if should_stop is not None and should_stop():
            if finished_count(study) < p.total:
                raise Stopped()   # asked between two trials
            return study
        reclaim(study)
        retry_failed(study)
        work = Work.of(study.get_trials(deepcopy=False), p.total)
        if work.ready:
            waited_for = None
            study.optimize(objective, n_trials=1, catch=(), callbacks=[report])
        elif work.elsewhere:   # other workers' trials, alive or not yet known to be dead
            if on_wait is not None and work.elsewhere != waited_for:
                on_wait(work.elsewhere)
            waited_for = work.elsewhere
            time.sleep(1.0)
        else:
            return study


@dataclass(frozen=True)
class Work:
    """What a worker may do next: ``ready`` when a trial is waiting (a retry)
    or one more may start; ``elsewhere``, the numbers of trials running in
    other workers (or in a killed one the heartbeat has not yet failed)."""

    ready: bool
    elsewhere: tuple[int, ...]

    @classmethod
    def of(cls, trials: list, total: int) -> Work:
        from optuna.trial import TrialState

        rows = _rows(trials)
        running = tuple(r.number for r in rows if r.status == "running")
        waiting = [t for t in trials if t.state == TrialState.WAITING and "duplicate" not in t.user_attrs]
        done = sum(r.done for r in rows)
        return cls(bool(waiting) or done + len(running) < total, running)


def _ended() -> tuple:
    """The states of a trial that ran to its end: completed, or pruned."""
    from optuna.trial import TrialState

    return TrialState.COMPLETE, TrialState.PRUNED


def finished_count(study) -> int:
    """The trials that count toward the sweep's total (TrialRow.done)."""
    return sum(r.done for r in _rows(study.get_trials(deepcopy=False)))   # (no order needed to count)


WORKER = "worker"   # a trial's user attribute: [host, pid] of the process that runs it


ORPHAN_AFTER = 10.0   # seconds: a live worker names itself on its trial within milliseconds of starting it


def reclaim(study) -> list[int]:
    """Fail the running trials whose worker is gone, so that they are tried
    again: a process of this machine that no longer exists (killed with -9,
    its terminal closed), at once; a trial killed before its worker could name
    itself, once it is ORPHAN_AFTER old; another machine's, when the heartbeat
    says it is stale. Returns the numbers failed here (not the heartbeat's). A
    trial of this very process is never failed here."""
    import datetime

    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)   # (does nothing where the storage keeps no heartbeat)
    host, now, gone = processes.host(), datetime.datetime.now(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER)
        if worker is None:
            dead = t.datetime_start is not None and (now - t.datetime_start).total_seconds() > ORPHAN_AFTER
        elif isinstance(worker, list) and len(worker) == 2 and worker[0] == host and isinstance(worker[1], int):
            dead = processes.gone(worker[1])
        else:   # another machine's: the heartbeat's to judge
            dead = False
        if dead:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            gone.append(t.number)
    return gone


def retry_failed(study) -> list[int]:
    """Every failed trial goes on from its checkpoint: stopped, interrupted by
    Ctrl-C or an error, or its worker killed (reclaim, the heartbeat). A retry
    is a new, waiting trial with the same values that keeps the run folder;
    two workers that retry the same trial at once give way by number
    (duplicate_of). Returns the numbers of the trials retried."""
    from optuna.trial import TrialState, create_trial

    trials, again = study.get_trials(deepcopy=False), []
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in retried and "duplicate" not in t.user_attrs:
            attrs = {k: v for k, v in t.user_attrs.items() if k not in ("interrupted", "failed", WORKER)}
            study.add_trial(create_trial(state=TrialState.WAITING, params=t.params, distributions=t.distributions,
                                         user_attrs=attrs, system_attrs={**t.system_attrs, "failed_trial": t.number}))
            again.append(t.number)
    return again


def duplicate_of(trial) -> int | None:
    """The earlier trial another worker took at the same point, if any: two
    workers may draw the same grid point, or retry the same failed trial, at
    once, and the later number gives way, untrained."""
    from optuna.trial import TrialState

    taken, mine = (TrialState.RUNNING, TrialState.WAITING, *_ended()), trial.params   # (a copy each time asked)
    earlier = [t.number for t in trial.study.get_trials(deepcopy=False, states=taken)
               if t.number < trial.number and t.params == mine and not t.user_attrs.get("duplicate")]
    return earlier[0] if earlier else None


@dataclass(frozen=True)
class Trained:
    """How a trial's training went: the accuracy it ends with, and whether the
    pruner cut it short or a stop did."""

    accuracy: float
    pruned: bool
    stopped: bool


class Objective:
    """Optuna's objective for the plan: each trial trained as a run folder,
    how it ended recorded in its user attributes (run, duplicate, refused,
    diverged, interrupted)."""

    def __init__(self, p: Plan, on_event=None, should_stop=None):
        self.p, self.on_event, self.should_stop = p, on_event, should_stop

    def __call__(self, trial) -> float:
        import os

        trial.set_user_attr(WORKER, [processes.host(), os.getpid()])   # first (reclaim: is it still alive?)

        import optuna

        from playground.train.engine import TrainingError

        values = {c.path: c.suggest(trial) for c in self.p.choices}
        earlier = duplicate_of(trial)
        if earlier is not None:
            trial.set_user_attr("duplicate", earlier)
            raise optuna.TrialPruned()
        trainer, run_dir = self.trainer(trial, values)
        trial.set_user_attr("run", str(run_dir))
        if trainer is None:   # a retry whose earlier epochs the pruner now cuts
            raise optuna.TrialPruned()
        try:
            trained = self.train(trial, values, trainer)
        except TrainingError as err:   # diverged: this value is bad, the sweep goes on
            trial.set_user_attr("diverged", str(err))
            raise optuna.TrialPruned() from None
        except Exception as exc:   # missing data, a device error: the point is tried again on continue
            trial.set_user_attr("failed", _first_line(exc))
            raise
        except BaseException:   # Ctrl-C, a stop signal: likewise
            trial.set_user_attr("interrupted", True)
            raise
        if trained.stopped and not trained.pruned:
            trial.set_user_attr("interrupted", True)
            raise Stopped()
        if trained.pruned:
            raise optuna.TrialPruned()
        return trained.accuracy

    def trainer(self, trial, values: dict):
        """The trial's Trainer and run folder. A retry of a stopped or killed
        trial goes on from its checkpoint, its earlier epochs reported to the
        pruner again; else a new run of the candidate spec, read and checked
        once with the data root it trains on. A candidate the check refuses is
        recorded and pruned, nothing trained."""
        import optuna

        from playground.check.analysis import load_checked
        from playground.format.datasets import data_root
        from playground.train.engine import Trainer

        p = self.p
        resume_from = trial.user_attrs.get("run")   # set before training: this trial retries a stopped one
        if resume_from is not None and (Path(resume_from) / runs.CHECKPOINT_FILE).exists():
            run_dir = Path(resume_from)
            trainer = Trainer.resume(run_dir, data_dir=p.data_dir, download=p.download)
            metrics = runs.read_metrics(run_dir)
            for m in metrics:
                trial.report(m["test_accuracy"], m["epoch"])
            if metrics and metrics[-1]["epoch"] < trainer.spec.train.epochs and trial.should_prune():
                return None, run_dir   # killed between its checkpoint and the pruner's word on that epoch
            return trainer, run_dir
        try:
            spec, summary = load_checked(candidate(p.doc, values), data_root=data_root(p.data_dir),
                                         overrides={"train.epochs": p.epochs})
        except SpecError as err:
            trial.set_user_attr("refused", str(err))
            raise optuna.TrialPruned() from None
        run_dir = (_fresh_folder(resume_from) if resume_from is not None else None) or _claim_folder(p.folder)
        return Trainer(spec, summary=summary, out=run_dir, data_dir=p.data_dir, download=p.download), run_dir

    def train(self, trial, values: dict, trainer) -> Trained:
        """Run ``trainer``, each event to ``on_event`` and each epoch's accuracy
        to the pruner; the trainer is stopped (with its checkpoint) when the
        pruner prunes or ``should_stop()`` turns true."""
        from playground.train.engine import EpochDone, RunEnded

        accuracy, pruned, stopped = 0.0, False, False
        for event in trainer.events():
            if self.on_event is not None:
                self.on_event(trial.number, values, event)
            if self.should_stop is not None and not stopped and self.should_stop():
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
        return Trained(accuracy, pruned, stopped)


def _claim_folder(folder: Path) -> Path:
    """The next free ``trial-NNN`` run folder of the sweep, made here (at once
    and only once, also when workers race): one folder per point trained."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob("trial-*")))
    while True:
        path = folder / f"trial-{n:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def _fresh_folder(path: str) -> Path | None:
    """The run folder of a trial killed before its first checkpoint, emptied
    of that start's files so that its retry trains afresh in it; None when it
    holds anything else (then the retry gets a folder of its own)."""
    folder = Path(path)
    if not folder.is_dir() or folder.is_symlink():
        return None
    started = {runs.SPEC_FILE, runs.METRICS_FILE, runs.INFO_FILE}
    for entry in folder.iterdir():
        if not (entry.name in started or (entry.name.startswith(".") and entry.name.endswith(".tmp"))) \
                or not entry.is_file() or entry.is_symlink():
            return None
    for entry in folder.iterdir():
        entry.unlink()
    return folder


class TrialReport:
    """The callback after each trial: ``on_trial(row, rows, total)`` for a
    trial that completed or was pruned (not one that gave way to a duplicate)."""

    def __init__(self, total: int, on_trial=None):
        self.total, self.on_trial = total, on_trial

    def __call__(self, study, trial) -> None:
        if self.on_trial is None or "duplicate" in trial.user_attrs or trial.state not in _ended():
            return
        rows = trial_rows(study)
        row = next((r for r in rows if r.number == trial.number), None)
        if row is not None:
            self.on_trial(row, rows, self.total)


def write_summary(study, doc: dict, folder: Path) -> str:
    """summary.txt (best first, with each refusal's message) and best.yaml, the
    best completed trial as a spec file; returns the summary's text."""
    rows = trial_rows(study)
    ended = [r for r in rows if r.status != "running"]
    names = list(ended[0].params) if ended else []
    table = [("trial", "status", "test acc", *names, "run")]
    for r in ended:
        final = r.accuracy is not None and r.status in ("complete", "pruned")   # not an unfinished trial's epoch
        table.append((str(r.number), r.status, texts.percent(r.accuracy) if final else "—",
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
