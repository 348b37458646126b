"""python -m playground.train SPEC: check a spec, then train it, with a progress
bar per epoch and a line per epoch; results go to a run folder.

Exit status: 0 done, 1 training failed (loss diverged), 2 a problem with the
spec, data, device or run folder, 130 stopped by Ctrl-C (checkpoint saved).
"""

from __future__ import annotations

import argparse
import os
import sys

from playground.core.clock import Phases, process_started
from playground.core.errors import PlaygroundError, report
from playground.core.signals import stop_on_signals
from playground.core.texts import COMMAND_LINE

EPILOG = """\
data: --data-dir, else $PLAYGROUND_DATA, else ./data, in torchvision's layout
(<root>/MNIST/raw/...). Missing datasets are downloaded unless --no-download.

run folder (default runs/<spec name>-<timestamp>/): spec.yaml (resolved spec),
metrics.jsonl (one line per epoch), checkpoint.pt (after every epoch), run.json.

Ctrl-C stops at the next step and saves a checkpoint; --resume RUN_DIR continues
it and ends exactly as an uninterrupted run would.
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m playground.train",
        description="Check a spec, then train it; results go to a run folder.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", help="spec file, e.g. specs/mnist_cnn.yaml (not needed with --resume)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--lr", type=float, help="override train.lr")
    p.add_argument("--batch-size", type=int, help="override data.batch_size")
    p.add_argument("--device", help="override train.device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--data-dir", help="dataset root (default: $PLAYGROUND_DATA, else ./data)")
    p.add_argument("--no-download", action="store_true",
                   help="never download; fail if the data (or the starting weights) is missing")
    p.add_argument("--init", metavar="SOURCE",
                   help="start from these weights (overrides init.weights): torchvision:<Weights>.<NAME>, "
                        "e.g. torchvision:ResNet18_Weights.IMAGENET1K_V1, a run folder, or a .pt/.pth state dict")
    p.add_argument("--out", help="run folder to create (default: runs/<spec name>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument("--no-amp", action="store_true",
                   help="train in float32, not in bfloat16 autocast (the default on CUDA and on CPUs with AMX "
                        "or AVX-512 BF16); the same as train.amp: false")
    args = p.parse_args(argv)
    if args.resume and (args.spec or args.lr or args.batch_size or args.seed is not None or args.out or args.init):
        p.error("--resume continues a run with its own spec; only --epochs, --device and --data-dir apply")
    if not args.resume and not args.spec:
        p.error("give a SPEC to train, or --resume RUN_DIR")
    return args


def outcome(event) -> str:
    from playground.core.texts import outcome as sentence

    return sentence({"status": event.status, "test_accuracy": event.test_accuracy,
                     "epochs_trained": event.epochs_trained, "epochs_done": event.epoch, "seconds": event.seconds})


class Console:
    """Renders training events: a progress bar per epoch, a line per epoch."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None

    def __call__(self, event) -> None:
        from playground.train.engine import DataProgress, EpochDone, RunEnded, RunStarted, StepDone

        if isinstance(event, DataProgress):   # an image folder's first use, a frozen part's outputs
            if self.bar is None or self.bar.desc != f"{event.task} {event.split}":
                self.close()
                self.bar = self._bar(event.total, event.done, f"{event.task} {event.split}", "img")
            self.bar.update(event.done - self.bar.n)
            self.bar.set_postfix_str(f"{event.images_per_s:,.0f} img/s", refresh=False)
        elif isinstance(event, RunStarted):
            self.close()
            where = "resuming" if event.start_epoch > 1 or event.start_step else "training"
            print(f"{where} in {event.run_dir}\n"
                  f"device: {event.device}\n"
                  f"data: {event.train_size:,} train / {event.test_size:,} test images, "
                  f"{event.steps_per_epoch} steps per epoch; model: {event.params:,} parameters\n"
                  f"recipe: {event.recipe}\n"
                  f"start-up: {event.startup_seconds:.2f} s to the first step ("
                  + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in event.startup) + ")", file=self.stream)
            for note in event.notes:
                print(f"note: {note}", file=self.stream)
        elif isinstance(event, StepDone):
            if self.bar is None:
                self.bar = self._bar(event.steps, event.step, f"epoch {event.epoch}", "step")
            else:
                self.bar.update(event.step - self.bar.n)
            self.bar.set_postfix_str(f"loss {event.loss:.4f}, {event.images_per_s:,.0f} img/s", refresh=False)
        elif isinstance(event, EpochDone):
            self.close()
            print(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f}, "
                  f"test loss {event.test_loss:.4f}, test accuracy {100 * event.test_accuracy:.2f}%, "
                  f"{event.seconds:.1f}s (+{event.eval_seconds:.1f}s test), {event.images_per_s:,.0f} img/s",
                  file=self.stream)
        elif isinstance(event, RunEnded):
            self.close()
            if event.status == "stopped":
                print(f"{outcome(event)}\n  checkpoint saved in {event.run_dir}; continue with: "
                      f"python -m playground.train --resume {event.run_dir}", file=self.stream)
            else:
                print(f"{outcome(event)}\n  run folder: {event.run_dir}", file=self.stream)

    def _bar(self, total: int, initial: int, desc: str, unit: str):
        from tqdm import tqdm

        tty = getattr(self.stream, "isatty", lambda: False)()
        # In a log file (not a terminal), a bar line every 30 s instead of a redrawn bar.
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream, leave=not tty,
                    dynamic_ncols=True, mininterval=0.2 if tty else 30.0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def main(argv: list[str] | None = None) -> int:
    startup = Phases(process_started() if argv is None else None)   # called from Python: timed from the call
    startup.mark("python")   # the interpreter, and importing this command
    args = parse_args(argv)
    from playground.check.analysis import load_checked, require_dataset
    from playground.format.datasets import data_root

    spec = summary = None
    try:  # read, validated and checked once, with the data root the run will use, before any data is read
        if not args.resume:
            spec, summary = load_checked(args.spec, data_root=data_root(args.data_dir), overrides={
                "train.epochs": args.epochs, "train.lr": args.lr, "data.batch_size": args.batch_size,
                "train.device": args.device, "train.seed": args.seed, "init.weights": args.init})
            require_dataset(spec)
    except PlaygroundError as err:
        return report(err, COMMAND_LINE)
    startup.mark("spec")

    from playground.train import distributed
    from playground.train.engine import Trainer

    startup.mark("torch")

    world = distributed.from_environment()   # under torchrun, rank 0 alone prints
    quiet = open(os.devnull, "w") if not world.main else None   # noqa: SIM115  (lives as long as the run)
    console = Console(quiet)
    err_stream = quiet or sys.stderr
    options = dict(data_dir=args.data_dir, download=not args.no_download, amp=not args.no_amp, startup=startup)
    try:
        if args.resume:
            trainer = Trainer.resume(args.resume, epochs=args.epochs, device=args.device, **options)
        else:
            trainer = Trainer(spec, summary=summary, out=args.out, **options)
    except PlaygroundError as err:
        return report(err, COMMAND_LINE, err_stream)

    def on_stop(name: str) -> None:   # the first Ctrl-C, SIGTERM or SIGHUP: stop cleanly at the next step
        console.close()
        print(f"\n{name}: stopping after this step ({name} again to abort without saving)...", file=err_stream)
        trainer.stop()

    ended = None
    with stop_on_signals(on_stop):   # torchrun answers Ctrl-C with SIGTERM to every process: the same
        try:
            for event in trainer.events():
                console(event)
                ended = event
        except PlaygroundError as err:   # the data, the device, the run folder (2), or a diverged loss (1)
            console.close()
            return report(err, COMMAND_LINE, err_stream)
        except KeyboardInterrupt:
            console.close()
            print("aborted; the last checkpoint is kept.", file=err_stream)
            return 130
        except RuntimeError as err:   # a collective that failed: another process is gone
            if not world.active:
                raise
            console.close()
            print(f"error: process {world.rank} of {world.size} stopped: {str(err).splitlines()[0]}\n"
                  "  Another process ended or lost contact; the last complete checkpoint is kept.", file=sys.stderr)
            return 1
    return 130 if getattr(ended, "status", None) == "stopped" else 0
