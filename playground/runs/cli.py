"""python -m playground.runs [RUNS_DIR]: every run folder as one table row."""

from __future__ import annotations

import argparse

from playground.runs import listing as records
from playground.runs.folders import DEFAULT_RUNS


def main(argv: list[str] | None = None) -> int:
    """python -m playground.runs [RUNS_DIR]: every run folder as one table row."""
    parser = argparse.ArgumentParser(prog="python -m playground.runs",
                                     description="List the run folders under RUNS_DIR: one row per run.")
    parser.add_argument("base", nargs="?", default=DEFAULT_RUNS, metavar="RUNS_DIR", help="default: runs")
    parser.add_argument("--sort", choices=list(records.SORTS), default="started",
                        help="accuracy (best first), time, params, name, or started (newest first, the default)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = sorted(records.list_records(args.base), key=records.SORTS[args.sort])
    if args.json:
        print(records.as_json(rows))
    elif not rows:
        print(f"no run folders under {args.base}")
    else:
        print(records.table(rows))
    return 0
