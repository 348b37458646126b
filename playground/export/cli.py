"""python -m playground.export SOURCE --format FORMAT [--out FILE]: a run folder
or a spec as ONNX, TorchScript, torch.export's .pt2 or readable PyTorch source.
Exit status 0 when the file is written, 2 when it cannot be (nothing written)."""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from playground.export.formats import DEFAULT_OPSET, FORMATS

    parser = argparse.ArgumentParser(
        prog="python -m playground.export",
        description="Write a trained run (its checkpoint's weights) or a spec (fresh weights from its seed) "
                    "as a file that needs no playground.",
        epilog="formats: onnx (images -> logits, dynamic batch, the normalization in its metadata), "
               "torchscript (torch.jit.load), exported (torch.export.load, .pt2), python (one readable "
               "nn.Module file that loads the run's state_dict)")
    parser.add_argument("source", metavar="SOURCE", help="a run folder (runs/NAME-TIME) or a spec file")
    parser.add_argument("--format", required=True, choices=list(FORMATS), help="what to write")
    parser.add_argument("--out", metavar="FILE",
                        help="the file to write (default: model.<ext> in a run folder, <spec>.<ext> here)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--normalize-in-graph", action="store_true",
                        help="onnx, torchscript, exported: put the input normalization inside the model, "
                             "so it takes images scaled to [0, 1]")
    args = parser.parse_args(argv)

    from playground.core.errors import PlaygroundError, report
    from playground.core.texts import COMMAND_LINE
    from playground.export import export

    began = time.perf_counter()
    try:
        path = export(args.source, args.format, args.out, force=args.force, opset=args.opset,
                      normalize=args.normalize_in_graph, on_note=lambda note: print(f"note: {note}", file=sys.stderr))
    except PlaygroundError as err:
        return report(err, COMMAND_LINE)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.format}) in {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    return 0
