"""The page's shared state, in one typed place: the open text and its history,
where it came from, the data folder and its download setting, the running
training and sweep jobs, and the message the sidebar shows next. Every tab
reads and changes these through ``shared`` (a ``PageState``), never through
string keys of its own; each tab's own keys are declared at the top of its
module.

The YAML text is the one source of truth: every change to it (typing, the
layer editor, opening, uploading, undo and redo, a sweep's best values) goes
through ``apply`` or ``open``, so the history keeps what it replaced. The live
check of the text is the frame's (``app.py``): done once per run and handed
to each tab, never kept here, where a callback or a fragment would read an
old one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from playground.app import editing
from playground.app.history import History
from playground.core.errors import SpecError
from playground.runs import folders as runs

DEFAULT_SPEC = "mnist_cnn.yaml"
# How the page words the settings an error's fix names (playground.core.errors.Setting): the
# data root is the Data folder field, which is on the Train tab, whichever tab shows the error.
WORDS = {"data_root": "the Data folder field on the Train tab"}


@dataclass(frozen=True)
class Keys:
    """The shared keys in st.session_state. Two are widget keys: the Edit tab's
    text area edits ``text`` in place, the Train tab's Data folder field
    ``data_dir``, and its "Download if missing" box ``download``."""

    text: str = "yaml_text"            # the open YAML text
    source: str = "source"             # editing.Source: where it came from, as it came
    history: str = "history"           # History: undo and redo over the text
    data_dir: str = "data_dir"         # the data root, as typed ("" for the default)
    download: str = "train_download"   # download a missing dataset (training and sweeps)
    job: str = "job"                   # the training job (jobs.TrainingJob), running or done
    sweep_job: str = "sweep_job"       # the sweep job (jobs.SweepJob), running or done
    flash: str = "flash"               # (kind, message) the sidebar shows on the next run
    opened: str = "opened"             # how many specs were opened: a tab's per-spec state follows it
    data_dirs: str = "data_dirs"       # {(source kind, name): the data folder set while it was open}


KEYS = Keys()


@dataclass(frozen=True)
class Folders:
    """Where specs are listed and saved, runs go, and sweeps go. Read from the
    environment on every run (tests point them elsewhere), under ``root`` else."""

    specs: Path
    runs: Path
    sweeps: Path

    @classmethod
    def from_env(cls, root: Path) -> Folders:
        return cls(specs=Path(os.environ.get("PLAYGROUND_SPECS_DIR", root / "specs")),
                   runs=Path(os.environ.get("PLAYGROUND_RUNS_DIR", root / runs.DEFAULT_RUNS)),
                   sweeps=Path(os.environ.get("PLAYGROUND_SWEEPS_DIR", root / "sweeps")))

    def spec_files(self) -> list[str]:
        """The specs to open: the folder's own, then those one folder down (``zoo/vit_b_16.yaml``)."""
        return sorted(p.name for p in self.specs.glob("*.y*ml")) + \
            sorted(p.relative_to(self.specs).as_posix() for p in self.specs.glob("*/*.y*ml"))


def _default_data() -> str:
    return os.environ.get("PLAYGROUND_DATA", "data")


def _active(job) -> bool:
    return job is not None and job.snapshot().active


class PageState:
    """Typed access to the shared keys of st.session_state (or of ``store``,
    e.g. an AppTest's session_state)."""

    def __init__(self, store: MutableMapping[str, Any] | None = None):
        self._store = store

    @property
    def _state(self) -> MutableMapping[str, Any]:
        return st.session_state if self._store is None else self._store

    def init(self, folders: Folders) -> None:
        """The defaults, on a session's first run: the default spec open."""
        state = self._state
        if KEYS.text not in state:
            path = folders.specs / DEFAULT_SPEC
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            state[KEYS.text] = text
            state[KEYS.source] = editing.Source.file(DEFAULT_SPEC, text) if path.exists() else \
                editing.Source("new", "", text)
            state[KEYS.history] = History.start(text, f"opened {DEFAULT_SPEC}")
        self.setdefaults({KEYS.flash: None, KEYS.job: None, KEYS.sweep_job: None, KEYS.data_dir: _default_data(),
                          KEYS.download: True, KEYS.opened: 0, KEYS.data_dirs: {}})

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        """Set each key that has no value yet (a tab's own defaults, too)."""
        state = self._state
        for key, value in defaults.items():
            state.setdefault(key, value)

    # -- the open text ------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._state[KEYS.text]

    @property
    def source(self) -> editing.Source:
        return self._state[KEYS.source]

    @source.setter
    def source(self, source: editing.Source) -> None:
        self._state[KEYS.source] = source

    @property
    def history(self) -> History:
        return self._state[KEYS.history]

    def apply(self, text: str, label: str) -> None:
        """Make ``text`` the spec; the history keeps what it replaced."""
        self._state[KEYS.text] = text
        self.history.record(text, label)

    def typed(self) -> None:
        """The text area changed the text in place: record it."""
        self.history.record(self.text, "typed in the YAML")

    def step(self, direction: str) -> None:
        """Undo or redo (``direction``): show the text the history steps to, if it can."""
        text = {"undo": self.history.undo, "redo": self.history.redo}[direction]()
        if text is not None:
            self._state[KEYS.text] = text

    def open(self, source: editing.Source, label: str) -> None:
        """Open ``source``'s text (undo brings back what it replaced) and say so.
        What belongs to one spec does not follow it to the next: the data folder
        comes back as it was set for this spec (else the default), and tabs
        reset their per-spec state when ``opened`` changes."""
        state = self._state
        replaced = self.source.describe(self.text)
        edited = self.source.edited(self.text)
        folders = dict(state[KEYS.data_dirs])
        before = folders[(self.source.kind, self.source.name)] = state[KEYS.data_dir]
        state[KEYS.data_dirs] = folders
        state[KEYS.data_dir] = folders.get((source.kind, source.name), _default_data())
        self.apply(source.text, label)
        self.source = source
        state[KEYS.opened] += 1
        self.say("success", f"Opened {source.describe(source.text)}."
                 + (f" Undo brings back {replaced}." if edited else "")
                 + (f" Data folder: {state[KEYS.data_dir] or 'the default'} (was {before or 'the default'})."
                    if state[KEYS.data_dir] != before else ""))

    @property
    def opened(self) -> int:
        """How many specs this session opened (a tab resets what it kept for the last one when it changes)."""
        return self._state[KEYS.opened]

    def edit(self, change: Callable[[str], str], label: str) -> bool:
        """Apply ``change`` (text in, text out) to the text; False, and a message
        saying where, when the text no longer parses."""
        try:
            self.apply(change(self.text), label)
            return True
        except SpecError as exc:
            self.say("error", f"The layer editor cannot change this text: {exc}")
            return False

    # -- messages -------------------------------------------------------------------

    def say(self, kind: str, message: str) -> None:
        """A message (``st.<kind>``) for the sidebar to show on the next run."""
        self._state[KEYS.flash] = (kind, message)

    def take_flash(self) -> tuple[str, str] | None:
        flash, self._state[KEYS.flash] = self._state[KEYS.flash], None
        return flash

    # -- data -----------------------------------------------------------------------

    @property
    def data_dir(self) -> str | None:
        """The data folder as set on the page; None for the default ($PLAYGROUND_DATA, else ./data)."""
        return self._state[KEYS.data_dir] or None

    @property
    def download(self) -> bool:
        return bool(self._state[KEYS.download])

    # -- jobs -----------------------------------------------------------------------

    @property
    def job(self):
        """The training job started from the page (running or done), or None."""
        return self._state[KEYS.job]

    @job.setter
    def job(self, job) -> None:
        self._state[KEYS.job] = job

    @property
    def sweep_job(self):
        """The sweep started from the page (running or done), or None."""
        return self._state[KEYS.sweep_job]

    @sweep_job.setter
    def sweep_job(self, job) -> None:
        self._state[KEYS.sweep_job] = job

    @property
    def training(self) -> bool:
        return _active(self.job)

    @property
    def sweeping(self) -> bool:
        return _active(self.sweep_job)


shared = PageState()
