"""playground's Streamlit page: edit a spec, see every layer's shape live,
train it, and try the model on digits you draw.

    streamlit run app.py

The page only calls the library (playground.editing, forms, report, jobs,
training, inference, runs); it holds no shape logic and no training loop.
The YAML text in ``st.session_state.yaml_text`` is the one source of truth:
the layer editor rewrites it through callbacks, and every rerun re-checks it.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from playground import editing, runs
from playground.errors import SpecError
from playground.forms import FieldForm, field_forms
from playground.registry import PluginError, get_registry
from playground.report import diagram, human
from playground.shapes import fmt
from playground.yamlsource import parse

ROOT = Path(__file__).resolve().parent
# Where specs are listed and saved, and where runs go (overridable, e.g. for tests).
SPECS = Path(os.environ.get("PLAYGROUND_SPECS_DIR", ROOT / "specs"))
RUNS = Path(os.environ.get("PLAYGROUND_RUNS_DIR", ROOT / runs.DEFAULT_RUNS))
DEFAULT_SPEC = "mnist_cnn.yaml"
log = logging.getLogger("playground.app")

st.set_page_config(page_title="playground", page_icon="🧱", layout="wide")


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


# -- state ----------------------------------------------------------------------

def _spec_files() -> list[str]:
    return sorted(p.name for p in SPECS.glob("*.y*ml"))


def _init_state() -> None:
    state = st.session_state
    if "yaml_text" not in state:
        state.yaml_text = (SPECS / DEFAULT_SPEC).read_text() if (SPECS / DEFAULT_SPEC).exists() else ""
        state.spec_choice = DEFAULT_SPEC
    state.setdefault("rev", 0)
    state.setdefault("undo", None)
    state.setdefault("flash", None)
    state.setdefault("job", None)
    state.setdefault("session_runs", [])
    state.setdefault("recorded_job", None)  # the last job put in the runs table
    state.setdefault("data_dir", os.environ.get("PLAYGROUND_DATA", "data"))


def _set_text(text: str) -> None:
    state = st.session_state
    if text != state.yaml_text:
        state.undo = state.yaml_text  # nothing is lost: opening or uploading a spec can be undone
    state.yaml_text = text
    state.rev += 1  # fresh layer-editor widgets that show the new document


def _on_undo() -> None:
    previous = st.session_state.get("undo")
    if previous is not None:
        _set_text(previous)


def _set_doc(doc: dict) -> None:
    _set_text(editing.dump(doc, editing.leading_comments(st.session_state.yaml_text)))


def _current_doc() -> dict | None:
    """The YAML document the layer editor changes (no need to check the spec for that)."""
    try:
        data = parse(st.session_state.yaml_text).data
    except SpecError:
        return None
    return data if isinstance(data, dict) else None


# -- callbacks (run before the rerun, so they may set widget state) ---------------

def _on_pick_spec() -> None:
    name = st.session_state.spec_choice
    try:
        _set_text((SPECS / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        st.session_state.flash = ("error", f"cannot open specs/{name}: {exc}")


def _on_upload() -> None:
    upload = st.session_state.get("upload")
    if upload is None:
        return
    try:
        _set_text(upload.getvalue().decode("utf-8"))
        st.session_state.flash = ("success", f"loaded {upload.name}")
    except UnicodeDecodeError:
        st.session_state.flash = ("error", f"{upload.name} is not UTF-8 text; nothing was loaded.")


def _on_save() -> None:
    state = st.session_state
    try:
        path = editing.save_spec(state.yaml_text, state.save_name, SPECS, overwrite=state.save_overwrite)
        state.flash = ("success", f"saved {path}")
    except (editing.SaveError, OSError) as exc:
        state.flash = ("error", str(exc))


def _on_text_edit() -> None:
    st.session_state.rev += 1


def _on_layer_op(op: str, index: int, *args) -> None:
    doc = _current_doc()
    if doc is None:
        return
    ops = {"delete": editing.delete_layer, "move": editing.move_layer, "add": editing.add_layer}
    _set_doc(ops[op](doc, index, *args))


def _parse_yaml_value(text: str):
    if not text.strip():
        return None
    try:
        return parse(text).data
    except SpecError:
        return text  # kept as typed; the check reports it at this field


def _on_field(index: int, form: FieldForm, key: str, as_yaml: bool) -> None:
    doc = _current_doc()
    if doc is None:
        return
    value = st.session_state[key]
    if as_yaml:
        value = _parse_yaml_value(value)
    elif form.kind == "text":
        value = value.strip() or None
    _set_doc(editing.set_field(doc, index, form.name, value))


# -- sidebar --------------------------------------------------------------------

def sidebar(checked: editing.Checked) -> None:
    with st.sidebar:
        st.header("Spec")
        files = _spec_files()
        if st.session_state.get("spec_choice") not in files:
            st.session_state.spec_choice = files[0] if files else None
        st.selectbox("Open from specs/", files, key="spec_choice", on_change=_on_pick_spec)
        st.file_uploader("Upload a YAML spec", type=["yaml", "yml"], key="upload", on_change=_on_upload)
        name = checked.spec.name if checked.spec else "spec"
        st.button("↶ Undo the last change", on_click=_on_undo, disabled=st.session_state.undo is None,
                  width="stretch", help="Brings back the text as it was before the last edit, "
                                        "opened spec or upload.")
        st.download_button("Download this spec", st.session_state.yaml_text, file_name=f"{name}.yaml",
                           mime="application/x-yaml", width="stretch")
        st.divider()
        st.text_input("Save as (in specs/)", value=name, key="save_name")
        st.checkbox("Overwrite if it exists", key="save_overwrite")
        st.button("Save", on_click=_on_save, width="stretch")
        if not checked.ok:
            st.caption("The spec has problems; saving keeps your work as it is.")
        flash = st.session_state.flash
        if flash:
            getattr(st, flash[0])(flash[1])
            st.session_state.flash = None


# -- edit: table, diagram, layer editor --------------------------------------------

def layer_table(checked: editing.Checked) -> pd.DataFrame:
    """One row per layer of the document: shapes where known, the failing row marked."""
    doc_layers = checked.doc_layers
    rows = {r.index: r for r in checked.rows}
    bad = checked.bad_layers
    records = []
    for i in range(checked.layer_count):
        raw = doc_layers[i] if i < len(doc_layers) and isinstance(doc_layers[i], dict) else {}
        row = rows.get(i)
        records.append({
            "#": i,
            "name": (row.name if row else raw.get("name")) or "",
            "type": row.type if row else str(raw.get("type", "?")),
            "output shape": str(row.output_shape) if row else "?",
            "params": row.params if row else None,
            "MACs": row.macs if row else None,
            "status": "✗ error" if i in bad else ("ok" if row else ""),
        })
    return pd.DataFrame.from_records(
        records, columns=["#", "name", "type", "output shape", "params", "MACs", "status"])


def show_table(checked: editing.Checked) -> None:
    if checked.error is not None:
        st.error(f"```\n{checked.error}\n```", icon="⚠️")
    frame = layer_table(checked)
    bad = checked.bad_layers
    styled = frame.style.apply(
        lambda r: ["background-color: #f8d7da" if r["#"] in bad else ""] * len(r), axis=1)
    st.dataframe(styled, hide_index=True, width="stretch",
                 column_config={"params": st.column_config.NumberColumn(format="localized"),
                                "MACs": st.column_config.NumberColumn(format="localized")})
    if checked.summary is not None:
        s = checked.summary
        batch = checked.spec.data.batch_size
        st.caption(f"**Total**: {s.total_params:,} parameters ({human(s.total_params * 4)}B), "
                   f"{s.total_macs:,} MACs per sample; activations {human(s.activation_bytes(batch))}B "
                   f"per batch of {batch}. Input {fmt(s.input_shape)} → output {fmt(s.output_shape)}.")


def show_diagram(checked: editing.Checked) -> None:
    n_layers = checked.layer_count
    input_shape = checked.spec.input.shape() if checked.spec else _doc_input(checked)
    if input_shape is None or not n_layers:
        st.caption("The diagram appears once the input shape and layers can be read.")
        return
    st.graphviz_chart(diagram(checked.rows, input_shape, checked.bad_layers, n_layers=n_layers))


def _doc_input(checked: editing.Checked):
    """The input shape, when the spec did not validate but the shape is readable."""
    if checked.error is not None and checked.rows:
        return checked.rows[0].input_shape
    return None


def _widget(form: FieldForm, value, key: str, index: int) -> None:
    """The widget for one field, chosen from its form; a value the widget cannot
    show (out of bounds, wrong type) gets a YAML text box instead."""
    common = dict(key=key, help=form.help)
    as_yaml = form.kind == "yaml" or not form.accepts(value)
    callback = dict(on_change=_on_field, args=(index, form, key, as_yaml))
    if as_yaml:
        shown = "" if value is None else \
            yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        st.text_input(form.name, value=shown, **common, **callback)
        return
    render = {
        "bool": lambda: st.checkbox(form.name, value=bool(value if value is not None else form.default),
                                    **common, **callback),
        "int": lambda: st.number_input(form.name, value=value, step=1, min_value=_bound(form.minimum, int),
                                       max_value=_bound(form.maximum, int), placeholder="inferred / default",
                                       **common, **callback),
        "float": lambda: st.number_input(form.name, value=None if value is None else float(value),
                                         min_value=_bound(form.minimum, float), max_value=_bound(form.maximum, float),
                                         format="%g", placeholder="default", **common, **callback),
        "choice": lambda: st.selectbox(form.name, list(form.choices), index=list(form.choices).index(value)
                                       if value in form.choices else None, **common, **callback),
        "text": lambda: st.text_input(form.name, value=value or "", **common, **callback),
    }
    render[form.kind]()


def _bound(value, cast):
    return None if value is None else cast(value)


def layer_editor(checked: editing.Checked) -> None:
    registry = get_registry()
    doc = checked.doc
    if doc is None:
        st.info("Fix the YAML (see the message) to use the layer editor.")
        return
    layers = checked.doc_layers
    rows = {r.index: r for r in checked.rows}
    problems = {}
    if checked.error is not None:
        for p in checked.error.problems:
            if p.layer_index is not None:
                problems.setdefault(p.layer_index, []).append(p)
    rev = st.session_state.rev
    for i, layer in enumerate(layers):
        raw = layer if isinstance(layer, dict) else {}
        kind = raw.get("type")
        shape = str(rows[i].output_shape) if i in rows else "?"
        mark = "✗ " if i in problems else ""
        title = f"{mark}{i}: {kind or '?'}{' ' + repr(raw['name']) if raw.get('name') else ''} → {shape}"
        with st.expander(title, expanded=i in problems):
            for problem in problems.get(i, []):
                st.error(problem.render(None).replace("\n  ", "  \n"))
            buttons = st.columns(3)
            buttons[0].button("↑ up", key=f"up{rev}-{i}", on_click=_on_layer_op, args=("move", i, -1),
                              disabled=i == 0)
            buttons[1].button("↓ down", key=f"down{rev}-{i}", on_click=_on_layer_op, args=("move", i, 1),
                              disabled=i == len(layers) - 1)
            buttons[2].button("✕ delete", key=f"del{rev}-{i}", on_click=_on_layer_op, args=("delete", i))
            if not isinstance(kind, str) or kind not in registry:
                st.warning("Unknown or missing type: fix it in the YAML, or delete this layer.")
                continue
            plugin = registry[kind]
            st.caption(plugin.describe())
            forms = field_forms(plugin)
            columns = st.columns(3)
            for n, form in enumerate(forms):
                with columns[n % 3]:
                    _widget(form, raw.get(form.name), f"f{rev}-{i}-{form.name}", i)
    st.divider()
    types = registry.names()
    add = st.columns([2, 1, 1])
    add[0].selectbox("Add a layer of type", types, key="add_type",
                     help="; ".join(f"{t}: {registry[t].describe()}" for t in types))
    add[1].number_input("at position", min_value=0, max_value=len(layers), value=len(layers), step=1,
                        key=f"add_pos{rev}")
    add[2].button("Add layer", key="add_layer", on_click=lambda: _on_layer_op(
        "add", int(st.session_state.get(f"add_pos{rev}", len(layers))), st.session_state.add_type))


def edit_tab(checked: editing.Checked) -> None:
    text_col, shapes_col = st.columns([2, 3])
    with text_col:
        st.text_area("Spec (YAML)", key="yaml_text", height=520, on_change=_on_text_edit,
                     help="Edit freely: the table and diagram follow every change (Ctrl+Enter applies).")
    with shapes_col:
        with guard("The shape table"):
            show_table(checked)
    editor_col, diagram_col = st.columns([3, 2])
    panel(editor_col, "Layer editor", layer_editor, checked)
    panel(diagram_col, "Diagram", show_diagram, checked)


# -- train ----------------------------------------------------------------------

def _train_keys(spec) -> dict[str, str]:
    """Widget keys of the training form; they change with the spec's own values,
    so the form follows a newly opened or edited spec."""
    sig = f"{spec.name}-{spec.train.epochs}-{spec.train.lr}-{spec.data.batch_size}-{spec.train.device}"
    return {name: f"train_{name}-{sig}" for name in ("epochs", "lr", "batch", "device")}


def _start_training(spec) -> None:
    from playground.jobs import TrainingJob
    from playground.training import Trainer, with_overrides

    state = st.session_state
    try:
        keys = _train_keys(spec)
        spec = with_overrides(spec, epochs=int(state[keys["epochs"]]), lr=float(state[keys["lr"]]),
                              batch_size=int(state[keys["batch"]]), device=state[keys["device"]])
        trainer = Trainer(spec, runs_base=RUNS, data_dir=state.data_dir or None, download=state.train_download)
    except SpecError as exc:
        state.train_error = str(exc)
        return
    state.train_error = None
    state.job = TrainingJob(trainer).start()


def train_tab(checked: editing.Checked) -> None:
    job = st.session_state.job
    if checked.spec is None:
        st.warning("Fix the spec first (see the Edit tab): only a valid spec can be trained.")
    else:
        spec = checked.spec
        keys = _train_keys(spec)
        with st.form("train_form"):
            cols = st.columns(4)
            cols[0].number_input("Epochs", min_value=1, max_value=10000, value=spec.train.epochs,
                                 key=keys["epochs"])
            cols[1].number_input("Learning rate", min_value=0.0, max_value=10.0, value=spec.train.lr, format="%g",
                                 key=keys["lr"], help="Checked like train.lr in the spec (above 0, at most 10).")
            cols[2].number_input("Batch size", min_value=1, max_value=65536, value=spec.data.batch_size,
                                 key=keys["batch"])
            devices = ["auto", "cpu", "cuda", "mps"]
            device = spec.train.device.split(":")[0]
            cols[3].selectbox("Device", devices, index=devices.index(device) if device in devices else 0,
                              key=keys["device"],
                              help="auto picks CUDA, then Apple MPS, then the CPU.")
            cols = st.columns([3, 1])
            cols[0].text_input("Data folder", key="data_dir",
                               help="Dataset root in torchvision's layout (MNIST/raw/...). "
                                    "Defaults to $PLAYGROUND_DATA, else ./data.")
            cols[1].checkbox("Download if missing", value=True, key="train_download")
            busy = job is not None and job.snapshot().active
            st.form_submit_button(f"Train {spec.name}", disabled=busy, type="primary",
                                  on_click=_start_training, args=(spec,))
        if st.session_state.get("train_error"):
            st.error(f"```\n{st.session_state.train_error}\n```")
    training_panel()
    if st.session_state.session_runs:
        st.subheader("This session's runs")
        st.dataframe(pd.DataFrame(st.session_state.session_runs), hide_index=True, width="stretch")


def _line_chart(frame: pd.DataFrame, x: str, y: str, points: bool = False) -> None:
    """A plain Vega-Lite line chart. Cheaper than st.line_chart, whose Altair
    objects cost enough CPU on every refresh to slow a training run down."""
    st.vega_lite_chart(frame, {
        "mark": {"type": "line", "point": points},
        "encoding": {"x": {"field": x, "type": "quantitative"},
                     "y": {"field": y, "type": "quantitative", "scale": {"zero": False}}},
    }, width="stretch", height=260)


@st.fragment(run_every=2.0)
def training_panel() -> None:
    job = st.session_state.job
    if job is None:
        return
    s = job.snapshot()
    label = {"starting": "Reading data and building the model...", "stopping": "Stopping after this step...",
             "running": f"Epoch {s.epoch}/{s.epochs}, step {s.step}/{s.steps}, {s.images_per_s:,.0f} images/s"}
    st.progress(s.progress, text=label.get(s.status, f"{s.status}: {s.run_dir}"))
    if s.device:
        st.caption(f"device: {s.device} · run folder: {s.run_dir}")
    if s.active:
        st.button("Stop (saves a checkpoint)", on_click=job.stop, key="stop_training")
    if s.error:
        st.error(s.error)
    charts = st.columns(2)
    if s.losses:
        with charts[0]:
            _line_chart(pd.DataFrame(s.losses[-400:], columns=["epoch", "train loss"]), "epoch", "train loss")
    if s.metrics:
        with charts[1]:
            _line_chart(pd.DataFrame(s.metrics), "epoch", "test_accuracy", points=True)
    if not s.active and st.session_state.recorded_job is not job:
        st.session_state.recorded_job = job
        st.session_state.session_runs.append({
            "spec": job.trainer.spec.name, "status": s.status, "params": job.trainer.summary.total_params,
            "epochs": len(s.metrics), "test accuracy": s.metrics[-1]["test_accuracy"] if s.metrics else None,
            "seconds": round((s.finished or s.started) - s.started, 1), "run folder": str(s.run_dir or "")})
        st.rerun()  # show the updated runs table


# -- predict --------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _load_run(path: str, stamp: float):
    from playground.inference import load_run
    return load_run(path, "cpu")


@st.cache_data(max_entries=4, show_spinner="Evaluating on the test set...")
def _evaluate(path: str, stamp: float, data_dir: str):
    from playground.inference import evaluate_run
    run = _load_run(path, stamp)
    return evaluate_run(run, data_dir or None, download=False)


def predict_tab() -> None:
    choices = [r["run folder"] for r in reversed(st.session_state.session_runs) if r["run folder"]]
    choices += [str(p) for p in runs.list_runs(RUNS) if str(p) not in choices]
    choices = [c for c in choices if (Path(c) / runs.CHECKPOINT_FILE).exists()]
    if not choices:
        st.info("Train a model (Train tab) or put run folders under runs/ to try predictions.")
        return
    path = st.selectbox("Model (run folder)", choices, format_func=lambda p: Path(p).name, key="predict_run")
    stamp = (Path(path) / runs.CHECKPOINT_FILE).stat().st_mtime
    run = _load_run(path, stamp)
    st.caption(f"{run.spec.name}: after epoch {run.epoch}, {run.spec.data.dataset}")
    draw, browse = st.columns(2)
    panel(draw, "Draw a digit", drawing_panel, run)
    panel(browse, "Test images", browse_panel, path, stamp)


def drawing_panel(run) -> None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.info("Install streamlit-drawable-canvas (pip install -e '.[app]') to draw digits.")
        return
    import torch

    from playground.inference import digit_to_input, predict_proba

    result = st_canvas(stroke_width=18, stroke_color="#ffffff", background_color="#000000", height=280, width=280,
                       drawing_mode="freedraw", return_image_data=True, key="canvas")
    data = result.image_data
    if data is None or data[..., :3].max() == 0:
        st.caption("Draw a white digit on the black square.")
        return
    gray = torch.as_tensor(data[..., :3].astype("float32").mean(-1))
    image = digit_to_input(gray)
    probs = predict_proba(run, image[None])[0]
    classes = run.spec.dataset.classes
    cols = st.columns([1, 2])
    cols[0].image(image.repeat_interleave(5, 0).repeat_interleave(5, 1).numpy(), caption="what the model sees (28x28)")
    best = int(probs.argmax())
    cols[1].metric("Prediction", classes[best], f"{100 * probs[best]:.1f}%")
    cols[1].bar_chart(pd.DataFrame({"probability": probs.numpy()}, index=list(classes)))


def browse_panel(path: str, stamp: float) -> None:
    if not st.toggle("Show test images with predictions", key="browse_toggle"):
        return
    from playground.data import DataError
    try:
        ev = _evaluate(path, stamp, st.session_state.data_dir)
    except DataError as exc:
        st.error(str(exc))
        return
    wrong = (ev.predictions != ev.labels).nonzero().flatten().tolist()
    right = (ev.predictions == ev.labels).nonzero().flatten().tolist()
    st.caption(f"test accuracy {100 * ev.accuracy:.2f}%: {len(wrong)} misclassified, shown first")
    order = wrong + right
    page = st.number_input("page", min_value=1, max_value=max(1, (len(order) + 23) // 24), value=1, key="browse_page")
    chosen = order[(page - 1) * 24:page * 24]
    cols = st.columns(6)
    for n, i in enumerate(chosen):
        true, pred = ev.classes[ev.labels[i]], ev.classes[ev.predictions[i]]
        mark = "✓" if true == pred else "✗"
        cols[n % 6].image(ev.images[i].numpy(), caption=f"{mark} {true} → {pred}", width=72)


# -- page -----------------------------------------------------------------------

def main() -> None:
    _init_state()
    st.title("playground")
    try:
        checked = editing.check_text(st.session_state.yaml_text)
    except PluginError as exc:
        st.error(f"Layer plugins failed to load: {exc}")
        return
    sidebar(checked)
    edit, train, predict = st.tabs(["Edit", "Train", "Predict"])
    with edit:
        edit_tab(checked)
    with train:
        with guard("Training"):
            train_tab(checked)
    with predict:
        with guard("Predicting"):
            predict_tab()


main()
