"""Human-facing text for a Summary: the per-layer table printed by
``python -m playground.check``. Presentation only; the facts come from
playground.analysis."""

from __future__ import annotations

from playground.analysis import Summary
from playground.shapes import fmt


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"


def table(summary: Summary, batch_size: int | None = None) -> str:
    header = ("#", "name", "type", "output", "params", "MACs")
    body = [("", "", "input", fmt(summary.input_shape), "", "")]
    body += [(str(r.index), r.name or "", r.type, fmt(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
             for r in summary.rows]
    footer = ("", "", "total", "", f"{summary.total_params:,}", f"{summary.total_macs:,}")
    rows = [header, *body, footer]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {0, 4, 5}

    def line(row):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(tuple("-" * w for w in widths)))
    out = [f"{summary.name}: {len(summary.rows)} layers, input {fmt(summary.input_shape)} "
           f"-> output {fmt(summary.output_shape)}", rule, line(header), rule,
           *(line(r) for r in body), rule, line(footer)]
    memory = f"activations: {human(summary.activation_bytes())}B per sample"
    if batch_size:
        memory += f", {human(summary.activation_bytes(batch_size))}B per batch of {batch_size}"
    out.append(f"params: {human(summary.total_params)} ({human(summary.total_params * 4)}B float32), "
               f"MACs: {human(summary.total_macs)} per sample, {memory}")
    return "\n".join(out)


def diagram(summary_rows, input_shape, bad_layers=frozenset(), n_layers: int | None = None) -> str:
    """Graphviz DOT of the layer chain with each edge labelled by the shape on it.
    Layers past the last known row (after an error) are drawn grey, bad ones red."""
    rows = list(summary_rows)
    n = n_layers if n_layers is not None else len(rows)
    out = ['digraph spec {', '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
           'fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];',
           '  input [label="input", shape=oval, fillcolor="#ffffff"];']
    prev, shape = "input", fmt(input_shape)
    for i in range(n):
        row = rows[i] if i < len(rows) else None
        label = (f"{row.name}\\n{row.type}" if row and row.name else row.type) if row else f"layer {i}"
        color = "#f8d7da" if i in bad_layers else ("#eef3fb" if row else "#eeeeee")
        out.append(f'  l{i} [label="{i}: {label}", fillcolor="{color}"];')
        out.append(f'  {prev} -> l{i} [label=" {shape}"];')
        prev, shape = f"l{i}", (fmt(row.output_shape) if row else "?")
    out.append('  output [label="output", shape=oval, fillcolor="#ffffff"];')
    out.append(f'  {prev} -> output [label=" {shape}"];')
    out.append("}")
    return "\n".join(out)
