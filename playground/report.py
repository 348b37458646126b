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


def position(path) -> str:
    """Where a row is, compactly: ('layers', 4, 'layers', 0, 'body', 1) -> '4.0.body.1'
    (a sequential's `layers` adds nothing: its layers are its positions)."""
    return ".".join(str(p) for p in path[1:] if p != "layers")


def table(summary: Summary, batch_size: int | None = None, max_depth: int | None = None) -> str:
    """The per-layer table; a container's layers are indented under it, down to
    ``max_depth`` (0: the top-level layers only, each container with its totals)."""
    header = ("#", "name", "type", "output", "params", "MACs")
    body = [("", "", "input", fmt(summary.input_shape), "", "")]
    body += [(position(r.path), r.name or "", "  " * r.depth + r.type, fmt(r.output_shape), f"{r.params:,}",
              f"{r.macs:,}") for r in summary.walk(max_depth)]
    footer = ("", "", "total", "", f"{summary.total_params:,}", f"{summary.total_macs:,}")
    rows = [header, *body, footer]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {4, 5}

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
    out.append(f"params: {human(summary.total_params)} ({human(summary.total_params * 4)}B float32), "
               f"MACs: {human(summary.total_macs)} per sample, {memory}")
    out.append("MACs count convolutions and linear layers, as torchvision's GFLOPS column does.")
    return "\n".join(out)


def diagram(layers, input_shape) -> str:
    """Graphviz DOT of the layer chain, each edge labelled with the shape on it.

    ``layers`` are objects with ``index``, ``name``, ``type``, ``output_shape``
    (None where the check did not get that far) and ``bad``: every layer keeps
    its name and type after an error, the failing ones are red, those past the
    error grey, and unknown shapes read "?"."""
    out = ['digraph spec {', '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
           'fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=10];',
           '  input [label="input", shape=oval, fillcolor="#ffffff"];']
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
        prev, shape = f"l{layer.index}", (fmt(layer.output_shape) if layer.output_shape is not None else "?")
    out.append('  output [label="output", shape=oval, fillcolor="#ffffff"];')
    out.append(f'  {prev} -> output [label=" {shape}"];')
    out.append("}")
    return "\n".join(out)


def _dot_text(text: str) -> str:
    """Text safe inside a DOT double-quoted label (names come from the user)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
