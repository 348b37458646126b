"""The Edit tab: the YAML text, the shape table, the layer editor (a card per
layer, its widgets from the plugin's model), the diagram, and the open spec's
exports. Layer-editor widgets have stable keys and take their values from the
text before they are drawn, so focus and open cards survive each edit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from playground.app import editing, views
from playground.app.forms import FieldForm, field_forms, from_text, to_text
from playground.check.report import diagram, human, tree_diagram
from playground.core import texts
from playground.format import edits
from playground.format.templates import Use
from playground.layers.registry import get_registry
from playground.layers.shapes import fmt
from playground.page.state import KEYS as SHARED
from playground.page.state import shared
from playground.page.widgets import MAX_UNSCROLLED_ROWS, export_buttons, guard, panel


@dataclass(frozen=True)
class Keys:
    """The Edit tab's keys in st.session_state (widget keys among them). The
    text area's is the shared text's (state.KEYS.text)."""

    depth_prefix: str = "table_depth"       # "Nesting shown": the table's depth of blocks, see depth()
    bad_seen: str = "bad_seen"              # layers already opened for their error
    add_type: str = "add_type"              # "Add a layer of type"
    add_pos: str = "add_pos"                # "at position"
    add_pos_default: str = "add_pos_default"   # the position last offered (the end): follows the count
    add: str = "add_layer"                  # the "Add layer" button
    cards_for: str = "cards_for"            # shared.opened when the cards' open state was last reset
    export: str = "spec"                    # the export buttons: export-spec-<format>

    def depth(self, deepest: int) -> str:
        """One slider per depth a spec can have: its default (1) is then the widget's own,
        never set from code, so the browser cannot send back the slider's first option."""
        return f"{self.depth_prefix}-{deepest}"

    def open(self, index: int) -> str:
        return f"open-{index}"              # the toggle that shows a layer's fields

    def card(self, index: int) -> str:
        return f"layer-{index}"

    def up(self, index: int) -> str:
        return f"up-{index}"

    def down(self, index: int) -> str:
        return f"down-{index}"

    def delete(self, index: int) -> str:
        return f"del-{index}"

    def field(self, index: int, name: str) -> str:
        return f"f-{index}-{name}"          # a field's widget: this, then -<widget kind>

    def block(self, name: str) -> str:
        return f"block-{name}"              # a block template's card; its toggle is open-block-<name>

    def block_layers(self, name: str) -> str:
        return f"block-layers-{name}"       # the template's layers, as YAML


KEYS = Keys()
DEFAULTS = {KEYS.bad_seen: frozenset(), KEYS.cards_for: 0}


def _state():
    return st.session_state


# -- callbacks (run before the rerun, so they may set widget state) ---------------

def _shift_open(mapping: dict[int, int | None]) -> None:
    """Carry the layer cards' open state along with a layer operation:
    ``mapping`` sends each old index to its new one (None: the layer is gone)."""
    state = _state()
    was = {i: state.get(KEYS.open(i), False) for i in mapping}
    for i in mapping:
        state[KEYS.open(i)] = False
    for old, new in mapping.items():
        if new is not None:
            state[KEYS.open(new)] = was[old]


def _on_move(index: int, delta: int, count: int) -> None:
    if shared.edit(lambda t: edits.move_layer(t, index, delta), f"moved layer {index}"):
        mapping = {i: i for i in range(count)}
        mapping[index], mapping[index + delta] = index + delta, index
        _shift_open(mapping)


def _on_delete(index: int, count: int) -> None:
    if shared.edit(lambda t: edits.delete_layer(t, index), f"deleted layer {index}"):
        _shift_open({i: None if i == index else (i - 1 if i > index else i) for i in range(count)})


def _on_add(count: int) -> None:
    state = _state()
    index = max(0, min(int(state.get(KEYS.add_pos, count)), count))
    kind = state[KEYS.add_type]
    if shared.edit(lambda t: edits.add_layer(t, index, kind), f"added a {kind} layer"):
        _shift_open({i: i + 1 if i >= index else i for i in range(count)})
        state[KEYS.open(index)] = True   # a new layer opens, ready to edit


def _on_block_layers(name: str, key: str) -> None:
    value = from_text(_state()[key])
    shared.edit(lambda t: edits.set_paths(t, {f"blocks.{name}.layers": value}), f"edited block {name}")


def _on_field(index: int, form: FieldForm, key: str, widget: str) -> None:
    value = _state()[key]
    if widget in ("yaml", "layers"):
        value = from_text(value)
    elif widget == "text":
        value = value.strip() or None
    if shared.edit(lambda t: edits.set_field(t, index, form.name, value), f"set layers[{index}].{form.name}"):
        _state()[KEYS.open(index)] = True


# -- the tab ---------------------------------------------------------------------------

def _follow_opened() -> None:
    """A spec just opened: its layer cards start closed (an open card's state is by
    index, and would follow into the next spec), its errors open theirs afresh."""
    state = _state()
    if state[KEYS.cards_for] != shared.opened:
        state[KEYS.cards_for] = shared.opened
        for key in [k for k in state if isinstance(k, str) and k.startswith("open-")]:
            state[key] = False
        state[KEYS.bad_seen] = frozenset()


def render(checked: editing.Checked) -> None:
    shared.setdefaults(DEFAULTS)
    _follow_opened()
    text_col, shapes_col = st.columns([4, 5])   # the table a little wider: whole numbers in narrow windows
    with text_col:
        st.text_area("Spec (YAML)", key=SHARED.text, height=520, on_change=shared.typed,
                     help="Edit freely: the table and diagram follow every change (Ctrl+Enter applies). "
                          "Undo and Redo are in the sidebar.")
    with shapes_col:
        with guard("The shape table"):
            show_table(checked)
    # one under the other, each the page's width: a big network's diagram in a column
    # was shrunk until its labels could not be read
    panel(st.container(), "Layer editor", layer_editor, checked)
    panel(st.container(), "Diagram", show_diagram, checked)
    if checked.spec is not None and checked.ok:
        export_buttons(checked.spec, None, KEYS.export, checked.summary)
        st.caption("Exports of the open spec carry fresh weights (from its seed); a trained run's carry its "
                   "training (Predict tab).")


def show_table(checked: editing.Checked) -> None:
    if checked.error is not None:
        st.error(views.error_markdown(str(checked.error)), icon="⚠️")
    deepest = checked.depth
    depth = None
    if deepest:   # blocks: collapse them to a depth, as torchinfo does
        depth = st.select_slider("Nesting shown", options=list(range(deepest + 1)), value=min(1, deepest),
                                 key=KEYS.depth(deepest),
                                 help="0 shows each block as one row with its totals; more shows the layers "
                                      "inside blocks, indented with ·. The diagram follows.")
    # HTML, not st.dataframe: a grid's columns have fixed widths that cut long numbers
    st.html(views.table_html(views.table_rows(checked, depth), max_rows=MAX_UNSCROLLED_ROWS))
    if checked.summary is not None:
        s = checked.summary
        batch = checked.spec.data.batch_size
        frozen = views.frozen_total(checked)
        trains = f"; {texts.count(s.total_params - frozen)} trainable, {texts.count(frozen)} frozen" \
            if frozen is not None else ""
        st.caption(f"**Total**: {texts.count(s.total_params)} parameters ({human(s.total_params * 4)}B{trains}), "
                   f"{texts.count(s.total_macs)} MACs per sample; activations {human(s.activation_bytes(batch))}B "
                   f"per batch of {batch}. Input {fmt(s.input_shape)} → output {fmt(s.output_shape)}.")


def show_diagram(checked: editing.Checked) -> None:
    if not checked.layer_count:
        st.caption("The diagram appears once the layers can be read.")
        return
    if checked.spec is not None and checked.depth:   # blocks as clusters, branches and merges
        # to the depth the table shows: deeper blocks are one node each (a double border),
        # so a big network is drawn legibly rather than shrunk to fit; after a failed
        # shape check, from the spec, the layers at fault red
        dot = tree_diagram(checked.spec, checked.summary,
                           _state().get(KEYS.depth(checked.depth), min(1, checked.depth)),
                           rows=checked.rows, bad=checked.bad_paths)
        caption = ("Blocks are drawn to the depth of “Nesting shown” (above the table); a double border is a "
                   "block drawn as one box.")
    else:
        dot, caption = diagram(checked.layers, checked.input_shape), None
    # A new element for each new graph: the chart redrawn in place animates from the old
    # graph to the new one, and a node whose shape changed came out without its box.
    with st.container(key=f"diagram-{hashlib.sha1(dot.encode()).hexdigest()[:12]}"):
        st.graphviz_chart(dot)
    if caption:
        st.caption(caption)


def _widget(form: FieldForm, value, key_base: str, index: int) -> None:
    """The widget for one field. Its key is stable across edits (focus stays);
    its value comes from the text, set before it is drawn. A value the widget
    cannot hold (out of bounds, wrong type) gets a YAML text box instead."""
    state = _state()
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
    if state.get(key, object()) != shown:
        state[key] = shown
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


def block_templates(checked: editing.Checked) -> None:
    """A card per block template (``blocks:``), its layers edited as YAML where they
    are written; a problem inside a template is shown, and its card opened, here."""
    blocks = (checked.doc or {}).get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        return
    state = _state()
    problems: dict[str, list] = {}
    for p in checked.error.problems if checked.error is not None else ():
        if p.path[:1] == ("blocks",) and len(p.path) > 1:
            problems.setdefault(p.path[1], []).append(p)
    st.markdown("**Block templates**")
    for name, block in blocks.items():
        if not isinstance(block, dict):
            continue
        toggle = f"open-{KEYS.block(name)}"
        if problems.get(name) and not state.get(f"{toggle}-seen"):
            state[toggle] = True   # a template that just went wrong opens once
        state[f"{toggle}-seen"] = bool(problems.get(name))
        params = block.get("params")
        listed = ", ".join(map(str, params)) if isinstance(params, dict) else ""
        mark = "✗ " if problems.get(name) else ""
        with st.container(border=True, key=KEYS.block(name)):
            if not st.toggle(views.markdown_text(f"{mark}block '{name}'" + (f" ({listed})" if listed else "")),
                             key=toggle):
                continue
            key = KEYS.block_layers(name)
            shown = to_text(block.get("layers"))
            if state.get(key) != shown:
                state[key] = shown
            st.text_area("layers", key=key, height=160, on_change=_on_block_layers, args=(name, key),
                         help="The template's layers as YAML, one per line; `$param` for its parameters.")
            for problem in problems.get(name, []):
                st.error(views.error_markdown(problem.render(None)))


def layer_editor(checked: editing.Checked) -> None:
    state = _state()
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
    for i in set(problems) - state[KEYS.bad_seen]:   # a layer that just went wrong opens once
        state[KEYS.open(i)] = True
    state[KEYS.bad_seen] = frozenset(problems)
    count = len(doc_layers)
    for view in checked.layers[:count]:
        i = view.index
        raw = doc_layers[i] if isinstance(doc_layers[i], dict) else {}
        # A bordered card per layer with a keyed toggle for a header, not st.expander: an
        # expander's identity includes its title, so it would close (and drop the focus of
        # the field being typed in) whenever an edit changes the title's shape or name.
        with st.container(border=True, key=KEYS.card(i)):
            if not st.toggle(views.markdown_text(views.layer_title(view)), key=KEYS.open(i)):
                continue
            buttons = st.columns(3)
            buttons[0].button("↑ up", key=KEYS.up(i), on_click=_on_move, args=(i, -1, count), disabled=i == 0)
            buttons[1].button("↓ down", key=KEYS.down(i), on_click=_on_move, args=(i, 1, count),
                              disabled=i == count - 1)
            buttons[2].button("✕ delete", key=KEYS.delete(i), on_click=_on_delete, args=(i, count))
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
                            _widget(form, raw.get(form.name), KEYS.field(i, form.name), i)
                for form in forms:   # a block's layers, full width, one per line
                    if form.kind == "layers":
                        _widget(form, raw.get(form.name), KEYS.field(i, form.name), i)
                with st.popover("What the fields mean", icon=":material/help:"):
                    st.markdown("\n".join(f"- **{form.name}**: {views.markdown_text(form.help)}" for form in forms))
            for problem in problems.get(i, []):   # after the fields, so they never move
                if problem.path[:1] == ("blocks",):   # written in a template: edited in its card
                    st.warning(f"The problem is in block '{problem.path[1]}', which this layer uses: "
                               "see its card under “Block templates”.")
                else:
                    st.error(views.error_markdown(problem.render(None)))
    block_templates(checked)
    st.divider()
    types = registry.names()
    add = st.columns([2, 1, 1])
    add[0].selectbox("Add a layer of type", types, key=KEYS.add_type,
                     help="; ".join(f"{t}: {registry[t].describe()}" for t in types))
    if state.get(KEYS.add_pos) in (None, state.get(KEYS.add_pos_default)) or state[KEYS.add_pos] > count:
        state[KEYS.add_pos] = count   # the end of the list, until the user picks a position
    state[KEYS.add_pos_default] = count
    add[1].number_input("at position", min_value=0, max_value=count, step=1, key=KEYS.add_pos)
    add[2].button("Add layer", key=KEYS.add, on_click=_on_add, args=(count,))
