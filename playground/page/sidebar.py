"""The sidebar: open a spec from specs/ or an upload, undo and redo, download,
save (safely: a plain name under specs/, replacing a file only when asked
twice), and the message of the last action."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from playground.app import editing
from playground.page.state import Folders, shared


@dataclass(frozen=True)
class Keys:
    """The sidebar's keys in st.session_state (widget keys among them)."""

    pick: str = "spec_pick"                 # "Open from specs/": shows what is open, not the last pick
    upload: str = "upload"                  # the file uploader
    save_name: str = "save_name"            # "Save as (in specs/)": follows what was opened
    overwrite: str = "save_overwrite"       # "Overwrite if it exists": cleared after every save
    pending: str = "pending_overwrite"      # Pending: a replacement waiting for a confirmation
    save_for: str = "save_for"              # the source the save fields were last set for
    compare: str = "compare_disk"           # "Compare with the file": the diff from the file on disk


KEYS = Keys()
DEFAULTS = {KEYS.pick: None, KEYS.save_for: None, KEYS.compare: False}


@dataclass(frozen=True)
class Pending:
    """A save that replaces a file, asked on the page and done on confirm: only
    if the file still holds ``disk``, what it held when the user was asked."""

    name: str
    text: str
    disk: str | None
    changed: bool          # the file is the open one, and someone else saved it since it was opened


def _state():
    return st.session_state


def _follow_source() -> None:
    """Opening a spec (here or from another tab) sets the save fields for it:
    its name, and no overwrite asked."""
    state = _state()
    if state[KEYS.save_for] is not shared.source:
        state[KEYS.save_for] = shared.source
        state[KEYS.save_name] = shared.source.save_name
        state[KEYS.overwrite] = False
        state[KEYS.pending] = None


# -- callbacks (run before the rerun, so they may set widget state) ---------------

def _on_pick_spec(folders: Folders) -> None:
    state = _state()
    name, state[KEYS.pick] = state[KEYS.pick], None   # the box shows what is open, not the last pick
    if name is None:
        return
    try:
        text = (folders.specs / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        shared.say("error", f"Cannot open specs/{name}: {exc}")
        return
    shared.open(editing.Source.file(name, text), f"opened {name}")


def _on_upload() -> None:
    upload = _state().get(KEYS.upload)
    if upload is None:
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        shared.say("error", f"{upload.name} is not UTF-8 text; nothing was loaded.")
        return
    shared.open(editing.Source("upload", upload.name, text), f"uploaded {upload.name}")


def _saved(path: Path, text: str) -> None:
    state = _state()
    # the name stays as typed; what was written is what later saves compare the file with
    shared.source = state[KEYS.save_for] = editing.Source.file(path.name, text, editing.file_text(text))
    state[KEYS.overwrite] = False
    state[KEYS.pending] = None
    state[KEYS.compare] = False
    shared.say("success", f"Saved specs/{path.name}.")


def _on_save(folders: Folders) -> None:
    state = _state()
    text = shared.text
    state[KEYS.pending] = None
    try:
        path = editing.save_target(state[KEYS.save_name], folders.specs)
        if path.exists():
            change = editing.disk_change(shared.source, folders.specs) if shared.source.name == path.name else None
            if not state[KEYS.overwrite]:
                shared.say("error", (change.describe() + " " if change else "") + f"specs/{path.name} already "
                           "exists. Choose another name, or tick “Overwrite if it exists” to replace it.")
            else:   # asked on the page, saved on confirm if the file is still as it is now
                state[KEYS.pending] = Pending(path.name, text, editing.read_spec(path), change is not None)
            return
        _saved(editing.save_spec(text, state[KEYS.save_name], folders.specs), text)
    except (editing.SaveError, OSError) as exc:
        shared.say("error", str(exc))


def _on_confirm_overwrite(folders: Folders) -> None:
    state = _state()
    pending: Pending = state[KEYS.pending]
    try:
        _saved(editing.save_spec(pending.text, pending.name, folders.specs, overwrite=True, expected=pending.disk),
               pending.text)
    except editing.SaveConflict as exc:
        state[KEYS.pending] = None
        shared.say("error", f"{exc} Compare or reload it (above), or save under another name.")
    except (editing.SaveError, OSError) as exc:
        state[KEYS.pending] = None
        shared.say("error", str(exc))


def _on_cancel_overwrite() -> None:
    state = _state()
    state[KEYS.pending] = None
    state[KEYS.overwrite] = False


def _on_reload(folders: Folders) -> None:
    """Open the file as it is on disk now; undo brings back the text it replaces."""
    name = shared.source.name
    text = editing.read_spec(folders.specs / name)
    _state()[KEYS.compare] = False
    if text is None:
        shared.say("error", f"specs/{name} cannot be read now; your text is as it was.")
        return
    shared.open(editing.Source.file(name, text), f"reloaded {name} from disk")


# -- the sidebar ----------------------------------------------------------------------

def render(checked: editing.Checked, folders: Folders) -> None:
    shared.setdefaults(DEFAULTS)
    _follow_source()
    with st.sidebar:
        st.header("Spec")
        shown = shared.source.describe(shared.text)
        st.selectbox("Open from specs/", folders.spec_files(), index=None, key=KEYS.pick, on_change=_on_pick_spec,
                     args=(folders,), placeholder=shown, help="Opens the file from disk, also the one already "
                     "open (to drop edits). Undo brings back what was open before.")
        st.caption(f"Open now: **{shown}**")
        st.file_uploader("Upload a YAML spec", type=["yaml", "yml"], key=KEYS.upload, on_change=_on_upload)
        history = shared.history
        undo, redo = st.columns(2)
        undo.button("↶ Undo", on_click=shared.step, args=("undo",), disabled=not history.can_undo, width="stretch",
                    help=f"Undo: {history.undo_label}." if history.can_undo else "Nothing to undo.")
        redo.button("↷ Redo", on_click=shared.step, args=("redo",), disabled=not history.can_redo, width="stretch",
                    help=f"Redo: {history.redo_label}." if history.can_redo else "Nothing to redo.")
        name = checked.spec.name if checked.spec else (_state()[KEYS.save_name] or "spec")
        st.download_button("Download this spec", shared.text, file_name=f"{name}.yaml",
                           mime="application/x-yaml", width="stretch")
        st.divider()
        change = editing.disk_change(shared.source, folders.specs)
        if change is not None:
            disk_panel(change, folders)
        save_panel(folders)
        if not checked.ok:
            st.caption("The spec has problems; saving keeps your work as it is.")
        flash = shared.take_flash()
        if flash:
            getattr(st, flash[0])(flash[1])


def disk_panel(change: editing.DiskChange, folders: Folders) -> None:
    """The open file changed on disk since this session opened or saved it: say
    so, and offer to compare and to reload (saving asks before replacing it)."""
    st.warning(change.describe())
    if change.now is None:
        return
    st.toggle("Compare with the file", key=KEYS.compare, help="What your text changes in the file as it is now.")
    if _state()[KEYS.compare]:
        # wrapped: the sidebar is too narrow for a spec's lines
        st.code(change.diff(shared.text) or "(the same text)", language="diff", wrap_lines=True)
    st.button(f"Reload {change.name} from disk", on_click=_on_reload, args=(folders,), width="stretch",
              help="Opens the file as it is now; Undo brings back your text.")
    st.caption("Or keep both: save yours under another name.")


def save_panel(folders: Folders) -> None:
    state = _state()
    pending: Pending | None = state[KEYS.pending]
    if pending and (pending.text != shared.text or editing.spec_stem(state[KEYS.save_name]) != Path(pending.name).stem):
        state[KEYS.pending] = pending = None   # the text or name changed since: ask again on Save
    st.text_input("Save as (in specs/)", key=KEYS.save_name, help="A plain file name: letters, digits, _ and -.")
    st.checkbox("Overwrite if it exists", key=KEYS.overwrite,
                help="Clears after every save; replacing a file asks once more.")
    st.button("Save", on_click=_on_save, args=(folders,), width="stretch", disabled=pending is not None)
    if pending:
        st.warning(f"specs/{pending.name} changed on disk since you opened it: replacing it loses that change. "
                   "Replace it with your text anyway?" if pending.changed else
                   f"specs/{pending.name} exists. Replace it with the spec in the editor?")
        # one button per line: a file name never cut
        st.button(f"Replace {pending.name}", on_click=_on_confirm_overwrite, args=(folders,), type="primary",
                  width="stretch")
        st.button("Cancel", on_click=_on_cancel_overwrite, width="stretch")
