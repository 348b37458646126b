"""Human-facing words and numbers shared by the commands and the page, so a
run reads the same everywhere: counts as 8,490, accuracies as 96.78%, and a
run's outcome as one sentence ("Finished in 11.5 s: 96.78% test accuracy").
Presentation only: the facts come from run folders and training events."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def count(n: int | float | None) -> str:
    """8490 -> '8,490'; None (unknown) -> '—'."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "—"
    return f"{n:,}" if isinstance(n, int) else f"{n:,.0f}"


def percent(fraction: float | None) -> str:
    """0.96781 -> '96.78%'; None -> '—'."""
    if fraction is None or not math.isfinite(fraction):
        return "—"
    return f"{100 * fraction:.2f}%"


def duration(seconds: float | None) -> str:
    """11.49 -> '11.5 s', 754 -> '12 min 34 s', 4000 -> '1 h 6 min'."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def epochs(n: float) -> str:
    """2 -> '2 epochs', 1.3 -> '1.3 epochs', 1 -> '1 epoch'."""
    shown = f"{n:g}" if n == int(n) else f"{n:.2f}".rstrip("0")
    return f"{shown} epoch{'' if n == 1 else 's'}"


def outcome(info: Mapping[str, Any]) -> str:
    """One sentence for a run, from its run.json fields (or a RunEnded's):
    'Finished in 11.5 s: 96.78% test accuracy.'
    'Stopped in epoch 2 after 1.3 epochs (12.0 s): 95.10% test accuracy of the weights kept.'"""
    status = info.get("status")
    accuracy = info.get("test_accuracy")
    took = f" in {duration(info['seconds'])}" if info.get("seconds") is not None else ""
    scored = f"{percent(accuracy)} test accuracy" if accuracy is not None else "not tested yet"
    if status == "completed":
        return f"Finished{took}: {scored}."
    if status == "stopped":
        trained = float(info.get("epochs_trained", info.get("epochs_done", 0)) or 0)
        where = f"in epoch {math.floor(trained) + 1} " if trained != int(trained) else ""
        after = f"after {epochs(trained)}" + (f" ({duration(info['seconds'])})" if took else "")
        kept = f"{scored} of the weights kept" if accuracy is not None else "no test yet"
        return f"Stopped {where}{after}: {kept}."
    if status == "failed":
        why = info.get("error") or "see the log"
        return f"Failed{took}: {why}."
    if status == "interrupted":
        return f"Interrupted after {epochs(float(info.get('epochs_done') or 0))}; the last checkpoint is kept."
    if status == "running":
        done = info.get("epochs_done") or 0
        return f"Running: {epochs(float(done))} of {info.get('epochs', '?')} done" + \
            (f", {scored}." if accuracy is not None else ".")
    return f"Status {status!r}."


def recipe(train: Any) -> str:
    """A spec's training recipe in one line: 'sgd, lr 0.1, momentum 0.9 (nesterov),
    weight decay 0.0005, cosine schedule after 1 warmup epoch, label smoothing 0.1'."""
    parts = [f"{train.optimizer}, lr {train.lr:g}"]
    if train.momentum:
        parts[-1] += f", momentum {train.momentum:g}" + (" (nesterov)" if train.nesterov else "")
    if train.weight_decay:
        parts.append(f"weight decay {train.weight_decay:g}")
    schedule = {"constant": "constant lr", "cosine": "cosine schedule", "onecycle": "one-cycle schedule",
                "step": f"lr x{train.gamma:g} every {train.step_epochs} epochs"}[train.schedule]
    if train.warmup_epochs and train.schedule != "onecycle":
        warm = f"{train.warmup_epochs:g} warmup epoch{'s' if train.warmup_epochs != 1 else ''}"
        schedule += f" after {warm}"
    parts.append(schedule)
    if train.label_smoothing:
        parts.append(f"label smoothing {train.label_smoothing:g}")
    return ", ".join(parts)


def aligned(rows: list, right=(), rule: bool = False) -> str:
    """Rows of cells as text columns two spaces apart: left-aligned, or right-
    aligned for the column indexes in ``right``; ``rule`` puts dashes under the
    first row. No trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# How the commands word the settings an error's fix points at (playground.core.errors.Setting).
COMMAND_LINE = {"data_root": "--data-dir (or PLAYGROUND_DATA)"}
