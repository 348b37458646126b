"""Parts more than one tab draws: a guarded panel (a failure is a message on the
page, never a traceback), the export buttons (their state is theirs, keyed by
the caller's ``key``), a light line chart."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

TABLE_ROW_PX, MAX_UNSCROLLED_ROWS = 35, 30   # a dataframe's row height; rows shown before it scrolls
EXPORT_LABELS = {"onnx": "ONNX", "torchscript": "TorchScript", "exported": "torch.export (.pt2)",
                 "python": "PyTorch source (.py)"}
log = logging.getLogger("playground.app")
# How often a running job's progress is redrawn. Each redraw costs the browser about
# 0.2 s of CPU (Streamlit's rerun cycle, whatever it draws), and on a machine of few
# cores that time is taken from the training's threads, which wait on one another:
# every 2 s made the page's training 1.5x slower than the command line's, every 5 s
# (bench/page_training.py) keeps most of that.
LIVE_EVERY_S = 5.0


@contextmanager
def guard(what: str):
    """Show a failure as a message on the page, never a traceback; the rest keeps working."""
    try:
        yield
    except Exception as exc:  # ScriptControlException (reruns) is a BaseException and passes through
        log.exception("%s failed", what)
        st.error(f"{what} failed: {type(exc).__name__}: {exc}")


def panel(column, title: str, render, *args) -> None:
    """A titled part of the page in ``column``; its failure stays inside it."""
    with column:
        st.subheader(title)
        with guard(title):
            render(*args)


def export_buttons(spec, run_dir: str | None, key: str, summary=None) -> None:
    """One button per export format. A click makes that file (a spinner says so,
    every export button is disabled meanwhile: a big network takes seconds), then
    offers it for download. ``summary``: the page's check of ``spec`` (with its
    data folder), which the export builds from instead of checking the spec again.
    The file made is offered only for the spec or run it was made from."""
    from playground import export

    state = st.session_state
    busy_key, ready_key = f"export-{key}-busy", f"export-{key}-ready"
    made_from = run_dir or spec.model_dump_json()
    stem = Path(run_dir).name if run_dir else spec.name
    busy = state.get(busy_key)
    cols = st.columns(len(export.FORMATS) + 1)
    cols[0].markdown("**Export**")
    for col, kind in zip(cols[1:], export.FORMATS, strict=True):
        col.button(EXPORT_LABELS[kind], key=f"export-{key}-{kind}", disabled=busy is not None, width="stretch",
                   on_click=state.__setitem__, args=(busy_key, kind))
    if busy is not None:
        state[ready_key] = None
        try:
            with st.spinner(f"Exporting {stem} as {EXPORT_LABELS[busy]}..."):
                item = export.load(run_dir) if run_dir else export.from_spec(spec, summary=summary)
                state[ready_key] = (made_from, busy, export.to_bytes(item, busy))
        except Exception as exc:  # shown under the buttons; the full story goes to the server log
            log.exception("exporting %s as %s failed", stem, busy)
            state[ready_key] = (made_from, busy, f"Exporting as {EXPORT_LABELS[busy]} failed: {exc}")
        finally:
            state[busy_key] = None
        st.rerun()   # the buttons enabled again, the file offered
    ready = state.get(ready_key)
    if ready is not None and ready[0] == made_from:
        _, kind, data = ready
        if isinstance(data, str):
            st.error(data)
            return
        name = f"{stem}{export.FORMATS[kind]}"
        st.download_button(f"Download {name} ({len(data) / 1e6:.1f} MB)", data, file_name=name,
                           key=f"export-{key}-download", on_click="ignore", mime="application/octet-stream")


def fitted_columns(frame: pd.DataFrame, right: tuple[str, ...] = ()) -> dict:
    """column_config for st.dataframe whose columns are as wide as their widest text
    (a grid's default widths cut '2 min 5 s' and long numbers); ``right``: right-aligned."""
    from playground.app.views import column_widths

    return {name: st.column_config.Column(width=width, alignment="right" if name in right else None)
            for name, width in column_widths(frame.columns, frame.astype(str).values.tolist()).items()}


def line_chart(frame: pd.DataFrame, x: str, y: str, points: bool = False, integer_x: bool = False,
               color: str | None = None) -> None:
    """A plain Vega-Lite line chart (one line per value of ``color``). Cheaper than
    st.line_chart, whose Altair objects cost enough CPU on every refresh to slow a
    training run down. Ticks read as numbers ('96.78', never '96.780002'); the
    legend's labels are whole (two runs of a spec differ only at their ends)."""
    x_axis = {"title": x, "tickMinStep": 1, "format": "d"} if integer_x else {"title": x, "format": "~g"}
    encoding = {"x": {"field": x, "type": "quantitative", "axis": x_axis},
                "y": {"field": y, "type": "quantitative", "scale": {"zero": False},
                      "axis": {"title": y, "tickCount": 6, "format": ".4~g"}}}
    if color is not None:
        encoding["color"] = {"field": color, "type": "nominal",
                             "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 0, "title": None}}
    st.vega_lite_chart(frame, {"mark": {"type": "line", "point": points}, "encoding": encoding},
                       width="stretch", height=260)
