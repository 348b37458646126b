"""The Train tab: the Data panel (the data folder, the spec's data section, an
image folder's classes and pictures), the training form (following the open
spec, except what the user changed), the running job's progress and curves,
and this session's runs."""

from __future__ import annotations

import hashlib
import typing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from playground.app import editing, views
from playground.app.forms import from_text, to_text
from playground.core import texts
from playground.core.errors import SpecError
from playground.format import edits
from playground.format.datasets import folder_path
from playground.format.spec import Data, Init, Train
from playground.layers.shapes import fmt
from playground.page.state import KEYS as SHARED
from playground.page.state import WORDS, Folders, shared
from playground.page.widgets import LIVE_EVERY_S, TABLE_ROW_PX, fitted_columns, guard, line_chart
from playground.runs import folders as runs

DEVICES = ["auto", "cpu", "cuda", "mps"]
DATA_FIELDS = tuple(Data.model_fields)
DATASET_CHOICES = tuple(typing.get_args(Data.model_fields["dataset"].annotation))
RESIZE_CHOICES = tuple(typing.get_args(Data.model_fields["resize"].annotation))


@dataclass(frozen=True)
class Keys:
    """The Train tab's keys in st.session_state (widget keys among them). The
    Data folder field and the "Download if missing" box are shared
    (state.KEYS.data_dir, state.KEYS.download): sweeps and Predict read them."""

    epochs: str = "train_epochs"            # the form: Epochs, Learning rate, Batch size, Device
    lr: str = "train_lr"
    batch: str = "train_batch"
    device: str = "train_device"
    shown: str = "train_shown"              # the spec's values the form last showed: {name: value}
    error: str = "train_error"              # the check's message for the settings of the last start
    stop: str = "stop_training"             # the Stop button
    session_runs: str = "session_runs"      # run folders trained from this page, oldest first
    recorded_job: str = "recorded_job"      # the last job put in the session's runs table

    def form(self, name: str) -> str:
        return {"epochs": self.epochs, "lr": self.lr, "batch": self.batch, "device": self.device}[name]

    def data(self, name: str) -> str:
        return f"data_{name}"               # the Data panel's widget for data.<name>

    def field(self, section: str, name: str) -> str:
        return f"{section}_{name}"          # the widget for <section>.<name> (data_<name>: the Data panel's)


KEYS = Keys()
DEFAULTS = {KEYS.shown: None, KEYS.error: None, KEYS.session_runs: (), KEYS.recorded_job: None}


def _state():
    return st.session_state


# -- the training form ----------------------------------------------------------------

def _sync_form(spec) -> None:
    """The training form follows the open spec's values, except the ones the user
    changed: those stay until they change them again."""
    state = _state()
    device = spec.train.device.split(":")[0]
    values = {"epochs": spec.train.epochs, "lr": spec.train.lr, "batch": spec.data.batch_size,
              "device": device if device in DEVICES else "auto"}
    shown = state[KEYS.shown] or {}
    for name, value in values.items():
        key = KEYS.form(name)
        if key not in state or state[key] == shown.get(name):
            state[key] = value
    state[KEYS.shown] = values


def _start_training(text: str, folders: Folders) -> None:
    """Train ``text`` (the open spec as checked on the page) with the form's
    settings: read and checked once, with them and the page's data folder."""
    from playground.app.jobs import TrainingJob
    from playground.check.analysis import load_checked
    from playground.format.datasets import data_root
    from playground.train.engine import Trainer

    state = _state()
    overrides = {"train.epochs": int(state[KEYS.epochs]), "train.lr": float(state[KEYS.lr]),
                 "data.batch_size": int(state[KEYS.batch]), "train.device": state[KEYS.device]}
    try:
        spec, summary = load_checked(text, data_root=data_root(shared.data_dir), overrides=overrides)
        trainer = Trainer(spec, summary=summary, runs_base=folders.runs, data_dir=shared.data_dir,
                          download=shared.download)
    except SpecError as exc:
        state[KEYS.error] = str(exc)
        return
    state[KEYS.error] = None
    shared.job = TrainingJob(trainer, words=WORDS).start()


def render(checked: editing.Checked, folders: Folders) -> None:
    shared.setdefaults(DEFAULTS)
    state = _state()
    with st.expander("Data", expanded=checked.data_section.get("dataset") == "image_folder"):
        with guard("The data settings"):
            data_panel(checked)
    with st.expander("Start from weights", expanded=bool(editing.written_section(checked.text, "init"))):
        with guard("The weights settings"):
            weights_panel(checked, folders)
    if checked.spec is None:
        st.warning("Fix the spec first (see the Edit tab): only a valid spec can be trained.")
    elif not checked.spec.trainable:
        st.info("This spec names no dataset (`data: {dataset: none}`): it can be checked, summarized and "
                "built, not trained. Set `data.dataset` (e.g. `mnist`) to train it.")
    else:
        spec = checked.spec
        _sync_form(spec)
        # Plain widgets, not st.form: a form holds typed values back until it is submitted,
        # and a spec edit meanwhile would redraw them from the spec and lose the typing.
        cols = st.columns(4)
        cols[0].number_input("Epochs", min_value=1, max_value=10000, key=KEYS.epochs)
        cols[1].number_input("Learning rate", min_value=0.0, max_value=10.0, format="%g", key=KEYS.lr,
                             help="Checked like train.lr in the spec (above 0, at most 10).")
        cols[2].number_input("Batch size", min_value=1, max_value=65536, key=KEYS.batch)
        cols[3].selectbox("Device", DEVICES, key=KEYS.device, help="auto picks CUDA, then Apple MPS, then the CPU.")
        busy, sweeping = shared.training, shared.sweeping
        st.button(f"Train {spec.name}", disabled=busy or sweeping, type="primary", on_click=_start_training,
                  args=(checked.text, folders), help="A sweep is running (see the Sweep tab)." if sweeping else None)
        st.caption("These settings apply to the next run; the spec keeps its own values. "
                   "Ones you change here stay when the spec changes.")
        if state[KEYS.error]:
            st.error(views.error_markdown(state[KEYS.error]))
    training_panel()
    runs_table()


# -- the Data panel ---------------------------------------------------------------------

SECTION_FIELDS = {"data": DATA_FIELDS, "init": tuple(Init.model_fields), "train": tuple(Train.model_fields)}


def _on_field(section: str, name: str, key: str, widget: str, shown) -> None:
    if _written(section, name) != shown:   # drawn for an earlier text: its value would undo what came since
        return
    value = _state()[key]
    if widget == "text":
        value = value.strip() or None
    elif widget == "yaml":
        value = from_text(value) if value.strip() else None
    elif widget == "names":
        value = list(value) or None
    shared.edit(lambda t: edits.set_section_field(t, section, name, value, SECTION_FIELDS[section]),
                f"set {section}.{name}")


def _written(section: str, name: str):
    """<section>.<name> as the open text writes it now (None: not written, or not readable)."""
    return editing.written_section(shared.text, section).get(name)


def _field_widget(kind, label: str, section: str, name: str, current, widget: str, written: dict,
                  **options) -> None:
    """A widget for <section>.<name> that shows the text's value and writes changes back to it.
    Its key names the value it shows: a value the browser still holds from an earlier
    text (a spec opened, or the YAML edited, while the page redrew) belongs to a widget
    that is gone and is dropped, instead of being written back over the new text (it
    put mnist_cnn's mean and std into lenet5 when a click came mid-redraw). Its change
    is written only if the text still holds what the widget was drawn from."""
    shown = written.get(name)
    key = f"{KEYS.field(section, name)}-{hashlib.sha1(repr(shown).encode()).hexdigest()[:10]}"
    _state()[key] = current   # the text is the source of truth: typed YAML shows here at once
    kind(label, key=key, on_change=_on_field, args=(section, name, key, widget, shown), **options)


def _data_widget(kind, label: str, name: str, current, widget: str, data: dict, **options) -> None:
    _field_widget(kind, label, "data", name, current, widget, data, **options)


def _use_torchvision_weights(builder: str) -> None:
    from playground.train.pretrained import default_weights

    value = default_weights(builder)
    if value is not None:
        shared.edit(lambda t: edits.set_section_field(t, "init", "weights", value, SECTION_FIELDS["init"]),
                    "set init.weights")


def weights_panel(checked: editing.Checked, folders: Folders) -> None:
    """Where the weights start from (init.weights: torchvision's for a zoo spec at a click) and which
    parts train (train.freeze and trainable, picked from the model's top-level layers), written
    into the spec's text."""
    init, train = (editing.written_section(checked.text, s) for s in ("init", "train"))
    spec = checked.spec
    if spec is not None and (folders.specs / "zoo" / f"{spec.name}.yaml").is_file():   # a torchvision builder's
        st.button(f"Start from torchvision's weights for {spec.name}", on_click=_use_torchvision_weights,
                  args=(spec.name,), help="Its default weights (ImageNet), from torch's hub cache; downloaded "
                                          "when online.")
    weights = init.get("weights")
    cols = st.columns([3, 2, 2])
    _field_widget(cols[0].text_input, "Start from (init.weights)", "init", "weights",
                  weights if isinstance(weights, str) else "", "text", init,
                  placeholder="e.g. torchvision:ResNet18_Weights.IMAGENET1K_V1, runs/NAME-TIME, weights.pt",
                  help=Init.model_fields["weights"].description)
    names = ["all", *(views.top_level_names(checked.summary) if checked.summary is not None else [])]
    for col, name in zip(cols[1:], ("freeze", "trainable"), strict=True):
        picked = train.get(name)
        picked = [n for n in picked if isinstance(n, str)] if isinstance(picked, list) else []
        _field_widget(col.multiselect, f"{name.capitalize()} (train.{name})", "train", name, picked, "names",
                      train, options=list(dict.fromkeys([*names, *picked])),
                      help=Train.model_fields[name].description)
    if isinstance(checked.frozen, str):
        st.warning(views.error_markdown(checked.frozen))
    elif checked.frozen is not None:
        frozen = views.frozen_total(checked)
        st.caption(f"{frozen:,} of {checked.summary.total_params:,} parameters frozen (the Edit tab's table marks "
                   "their layers); the rest trains.")


def data_panel(checked: editing.Checked) -> None:
    """The spec's data section: which dataset, an image folder's place and resize,
    normalization; an image folder's classes and a few of its pictures."""
    data = checked.data_section
    dataset = data.get("dataset", "mnist")
    cols = st.columns([3, 1])
    cols[0].text_input("Data folder", key=SHARED.data_dir,
                       help="Dataset root in torchvision's layout (MNIST/raw/...); an image folder's relative "
                            "path is under it. Defaults to $PLAYGROUND_DATA, else ./data.")
    cols[1].checkbox("Download if missing", key=SHARED.download)
    cols = st.columns([2, 3, 2])
    if dataset in DATASET_CHOICES:
        _data_widget(cols[0].selectbox, "Dataset", "dataset", dataset, "choice", data, options=DATASET_CHOICES,
                     help=Data.model_fields["dataset"].description)
    else:
        cols[0].caption(f"Dataset: {dataset!r} (see the spec's problems)")
    if dataset == "image_folder":
        path = data.get("path")
        _data_widget(cols[1].text_input, "Image folder (data.path)", "path", path if isinstance(path, str) else "",
                     "text", data, placeholder="e.g. shapes, or /home/me/pictures",
                     help=Data.model_fields["path"].description)
        resize = data.get("resize", "center_crop")
        if resize in RESIZE_CHOICES:
            _data_widget(cols[2].selectbox, "Resize", "resize", resize, "choice", data, options=RESIZE_CHOICES,
                         help=Data.model_fields["resize"].description)
    spec = checked.spec
    cols = st.columns(2)
    for col, name in zip(cols, ("mean", "std"), strict=True):
        written = data.get(name)
        default = "" if spec is None or getattr(spec.data, name) is None else to_text(getattr(spec.data, name))
        _data_widget(col.text_input, f"Normalization {name}", name, "" if written is None else to_text(written),
                     "yaml", data, placeholder=f"the dataset's: {default}" if default else "the training images' own",
                     help=Data.model_fields[name].description)
    if dataset == "image_folder" and isinstance(data.get("path"), str) and data["path"].strip():
        folder_preview(data["path"], spec)


@st.cache_data(ttl=10, max_entries=8, show_spinner="Reading the image folder...")
def _preview(root: str):
    from playground.train import imagefolder
    return imagefolder.preview(Path(root))


def folder_preview(path: str, spec) -> None:
    from playground.format.datasets import data_root
    from playground.train import imagefolder

    root = folder_path(path, data_root(shared.data_dir))
    try:
        found = _preview(str(root))
    except imagefolder.FolderError as exc:
        st.warning(views.error_markdown(str(exc)))
        return
    st.caption(f"{root}: {len(found.classes)} classes, "
               + ", ".join(f"{sum(c):,} {split} files" for split, c in found.counts.items()))
    st.dataframe(pd.DataFrame.from_records(views.folder_rows(found)), hide_index=True, height=min(
        TABLE_ROW_PX * (len(found.classes) + 1) + 3, 300))
    shape = spec.input.shape() if spec is not None else None
    cols = st.columns(8)
    for n, (name, file) in enumerate(found.samples[:16]):
        try:
            if shape is not None:   # as the model will see it: converted and resized as the spec says
                image = imagefolder.decode(file, *shape, spec.data.resize,
                                           spec.data.crop if spec.data.crop is not None else 1.0)
                image = image[..., 0] if shape[0] == 1 else image
            else:
                image = file
            cols[n % 8].image(image, caption=name, width=72)
        except Exception:   # noqa: BLE001  (a file training would skip and report)
            cols[n % 8].caption(f"{name}: {Path(file).name} is not a readable image")
    if shape is not None:
        st.caption(f"Samples as the model sees them: {fmt(shape)}, {spec.data.resize.replace('_', ' ')}.")


# -- the running job, this session's runs -------------------------------------------------

def _run_record(run_dir: Path) -> dict | None:
    try:
        info = runs.read_info(run_dir)
    except runs.RunError:
        return None
    return {"spec": info.get("spec", "?"), "outcome": texts.outcome(info),
            "test accuracy": texts.percent(info.get("test_accuracy")),
            "epochs": texts.epochs(float(info.get("epochs_trained", info.get("epochs_done", 0)) or 0)),
            "params": texts.count(info.get("params")), "time": texts.duration(info.get("seconds")),
            "run folder": str(run_dir)}


def runs_table() -> None:
    records = [r for r in (_run_record(Path(d)) for d in reversed(_state()[KEYS.session_runs])) if r]
    if records:
        st.subheader("This session's runs")
        frame = pd.DataFrame.from_records(records)
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config=fitted_columns(frame, right=("params", "test accuracy", "epochs", "time")))


def _job_status(s) -> str:
    if s.status == "starting":
        return s.preparing or "Reading the data and building the model..."
    if s.status == "stopping":
        return "Stopping after this step and saving a checkpoint..."
    if s.status == "running":
        return (f"Epoch {s.epoch} of {s.epochs}, step {texts.count(s.step)} of {texts.count(s.steps)}, "
                f"{texts.count(s.images_per_s)} images/s")
    if s.run_dir is not None:
        try:
            return texts.outcome(runs.read_info(s.run_dir))
        except runs.RunError:
            pass
    return f"Failed: {s.error}" if s.error else f"{s.status.capitalize()}."


def training_panel() -> None:
    """The job's progress: redrawn every LIVE_EVERY_S while it runs (a fragment, not the
    whole page), drawn once when it is done, so that an idle page does nothing."""
    job = shared.job
    if job is None:
        return
    (_live_training if job.snapshot().active else _training)()


def _training() -> None:
    state = _state()
    job = shared.job
    s = job.snapshot()
    st.progress(s.progress if s.active or s.status != "completed" else 1.0, text=_job_status(s))
    if s.device:
        st.caption(f"Device: {s.device} · run folder: {s.run_dir}")
    for note in s.notes:
        st.caption(f"Data: {note}")
    if s.active:
        st.button("Stop (saves a checkpoint)", on_click=job.stop, key=KEYS.stop)
    if s.error:
        st.error(views.error_markdown(s.error))
    charts = st.columns(2)
    if s.losses:
        with charts[0]:
            line_chart(pd.DataFrame(s.losses[-400:], columns=["epoch", "train loss"]), "epoch", "train loss")
    if s.metrics:
        with charts[1]:
            frame = pd.DataFrame({"epoch": [m["epoch"] for m in s.metrics],
                                  "test accuracy (%)": [100 * m["test_accuracy"] for m in s.metrics]})
            line_chart(frame, "epoch", "test accuracy (%)", points=True, integer_x=True)
    if not s.active and state[KEYS.recorded_job] is not job:
        state[KEYS.recorded_job] = job
        if s.run_dir is not None:
            state[KEYS.session_runs] = (*state[KEYS.session_runs], str(s.run_dir))
        st.rerun()  # the whole page: the updated runs table, and no more timed redraws


_live_training = st.fragment(run_every=LIVE_EVERY_S)(_training)
