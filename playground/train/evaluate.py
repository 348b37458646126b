"""python -m playground.evaluate RUN_DIR: test accuracy, per-class accuracy and
the confusion matrix of a saved run."""

from __future__ import annotations

import argparse
import json
import sys


def render(evaluation, run) -> str:
    classes = evaluation.classes
    width = max(5, *(len(c) for c in classes))
    cells = max(5, len(str(int(evaluation.confusion.max()))))
    lines = [f"{run.spec.name} ({run.run_dir}), after epoch {run.epoch}",
             f"test accuracy: {100 * evaluation.accuracy:.2f}%  test loss: {evaluation.test_loss:.4f}",
             "", f"{'class':<{width}}  accuracy"]
    lines += [f"{c:<{width}}  {100 * a:7.2f}%" for c, a in zip(classes, evaluation.per_class_accuracy, strict=True)]
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * width + "  " + " ".join(f"{i:>{cells}}" for i in range(len(classes)))]
    for name, row in zip(classes, evaluation.confusion.tolist(), strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:>{cells}}" for v in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m playground.evaluate",
        description="Test accuracy, per-class accuracy and the confusion matrix of a saved run.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, e.g. runs/mnist_cnn-20260101-120000")
    p.add_argument("--data-dir", help="dataset root (default: $PLAYGROUND_DATA, else ./data)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)

    from playground.core.errors import PlaygroundError, report
    from playground.core.texts import COMMAND_LINE
    from playground.train.inference import evaluate_run, load_run

    try:
        run = load_run(args.run_dir, args.device, data_dir=args.data_dir)
        evaluation = evaluate_run(run, args.data_dir, download=not args.no_download)
    except PlaygroundError as err:
        return report(err, COMMAND_LINE)
    if args.json:
        json.dump({"run_dir": str(run.run_dir), "epoch": run.epoch, "test_accuracy": evaluation.accuracy,
                   "test_loss": evaluation.test_loss, "classes": list(evaluation.classes),
                   "per_class_accuracy": evaluation.per_class_accuracy,
                   "confusion": evaluation.confusion.tolist()}, sys.stdout, indent=2)
        print()
    else:
        print(render(evaluation, run))
    return 0
