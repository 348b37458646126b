"""The Predict tab: a trained run (the newest that finished, until one is
picked; sweep trials too), its exports, a digit drawn on a canvas with the model's probabilities, and its
test images with predictions and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from playground.app import views
from playground.core import texts
from playground.layers.shapes import fmt
from playground.page.state import WORDS, Folders, shared
from playground.page.widgets import export_buttons, panel
from playground.runs import folders as runs


@dataclass(frozen=True)
class Keys:
    """The Predict tab's keys in st.session_state (widget keys among them)."""

    run: str = "predict_run"                # "Model (run folder)"
    pinned: str = "predict_pinned"          # a run was picked by hand: it stays picked
    canvas_round: str = "canvas_round"      # Clear starts a new canvas (a new key)
    browse: str = "browse_toggle"           # "Show test images with predictions"
    page: str = "browse_page"
    export: str = "run"                     # the export buttons: export-run-<format>

    def canvas(self, round_: int) -> str:
        return f"canvas-{round_}"


KEYS = Keys()
DEFAULTS = {KEYS.pinned: False, KEYS.canvas_round: 0}


def _state():
    return st.session_state


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _load_run(path: str, stamp: float):
    from playground.train.inference import load_run
    return load_run(path, "cpu")


@st.cache_data(max_entries=4, show_spinner="Evaluating on the test set...")
def _evaluate(path: str, stamp: float, data_dir: str | None):
    from playground.train.inference import evaluate_run
    run = _load_run(path, stamp)
    return evaluate_run(run, data_dir, download=False)


def _on_pick_run() -> None:
    _state()[KEYS.pinned] = True


def _choices(folders: Folders) -> dict[str, str]:
    """{run folder: its name in the list}: runs/ newest first, then each sweep's trials."""
    found = {str(p): p.name for p in runs.list_runs(folders.runs) if (p / runs.CHECKPOINT_FILE).exists()}
    if folders.sweeps.is_dir():
        for sweep in sorted((p for p in folders.sweeps.iterdir() if p.is_dir()), reverse=True):
            found.update({str(p): f"sweep {sweep.name} / {p.name}" for p in runs.list_runs(sweep)
                          if (p / runs.CHECKPOINT_FILE).exists()})
    return found


def _status(path: str) -> str | None:
    try:
        return runs.read_info(path).get("status")
    except runs.RunError:
        return None


def _default(choices: list[str]) -> str:
    """The newest run that finished (a stopped or failed one is picked only by hand), else the newest."""
    return next((p for p in choices if _status(p) == "completed"), choices[0])


def render(folders: Folders) -> None:
    shared.setdefaults(DEFAULTS)
    state = _state()
    names = _choices(folders)
    choices = list(names)
    if not choices:
        st.info("Train a model (Train tab) or put run folders under runs/ to try predictions.")
        return
    if not state[KEYS.pinned] or state.get(KEYS.run) not in choices:
        state[KEYS.run], state[KEYS.pinned] = _default(choices), False   # until one is picked
    path = st.selectbox("Model (run folder)", choices, key=KEYS.run, on_change=_on_pick_run,
                        format_func=lambda p: names[p] + ("  (newest)" if p == choices[0] else ""),
                        help="Runs under runs/, newest first, then the trials of each sweep. The newest run "
                             "that finished is shown until you pick one.")
    if path != choices[0]:
        st.caption(f"A newer run exists: {names[choices[0]]} ({_status(choices[0]) or 'unreadable'}).")
    stamp = (Path(path) / runs.CHECKPOINT_FILE).stat().st_mtime
    run = _load_run(path, stamp)
    try:
        sentence = texts.outcome(runs.read_info(path))
    except runs.RunError as exc:
        sentence = str(exc)
    st.caption(f"{run.spec.name} on {run.spec.data.dataset}: {sentence}")
    export_buttons(run.spec, path, KEYS.export)
    draw, browse = st.columns(2)
    if tuple(run.spec.input.shape()) == (1, 28, 28):   # a digit drawn on the canvas is a 28x28 gray image
        panel(draw, "Draw a digit", drawing_panel, run)
    else:
        draw.info(f"Drawing is for models of 28x28 grayscale digits; this one takes "
                  f"{fmt(run.spec.input.shape())} images. Browse its test images instead.")
    panel(browse, "Test images", browse_panel, path, stamp, _data_root(path))


def _data_root(path: str) -> tuple[str | None, str]:
    """Where the run's test images are: the data root its run.json records when it is
    there (a run trained elsewhere, e.g. from the command line), else the page's Data folder."""
    try:
        recorded = runs.read_info(path).get("data_root")
    except runs.RunError:
        recorded = None
    if recorded and Path(recorded).is_dir():
        return recorded, f"the run's own data root, {recorded}"
    page = shared.data_dir
    why = f" ({recorded}, where it was trained, is not here)" if recorded else ""
    return page, f"the Data folder on the Train tab, {page or 'the default'}{why}"


def _on_clear() -> None:
    state = _state()
    state[KEYS.canvas_round] += 1


def drawing_panel(run) -> None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.info("Install streamlit-drawable-canvas (pip install -e '.[app]') to draw digits.")
        return
    import torch

    from playground.train.inference import digit_to_input, predict_proba

    result = st_canvas(stroke_width=18, stroke_color="#ffffff", background_color="#000000", height=280, width=280,
                       drawing_mode="freedraw", return_image_data=True,
                       key=KEYS.canvas(_state()[KEYS.canvas_round]))
    # the button on its own line: in a column a third of the panel's width its label was cut
    st.button("Clear the drawing", on_click=_on_clear)
    st.caption("Draw with the mouse. Clear starts over; the canvas toolbar's arrows undo strokes.")
    data = result.image_data
    if data is None or data[..., :3].max() == 0:
        st.caption("Draw a white digit on the black square.")
        return
    gray = torch.as_tensor(data[..., :3].astype("float32").mean(-1))
    image = digit_to_input(gray)
    probs = predict_proba(run, image[None])[0]
    classes = run.classes
    cols = st.columns([1, 2])
    cols[0].image(image.repeat_interleave(5, 0).repeat_interleave(5, 1).numpy(), caption="what the model sees (28x28)")
    best = int(probs.argmax())
    cols[1].metric("Prediction", classes[best])
    cols[1].markdown(f"**{texts.percent(float(probs[best]))}** probability")
    cols[1].bar_chart(pd.DataFrame({"probability (%)": (100 * probs).numpy()}, index=list(classes)), height=220)


def confusion_heatmap(ev) -> None:
    import altair as alt

    frame = pd.DataFrame.from_records(views.confusion_records(ev.classes, ev.confusion))
    order = list(ev.classes)
    chart = alt.Chart(frame).mark_rect().encode(
        x=alt.X("predicted:N", sort=order, title="predicted"), y=alt.Y("true:N", sort=order, title="true class"),
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues"), title="share of the class"),
        tooltip=["true", "predicted", "images", alt.Tooltip("share:Q", format=".1%")])
    st.caption("Confusion matrix: each row is a true class, its cells the share predicted as each class.")
    st.altair_chart(chart, width="stretch")


def browse_panel(path: str, stamp: float, where: tuple[str | None, str]) -> None:
    if not st.toggle("Show test images with predictions", key=KEYS.browse):
        return
    from playground.train.data import DataError
    root, said = where
    st.caption(f"Test images from {said}.")
    try:
        ev = _evaluate(path, stamp, root)
    except DataError as exc:
        st.error(views.error_markdown(exc.message(WORDS)))
        return
    confusion_heatmap(ev)
    wrong = (ev.predictions != ev.labels).nonzero().flatten().tolist()
    right = (ev.predictions == ev.labels).nonzero().flatten().tolist()
    st.caption(f"{texts.count(len(wrong))} of {texts.count(len(ev.labels))} test images misclassified, "
               "shown first")
    order = wrong + right
    page = st.number_input("page", min_value=1, max_value=max(1, (len(order) + 23) // 24), value=1, key=KEYS.page)
    chosen = order[(page - 1) * 24:page * 24]
    cols = st.columns(6)
    for n, i in enumerate(chosen):
        true, pred = ev.classes[ev.labels[i]], ev.classes[ev.predictions[i]]
        mark = "✓" if true == pred else "✗"
        image = ev.images[i]   # H x W, or H x W x C
        image = image[..., 0] if image.dim() == 3 and image.shape[-1] == 1 else image
        cols[n % 6].image(image.numpy(), caption=f"{mark} {true} → {pred}", width=72)
