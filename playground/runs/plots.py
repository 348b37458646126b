"""Charts of runs as image files: test accuracy and loss per epoch, one line
per run, drawn with matplotlib (the optional ``plot`` extra). Presentation
only: the numbers come from run folders' metrics.jsonl."""

from __future__ import annotations

from pathlib import Path

from playground.core.errors import PlaygroundError
from playground.core.fileio import atomic_write

PLOT_EXTRA = "pip install 'playground[plot]'   (or: pip install matplotlib)"
FORMATS = ("png", "svg", "pdf")


class PlotError(PlaygroundError, ValueError):
    """A chart cannot be written: matplotlib missing, or a file type it does not write."""


def check_target(path: str | Path) -> str:
    """The file type to write ``path`` as; a PlotError, before any work, when
    matplotlib is missing or the suffix is not one it writes."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise PlotError(f"Cannot write a chart to {path}: the file name must end in "
                        f"{', '.join('.' + f for f in FORMATS)}. Received: {path.suffix or 'no suffix'}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError(f"Writing a chart needs matplotlib, which is not installed.\n  Install it: {PLOT_EXTRA}") \
            from None
    return kind


def curves_figure(names: list[str], metrics: list[list[dict]]):
    """A figure with two panels: test accuracy (left) and loss (right: train
    solid, test dashed) against epoch, one color per run."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig = Figure(figsize=(10, 4), layout="constrained")
    acc_ax, loss_ax = fig.subplots(1, 2)
    for name, rows in zip(names, metrics, strict=True):
        epochs = [r["epoch"] for r in rows]
        line, = acc_ax.plot(epochs, [100 * r["test_accuracy"] for r in rows], marker="o", markersize=3, label=name)
        color = line.get_color()
        loss_ax.plot(epochs, [r["train_loss"] for r in rows], color=color, label=f"{name} train")
        loss_ax.plot(epochs, [r["test_loss"] for r in rows], color=color, linestyle="--", label=f"{name} test")
    acc_ax.set(title="Test accuracy", xlabel="epoch")
    acc_ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    loss_ax.set(title="Loss (train solid, test dashed)", xlabel="epoch")
    for ax in (acc_ax, loss_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    acc_ax.legend(loc="lower right", fontsize="small")
    return fig


def write_curves(path: str | Path, names: list[str], metrics: list[list[dict]]) -> Path:
    """Write the runs' curves to ``path`` (PNG, SVG or PDF, by its suffix), atomically."""
    kind = check_target(path)
    fig = curves_figure(names, metrics)
    return atomic_write(path, lambda f: fig.savefig(f, format=kind, dpi=120))
