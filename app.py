"""playground's Streamlit page: edit a spec, see every layer's shape live,
train it, sweep variants of it, compare runs, and try the model on digits
you draw.

    streamlit run app.py

The page only calls the library (playground.app's editing, document,
history, forms, views and jobs; report, texts, training, sweep, records,
inference, runs, export);
it holds no shape logic and no training loop. The YAML text in
``st.session_state.yaml_text`` is the one source of truth: every change to it
(typing, the layer editor, opening, uploading, undo and redo) goes through
``_apply`` and the history, and every rerun re-checks it. Layer-editor widgets
have stable keys and take their values from the text before they are drawn,
so focus and open sections survive each edit.
"""

from __future__ import annotations

import logging
import os
import typing
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from playground.app import document, editing, views
from playground.app.forms import FieldForm, field_forms, from_text, to_text
from playground.app.history import History
from playground.check.report import diagram, human, tree_diagram
from playground.core import texts
from playground.core.errors import SpecError
from playground.format.datasets import folder_path
from playground.format.spec import Data
from playground.format.templates import Use
from playground.layers.registry import PluginError, get_registry
from playground.layers.shapes import fmt
from playground.runs import folders as runs

ROOT = Path(__file__).resolve().parent
# Where specs are listed and saved, and where runs go (overridable, e.g. for tests).
SPECS = Path(os.environ.get("PLAYGROUND_SPECS_DIR", ROOT / "specs"))
RUNS = Path(os.environ.get("PLAYGROUND_RUNS_DIR", ROOT / runs.DEFAULT_RUNS))
SWEEPS = Path(os.environ.get("PLAYGROUND_SWEEPS_DIR", ROOT / "sweeps"))
DEFAULT_SPEC = "mnist_cnn.yaml"
DATA_SETTING = "the Data folder field above"   # where the page sets the data root
TABLE_ROW_PX, MAX_UNSCROLLED_ROWS = 35, 30
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
        path = SPECS / DEFAULT_SPEC
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        state.yaml_text = text
        state.source = editing.Source("file", DEFAULT_SPEC, text) if path.exists() else \
            editing.Source("new", "", text)
        state.history = History.start(text, f"opened {DEFAULT_SPEC}")
        state.save_name = state.source.save_name
    state.setdefault("save_overwrite", False)
    state.setdefault("pending_overwrite", None)   # (file name, text) waiting for a confirmation
    state.setdefault("spec_pick", None)
    state.setdefault("flash", None)
    state.setdefault("job", None)
    state.setdefault("sweep_job", None)
    state.setdefault("session_runs", [])          # run folders trained from this page, oldest first
    state.setdefault("recorded_job", None)        # the last job put in the runs table
    state.setdefault("data_dir", os.environ.get("PLAYGROUND_DATA", "data"))
    state.setdefault("bad_seen", frozenset())     # layers already opened for their error
    state.setdefault("predict_pinned", False)
    state.setdefault("train_download", True)


def _apply(text: str, label: str) -> None:
    """Make ``text`` the spec; the history keeps what it replaced."""
    state = st.session_state
    state.yaml_text = text
    state.history.record(text, label)


def _flash(kind: str, message: str) -> None:
    st.session_state.flash = (kind, message)


# -- callbacks (run before the rerun, so they may set widget state) ---------------

def _on_text_edit() -> None:
    st.session_state.history.record(st.session_state.yaml_text, "typed in the YAML")


def _on_history(step: str) -> None:
    """Undo or redo: show the text the history steps to (if it can)."""
    text = getattr(st.session_state.history, step)()
    if text is not None:
        st.session_state.yaml_text = text


def _open(source: editing.Source, label: str) -> None:
    state = st.session_state
    replaced = state.source.describe(state.yaml_text)
    edited = state.source.edited(state.yaml_text)
    _apply(source.text, label)
    state.source = source
    state.save_name = source.save_name
    state.save_overwrite = False
    state.pending_overwrite = None
    _flash("success", f"Opened {source.describe(source.text)}."
           + (f" Undo brings back {replaced}." if edited else ""))


def _on_pick_spec() -> None:
    state = st.session_state
    name, state.spec_pick = state.spec_pick, None   # the box shows what is open, not the last pick
    if name is None:
        return
    try:
        text = (SPECS / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _flash("error", f"Cannot open specs/{name}: {exc}")
        return
    _open(editing.Source("file", name, text), f"opened {name}")


def _on_upload() -> None:
    upload = st.session_state.get("upload")
    if upload is None:
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        _flash("error", f"{upload.name} is not UTF-8 text; nothing was loaded.")
        return
    _open(editing.Source("upload", upload.name, text), f"uploaded {upload.name}")


def _saved(path: Path, text: str) -> None:
    state = st.session_state
    state.source = editing.Source("file", path.name, text)
    state.save_overwrite = False
    state.pending_overwrite = None
    _flash("success", f"Saved specs/{path.name}.")


def _on_save() -> None:
    state = st.session_state
    text = state.yaml_text
    state.pending_overwrite = None
    try:
        path = editing.save_target(state.save_name, SPECS)
        if path.exists():
            if not state.save_overwrite:
                _flash("error", f"specs/{path.name} already exists. Choose another name, "
                                "or tick “Overwrite if it exists” to replace it.")
            else:
                state.pending_overwrite = (path.name, text)   # asked on the page, saved on confirm
            return
        _saved(editing.save_spec(text, state.save_name, SPECS), text)
    except (editing.SaveError, OSError) as exc:
        _flash("error", str(exc))


def _on_confirm_overwrite() -> None:
    state = st.session_state
    name, text = state.pending_overwrite
    try:
        _saved(editing.save_spec(text, name, SPECS, overwrite=True), text)
    except (editing.SaveError, OSError) as exc:
        state.pending_overwrite = None
        _flash("error", str(exc))


def _on_cancel_overwrite() -> None:
    st.session_state.pending_overwrite = None
    st.session_state.save_overwrite = False


def _open_key(index: int) -> str:
    return f"open-{index}"   # the toggle that shows a layer's fields


def _shift_open(mapping: dict[int, int | None]) -> None:
    """Carry the layer sections' open state along with a layer operation:
    ``mapping`` sends each old index to its new one (None: the layer is gone)."""
    state = st.session_state
    was = {i: state.get(_open_key(i), False) for i in mapping}
    for i in mapping:
        state[_open_key(i)] = False
    for old, new in mapping.items():
        if new is not None:
            state[_open_key(new)] = was[old]


def _edit(change, label: str) -> bool:
    try:
        _apply(change(st.session_state.yaml_text), label)
        return True
    except SpecError as exc:  # the text no longer parses: the message says where
        _flash("error", f"The layer editor cannot change this text: {exc}")
        return False


def _on_move(index: int, delta: int, count: int) -> None:
    if _edit(lambda t: document.move_layer(t, index, delta), f"moved layer {index}"):
        mapping = {i: i for i in range(count)}
        mapping[index], mapping[index + delta] = index + delta, index
        _shift_open(mapping)


def _on_delete(index: int, count: int) -> None:
    if _edit(lambda t: document.delete_layer(t, index), f"deleted layer {index}"):
        _shift_open({i: None if i == index else (i - 1 if i > index else i) for i in range(count)})


def _on_add(count: int) -> None:
    state = st.session_state
    index = max(0, min(int(state.get("add_pos", count)), count))
    kind = state.add_type
    if _edit(lambda t: document.add_layer(t, index, kind), f"added a {kind} layer"):
        _shift_open({i: i + 1 if i >= index else i for i in range(count)})
        state[_open_key(index)] = True   # a new layer opens, ready to edit


def _on_field(index: int, form: FieldForm, key: str, widget: str) -> None:
    value = st.session_state[key]
    if widget in ("yaml", "layers"):
        value = from_text(value)
    elif widget == "text":
        value = value.strip() or None
    if _edit(lambda t: document.set_field(t, index, form.name, value), f"set layers[{index}].{form.name}"):
        st.session_state[_open_key(index)] = True


# -- sidebar --------------------------------------------------------------------

def sidebar(checked: editing.Checked) -> None:
    state = st.session_state
    with st.sidebar:
        st.header("Spec")
        shown = state.source.describe(state.yaml_text)
        st.selectbox("Open from specs/", _spec_files(), index=None, key="spec_pick", on_change=_on_pick_spec,
                     placeholder=shown, help="Opens the file from disk, also the one already open (to "
                                             "drop edits). Undo brings back what was open before.")
        st.caption(f"Open now: **{shown}**")
        st.file_uploader("Upload a YAML spec", type=["yaml", "yml"], key="upload", on_change=_on_upload)
        history = state.history
        undo, redo = st.columns(2)
        undo.button("↶ Undo", on_click=_on_history, args=("undo",), disabled=not history.can_undo, width="stretch",
                    help=f"Undo: {history.undo_label}." if history.can_undo else "Nothing to undo.")
        redo.button("↷ Redo", on_click=_on_history, args=("redo",), disabled=not history.can_redo, width="stretch",
                    help=f"Redo: {history.redo_label}." if history.can_redo else "Nothing to redo.")
        name = checked.spec.name if checked.spec else (state.save_name or "spec")
        st.download_button("Download this spec", state.yaml_text, file_name=f"{name}.yaml",
                           mime="application/x-yaml", width="stretch")
        st.divider()
        save_panel()
        if not checked.ok:
            st.caption("The spec has problems; saving keeps your work as it is.")
        flash = state.flash
        if flash:
            getattr(st, flash[0])(flash[1])
            state.flash = None


def save_panel() -> None:
    state = st.session_state
    pending = state.pending_overwrite
    if pending and (pending[1] != state.yaml_text or editing.spec_stem(state.save_name) != Path(pending[0]).stem):
        state.pending_overwrite = pending = None   # the text or name changed since: ask again on Save
    st.text_input("Save as (in specs/)", key="save_name", help="A plain file name: letters, digits, _ and -.")
    st.checkbox("Overwrite if it exists", key="save_overwrite",
                help="Clears after every save; replacing a file asks once more.")
    st.button("Save", on_click=_on_save, width="stretch", disabled=pending is not None)
    if pending:
        st.warning(f"specs/{pending[0]} exists. Replace it with the spec in the editor?")
        yes, no = st.columns(2)
        yes.button(f"Replace {pending[0]}", on_click=_on_confirm_overwrite, type="primary", width="stretch")
        no.button("Cancel", on_click=_on_cancel_overwrite, width="stretch")


# -- edit: table, diagram, layer editor --------------------------------------------

def show_table(checked: editing.Checked) -> None:
    if checked.error is not None:
        st.error(views.error_markdown(str(checked.error)), icon="⚠️")
    deepest = checked.depth
    depth = None
    if deepest:   # blocks: collapse them to a depth, as torchinfo does
        depth = st.select_slider("Nesting shown", options=list(range(deepest + 1)), value=min(1, deepest),
                                 key="table_depth", help="0 shows each block as one row with its totals; "
                                 "more shows the layers inside blocks, indented with ·.")
    frame = pd.DataFrame.from_records(views.table_rows(checked, depth), columns=list(views.TABLE_COLUMNS))
    styled = frame.style.apply(
        lambda r: ["background-color: #f8d7da" if r["status"] == "✗ error" else ""] * len(r), axis=1)
    rows = len(frame)
    height = TABLE_ROW_PX * (min(rows, MAX_UNSCROLLED_ROWS) + 1) + 3   # every row up to 30, then scroll
    right = st.column_config.TextColumn(alignment="right")
    st.dataframe(styled, hide_index=True, width="stretch", height=height,
                 column_config={"params": right, "MACs": right})
    if checked.summary is not None:
        s = checked.summary
        batch = checked.spec.data.batch_size
        st.caption(f"**Total**: {texts.count(s.total_params)} parameters ({human(s.total_params * 4)}B), "
                   f"{texts.count(s.total_macs)} MACs per sample; activations {human(s.activation_bytes(batch))}B "
                   f"per batch of {batch}. Input {fmt(s.input_shape)} → output {fmt(s.output_shape)}.")


def show_diagram(checked: editing.Checked) -> None:
    if not checked.layer_count:
        st.caption("The diagram appears once the layers can be read.")
        return
    if checked.summary is not None and checked.depth:   # blocks as clusters, branches and merges
        st.graphviz_chart(tree_diagram(checked.spec, checked.summary))
    else:
        st.graphviz_chart(diagram(checked.layers, checked.input_shape))


def _widget(form: FieldForm, value, key_base: str, index: int) -> None:
    """The widget for one field. Its key is stable across edits (focus stays);
    its value comes from the text, set before it is drawn. A value the widget
    cannot hold (out of bounds, wrong type) gets a YAML text box instead."""
    kind = form.widget_kind(value)
    key = f"{key_base}-{kind}"
    shown = {
        "bool": lambda: bool(value if value is not None else form.default),
        "int": lambda: value,
        "float": lambda: None if value is None else float(value),
        "choice": lambda: value if value in form.choices else None,
        "text": lambda: value or "",
        "yaml": lambda: to_text(value),
        "layers": lambda: to_text(value),
    }[kind]()
    if st.session_state.get(key, object()) != shown:
        st.session_state[key] = shown
    # No help icon on the widget: it would sit in the Tab order between fields.
    # The descriptions are in the card's "What the fields mean" popover.
    common = dict(key=key, on_change=_on_field, args=(index, form, key, kind))
    lo, hi = form.minimum, form.maximum
    render = {
        "bool": lambda: st.checkbox(form.name, **common),
        "int": lambda: st.number_input(form.name, value=None, step=1, min_value=None if lo is None else int(lo),
                                       max_value=None if hi is None else int(hi), placeholder=form.placeholder,
                                       **common),
        "float": lambda: st.number_input(form.name, value=None, min_value=None if lo is None else float(lo),
                                         max_value=None if hi is None else float(hi), format="%g",
                                         placeholder=form.placeholder, **common),
        "choice": lambda: st.selectbox(form.name, list(form.choices), index=None, placeholder=form.placeholder,
                                       **common),
        "text": lambda: st.text_input(form.name, placeholder=form.placeholder, **common),
    }
    render["yaml"] = render["text"]   # the same box; _on_field reads it as YAML
    render["layers"] = lambda: st.text_area(form.name, placeholder="- {type: relu}", height=120, **common)
    render[kind]()


def layer_editor(checked: editing.Checked) -> None:
    state = st.session_state
    registry = get_registry()
    if checked.doc is None:
        st.info("Fix the YAML (see the message) to use the layer editor.")
        return
    doc_layers = checked.doc_layers
    problems: dict[int, list] = {}
    if checked.error is not None:
        for p in checked.error.problems:
            if p.layer_index is not None:
                problems.setdefault(p.layer_index, []).append(p)
    for i in set(problems) - state.bad_seen:   # a layer that just went wrong opens once
        state[_open_key(i)] = True
    state.bad_seen = frozenset(problems)
    count = len(doc_layers)
    for view in checked.layers[:count]:
        i = view.index
        raw = doc_layers[i] if isinstance(doc_layers[i], dict) else {}
        # A bordered card per layer with a keyed toggle for a header, not st.expander: an
        # expander's identity includes its title, so it would close (and drop the focus of
        # the field being typed in) whenever an edit changes the title's shape or name.
        with st.container(border=True, key=f"layer-{i}"):
            if not st.toggle(views.markdown_text(views.layer_title(view)), key=_open_key(i)):
                continue
            buttons = st.columns(3)
            buttons[0].button("↑ up", key=f"up-{i}", on_click=_on_move, args=(i, -1, count), disabled=i == 0)
            buttons[1].button("↓ down", key=f"down-{i}", on_click=_on_move, args=(i, 1, count),
                              disabled=i == count - 1)
            buttons[2].button("✕ delete", key=f"del-{i}", on_click=_on_delete, args=(i, count))
            kind = raw.get("type")
            plugin = Use if kind == "use" else (registry[kind] if isinstance(kind, str) and kind in registry else None)
            if plugin is None:
                st.warning("Unknown or missing type: fix it in the YAML, or delete this layer.")
            else:
                st.caption(plugin.describe())
                forms = field_forms(plugin)
                fields = [f for f in forms if f.kind != "layers"]
                for row in range(0, len(fields), 2):   # row by row, so Tab goes to the next field
                    for column, form in zip(st.columns(2), fields[row:row + 2], strict=False):
                        with column:
                            _widget(form, raw.get(form.name), f"f-{i}-{form.name}", i)
                for form in forms:   # a block's layers, full width, one per line
                    if form.kind == "layers":
                        _widget(form, raw.get(form.name), f"f-{i}-{form.name}", i)
                with st.popover("What the fields mean", icon=":material/help:"):
                    st.markdown("\n".join(f"- **{form.name}**: {views.markdown_text(form.help)}" for form in forms))
            for problem in problems.get(i, []):   # after the fields, so they never move
                st.error(views.error_markdown(problem.render(None)))
    st.divider()
    types = registry.names()
    add = st.columns([2, 1, 1])
    add[0].selectbox("Add a layer of type", types, key="add_type",
                     help="; ".join(f"{t}: {registry[t].describe()}" for t in types))
    if state.get("add_pos") in (None, state.get("add_pos_default")) or state.add_pos > count:
        state.add_pos = count   # the end of the list, until the user picks a position
    state.add_pos_default = count
    add[1].number_input("at position", min_value=0, max_value=count, step=1, key="add_pos")
    add[2].button("Add layer", key="add_layer", on_click=_on_add, args=(count,))


def edit_tab(checked: editing.Checked) -> None:
    text_col, shapes_col = st.columns([1, 1])
    with text_col:
        st.text_area("Spec (YAML)", key="yaml_text", height=520, on_change=_on_text_edit,
                     help="Edit freely: the table and diagram follow every change (Ctrl+Enter applies). "
                          "Undo and Redo are in the sidebar.")
    with shapes_col:
        with guard("The shape table"):
            show_table(checked)
    editor_col, diagram_col = st.columns([3, 2])
    panel(editor_col, "Layer editor", layer_editor, checked)
    panel(diagram_col, "Diagram", show_diagram, checked)
    if checked.spec is not None and checked.ok:
        export_buttons(checked.spec, None, "spec")
        st.caption("Exports of the open spec carry fresh weights (from its seed); a trained run's carry its "
                   "training (Predict tab).")


EXPORT_LABELS = {"onnx": "ONNX", "torchscript": "TorchScript", "exported": "torch.export (.pt2)",
                 "python": "PyTorch source (.py)"}


def export_buttons(spec, run_dir: str | None, key: str) -> None:
    """One download button per export format; the file is made when it is clicked."""
    from playground import export

    def making(kind: str):
        def data() -> bytes:   # runs on the click, outside the script run: no session state here
            item = export.load(run_dir) if run_dir else export.from_spec(spec)
            return export.to_bytes(item, kind)
        return data

    cols = st.columns(len(export.FORMATS) + 1)
    cols[0].markdown("**Export**")
    stem = Path(run_dir).name if run_dir else spec.name
    for col, (kind, ext) in zip(cols[1:], export.FORMATS.items(), strict=True):
        col.download_button(EXPORT_LABELS[kind], making(kind), file_name=f"{stem}{ext}", key=f"export-{key}-{kind}",
                            on_click="ignore", mime="application/octet-stream", width="stretch")


# -- train ----------------------------------------------------------------------

DEVICES = ["auto", "cpu", "cuda", "mps"]


def _sync_train_form(spec) -> None:
    """The training form follows the open spec's values, except the ones the user
    changed: those stay until they change them again."""
    state = st.session_state
    device = spec.train.device.split(":")[0]
    values = {"epochs": spec.train.epochs, "lr": spec.train.lr, "batch": spec.data.batch_size,
              "device": device if device in DEVICES else "auto"}
    shown = state.setdefault("train_shown", {})
    for name, value in values.items():
        key = f"train_{name}"
        if key not in state or state[key] == shown.get(name):
            state[key] = value
        shown[name] = value


def _start_training(text: str) -> None:
    """Train ``text`` (the open spec as checked on the page) with the form's
    settings: read and checked once, with them and the page's data folder."""
    from playground.app.jobs import TrainingJob
    from playground.check.analysis import load_checked
    from playground.format.datasets import data_root
    from playground.train.engine import Trainer

    state = st.session_state
    overrides = {"train.epochs": int(state.train_epochs), "train.lr": float(state.train_lr),
                 "data.batch_size": int(state.train_batch), "train.device": state.train_device}
    try:
        spec, summary = load_checked(text, data_root=data_root(state.data_dir or None), overrides=overrides)
        trainer = Trainer(spec, summary=summary, runs_base=RUNS, data_dir=state.data_dir or None,
                          download=state.train_download)
    except SpecError as exc:
        state.train_error = str(exc)
        return
    state.train_error = None
    state.job = TrainingJob(trainer, data_setting=DATA_SETTING).start()


DATA_FIELDS = tuple(Data.model_fields)
DATASET_CHOICES = tuple(typing.get_args(Data.model_fields["dataset"].annotation))
RESIZE_CHOICES = tuple(typing.get_args(Data.model_fields["resize"].annotation))


def _on_data_field(name: str, key: str, widget: str) -> None:
    value = st.session_state[key]
    if widget == "text":
        value = value.strip() or None
    elif widget == "yaml":
        value = from_text(value) if value.strip() else None
    _edit(lambda t: document.set_section_field(t, "data", name, value, DATA_FIELDS), f"set data.{name}")


def _data_widget(kind, label: str, name: str, current, widget: str, **options) -> None:
    """A widget for data.<name> that shows the text's value and writes changes back to it."""
    key = f"data_{name}"
    st.session_state[key] = current   # the text is the source of truth: typed YAML shows here at once
    kind(label, key=key, on_change=_on_data_field, args=(name, key, widget), **options)


def data_panel(checked: editing.Checked) -> None:
    """The spec's data section: which dataset, an image folder's place and resize,
    normalization; an image folder's classes and a few of its pictures."""
    data = checked.data_section
    dataset = data.get("dataset", "mnist")
    cols = st.columns([3, 1])
    cols[0].text_input("Data folder", key="data_dir",
                       help="Dataset root in torchvision's layout (MNIST/raw/...); an image folder's relative "
                            "path is under it. Defaults to $PLAYGROUND_DATA, else ./data.")
    cols[1].checkbox("Download if missing", key="train_download")
    cols = st.columns([2, 3, 2])
    if dataset in DATASET_CHOICES:
        _data_widget(cols[0].selectbox, "Dataset", "dataset", dataset, "choice", options=DATASET_CHOICES,
                     help=Data.model_fields["dataset"].description)
    else:
        cols[0].caption(f"Dataset: {dataset!r} (see the spec's problems)")
    if dataset == "image_folder":
        path = data.get("path")
        _data_widget(cols[1].text_input, "Image folder (data.path)", "path", path if isinstance(path, str) else "",
                     "text", placeholder="e.g. shapes, or /home/me/pictures",
                     help=Data.model_fields["path"].description)
        resize = data.get("resize", "center_crop")
        if resize in RESIZE_CHOICES:
            _data_widget(cols[2].selectbox, "Resize", "resize", resize, "choice", options=RESIZE_CHOICES,
                         help=Data.model_fields["resize"].description)
    spec = checked.spec
    cols = st.columns(2)
    for col, name in zip(cols, ("mean", "std"), strict=True):
        written = data.get(name)
        default = "" if spec is None or getattr(spec.data, name) is None else to_text(getattr(spec.data, name))
        _data_widget(col.text_input, f"Normalization {name}", name, "" if written is None else to_text(written),
                     "yaml", placeholder=f"the dataset's: {default}" if default else "the training images' own",
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

    root = folder_path(path, data_root(st.session_state.data_dir or None))
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
                image = imagefolder.decode(file, *shape, spec.data.resize)
                image = image[..., 0] if shape[0] == 1 else image
            else:
                image = file
            cols[n % 8].image(image, caption=name, width=72)
        except Exception:   # noqa: BLE001  (a file training would skip and report)
            cols[n % 8].caption(f"{name}: {Path(file).name} is not a readable image")
    if shape is not None:
        st.caption(f"Samples as the model sees them: {fmt(shape)}, {spec.data.resize.replace('_', ' ')}.")


def train_tab(checked: editing.Checked) -> None:
    job = st.session_state.job
    with st.expander("Data", expanded=checked.data_section.get("dataset") == "image_folder"):
        with guard("The data settings"):
            data_panel(checked)
    if checked.spec is None:
        st.warning("Fix the spec first (see the Edit tab): only a valid spec can be trained.")
    elif not checked.spec.trainable:
        st.info("This spec names no dataset (`data: {dataset: none}`): it can be checked, summarized and "
                "built, not trained. Set `data.dataset` (e.g. `mnist`) to train it.")
    else:
        spec = checked.spec
        _sync_train_form(spec)
        # Plain widgets, not st.form: a form holds typed values back until it is submitted,
        # and a spec edit meanwhile would redraw them from the spec and lose the typing.
        cols = st.columns(4)
        cols[0].number_input("Epochs", min_value=1, max_value=10000, key="train_epochs")
        cols[1].number_input("Learning rate", min_value=0.0, max_value=10.0, format="%g", key="train_lr",
                             help="Checked like train.lr in the spec (above 0, at most 10).")
        cols[2].number_input("Batch size", min_value=1, max_value=65536, key="train_batch")
        cols[3].selectbox("Device", DEVICES, key="train_device", help="auto picks CUDA, then Apple MPS, then the CPU.")
        busy = job is not None and job.snapshot().active
        sweeping = _active(st.session_state.sweep_job)
        st.button(f"Train {spec.name}", disabled=busy or sweeping, type="primary", on_click=_start_training,
                  args=(checked.text,), help="A sweep is running (see the Sweep tab)." if sweeping else None)
        st.caption("These settings apply to the next run; the spec keeps its own values. "
                   "Ones you change here stay when the spec changes.")
        if st.session_state.get("train_error"):
            st.error(views.error_markdown(st.session_state.train_error))
    training_panel()
    runs_table()


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
    records = [r for r in (_run_record(Path(d)) for d in reversed(st.session_state.session_runs)) if r]
    if records:
        st.subheader("This session's runs")
        st.dataframe(pd.DataFrame.from_records(records), hide_index=True, width="stretch",
                     column_config={"params": st.column_config.TextColumn(alignment="right"),
                                    "test accuracy": st.column_config.TextColumn(alignment="right")})


def _line_chart(frame: pd.DataFrame, x: str, y: str, points: bool = False, integer_x: bool = False,
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


@st.fragment(run_every=2.0)
def training_panel() -> None:
    job = st.session_state.job
    if job is None:
        return
    s = job.snapshot()
    st.progress(s.progress if s.active or s.status != "completed" else 1.0, text=_job_status(s))
    if s.device:
        st.caption(f"Device: {s.device} · run folder: {s.run_dir}")
    for note in s.notes:
        st.caption(f"Data: {note}")
    if s.active:
        st.button("Stop (saves a checkpoint)", on_click=job.stop, key="stop_training")
    if s.error:
        st.error(views.error_markdown(s.error))
    charts = st.columns(2)
    if s.losses:
        with charts[0]:
            _line_chart(pd.DataFrame(s.losses[-400:], columns=["epoch", "train loss"]), "epoch", "train loss")
    if s.metrics:
        with charts[1]:
            frame = pd.DataFrame({"epoch": [m["epoch"] for m in s.metrics],
                                  "test accuracy (%)": [100 * m["test_accuracy"] for m in s.metrics]})
            _line_chart(frame, "epoch", "test accuracy (%)", points=True, integer_x=True)
    if not s.active and st.session_state.recorded_job is not job:
        st.session_state.recorded_job = job
        if s.run_dir is not None:
            st.session_state.session_runs.append(str(s.run_dir))
        st.rerun()  # show the updated runs table


def _active(job) -> bool:
    return job is not None and job.snapshot().active


# -- sweep ----------------------------------------------------------------------

SAMPLER_CHOICES = ("auto", "grid", "random", "tpe")


def _default_sets(lr: float) -> str:
    return f"train.lr=[{lr / 2:g}, {lr:g}, {lr * 2:g}]"


def _start_sweep(doc: dict, name: str) -> None:
    import time

    from playground import sweep
    from playground.app.jobs import SweepJob

    state = st.session_state
    study = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    sets = [line.strip() for line in state.sweep_sets.splitlines() if line.strip() and not line.lstrip()
            .startswith("#")]
    try:
        plan = sweep.plan(doc, sets, sampler=None if state.sweep_sampler == "auto" else state.sweep_sampler,
                          trials=int(state.sweep_trials) or None, study=study, out=SWEEPS / study,
                          epochs=int(state.sweep_epochs), data_dir=state.data_dir or None,
                          download=state.train_download)
    except (sweep.SweepError, SpecError) as exc:
        state.sweep_error = str(exc)
        return
    state.sweep_error = None
    state.sweep_job = SweepJob(plan, data_setting=DATA_SETTING).start()


def _continue_sweep() -> None:
    from playground.app.jobs import SweepJob

    state = st.session_state
    state.sweep_job = SweepJob(state.sweep_job.plan, data_setting=DATA_SETTING).start()


def _on_apply_best(values: dict, study: str) -> None:
    if _edit(lambda t: document.set_paths(t, values), f"applied the best values of sweep {study}"):
        _flash("success", "The best trial's values are in the spec: "
               + views.values_text(values) + ". Undo takes them back.")


def sweep_tab(checked: editing.Checked) -> None:
    """The sweep form is drawn whatever the spec's state (Streamlit forgets the
    value of a widget that is not drawn: typed fields would be lost while the
    spec is briefly invalid); only the start button waits for a valid spec."""
    state = st.session_state
    job, spec = state.sweep_job, checked.spec
    state.setdefault("sweep_sets", _default_sets(spec.train.lr if spec is not None else 0.01))
    state.setdefault("sweep_sampler", "auto")
    state.setdefault("sweep_trials", 0)
    state.setdefault("sweep_epochs", min(spec.train.epochs, 3) if spec is not None else 3)
    st.caption("Train variants of the open spec and compare them: one field per line, `PATH=VALUES`. "
               "Each trial is a run folder; a variant the check refuses trains nothing.")
    st.text_area("Fields to vary", key="sweep_sets", height=100,
                 help="A YAML list (train.lr=[0.01, 0.05]) for every combination, or a range for the random "
                      "and TPE samplers: loguniform(1e-4, 1e-1), uniform(0, 0.5), int(8, 64).")
    named = views.named_paths(checked.doc_layers)
    st.caption("Fields: `train.lr`, `train.momentum`, `data.batch_size`, ... "
               + (f"and layers by name: {', '.join(f'`{n}.FIELD`' for n in named)}." if named else
                  "Give a layer a `name:` to vary its fields (layers.NAME.FIELD)."))
    cols = st.columns(3)
    cols[0].selectbox("Sampler", SAMPLER_CHOICES, key="sweep_sampler",
                      help="auto: grid when every field has a list of values, else TPE.")
    cols[1].number_input("Trials (0: every combination, or 10)", min_value=0, max_value=1000, key="sweep_trials")
    cols[2].number_input("Epochs per trial", min_value=1, max_value=10000, key="sweep_epochs")
    training = _active(state.job)
    if spec is None:
        st.warning("Fix the spec first (see the Edit tab): only a valid spec can be swept.")
    elif not spec.trainable:
        st.info("This spec names no dataset (`data: {dataset: none}`): set `data.dataset` to sweep it.")
    else:
        st.button(f"Sweep {spec.name}", type="primary", disabled=_active(job) or training,
                  on_click=_start_sweep, args=(checked.doc, spec.name),
                  help="A training run is going on (see the Train tab)." if training else None)
        if state.get("sweep_error"):
            st.error(views.error_markdown(state.sweep_error))
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


@st.fragment(run_every=2.0)
def sweep_panel() -> None:
    job = st.session_state.sweep_job
    if job is None:
        return
    s, plan = job.snapshot(), job.plan
    st.progress(s.progress if s.status != "completed" else 1.0, text=_sweep_status(s))
    st.caption(f"Sweep folder: {plan.folder} (its trials are in the Runs tab)")
    if s.active:
        st.button("Stop the sweep", key="stop_sweep", on_click=job.stop,
                  help="The running trial stops at its next step and keeps its checkpoint; Continue goes on from it.")
    elif s.status in ("stopped", "failed") and s.finished < s.total:
        st.button("Continue the sweep", key="continue_sweep", on_click=_continue_sweep,
                  disabled=_active(st.session_state.job))
    if s.error:
        st.error(views.error_markdown(s.error))
    if s.rows:
        st.dataframe(pd.DataFrame.from_records(views.sweep_rows(s.rows)), hide_index=True, width="stretch",
                     key="sweep_trials_table")
    best = s.best
    if best is not None and not s.active:
        st.button(f"Apply the best values to the open spec (trial {best.number}: "
                  + views.values_text(best.params) + ")", key="apply_best",
                  on_click=_on_apply_best, args=(best.params, plan.study),
                  help="Sets these fields in the editor's text, keeping the rest as written; undo takes them back.")
    for r in (r for r in s.rows if r.message):   # refused or diverged
        with st.expander(f"Trial {r.number} {r.status}: why"):
            st.markdown(views.error_markdown(r.message))
    if not s.active and st.session_state.get("shown_sweep") is not job:
        st.session_state.shown_sweep = job
        st.rerun()  # the whole page: the Runs tab lists the new trial folders


# -- predict --------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def _load_run(path: str, stamp: float):
    from playground.train.inference import load_run
    return load_run(path, "cpu")


@st.cache_data(max_entries=4, show_spinner="Evaluating on the test set...")
def _evaluate(path: str, stamp: float, data_dir: str):
    from playground.train.inference import evaluate_run
    run = _load_run(path, stamp)
    return evaluate_run(run, data_dir or None, download=False)


def _on_pick_run() -> None:
    st.session_state.predict_pinned = True


def predict_tab() -> None:
    state = st.session_state
    choices = [str(p) for p in runs.list_runs(RUNS) if (p / runs.CHECKPOINT_FILE).exists()]
    if not choices:
        st.info("Train a model (Train tab) or put run folders under runs/ to try predictions.")
        return
    if not state.predict_pinned or state.get("predict_run") not in choices:
        state.predict_run, state.predict_pinned = choices[0], False   # the newest, until one is picked
    path = st.selectbox("Model (run folder)", choices, key="predict_run", on_change=_on_pick_run,
                        format_func=lambda p: Path(p).name + ("  (newest)" if p == choices[0] else ""))
    if path != choices[0]:
        st.caption(f"A newer run exists: {Path(choices[0]).name}.")
    stamp = (Path(path) / runs.CHECKPOINT_FILE).stat().st_mtime
    run = _load_run(path, stamp)
    try:
        sentence = texts.outcome(runs.read_info(path))
    except runs.RunError as exc:
        sentence = str(exc)
    st.caption(f"{run.spec.name} on {run.spec.data.dataset}: {sentence}")
    export_buttons(run.spec, path, "run")
    draw, browse = st.columns(2)
    if tuple(run.spec.input.shape()) == (1, 28, 28):   # a digit drawn on the canvas is a 28x28 gray image
        panel(draw, "Draw a digit", drawing_panel, run)
    else:
        draw.info(f"Drawing is for models of 28x28 grayscale digits; this one takes "
                  f"{fmt(run.spec.input.shape())} images. Browse its test images instead.")
    panel(browse, "Test images", browse_panel, path, stamp)


def drawing_panel(run) -> None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.info("Install streamlit-drawable-canvas (pip install -e '.[app]') to draw digits.")
        return
    import torch

    from playground.train.inference import digit_to_input, predict_proba

    state = st.session_state
    state.setdefault("canvas_round", 0)
    result = st_canvas(stroke_width=18, stroke_color="#ffffff", background_color="#000000", height=280, width=280,
                       drawing_mode="freedraw", return_image_data=True, key=f"canvas-{state.canvas_round}")
    left, right = st.columns([1, 2], vertical_alignment="center")
    left.button("Clear the drawing", on_click=lambda: state.update(canvas_round=state.canvas_round + 1))
    right.caption("Draw with the mouse. Clear starts over; the canvas toolbar's arrows undo strokes.")
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


def browse_panel(path: str, stamp: float) -> None:
    if not st.toggle("Show test images with predictions", key="browse_toggle"):
        return
    from playground.train.data import DataError
    try:
        ev = _evaluate(path, stamp, st.session_state.data_dir)
    except DataError as exc:
        st.error(views.error_markdown(exc.reworded("the Data folder field on the Train tab")))
        return
    confusion_heatmap(ev)
    wrong = (ev.predictions != ev.labels).nonzero().flatten().tolist()
    right = (ev.predictions == ev.labels).nonzero().flatten().tolist()
    st.caption(f"{texts.count(len(wrong))} of {texts.count(len(ev.labels))} test images misclassified, "
               "shown first")
    order = wrong + right
    page = st.number_input("page", min_value=1, max_value=max(1, (len(order) + 23) // 24), value=1, key="browse_page")
    chosen = order[(page - 1) * 24:page * 24]
    cols = st.columns(6)
    for n, i in enumerate(chosen):
        true, pred = ev.classes[ev.labels[i]], ev.classes[ev.predictions[i]]
        mark = "✓" if true == pred else "✗"
        image = ev.images[i]   # H x W, or H x W x C
        image = image[..., 0] if image.dim() == 3 and image.shape[-1] == 1 else image
        cols[n % 6].image(image.numpy(), caption=f"{mark} {true} → {pred}", width=72)


# -- runs -----------------------------------------------------------------------

def _on_open_run_spec(folder: str) -> None:
    try:
        text = (Path(folder) / runs.SPEC_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _flash("error", f"Cannot open the spec of {folder}: {exc}")
        return
    _open(editing.Source("run", Path(folder).name, text), f"opened the spec of {Path(folder).name}")


def runs_tab() -> None:
    """Every run folder under runs/, not only this session's: pick some to compare."""
    from playground.runs import listing as records

    sweeps = sorted((p for p in SWEEPS.iterdir() if p.is_dir() and any(p.glob("trial-*"))),
                    key=lambda p: p.name, reverse=True) if SWEEPS.is_dir() else []
    bases = [str(RUNS), *map(str, sweeps)]
    base = st.selectbox("Run folders in", bases, key="runs_base",
                        format_func=lambda b: f"{b} (runs)" if b == str(RUNS) else f"sweep {Path(b).name}",
                        help="The runs folder, or a sweep's folder (one run folder per trial).") \
        if sweeps else str(RUNS)
    rows = records.list_records(base)
    if not rows:
        st.info(f"No run folders under {base} yet.")
        return
    frame = pd.DataFrame.from_records([dict(zip(records.COLUMNS, records.row_texts(r), strict=True)) for r in rows])
    st.caption(f"{len(rows)} run folders under {base}, newest first. Select rows to compare them.")
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                          key=f"runs_pick-{base}")
    chosen = [rows[i] for i in picked.selection.rows] if picked and picked.selection else []
    if not chosen:
        return
    names = [Path(r.folder).name for r in chosen]
    curves = [{"run": n, "epoch": m["epoch"], "test accuracy (%)": 100 * m["test_accuracy"],
               "train loss": m["train_loss"]} for n, r in zip(names, chosen, strict=True)
              for m in runs.read_metrics(Path(r.folder)) if "test_accuracy" in m]
    if curves:
        frame = pd.DataFrame.from_records(curves)
        cols = st.columns(2)
        for col, y in zip(cols, ("test accuracy (%)", "train loss"), strict=True):
            with col:
                _line_chart(frame, "epoch", y, points=True, integer_x=True, color="run")
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
        st.button(f"Open the spec of {n} in the editor", key=f"open-run-{n}", on_click=_on_open_run_spec,
                  args=(r.folder,), disabled=not (Path(r.folder) / runs.SPEC_FILE).exists())


# -- page -----------------------------------------------------------------------

def main() -> None:
    _init_state()
    st.title("playground")
    st.html("<style>textarea[aria-label='Spec (YAML)'] {font-family: ui-monospace, Menlo, Consolas, monospace; "
            "font-size: 0.8rem; white-space: pre; overflow-x: auto}</style>")   # YAML reads as code
    try:
        checked = editing.check_text(st.session_state.yaml_text, data_root=st.session_state.data_dir or None)
    except PluginError as exc:
        st.error(f"Layer plugins failed to load: {exc}")
        return
    sidebar(checked)
    edit, train, sweeping, predict, every_run = st.tabs(["Edit", "Train", "Sweep", "Predict", "Runs"])
    with edit:
        edit_tab(checked)
    with train:
        with guard("Training"):
            train_tab(checked)
    with sweeping:
        with guard("The sweep"):
            sweep_tab(checked)
    with predict:
        with guard("Predicting"):
            predict_tab()
    with every_run:
        with guard("The runs view"):
            runs_tab()


main()
