"""What the page shows, as plain data and text: the shape table's rows, the
layer editor's titles, the error banner's Markdown. Pure functions over a
``Checked``, so they are tested without a browser."""

from __future__ import annotations

import re

from playground.app.editing import Checked, LayerView
from playground.core.texts import count
from playground.layers.shapes import label

TABLE_COLUMNS = ("#", "name", "type", "output shape", "params", "MACs", "status")
DASH = "—"


def shape_text(shape) -> str:
    return label(shape) if shape is not None else DASH


INDENT = "· "   # one per level of nesting, before a nested layer's type


def table_rows(checked: Checked, max_depth: int | None = None) -> list[dict]:
    """One row per layer of the document, the layers of blocks under them down to
    ``max_depth`` (a block's row counts all it holds): shapes where known, a dash
    where the check did not get that far, the failing rows marked."""
    frozen = checked.frozen if isinstance(checked.frozen, dict) else {}
    return [{"#": v.position, "name": v.name or "", "type": INDENT * v.depth + v.type,
             "output shape": shape_text(v.output_shape), "params": count(v.params), "MACs": count(v.macs),
             "status": "✗ error" if v.bad else ("not checked" if v.output_shape is None else
                                                _frozen_status(frozen.get(v.path, 0), v.params or 0))}
            for v in checked.tree(max_depth)]


FROZEN, PART_FROZEN = "ok · frozen", "ok · part frozen"


def frozen_total(checked: Checked) -> int | None:
    """How many parameters train.freeze freezes in all (None: nothing frozen, or the names are wrong)."""
    if not isinstance(checked.frozen, dict) or checked.summary is None:
        return None
    return sum(checked.frozen.get(row.path, 0) for row in checked.summary.rows)


def _frozen_status(frozen: int, params: int) -> str:
    """A checked row's status: frozen whole (train.freeze), in part, or training."""
    if frozen and frozen == params:
        return FROZEN
    return PART_FROZEN if frozen else "ok"


NUMERIC = ("params", "MACs")                          # right-aligned, never wrapped
WHOLE = NUMERIC                                       # never wrapped: read as one word
ROW_PX = 30                                           # a table row's height, one line of text
TABLE_STYLE = """<style>
.pg-table {overflow: auto; border: 1px solid rgba(49, 51, 63, 0.15); border-radius: 0.5rem}
.pg-table table {border-collapse: collapse; width: 100%; font-size: 0.8rem; margin: 0}
.pg-table th {position: sticky; top: 0; background: #f6f7f9; text-align: left; font-weight: 600}
.pg-table th, .pg-table td {padding: 0 0.35rem; height: 30px; line-height: 1.3; border: 0;
  border-bottom: 1px solid rgba(49, 51, 63, 0.08); vertical-align: middle; overflow-wrap: break-word}
.pg-table .num {text-align: right; font-variant-numeric: tabular-nums}
.pg-table .whole {white-space: nowrap; overflow-wrap: normal}
.pg-table .name {overflow-wrap: anywhere}
.pg-table tr.bad td {background: #f8d7da}
.pg-table tr.frozen td {color: #5b6b80; background: #eef3f8}
</style>"""


def table_html(rows: list[dict], columns=TABLE_COLUMNS, max_rows: int = 30) -> str:
    """The shape table as HTML: every value whole (numbers and shapes never wrap
    or get cut; names, types and positions wrap where they must), the failing
    rows red, a sticky header; past ``max_rows`` rows it scrolls inside itself."""
    from html import escape

    def cell(column: str, value) -> str:
        kind = " ".join(k for k, on in (("num", column in NUMERIC), ("whole", column in WHOLE),
                                        ("name", column == "name")) if on)
        text = escape(str(value))
        # where a long value may break in a narrow window: a position at its dots, a
        # shape at its x, a type or a name at its underscores (never inside a number)
        for mark in {"#": ".", "output shape": "x", "type": "_", "name": "_"}.get(column, ()):
            text = text.replace(mark, mark + "<wbr>")
        return f'<td class="{kind}">{text}</td>' if kind else f"<td>{text}</td>"

    head = "".join(f'<th class="{"num" if c in NUMERIC else ""}">{escape(c)}</th>' for c in columns)
    marks = {"✗ error": "bad", FROZEN: "frozen"}
    body = "".join(f'<tr class="{marks.get(r.get("status"), "")}">'
                   + "".join(cell(c, r.get(c, "")) for c in columns) + "</tr>" for r in rows)
    height = f"max-height: {ROW_PX * (max_rows + 1) + 2}px" if len(rows) > max_rows else ""
    return (f'{TABLE_STYLE}<div class="pg-table" style="{height}"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


CHAR_PX, CELL_PAD_PX, MAX_COLUMN_PX = 8, 28, 420   # a grid cell's text, as wide as it is written


def column_widths(columns, rows) -> dict[str, int]:
    """{column: pixels} for a grid of ``rows`` (lists of texts): the widest text of
    each column, its header included, fits whole (up to MAX_COLUMN_PX)."""
    out = {}
    for k, name in enumerate(columns):
        longest = max([len(str(name)), *(len(str(row[k])) for row in rows)])
        out[str(name)] = min(MAX_COLUMN_PX, CELL_PAD_PX + CHAR_PX * longest)
    return out


def layer_title(view: LayerView) -> str:
    """The layer editor's heading for one layer: '✗ 7: linear 'fc' → ?'."""
    mark = "✗ " if view.bad else ""
    name = f" '{view.name}'" if view.name else ""
    shape = label(view.output_shape) if view.output_shape is not None else "?"
    return f"{mark}{view.index}: {view.type}{name} → {shape}"


_CODE = re.compile(r"(`[^`\n]*`)")
_SPECIAL = re.compile(r"([\\*_~$<>\[\]#|])")


def markdown_text(text: str) -> str:
    """Plain text for a widget label or caption, Markdown characters escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def error_markdown(message: str) -> str:
    """A check message as Markdown that wraps like prose: one line per line of
    the message, Markdown characters outside `code` escaped (a '$' would
    otherwise start a formula, a '_' italics), code spans kept."""
    lines = []
    for line in str(message).splitlines():
        parts = _CODE.split(line.strip())
        lines.append("".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1
                             else _SPECIAL.sub(r"\\\1", p) for p in parts))
    return "  \n".join(lines)


def confusion_records(classes, confusion) -> list[dict]:
    """The confusion matrix in long form for a heatmap: one record per (true,
    predicted) cell, with the share of that true class's test images."""
    out = []
    for i, row in enumerate(confusion.tolist()):
        total = sum(row) or 1
        out += [{"true": classes[i], "predicted": classes[j], "images": n, "share": n / total}
                for j, n in enumerate(row)]
    return out


def folder_rows(preview) -> list[dict]:
    """An image folder's classes as table rows: the class and its files per split."""
    return [{"class": name, **{split: counts[k] for split, counts in preview.counts.items()}}
            for k, name in enumerate(preview.classes)]


SWEEP_STATUS = {"complete": "✓ complete", "pruned": "pruned", "refused": "✗ refused by the check",
                "diverged": "✗ diverged", "fail": "✗ failed", "interrupted": "interrupted", "running": "training…"}


def values_text(values: dict) -> str:
    """A trial's values as the page writes them: 'train.lr = 0.05, layers.conv1.out_channels = 20'."""
    return ", ".join(f"{path} = {value}" for path, value in values.items())


def sweep_rows(rows) -> list[dict]:
    """A sweep's trials (playground.sweep.TrialRow, best first) as table rows:
    trial, status, test accuracy, one column per varied field, run folder."""
    from playground.core.texts import percent

    return [{"trial": r.number, "status": SWEEP_STATUS.get(r.status, r.status),
             "test accuracy": percent(r.accuracy) if r.accuracy is not None else DASH,
             **{path: str(value) for path, value in r.params.items()}, "run folder": r.run or DASH}
            for r in rows]


def named_paths(layers: list) -> list[str]:
    """The names a sweep can address in a spec's top-level layers ('layers.conv1'), in order."""
    return [f"layers.{layer['name']}" for layer in layers if isinstance(layer, dict) and layer.get("name")]


def top_level_names(summary) -> list[str]:
    """The model's top-level parts as train.freeze names them: each layer's name, or its position."""
    return [row.name or str(row.index) for row in summary.rows]

