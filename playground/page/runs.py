"""The Runs tab: every run folder under runs/ (not only this session's), or a
sweep's trial folders; rows picked to overlay their curves and see what
differs in their specs; a run's spec opened in the editor (with undo)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from playground.app import editing
from playground.page.state import Folders, shared
from playground.page.widgets import fitted_columns, line_chart
from playground.runs import folders as runs


@dataclass(frozen=True)
class Keys:
    """The Runs tab's keys in st.session_state (widget keys, all of them)."""

    base: str = "runs_base"                 # "Run folders in": runs/ or a sweep's folder

    def pick(self, base: str) -> str:
        return f"runs_pick-{base}"          # the table's selected rows, one selection per folder

    def open(self, name: str) -> str:
        return f"open-run-{name}"           # "Open the spec of NAME in the editor"


KEYS = Keys()


def _on_open_run_spec(folder: str) -> None:
    try:
        text = (Path(folder) / runs.SPEC_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        shared.say("error", f"Cannot open the spec of {folder}: {exc}")
        return
    shared.open(editing.Source("run", Path(folder).name, text), f"opened the spec of {Path(folder).name}")


def render(folders: Folders) -> None:
    """Every run folder under runs/, not only this session's: pick some to compare."""
    from playground.runs import listing as records

    sweeps = sorted((p for p in folders.sweeps.iterdir() if p.is_dir() and any(p.glob("trial-*"))),
                    key=lambda p: p.name, reverse=True) if folders.sweeps.is_dir() else []
    home = str(folders.runs)
    bases = [home, *map(str, sweeps)]
    base = st.selectbox("Run folders in", bases, key=KEYS.base,
                        format_func=lambda b: f"{b} (runs)" if b == home else f"sweep {Path(b).name}",
                        help="The runs folder, or a sweep's folder (one run folder per trial).") \
        if sweeps else home
    rows = records.list_records(base)
    if not rows:
        st.info(f"No run folders under {base} yet.")
        return
    frame = pd.DataFrame.from_records([dict(zip(records.COLUMNS, records.row_texts(r), strict=True)) for r in rows])
    st.caption(f"{len(rows)} run folders under {base}, newest first. Select rows to compare them.")
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                          key=KEYS.pick(base), column_config=fitted_columns(
                              frame, right=("params", "MACs", "epochs", "best acc", "last acc", "time")))
    chosen = [rows[i] for i in picked.selection.rows] if picked and picked.selection else []
    if not chosen:
        return
    names = [Path(r.folder).name for r in chosen]
    curves = [{"run": n, "epoch": m["epoch"], "test accuracy (%)": 100 * m["test_accuracy"],
               "train loss": m["train_loss"]} for n, r in zip(names, chosen, strict=True)
              for m in _metrics(Path(r.folder)) if "test_accuracy" in m]
    if curves:
        frame = pd.DataFrame.from_records(curves)
        cols = st.columns(2)
        for col, y in zip(cols, ("test accuracy (%)", "train loss"), strict=True):
            with col:
                line_chart(frame, "epoch", y, points=True, integer_x=True, color="run")
    if len(chosen) > 1:
        specs = []
        for r in chosen:
            try:
                specs.append(records.resolved_spec(Path(r.folder)))
            except (OSError, ValueError):
                specs.append({})
        st.markdown("**What differs in their specs**")
        st.code(records.diff_text(names, records.spec_diff(specs)), language=None)
    for r, n in zip(chosen, names, strict=True):
        st.button(f"Open the spec of {n} in the editor", key=KEYS.open(n), on_click=_on_open_run_spec,
                  args=(r.folder,), disabled=not (Path(r.folder) / runs.SPEC_FILE).exists())


def _metrics(folder: Path) -> list[dict]:
    """A run's epochs for the chart; none for a damaged metrics.jsonl (the table's problem column says so)."""
    try:
        return runs.read_metrics(folder)
    except runs.RunError:
        return []
