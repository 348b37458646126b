"""python -m playground.compare RUN RUN...: runs side by side: the fields in
which their resolved specs differ, and their accuracy and loss per epoch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.compare",
                                     description="Compare run folders: what differs in their specs, and how "
                                                 "they trained.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (two or more)")
    args = parser.parse_args(argv)
    from playground import records, runs

    if len(args.runs) < 2:
        parser.error("give two or more run folders")
    names, specs, metrics = [], [], []
    for run in map(Path, args.runs):
        try:
            specs.append(records.resolved_spec(run))
            metrics.append(runs.read_metrics(run))
        except (OSError, ValueError) as exc:
            print(f"error: {run} is not a readable run folder: {exc}\n"
                  f"  Give folders that hold {runs.SPEC_FILE} (python -m playground.runs lists them).", file=sys.stderr)
            return 2
        names.append(run.name)
    print("Spec differences:")
    print(records.diff_text(names, records.spec_diff(specs)))
    print("\nTest accuracy and train loss per epoch:")
    print(records.curves_text(names, metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
