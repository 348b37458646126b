"""The Sweep tab: vary fields of the open spec (PATH=VALUES lines), watch the
trials as they finish (best first, refusals with their message), stop and
continue, apply the best values to the open spec with undo."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from playground.app import editing, views
from playground.core import texts
from playground.core.errors import SpecError
from playground.format import edits
from playground.page.state import WORDS, Folders, shared
from playground.page.widgets import LIVE_EVERY_S, fitted_columns

SAMPLER_CHOICES = ("auto", "grid", "random", "tpe")


@dataclass(frozen=True)
class Keys:
    """The Sweep tab's keys in st.session_state (widget keys among them)."""

    sets: str = "sweep_sets"                # "Fields to vary": PATH=VALUES lines
    sampler: str = "sweep_sampler"
    trials: str = "sweep_trials"            # 0: every combination (or 10)
    epochs: str = "sweep_epochs"            # epochs per trial
    error: str = "sweep_error"              # why the last start was refused
    stop: str = "stop_sweep"                # buttons of the running or ended sweep
    resume: str = "continue_sweep"
    apply_best: str = "apply_best"
    table: str = "sweep_trials_table"       # the trials, best first
    shown: str = "shown_sweep"              # the ended job the whole page was rerun for


KEYS = Keys()


def _defaults(spec) -> dict:
    """The form's first values follow the open spec (or a spec-less guess)."""
    lr = spec.train.lr if spec is not None else 0.01
    return {KEYS.sets: f"train.lr=[{lr / 2:g}, {lr:g}, {lr * 2:g}]", KEYS.sampler: "auto", KEYS.trials: 0,
            KEYS.epochs: min(spec.train.epochs, 3) if spec is not None else 3, KEYS.error: None, KEYS.shown: None}


def _state():
    return st.session_state


# -- callbacks ---------------------------------------------------------------------

def _start_sweep(doc: dict, name: str, folders: Folders) -> None:
    import time

    from playground import sweep
    from playground.app.jobs import SweepJob

    state = _state()
    study = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    sets = [line.strip() for line in state[KEYS.sets].splitlines() if line.strip() and not line.lstrip()
            .startswith("#")]
    sampler = state[KEYS.sampler]
    try:
        plan = sweep.plan(doc, sets, sampler=None if sampler == "auto" else sampler,
                          trials=int(state[KEYS.trials]) or None, study=study, out=folders.sweeps / study,
                          epochs=int(state[KEYS.epochs]), data_dir=shared.data_dir, download=shared.download)
    except (sweep.SweepError, SpecError) as exc:
        state[KEYS.error] = str(exc)
        return
    state[KEYS.error] = None
    shared.sweep_job = SweepJob(plan, words=WORDS).start()


def _continue_sweep() -> None:
    """The same study, fields, sampler, trials and epochs; the data settings as they are now
    (the ones the sweep failed on may have been corrected since)."""
    from playground.app.jobs import SweepJob

    plan = replace(shared.sweep_job.plan, data_dir=shared.data_dir, download=shared.download)
    shared.sweep_job = SweepJob(plan, words=WORDS).start()


def _on_apply_best(values: dict, study: str) -> None:
    if shared.edit(lambda t: edits.set_paths(t, values), f"applied the best values of sweep {study}"):
        shared.say("success", "The best trial's values are in the spec: "
                   + views.values_text(values) + ". Undo takes them back.")


# -- the tab -------------------------------------------------------------------------

def render(checked: editing.Checked, folders: Folders) -> None:
    """The sweep form is drawn whatever the spec's state (Streamlit forgets the
    value of a widget that is not drawn: typed fields would be lost while the
    spec is briefly invalid); only the start button waits for a valid spec."""
    state = _state()
    spec = checked.spec
    shared.setdefaults(_defaults(spec))
    st.caption("Train variants of the open spec and compare them: one field per line, `PATH=VALUES`. "
               "Each trial is a run folder; a variant the check refuses trains nothing.")
    st.text_area("Fields to vary", key=KEYS.sets, height=100,
                 help="A YAML list (train.lr=[0.01, 0.05]) for every combination, or a range for the random "
                      "and TPE samplers: loguniform(1e-4, 1e-1), uniform(0, 0.5), int(8, 64).")
    named = views.named_paths(checked.doc_layers)
    st.caption("Fields: `train.lr`, `train.momentum`, `data.batch_size`, ... "
               + (f"and layers by name: {', '.join(f'`{n}.FIELD`' for n in named)}." if named else
                  "Give a layer a `name:` to vary its fields (layers.NAME.FIELD)."))
    cols = st.columns(3)
    cols[0].selectbox("Sampler", SAMPLER_CHOICES, key=KEYS.sampler,
                      help="auto: grid when every field has a list of values, else TPE.")
    cols[1].number_input("Trials (0: every combination, or 10)", min_value=0, max_value=1000, key=KEYS.trials)
    cols[2].number_input("Epochs per trial", min_value=1, max_value=10000, key=KEYS.epochs)
    training = shared.training
    if spec is None:
        st.warning("Fix the spec first (see the Edit tab): only a valid spec can be swept.")
    elif not spec.trainable:
        st.info("This spec names no dataset (`data: {dataset: none}`): set `data.dataset` to sweep it.")
    else:
        st.button(f"Sweep {spec.name}", type="primary", disabled=shared.sweeping or training,
                  on_click=_start_sweep, args=(checked.doc, spec.name, folders),
                  help="A training run is going on (see the Train tab)." if training else None)
        if state[KEYS.error]:
            st.error(views.error_markdown(state[KEYS.error]))
    sweep_panel()


def _sweep_status(s) -> str:
    if s.status == "starting":
        return "Opening the study and reading the data..."
    if s.status == "stopping":
        return "Stopping the running trial (it keeps its checkpoint)..."
    if s.active and s.trial is not None:
        values = views.values_text(s.values)
        where = f"epoch {s.epoch} of {s.epochs}, step {texts.count(s.step)} of {texts.count(s.steps)}" \
            if s.steps else "starting"
        return f"Trial {s.trial} ({s.finished + 1} of {s.total}): {values}: {where}"
    if s.active:
        return f"{s.finished} of {s.total} trials done..."
    best = s.best
    ended = {"completed": "Finished", "stopped": "Stopped", "failed": "Failed"}.get(s.status, s.status)
    return f"{ended}: {s.finished} of {s.total} trials" + (
        f"; best: trial {best.number}, {texts.percent(best.accuracy)}" if best else "") + "."


def sweep_panel() -> None:
    """The sweep's progress: redrawn every LIVE_EVERY_S while it runs (a fragment), drawn
    once when it is done, so that an idle page does nothing."""
    job = shared.sweep_job
    if job is None:
        return
    (_live_sweep if job.snapshot().active else _sweep)()


def _sweep() -> None:
    state = _state()
    job = shared.sweep_job
    s, plan = job.snapshot(), job.plan
    st.progress(s.progress if s.status != "completed" else 1.0, text=_sweep_status(s))
    st.caption(f"Sweep folder: {plan.folder} (its trials are in the Runs tab)")
    if s.active:
        st.button("Stop the sweep", key=KEYS.stop, on_click=job.stop,
                  help="The running trial stops at its next step and keeps its checkpoint; Continue goes on from it.")
    elif s.status in ("stopped", "failed") and s.finished < s.total:
        st.button("Continue the sweep", key=KEYS.resume, on_click=_continue_sweep, disabled=shared.training)
        changed = plan.data_dir != shared.data_dir or plan.download != shared.download
        st.caption("Continue keeps this sweep's fields, sampler, trials and epochs. It uses the Data folder as it "
                   f"is now: {shared.data_dir or 'the default'}"
                   + (" (changed since this sweep started)" if changed else "") + ", download "
                   + ("on" if shared.download else "off") + " (Train tab).")
    if s.error:
        st.error(views.error_markdown(s.error))
    if s.rows:
        frame = pd.DataFrame.from_records(views.sweep_rows(s.rows))
        st.dataframe(frame, hide_index=True, width="stretch", key=KEYS.table,
                     column_config=fitted_columns(frame, right=("test accuracy",)))
    best = s.best
    if best is not None and not s.active:
        st.button(f"Apply the best values to the open spec (trial {best.number}: "
                  + views.values_text(best.params) + ")", key=KEYS.apply_best,
                  on_click=_on_apply_best, args=(best.params, plan.study),
                  help="Sets these fields in the editor's text, keeping the rest as written; undo takes them back.")
    for r in (r for r in s.rows if r.message):   # refused or diverged
        with st.expander(f"Trial {r.number} {r.status}: why"):
            st.markdown(views.error_markdown(r.message))
    if not s.active and state[KEYS.shown] is not job:
        state[KEYS.shown] = job
        st.rerun()  # the whole page: the Runs tab lists the new trial folders; no more timed redraws


_live_sweep = st.fragment(run_every=LIVE_EVERY_S)(_sweep)
