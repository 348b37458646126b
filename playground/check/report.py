"""Human-facing text for a Summary: the per-layer table printed by
``python -m playground.check``. Presentation only; the facts come from
playground.check.analysis."""

from __future__ import annotations

from playground.check.analysis import Summary
from playground.layers.shapes import fmt
from playground.layers.shapes import label as shape_label


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"


def position(path) -> str:
    """Where a row is, compactly: ('layers', 4, 'layers', 0, 'body', 1) -> '4.0.body.1'
    (a sequential's `layers` adds nothing: its layers are its positions)."""
    return ".".join(str(p) for p in path[1:] if p != "layers")


def table(summary: Summary, batch_size: int | None = None, max_depth: int | None = None,
          frozen: dict[tuple, int] | None = None) -> str:
    """The per-layer table; a container's layers are indented under it, down to
    ``max_depth`` (0: the top-level layers only, each container with its totals).
    ``frozen``: the parameters ``train.freeze`` freezes, by row path
    (``parts.frozen_by_row``), shown in a column of their own and in the totals."""
    header = ("#", "name", "type", "output", "params", "MACs") + (("frozen",) if frozen is not None else ())
    extra = ("",) if frozen is not None else ()
    body = [("", "", "input", fmt(summary.input_shape), "", "", *extra)]
    body += [(position(r.path), r.name or "", "  " * r.depth + r.type, shape_label(r.output_shape), f"{r.params:,}",
              f"{r.macs:,}", *((f"{frozen[r.path]:,}" if frozen.get(r.path) else "",) if frozen is not None else ()))
             for r in summary.walk(max_depth)]
    frozen_total = sum(frozen.get(r.path, 0) for r in summary.rows) if frozen is not None else 0
    footer = ("", "", "total", "", f"{summary.total_params:,}", f"{summary.total_macs:,}",
              *((f"{frozen_total:,}",) if frozen is not None else ()))
    rows = [header, *body, footer]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {4, 5, 6}

    def line(row):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(tuple("-" * w for w in widths)))
    total = sum(1 for _ in summary.walk())
    count = f"{len(summary.rows)} layers" + (f" ({total} in all)" if total > len(summary.rows) else "")
    out = [f"{summary.name}: {count}, input {fmt(summary.input_shape)} "
           f"-> output {fmt(summary.output_shape)}", rule, line(header), rule,
           *(line(r) for r in body), rule, line(footer)]
    memory = f"activations: {human(summary.activation_bytes())}B per sample"
    if batch_size:
        memory += f", {human(summary.activation_bytes(batch_size))}B per batch of {batch_size}"
    trains = (f"; trainable {summary.total_params - frozen_total:,}, frozen {frozen_total:,}"
              if frozen is not None else "")
    out.append(f"params: {human(summary.total_params)} ({human(summary.total_params * 4)}B float32{trains}), "
               f"MACs: {human(summary.total_macs)} per sample, {memory}")
    out.append("MACs count convolutions, linear layers and attention's matrix products, "
               "as torchvision's GFLOPS column does.")
    return "\n".join(out)


def diagram(layers, input_shape) -> str:
    """Graphviz DOT of the layer chain, each edge labelled with the shape on it.

    ``layers`` are objects with ``index``, ``name``, ``type``, ``output_shape``
    (None where the check did not get that far) and ``bad``: every layer keeps
    its name and type after an error, the failing ones are red, those past the
    error grey, and unknown shapes read "?"."""
    out = list(_DOT_HEAD)
    prev, shape = "input", (fmt(input_shape) if input_shape is not None else "?")
    for layer in layers:
        title = f"{layer.index}: {layer.name}\n{layer.type}" if layer.name else f"{layer.index}: {layer.type}"
        label = _dot_text(title)
        if layer.bad:
            style = 'fillcolor="#f8d7da", color="#c0392b", penwidth=2'
        else:
            style = f'fillcolor="{"#eef3fb" if layer.output_shape is not None else "#eeeeee"}"'
        out.append(f'  l{layer.index} [label="{label}", {style}];')
        out.append(f'  {prev} -> l{layer.index} [label=" {shape}"];')
        prev, shape = f"l{layer.index}", (shape_label(layer.output_shape) if layer.output_shape is not None else "?")
    return _dot_end(out, prev, shape)


# Every node is a rounded box (an SVG path): the page's renderer redraws a graph in place,
# and a node that turned from an ellipse into a path (or back) came out without its box.
# Input and output are white; a merge (+, concat, ×) is white with a bold border.
_DOT_HEAD = ('digraph spec {', '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];',
             '  input [label="input", fillcolor="#ffffff"];')


def _dot_end(out: list[str], last: str, shape: str) -> str:
    """The output node, the edge into it from ``last`` labelled ``shape``, the closing brace; the DOT text."""
    out.append('  output [label="output", fillcolor="#ffffff"];')
    out.append(f'  {last} -> output [label=" {shape}"];')
    out.append("}")
    return "\n".join(out)


def _dot_text(text: str) -> str:
    """Text safe inside a DOT double-quoted label (names come from the user)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def tree_diagram(spec, summary: Summary | None, max_depth: int | None = None, *, rows=None,
                 bad=frozenset()) -> str:
    """Graphviz DOT of a checked spec, blocks drawn as clusters: branches fork
    from a block's input and meet at its merge (+, concat, ×); every edge is
    labelled with the shape on it. Blocks deeper than ``max_depth`` are drawn
    as one node each (0: every top-level layer is one node), so that a big
    network stays legible.

    A spec whose check failed has no summary: ``rows`` are the top-level rows
    the check got to, and the layers past them are drawn from the spec alone,
    grey, their shapes "?"; the layers (or blocks) at the paths in ``bad`` are
    red, so that an error keeps the network's picture.

    Each node is declared in the cluster of the block that holds it and every
    edge after all of them, at the top level: Graphviz puts both ends of an
    edge written inside a cluster into that cluster (the layer before a block
    would be drawn inside it)."""
    dot = _Dot(frozenset(bad))
    rows = summary.rows if summary is not None else tuple(rows or ())
    shape = fmt(summary.input_shape if summary is not None else spec.input.shape())
    paths = [("layers", i) for i in range(len(spec.layers))]
    tail = _chain_dot(dot, spec.layers, rows, paths, "input", shape, "  ", 0, max_depth)
    return dot.text(*tail)


class _Dot:
    """DOT text being built: node lines where they belong, edges kept for the end."""

    def __init__(self, bad: frozenset = frozenset()):
        self.lines: list[str] = list(_DOT_HEAD)
        self.edges: list[str] = []
        self.bad = bad
        self._ids = iter(range(1 << 30))

    def new_id(self) -> str:
        return str(next(self._ids))

    def edge(self, a: str, b: str, shape: str) -> None:
        self.edges.append(f'  {a} -> {b} [label=" {shape}"];')

    def text(self, last: str, shape: str) -> str:
        return _dot_end(self.lines + self.edges, last, shape)


_BAD_NODE = ', fillcolor="#f8d7da", color="#c0392b", penwidth=2'
_UNCHECKED_NODE = ', fillcolor="#eeeeee"'


def _chain_dot(dot: _Dot, layers, rows, paths, node: str, shape: str, pad: str, depth: int,
               max_depth: int | None) -> tuple[str, str]:
    """Each layer after the last, from ``node`` whose output is ``shape``; a layer
    past the end of ``rows`` (where a failed check stopped) has no row."""
    rows = list(rows)
    for i, (layer, path) in enumerate(zip(layers, paths, strict=True)):
        row = rows[i] if i < len(rows) else None
        node, shape = _layer_dot(dot, layer, row, row.path if row is not None else path, node, shape, pad, depth,
                                 max_depth)
    return node, shape


def _layer_dot(dot: _Dot, layer, row, path, node: str, shape: str, pad: str, depth: int,
               max_depth: int | None) -> tuple[str, str]:
    from playground.layers.base import Container

    name, kind = (row.name, row.type) if row is not None else (getattr(layer, "name", None), layer.type_name())
    title = f"{position(path)}: {name}\n{kind}" if name else f"{position(path)}: {kind}"
    out = shape_label(row.output_shape) if row is not None else "?"
    container = isinstance(layer, Container)
    if not container or (max_depth is not None and depth >= max_depth):
        me = f"n{dot.new_id()}"
        folded = ', peripheries=2' if container else ''   # a block drawn as one node: a double border
        bad = any(b[:len(path)] == path for b in dot.bad)   # it, or a layer it holds and hides
        style = _BAD_NODE if bad else _UNCHECKED_NODE if row is None else ""
        dot.lines.append(f'{pad}{me} [label="{_dot_text(title)}"{folded}{style}];')
        dot.edge(node, me, shape)
        return me, out
    border = "#c0392b" if path in dot.bad else "#8aa4c8"
    dot.lines.append(f'{pad}subgraph cluster_{dot.new_id()} {{ label="{_dot_text(title)}"; style="rounded"; '
                     f'color="{border}";')
    inner = pad + "  "
    lists = dict(layer.layer_lists())
    groups: dict[tuple, list] = {}      # where -> the rows of that list (none past a failed check)
    if row is not None:
        for child in row.children:
            groups.setdefault(child.path[len(row.path):-1], []).append(child)
    else:
        groups = {where: [] for where in lists}

    def chain(where, node, shape):
        held = lists.get(where, [None] * len(groups[where]))
        return _chain_dot(dot, held, groups[where], [(*path, *where, j) for j in range(len(held))], node, shape,
                          inner, depth + 1, max_depth)

    if layer.merge is None:   # one list after another
        for where in groups:
            node, shape = chain(where, node, shape)
        dot.lines.append(f"{pad}}}")
        return node, shape
    merge = f"n{dot.new_id()}"
    after = [w for w in groups if w[0] in layer.after_fields]
    ends = [(node, shape)] if layer.merges_input() else []
    for where in groups:
        if where not in after:
            # layers the container made itself (a projection shortcut) are plain layers
            ends.append(chain(where, node, shape))
    if row is None and len(ends) == 1:
        # unchecked, the layers a block makes itself (a projection shortcut) are not known;
        # a merge of one input would read wrong: its input goes to the merge
        ends.insert(0, (node, shape))
    dot.lines.append(f'{inner}{merge} [label="{_dot_text(layer.merge)}", fillcolor="#ffffff", penwidth=2];')
    for end, end_shape in ends:
        dot.edge(end, merge, end_shape)
    if row is None:
        y = "?"
    else:
        y = shape_label(row.output_shape) if not after else shape_label(groups[after[0]][0].input_shape)
    node, shape = merge, y
    for where in after:
        node, shape = chain(where, node, shape)
    dot.lines.append(f"{pad}}}")
    return node, shape
