"""python -m playground.check SPEC...: print each spec's per-layer table, or its
error. Exit status 0 when every spec is valid, 2 otherwise."""

from __future__ import annotations

import argparse
import json
import sys

from playground.core.errors import PlaygroundError, report
from playground.core.texts import COMMAND_LINE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.check",
        description="Validate specs and show every layer's output shape, parameters and MACs, "
                    "without building the model.")
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec file(s), e.g. specs/mnist_cnn.yaml")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON (the layer tree)")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="show layers nested at most N deep (0: top-level only, blocks with their totals); "
                             "default: all")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="data root an image folder's relative path is under, for comparing the last layer "
                             "with its classes (default: $PLAYGROUND_DATA, else ./data)")
    args = parser.parse_args(argv)

    from playground.check.analysis import load_checked
    from playground.check.parts import frozen_by_row
    from playground.check.report import table
    from playground.format.datasets import data_root

    status, results = 0, []
    for i, path in enumerate(args.specs):
        try:   # checked once, with the data root given (an image folder's classes are counted there)
            spec, summary = load_checked(path if path != "-" else sys.stdin.read(), data_root=data_root(args.data_dir))
        except PlaygroundError as err:
            status = report(err, COMMAND_LINE)
            continue
        if args.json:
            results.append({"spec": path, "name": summary.name, "input_shape": summary.input_shape,
                            "total_params": summary.total_params, "total_macs": summary.total_macs,
                            "macs_count": "convolutions and linear layers",
                            "layers": [_row_json(r, args.depth) for r in summary.rows]})
        else:
            try:   # what train.freeze freezes, on a model built on the meta device (shapes, no memory)
                frozen = frozen_by_row(spec, summary) if spec.train.freeze else None
            except PlaygroundError as err:
                status = report(err, COMMAND_LINE)
                continue
            print(("\n" if i else "") + table(summary, spec.data.batch_size, args.depth, frozen))
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return status


def _row_json(row, max_depth: int | None) -> dict:
    from playground.core.errors import path_str

    out = {"index": row.index, "path": path_str(row.path), "name": row.name, "type": row.type,
           "output_shape": row.output_shape, "params": row.params, "macs": row.macs}
    if row.children and (max_depth is None or row.depth < max_depth):
        out["children"] = [_row_json(c, max_depth) for c in row.children]
    return out
