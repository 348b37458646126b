"""python -m playground.compare RUN RUN... [--plot FILE.png]: runs side by
side: the fields in which their resolved specs differ, their accuracy and
loss per epoch, and those curves on one chart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.core.errors import report
from playground.core.texts import COMMAND_LINE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.compare",
                                     description="Compare run folders: what differs in their specs, and how "
                                                 "they trained.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (two or more)")
    parser.add_argument("--plot", metavar="FILE", type=Path,
                        help="also draw the accuracy and loss curves into FILE (.png, .svg or .pdf; needs matplotlib)")
    args = parser.parse_args(argv)
    from playground.runs import folders as runs
    from playground.runs import listing as records
    from playground.runs import plots

    if len(args.runs) < 2:
        parser.error("give two or more run folders")
    if args.plot is not None:
        try:
            plots.check_target(args.plot)
        except plots.PlotError as err:
            return report(err, COMMAND_LINE)
    names, specs, metrics, notes = [], [], [], []
    for run in map(Path, args.runs):
        try:
            spec = records.resolved_spec(run)
            metrics.append(runs.read_metrics(run))
        except (OSError, ValueError, runs.RunError) as exc:
            print(f"error: {run} is not a readable run folder: {exc}\n"
                  f"  Give folders that hold {runs.SPEC_FILE} (python -m playground.runs lists them).", file=sys.stderr)
            return 2
        trained, edits = records.trained_spec(run, spec)
        if edits:   # the checkpoint is the truth about what trained; the edit is said, not compared
            shown = ", ".join(edits[:5]) + (f" and {len(edits) - 5} more" if len(edits) > 5 else "")
            notes.append(f"note: {run / runs.SPEC_FILE} was edited after training ({shown}); compared is the "
                         "spec its checkpoint was trained with.")
        specs.append(trained)
        names.append(run.name)
    for note in notes:
        print(note, file=sys.stderr)
    print("Spec differences:")
    print(records.diff_text(names, records.spec_diff(specs)))
    print("\nTest accuracy and train loss per epoch:")
    print(records.curves_text(names, metrics))
    if args.plot is not None:
        try:
            written = plots.write_curves(args.plot, names, metrics)
        except plots.PlotError as err:
            return report(err, COMMAND_LINE)
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"\nChart: {written}")
    return 0
