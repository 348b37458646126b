"""playground's Streamlit page: edit a spec, see every layer's shape live,
train it, sweep variants of it, compare runs, and try the model on digits
you draw.

    streamlit run app.py

This file is the frame: the page's settings, the live check of the open text
(once per run, handed to every part), the sidebar and the tabs. Each tab is a
module of ``playground.page`` with its own callbacks and state keys; the state
they share (the open text and its history, where it came from, the data
folder, the running jobs) is ``playground.page.state``'s. The page only calls
the library and ``playground.app``'s Streamlit-free helpers: it holds no shape
logic and no training loop.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from playground.app import editing
from playground.layers.registry import PluginError
from playground.page import edit, predict, runs, sidebar, sweep, train
from playground.page.state import Folders, shared
from playground.page.widgets import guard

ROOT = Path(__file__).resolve().parent   # specs/, runs/ and sweeps/ are here unless $PLAYGROUND_*_DIR says

st.set_page_config(page_title="playground", page_icon="🧱", layout="wide")


def main() -> None:
    folders = Folders.from_env(ROOT)
    shared.init(folders)
    st.title("playground")
    st.html("<style>textarea[aria-label='Spec (YAML)'] {font-family: ui-monospace, Menlo, Consolas, monospace; "
            "font-size: 0.8rem; white-space: pre; overflow-x: auto}</style>")   # YAML reads as code
    try:
        checked = editing.check_text(shared.text, data_root=shared.data_dir)
    except PluginError as exc:
        st.error(f"Layer plugins failed to load: {exc}")
        return
    sidebar.render(checked, folders)
    edit_tab, train_tab, sweep_tab, predict_tab, runs_tab = st.tabs(["Edit", "Train", "Sweep", "Predict", "Runs"])
    with edit_tab:
        edit.render(checked)
    with train_tab, guard("Training"):
        train.render(checked, folders)
    with sweep_tab, guard("The sweep"):
        sweep.render(checked, folders)
    with predict_tab, guard("Predicting"):
        predict.render(folders)
    with runs_tab, guard("The runs view"):
        runs.render(folders)


main()
