"""python -m playground.sweep SPEC --set PATH=VALUES ...: the command line over
``plan`` and ``study``: a line per finished trial, Ctrl-C to stop, the summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.core.errors import PlaygroundError, report
from playground.core.texts import COMMAND_LINE
from playground.sweep.planning import SAMPLERS, SweepError, plan
from playground.sweep.study import Stopped, TrialRow, open_study, run, write_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.sweep",
                                     description="Train variants of a spec and keep the best, on Optuna.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUES", dest="sets",
                        help="a field and its values, e.g. train.lr=[0.01,0.05] or train.lr=loguniform(1e-4,1e-1)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials in all (all workers together); default: the grid's size, else 10")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None,
                        help="grid (every combination; the default when every --set is a list), random or tpe")
    parser.add_argument("--storage", default=None, help="an Optuna storage URL (default: SQLite in the sweep folder)")
    parser.add_argument("--study", default=None, help="study name (default: the spec's name)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the spec's)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")
    parser.add_argument("--out", default=None, help="the sweep folder (default: sweeps/<study>)")
    args = parser.parse_args(argv)

    try:   # the file through the spec reader: its problems keep their lines
        the_plan = plan(Path(args.spec), args.sets, sampler=args.sampler, trials=args.trials, study=args.study,
                        out=args.out, storage=args.storage, epochs=args.epochs, data_dir=args.data_dir,
                        download=not args.no_download)
    except PlaygroundError as err:
        return report(err, COMMAND_LINE)
    import threading

    from playground.core.signals import stop_on_signals

    asked = threading.Event()

    def on_stop(name: str) -> None:   # the first Ctrl-C, SIGTERM or SIGHUP: stop the running trial at its next step
        print(f"\n{name}: stopping the running trial after this step ({name} again to abort)...", file=sys.stderr)
        asked.set()

    with stop_on_signals(on_stop):
        try:
            study = open_study(the_plan)
            run(the_plan, study=study, on_trial=_print_trial, should_stop=asked.is_set, on_wait=_print_wait)
        except Stopped:
            print("stopped: the trial that was running kept its checkpoint and goes on from it when the same "
                  "command continues the sweep.", file=sys.stderr)
            write_summary(study, the_plan.doc, the_plan.folder)
            return 130
        except SweepError as err:
            return report(err, COMMAND_LINE)
        except PlaygroundError as err:   # the data, a device, a run folder: the point it was on trains on continue
            status = report(err, COMMAND_LINE)
            print("  The sweep stopped; the same command continues it.", file=sys.stderr)
            return status
        except KeyboardInterrupt:
            print("\naborted: the trial that was running goes on from its last checkpoint when the same command "
                  "continues the sweep.",
                  file=sys.stderr)
            return 130
    print(write_summary(study, the_plan.doc, the_plan.folder), file=sys.stderr)
    return 0


def _print_trial(row: TrialRow, rows: list[TrialRow], total: int) -> None:   # a line per finished trial
    finished = sum(r.done for r in rows)
    values = ", ".join(f"{k}={v}" for k, v in row.params.items())
    outcome = {"refused": "refused by the check", "diverged": "diverged (loss not finite)"}.get(row.status) or (
        f"{100 * row.accuracy:.2f}% test accuracy" + (" (pruned)" if row.status == "pruned" else "")
        if row.accuracy is not None else row.status)
    print(f"trial {row.number} ({finished}/{total}): {values}: {outcome}", file=sys.stderr, flush=True)


def _print_wait(numbers: tuple[int, ...]) -> None:   # nothing left to start: the others' trials end the sweep
    which = ", ".join(map(str, numbers))
    print(f"waiting for trial {which}, running in another worker (if that worker was killed, its trial is tried "
          "again here within seconds)...", file=sys.stderr, flush=True)
