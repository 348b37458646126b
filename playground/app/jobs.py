"""Training and sweeps in a background thread, for interactive front ends.

A TrainingJob runs a Trainer's event stream on its own thread and keeps what
a page needs to draw: status, the latest step, the loss history, per-epoch
metrics and any error message. ``stop()`` asks the trainer to stop at the
next step, which saves a checkpoint first. The page polls ``snapshot()``.
A SweepJob does the same for a sweep: its trials as they finish, best first,
and how far the running one is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from playground.core.errors import PlaygroundError
from playground.train.engine import DataProgress, EpochDone, RunEnded, RunStarted, StepDone, Trainer

log = logging.getLogger(__name__)


@dataclass
class JobState:
    status: str = "starting"          # starting, running, stopping, completed, stopped, failed
    run_dir: Path | None = None
    device: str = ""
    epochs: int = 0
    epoch: int = 0
    step: int = 0
    steps: int = 0
    images_per_s: float = 0.0
    losses: list[tuple[float, float]] = field(default_factory=list)   # (epoch progress, running loss)
    metrics: list[dict] = field(default_factory=list)                 # one per finished epoch
    error: str | None = None
    preparing: str = ""               # while an image folder is decoded: "train: 1,200 of 5,000 images"
    prepared: float = 0.0             # 0..1 of the decoding, until the run starts
    notes: tuple[str, ...] = ()       # about the data, from RunStarted
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def progress(self) -> float:
        """0..1 over the whole run."""
        if not self.epochs or not self.steps:
            return self.prepared
        return min(1.0, ((self.epoch - 1) + self.step / self.steps) / self.epochs)

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "stopping")


class _Job:
    """A thread and a state a page polls: ``snapshot()`` copies the state under
    the lock; ``stop()`` marks it stopping and asks the work to stop."""

    def __init__(self, state, name: str, words: Mapping[str, str] | None):
        self.words = words   # how this front end words the settings an error's fix names
        self._state = state
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._state.active:
                self._state.status = "stopping"
        self._ask_to_stop()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def snapshot(self):
        """A copy of the state (its lists and dicts copied too), safe to read while the work goes on."""
        with self._lock:
            s = self._state
            return type(s)(**{k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
                              for k, v in s.__dict__.items()})

    def _message(self, exc: Exception) -> str:
        """An error as the page shows it: a fix that points at the data root names the page's data setting."""
        if isinstance(exc, PlaygroundError):
            return exc.message(self.words)
        return str(exc)

    def _ask_to_stop(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError


class TrainingJob(_Job):
    """``words`` say how this front end words the settings an error's fix names
    (``{"data_root": "the Data folder field"}``): a missing-data error then
    points there instead of at command-line flags."""

    def __init__(self, trainer: Trainer, words: Mapping[str, str] | None = None):
        self.trainer = trainer
        super().__init__(JobState(epochs=trainer.spec.train.epochs), f"train-{trainer.spec.name}", words)

    def _ask_to_stop(self) -> None:
        self.trainer.stop()

    def _record(self, event) -> None:
        s = self._state
        if isinstance(event, DataProgress):
            s.preparing = (f"{event.task[:1].upper()}{event.task[1:]} the {event.split} images: {event.done:,} of "
                           f"{event.total:,} "
                           f"({event.images_per_s:,.0f} images/s)")
            s.prepared = event.done / max(event.total, 1)
        elif isinstance(event, RunStarted):
            s.preparing, s.notes = "", event.notes
            s.run_dir, s.device, s.steps, s.epochs = event.run_dir, event.device, event.steps_per_epoch, event.epochs
            s.epoch, s.step = event.start_epoch, event.start_step
            if s.status == "starting":
                s.status = "running"
        elif isinstance(event, StepDone):
            s.epoch, s.step, s.images_per_s = event.epoch, event.step, event.images_per_s
            s.losses.append((event.epoch - 1 + event.step / event.steps, event.loss))
        elif isinstance(event, EpochDone):
            s.metrics.append(event.as_metrics())
        elif isinstance(event, RunEnded):
            s.status, s.finished = event.status, time.time()

    def _run(self) -> None:
        try:
            for event in self.trainer.events():
                with self._lock:
                    self._record(event)
        except Exception as exc:  # shown on the page; the full story goes to the server log
            log.exception("training %s failed", self.trainer.spec.name)
            message = self._message(exc)
            with self._lock:
                self._state.status, self._state.finished = "failed", time.time()
                self._state.error = message


@dataclass
class SweepState:
    status: str = "starting"          # starting, running, stopping, completed, stopped, failed
    total: int = 0
    rows: list = field(default_factory=list)    # sweep.TrialRow, best first
    trial: int | None = None          # the trial training now, its values and how far it is
    values: dict = field(default_factory=dict)
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "stopping")

    @property
    def finished(self) -> int:
        """Trials done (a failed or interrupted one is tried again, so it does not count)."""
        return sum(r.done for r in self.rows)

    @property
    def progress(self) -> float:
        """0..1 over the sweep: finished trials plus the running one's share."""
        if not self.total:
            return 0.0
        within = ((self.epoch - 1) + self.step / self.steps) / self.epochs if self.steps and self.epochs else 0.0
        return min(1.0, (self.finished + max(within, 0.0)) / self.total)

    @property
    def best(self):
        return next((r for r in self.rows if r.status == "complete"), None)


class SweepJob(_Job):
    """A sweep (playground.sweep.run) on a background thread: the finished
    trials, best first, and the running trial's progress, for a page to poll.
    ``stop()`` stops the running trial at its next step (it keeps its
    checkpoint, and goes on from it when the same plan runs again)."""

    def __init__(self, plan, words: Mapping[str, str] | None = None):
        self.plan = plan
        self._stop = threading.Event()
        super().__init__(SweepState(total=plan.total), f"sweep-{plan.study}", words)

    def _ask_to_stop(self) -> None:
        self._stop.set()

    def _on_event(self, number: int, values: dict, event) -> None:
        with self._lock:
            s = self._state
            if s.trial != number:
                s.trial, s.values, s.epoch, s.step, s.steps = number, dict(values), 0, 0, 0
            if isinstance(event, RunStarted):
                s.epochs, s.steps, s.epoch, s.step = event.epochs, event.steps_per_epoch, event.start_epoch, 0
                if s.status == "starting":
                    s.status = "running"
            elif isinstance(event, StepDone):
                s.epoch, s.step, s.steps = event.epoch, event.step, event.steps

    def _on_trial(self, row, rows: list, total: int) -> None:
        with self._lock:
            self._state.rows, self._state.trial = rows, None

    def _run(self) -> None:
        from playground import sweep

        study = None
        try:
            study = sweep.open_study(self.plan)
            rows = sweep.trial_rows(study)   # a continued sweep shows what it already has
            with self._lock:
                self._state.rows = rows
            sweep.run(self.plan, study=study, on_trial=self._on_trial, on_event=self._on_event,
                      should_stop=self._stop.is_set)
            status = "stopped" if self._stop.is_set() else "completed"
        except sweep.Stopped:
            status = "stopped"
        except Exception as exc:  # shown on the page; the full story goes to the server log
            log.exception("sweep %s failed", self.plan.study)
            with self._lock:
                self._state.error = self._message(exc)
            status = "failed"
        rows = None
        if study is not None:
            try:
                rows = sweep.trial_rows(study)
                sweep.write_summary(study, self.plan.doc, self.plan.folder)
            except Exception:  # noqa: BLE001  (the study's own storage failed: keep what was shown)
                log.exception("reading sweep %s", self.plan.study)
        with self._lock:
            if rows is not None:
                self._state.rows = rows
            self._state.status, self._state.finished_at, self._state.trial = status, time.time(), None
