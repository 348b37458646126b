"""Parts more than one tab draws: a guarded panel (a failure is a message on the
page, never a traceback), the export buttons, a light line chart. No state."""

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
    """One download button per export format; the file is made when it is clicked.
    ``summary``: the page's check of ``spec`` (with its data folder), which the
    export builds from instead of checking the spec again."""
    from playground import export

    def making(kind: str):
        def data() -> bytes:   # runs on the click, outside the script run: no session state here
            item = export.load(run_dir) if run_dir else export.from_spec(spec, summary=summary)
            return export.to_bytes(item, kind)
        return data

    cols = st.columns(len(export.FORMATS) + 1)
    cols[0].markdown("**Export**")
    stem = Path(run_dir).name if run_dir else spec.name
    for col, (kind, ext) in zip(cols[1:], export.FORMATS.items(), strict=True):
        col.download_button(EXPORT_LABELS[kind], making(kind), file_name=f"{stem}{ext}", key=f"export-{key}-{kind}",
                            on_click="ignore", mime="application/octet-stream", width="stretch")


def line_chart(frame: pd.DataFrame, x: str, y: str, points: bool = False, integer_x: bool = False,
               color: str | None = None) -> None:
    """A plain Vega-Lite line chart (one line per value of ``color``). Cheaper than
    st.line_chart, whose Altair objects cost enough CPU on every refresh to slow a
    training run down."""
    x_axis = {"title": x, "tickMinStep": 1, "format": "d"} if integer_x else {"title": x}
    encoding = {"x": {"field": x, "type": "quantitative", "axis": x_axis},
                "y": {"field": y, "type": "quantitative", "scale": {"zero": False},
                      "axis": {"title": y, "tickCount": 6}}}
    if color is not None:
        encoding["color"] = {"field": color, "type": "nominal"}
    st.vega_lite_chart(frame, {"mark": {"type": "line", "point": points}, "encoding": encoding},
                       width="stretch", height=260)
