"""Editing a spec as a document: the operations behind the app's layer editor
and its live check. Pure functions over YAML text and plain dicts; no UI.

The YAML text is the one source of truth. ``check_text`` turns it into
whatever can be known (parsed document, spec, summary, located error and the
rows worked out before the error). The layer operations live in
``playground.format.edits`` (text in, text out, the user's YAML kept as written).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from playground.check.analysis import LayerRow, Summary, analyze
from playground.core.errors import PlaygroundError, SpecError
from playground.core.fileio import atomic_write_text
from playground.core.speed import gc_paused
from playground.format.datasets import DATASETS
from playground.format.loader import validate
from playground.format.spec import SpecBase
from playground.format.yamlsource import parse
from playground.layers.registry import Registry


@dataclass
class Checked:
    text: str
    doc: dict | None = None              # the parsed mapping, if the YAML parsed to one
    spec: SpecBase | None = None
    summary: Summary | None = None
    error: SpecError | None = None
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error is None

    @functools.cached_property
    def frozen(self) -> dict[tuple, int] | str | None:
        """The parameters ``train.freeze`` freezes, by row path (None: nothing frozen, or no
        valid spec); a part name that is no layer: its message."""
        if self.spec is None or self.summary is None or not self.spec.train.freeze:
            return None
        from playground.check.parts import frozen_by_row
        from playground.core.errors import PlaygroundError

        try:
            return frozen_by_row(self.spec, self.summary)
        except PlaygroundError as err:
            return str(err)

    @property
    def doc_layers(self) -> list:
        """The document's layer entries as written (possibly invalid), or []."""
        layers = (self.doc or {}).get("layers")
        return layers if isinstance(layers, list) else []

    @property
    def layer_count(self) -> int:
        return max(len(self.doc_layers), len(self.rows))

    @property
    def bad_layers(self) -> set[int]:
        return self.error.layer_indices if self.error else set()

    @functools.cached_property
    def layers(self) -> tuple[LayerView, ...]:
        """Every layer of the document, named and typed as written, with the shape
        facts the check got to (none past an error), the failing ones marked.
        Worked out once: the table, the editor and the diagram all read it."""
        return tuple(self._views(0, {("layers", i) for i in self.bad_layers}))

    def tree(self, max_depth: int | None = None) -> list[LayerView]:
        """Every layer down to ``max_depth``, blocks before what they hold: from
        the check where it got that far, else as written in the document (the
        layers of a block that failed keep their names, with no shapes). A
        problem marks the innermost layer it is about."""
        return self._views(max_depth, self.bad_paths)

    @functools.cached_property
    def bad_paths(self) -> frozenset[tuple]:
        """Where in ``layers`` each problem is: the innermost layer at fault, or
        the use of the block template a problem is inside."""
        bad = set()
        for p in self.error.problems if self.error else ():
            if p.layer_path is not None and p.layer_path[0] == "layers":
                bad.add(p.layer_path)
            elif p.layer_index is not None:
                bad.add(("layers", p.layer_index))
        return frozenset(bad)

    def _views(self, max_depth: int | None, bad: set) -> list[LayerView]:
        rows = {r.index: r for r in self.rows}
        out: list[LayerView] = []
        doc_layers = self.doc_layers
        for i in range(self.layer_count):
            raw = doc_layers[i] if i < len(doc_layers) else None
            _tree_views(raw, rows.get(i), ("layers", i), 0, max_depth, bad, out)
        return out

    @functools.cached_property
    def depth(self) -> int:
        """How deep layers nest in this spec (0: a plain chain)."""
        return max((v.depth for v in self.tree()), default=0)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The input shape, also when the spec did not validate but it can be read."""
        if self.spec is not None:
            return tuple(self.spec.input.shape())
        if self.rows:
            return tuple(self.rows[0].input_shape)
        doc = self.doc or {}
        given = doc.get("input")
        if isinstance(given, dict):
            dims = [given.get(k) for k in ("channels", "height", "width")]
            if all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
                return tuple(dims)
            return None
        data = doc.get("data")
        dataset = data.get("dataset", "mnist") if isinstance(data, dict) else "mnist"
        info = DATASETS.get(dataset) if isinstance(dataset, str) else None
        return info.shape if info else None


    @property
    def data_section(self) -> dict:
        """The spec's ``data`` mapping as written (possibly invalid), or {}."""
        return _section(self.doc, "data")


@dataclass(frozen=True)
class LayerView:
    """One layer as the page shows it: from the check where it got that far,
    else from the document as written."""

    index: int
    name: str | None
    type: str
    output_shape: tuple[int, ...] | None
    params: int | None
    macs: int | None
    bad: bool
    path: tuple = ()          # ('layers', 4, 'body', 0); top-level: ('layers', index)
    depth: int = 0
    holds: bool = False       # a block: layers nested in it

    @property
    def position(self) -> str:
        """'4' or '4.body.0' (a sequential's `layers` adds nothing)."""
        return ".".join(str(p) for p in (self.path or ("layers", self.index))[1:] if p != "layers")


def _raw_lists(raw) -> list[tuple[tuple, list]]:
    """The lists of layers a layer holds as written: [(('body',), [...]), (('branches', 'a'), [...])]."""
    from playground.layers.registry import get_registry

    if not isinstance(raw, dict):
        return []
    out = []
    for name in get_registry().layer_fields(raw.get("type")):
        value = raw.get(name)
        if isinstance(value, list):
            out.append(((name,), value))
        elif isinstance(value, dict):
            out += [((name, key), items) for key, items in value.items() if isinstance(items, list)]
    return out


def _tree_views(raw, row, path: tuple, depth: int, max_depth: int | None, bad: set, out: list) -> None:
    raw = raw if isinstance(raw, dict) else {}
    name = row.name if row else raw.get("name")
    kind = row.type if row else raw.get("type")
    nested = [(c.path[len(path):-1], None, c) for c in row.children] if row is not None and row.children else [
        (where, item, None) for where, items in _raw_lists(raw) for item in items]
    out.append(LayerView(path[1], name if isinstance(name, str) and name else None,
                         kind if isinstance(kind, str) else "?", row.output_shape if row else None,
                         row.params if row else None, row.macs if row else None, path in bad, path, depth,
                         bool(nested)))
    if max_depth is not None and depth >= max_depth:
        return
    counters: dict[tuple, int] = {}
    for where, item, child in nested:
        j = counters.get(where, 0)
        counters[where] = j + 1
        _tree_views(item, child, child.path if child is not None else (*path, *where, j), depth + 1,
                    max_depth, bad, out)


def written_section(text: str, section: str) -> dict:
    """The mapping ``text`` writes under ``section`` (possibly invalid), or {} where
    there is none or the text does not parse."""
    try:
        return _section(parse(text).data, section)
    except SpecError:
        return {}


def _section(doc, section: str) -> dict:
    found = doc.get(section) if isinstance(doc, dict) else None
    return found if isinstance(found, dict) else {}


def check_text(text: str, registry: Registry | None = None, data_root=None) -> Checked:
    """Everything the live view shows for ``text``; never raises for bad input.
    ``data_root``: where an image folder's relative path is looked up."""
    with gc_paused():
        return _check(text, registry, data_root)


def _check(text: str, registry: Registry | None, data_root=None) -> Checked:
    result = Checked(text)
    try:
        doc = parse(text)
    except SpecError as err:
        result.error = err
        return result
    result.doc = doc.data if isinstance(doc.data, dict) else None
    try:
        result.spec = validate(doc.data, registry=registry, lines=doc.lines)
        result.summary = analyze(result.spec, data_root)
        result.rows = result.summary.rows
    except SpecError as err:
        result.error = err
        result.rows = err.rows
    return result


# -- saving -------------------------------------------------------------------

class SaveError(PlaygroundError, ValueError):
    """A spec that cannot be saved where asked."""


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def save_target(filename: str, folder: str | Path) -> Path:
    """Where ``filename`` would be saved in ``folder``: ``<stem>.yaml``. The name
    must be plain (letters, digits, _ and -) and the file stays inside ``folder``."""
    folder = Path(folder)
    stem = spec_stem(filename)
    if not _SAFE_NAME.match(stem):
        raise SaveError(f"'{filename}' is not a safe file name. Use letters, digits, _ and - "
                        "(up to 64), e.g. my_cnn.")
    path = folder / f"{stem}.yaml"
    if path.resolve().parent != folder.resolve():
        raise SaveError(f"'{filename}' would leave {folder}/.")
    return path


def spec_stem(filename: str) -> str:
    """'lenet5.yaml' -> 'lenet5' (the name a save box shows)."""
    stem = filename.strip()
    for suffix in (".yaml", ".yml"):
        stem = stem.removesuffix(suffix)
    return stem


class SaveConflict(SaveError):
    """The file changed on disk since the one saving last read it."""


def file_text(text: str) -> str:
    """What saving ``text`` writes: the text, ending with a newline."""
    return text if text.endswith("\n") else text + "\n"


def read_spec(path: str | Path) -> str | None:
    """A spec file's text now; None when it is gone or cannot be read as text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def save_spec(text: str, filename: str, folder: str | Path, *, overwrite: bool = False,
              expected: str | None = None) -> Path:
    """Write ``text`` atomically to ``folder/<filename>.yaml`` (see ``save_target``);
    an existing file is replaced only with ``overwrite=True``, and, given
    ``expected`` (what the file held when the user was asked), only if it still
    holds that: else SaveConflict, and nothing is written."""
    path = save_target(filename, folder)
    if path.exists() and not overwrite:
        raise SaveError(f"{path} already exists. Choose another name, or allow overwriting.")
    if overwrite and expected is not None and read_spec(path) != expected:
        raise SaveConflict(f"specs/{path.name} changed on disk since you were asked; nothing was saved.")
    return atomic_write_text(path, file_text(text))


@dataclass(frozen=True)
class DiskChange:
    """The open file's text on disk differs from what this session opened or saved."""

    name: str            # file name under the specs folder
    now: str | None      # what the file holds now; None: it is gone

    def describe(self) -> str:
        if self.now is None:
            return f"specs/{self.name} was deleted or renamed since you opened it."
        return (f"specs/{self.name} changed on disk since you opened it (saved from another tab or program). "
                "Your text is as you left it.")

    def diff(self, mine: str) -> str:
        """The differences from the file on disk to the text in the editor, as a unified diff."""
        import difflib

        return "".join(difflib.unified_diff((self.now or "").splitlines(keepends=True),
                                            file_text(mine).splitlines(keepends=True),
                                            f"specs/{self.name} (on disk)", "the editor"))


def disk_change(source: Source, folder: str | Path) -> DiskChange | None:
    """How the file ``source`` came from differs on disk now, if it does (file sources only)."""
    if source.kind != "file" or source.disk is None:
        return None
    now = read_spec(Path(folder) / source.name)
    return None if now == source.disk else DiskChange(source.name, now)


@dataclass(frozen=True)
class Source:
    """Where the open text came from: a file in the specs folder, an upload, or
    nothing yet. ``text`` is the text as it came, to tell whether it was edited."""

    kind: str            # "file", "upload", "run" (a run folder's resolved spec) or "new"
    name: str            # file name as shown, e.g. "lenet5.yaml"
    text: str
    disk: str | None = None   # a file's text on disk when it was opened or saved (to see others' saves)

    @classmethod
    def file(cls, name: str, text: str, disk: str | None = None) -> Source:
        """A file in the specs folder, opened (``disk`` is ``text``) or saved (``disk`` is what was written)."""
        return cls("file", name, text, text if disk is None else disk)

    def edited(self, current: str) -> bool:
        return current != self.text

    def describe(self, current: str) -> str:
        """'lenet5.yaml', 'lenet5.yaml (edited)', 'uploaded net.yaml', 'new spec (edited)'."""
        what = {"file": self.name, "upload": f"uploaded {self.name}", "new": "new spec",
                "run": f"the spec of run {self.name}"}[self.kind]
        return f"{what} (edited)" if self.edited(current) else what

    @property
    def save_name(self) -> str:
        """The save box's first name: the file's own, without a folder ('zoo/vit_b_16.yaml' is saved
        as specs/vit_b_16.yaml, a copy beside the others; the shipped zoo stays as it is)."""
        return spec_stem(self.name.rsplit("/", 1)[-1]) if self.name else "my_spec"
