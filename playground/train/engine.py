"""The training engine: a checked spec in, a run folder and a stream of events out.

``Trainer(spec).events()`` yields RunStarted, StepDone (every few steps: running
loss and images/s), EpochDone (train loss, test loss and accuracy, seconds)
and RunEnded. It prints nothing: the command line and the app render the
events. ``trainer.stop()`` (from a signal handler or another thread) ends the
run at the next step with a checkpoint that resumes exactly.

The data is read once, normalized once into one tensor on the device (or,
over ``data.memory_limit_mb``, batch by batch from its uint8 copy), and
batched by indexing a permutation seeded by (seed, epoch), so an interrupted
and resumed run ends exactly like an uninterrupted one. An image folder is
decoded on first use, with DataProgress events, into a cache later runs reuse.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from playground.check.analysis import Summary, analyze, require_dataset
from playground.check.builder import build
from playground.core import texts
from playground.core.errors import PlaygroundError
from playground.format.datasets import data_root
from playground.format.loader import read_spec
from playground.format.spec import SpecBase
from playground.runs import folders as runs
from playground.train import data as datamod
from playground.train import devices, distributed

OPTIMIZERS = {
    "sgd": lambda params, t: torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay,
                                             nesterov=t.nesterov),
    "adam": lambda params, t: torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay),
    "adamw": lambda params, t: torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay),
}


class TrainingError(PlaygroundError, RuntimeError):
    """Training cannot go on (a NaN or infinite loss): exit status 1, the spec
    and data were fine."""

    exit_status = 1


@dataclass(frozen=True)
class RunStarted:
    run_dir: Path
    device: str           # what was used and how, e.g. "cpu, 2 threads, channels-last, float32"
    epochs: int
    start_epoch: int      # 1-based epoch the run starts or resumes in
    start_step: int
    steps_per_epoch: int
    train_size: int
    test_size: int
    params: int
    recipe: str = ""      # the optimizer and schedule in words (texts.recipe)
    notes: tuple[str, ...] = ()   # about the data: files skipped, a cache used, batches streamed


@dataclass(frozen=True)
class StepDone:
    epoch: int            # 1-based
    step: int             # steps done in this epoch
    steps: int
    loss: float           # mean training loss so far this epoch
    images_per_s: float


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    epochs: int
    train_loss: float
    test_loss: float
    test_accuracy: float  # 0..1
    seconds: float        # training time of this epoch
    eval_seconds: float
    images_per_s: float

    def as_metrics(self) -> dict:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "test_loss": self.test_loss,
                "test_accuracy": self.test_accuracy, "seconds": round(self.seconds, 3),
                "eval_seconds": round(self.eval_seconds, 3), "images_per_s": round(self.images_per_s, 1)}


@dataclass(frozen=True)
class RunEnded:
    status: str                   # "completed" or "stopped"
    epoch: int                    # epochs fully done
    test_accuracy: float | None   # of the weights in the checkpoint (a stopped run's too); 0..1
    run_dir: Path
    epochs_trained: float = 0.0   # including the part of an epoch a stop cut short, e.g. 1.3
    seconds: float = 0.0          # wall time of the whole run, resumed parts included


DataProgress = datamod.Progress   # images being decoded (an image folder's first use), before RunStarted
Event = DataProgress | RunStarted | StepDone | EpochDone | RunEnded


def with_statistics(spec: SpecBase, mean, std) -> SpecBase:
    """``spec`` with the normalization it left to the data filled in."""
    data = spec.data.model_copy(update={"mean": spec.data.mean if spec.data.mean is not None else mean,
                                        "std": spec.data.std if spec.data.std is not None else std})
    return spec.model_copy(update={"data": data})


EPOCH_SEED_STRIDE = 1_000_003
STOP_CHECK_STEPS = 10   # under torchrun, how often the processes agree on whether to stop


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` (0-based) visits the ``n`` training images:
    ``torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))``.
    The same (seed, epoch) always gives the same order, on any device, so a
    resumed run sees exactly the batches an uninterrupted one would."""
    generator = torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch)
    return torch.randperm(n, generator=generator)


def evaluate(model: torch.nn.Module, x: torch.Tensor | datamod.Images, y: torch.Tensor, batch_size: int,
             amp_dtype: torch.dtype | None = None) -> tuple[float, torch.Tensor]:
    """Mean loss and the predicted class of every sample, in eval mode."""
    model.eval()
    total = torch.zeros((), device=x.device)
    preds = []
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for i in range(0, len(x), batch_size):
            out = model(x[i:i + batch_size]).float()
            total += F.cross_entropy(out, y[i:i + batch_size], reduction="sum")
            preds.append(out.argmax(1))
    return total.item() / len(x), torch.cat(preds)


class Trainer:
    """Trains one spec into one run folder; iterate ``events()`` to run it."""

    def __init__(self, spec: SpecBase, *, summary: Summary | None = None, out: str | Path | None = None,
                 runs_base: str | Path = runs.DEFAULT_RUNS, data_dir: str | Path | None = None, download: bool = True,
                 amp: bool = True, progress_every: int = 20, _resume: tuple[Path, dict] | None = None):
        """``summary`` is the check's result for ``spec`` under this ``data_dir``
        (``playground.load_checked``); without it the spec is checked here."""
        require_dataset(spec)
        self.world = distributed.from_environment()   # torchrun's processes, or one
        if self.world.active and spec.data.batch_size % self.world.size:
            raise distributed.batch_error(spec, self.world)
        self.spec = spec
        self.data_root = data_root(data_dir)
        self.summary = summary if summary is not None else analyze(spec, self.data_root)
        self.download = download
        self.amp = amp
        self.progress_every = max(1, progress_every)
        self._out, self._runs_base = out, runs_base
        self._resume = _resume  # (run folder, its checkpoint) when continuing a run
        self._stop_requested = False
        self.run_dir: Path | None = _resume[0] if _resume else None

    @classmethod
    def resume(cls, run_dir: str | Path, *, epochs: int | None = None, device: str | None = None,
               **kwargs) -> Trainer:
        """Continue the run in ``run_dir`` from its checkpoint (optionally to more epochs)."""
        run_dir = Path(run_dir)
        checkpoint = runs.load_checkpoint(run_dir)
        spec = read_spec(checkpoint["spec"], overrides={"train.epochs": epochs, "train.device": device})
        return cls(spec, _resume=(run_dir, checkpoint), **kwargs)

    def stop(self) -> None:
        """Ask the run to stop at the next step; it saves a checkpoint first."""
        self._stop_requested = True

    # -- the run ----------------------------------------------------------
    def events(self) -> Iterator[Event]:
        spec, t = self.spec, self.spec.train
        world = self.world
        setup = devices.resolve(t.device, amp=self.amp, local_rank=world.local_rank if world.active else None)
        world = self.world = distributed.join(world, setup.device)
        main = world.main   # rank 0 writes the run folder and reports for all
        if not main:   # rank 0 reads (and an image folder decodes) first; the others then read its cache
            distributed.barrier(world)
        raw = yield from datamod.load(spec.data, self.summary.input_shape, self.data_root, download=self.download)
        if main:
            distributed.barrier(world)
        datamod.check_fits(raw, self.summary.input_shape, self.summary.output_shape[0])
        if raw.statistics is not None and (spec.data.mean is None or spec.data.std is None):
            spec = self.spec = with_statistics(spec, *raw.statistics)   # the run's spec.yaml records them
        device = setup.device

        torch.manual_seed(t.seed)  # same seed, same initial weights as a hand-written model
        model = build(spec, self.summary).to(device)
        if setup.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = OPTIMIZERS[t.optimizer](model.parameters(), t)
        forward = distributed.wrap(model, world, device)   # DDP under torchrun: gradients averaged over ranks
        notes = list(raw.notes)
        size, limit = datamod.held_bytes(raw.train, raw.test), spec.data.memory_limit_mb * 2**20
        hold = size <= limit
        if not hold:
            notes.append(f"the normalized data would take {size / 2**20:,.1f} MiB, over data.memory_limit_mb="
                         f"{spec.data.memory_limit_mb:g}: batches are read from the uint8 images as they are needed")
        args = (spec.data.mean, spec.data.std, device, setup.channels_last, hold)
        train_x, train_y = datamod.Images(raw.train.images, *args), raw.train.labels.to(device)
        test_x, test_y = datamod.Images(raw.test.images, *args), raw.test.labels.to(device)

        n, batch = len(train_x), spec.data.batch_size
        steps = math.ceil(n / batch)
        start_epoch, start_step, metrics = 0, 0, []
        running = torch.zeros((), device=device)
        if self._resume is not None:
            # Loaded on the CPU: RNG states must stay there; load_state_dict moves the rest to the device.
            ckpt = self._resume[1]
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["rng_cpu"])
            if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
            start_epoch, start_step = ckpt["epoch"], ckpt["step"]
            running = ckpt["running_loss"].to(device)
            metrics = runs.read_metrics(self.run_dir)[:start_epoch]
        else:
            self.run_dir = distributed.broadcast(
                runs.new_run_dir(spec.name, self._out, self._runs_base) if main else None, world)
        run_dir = self.run_dir

        def last_accuracy() -> float | None:
            return metrics[-1]["test_accuracy"] if metrics else None

        if main:
            runs.write_spec(run_dir, spec.to_dict())
        earlier_seconds = runs.read_info(run_dir).get("seconds", 0.0) if self._resume is not None else 0.0
        wall_began = time.perf_counter()

        def wall_seconds() -> float:
            return round(earlier_seconds + time.perf_counter() - wall_began, 2)

        if self._resume is not None and main:
            earlier = runs.read_info(run_dir).get("world_size", 1)
            if earlier != world.size:
                notes.append(f"this run was trained on {earlier} process{'es' if earlier > 1 else ''} and resumes on "
                             f"{world.size}: the same global batches and weights updates; batch norm statistics "
                             "are now gathered over {} images per process".format(spec.data.batch_size // world.size))
        described = setup.describe() + (f"; {world.describe()}" if world.active else "")
        info = {"spec": spec.name, "status": "running", "device": described,
                "world_size": world.size, "backend": world.backend or None,
                "params": self.summary.total_params, "macs": self.summary.total_macs,
                "dataset": spec.data.dataset, "epochs": t.epochs,
                "epochs_done": start_epoch, "epochs_trained": round(start_epoch + start_step / steps, 2),
                "test_accuracy": last_accuracy(),
                "data_root": str(self.data_root), "data_notes": notes, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if main:
            runs.write_info(run_dir, info)

        def checkpoint(epoch: int, step: int) -> None:
            if not main:
                return
            runs.save_checkpoint(run_dir, {
                "epoch": epoch, "step": step, "running_loss": running.detach().cpu(),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "spec": spec.to_dict(), "classes": list(raw.classes)})

        def finish(status: str, **extra) -> None:
            info.update(status=status, updated=time.strftime("%Y-%m-%dT%H:%M:%S"), seconds=wall_seconds(),
                        **extra)
            if main:
                runs.write_info(run_dir, info)

        def test_pass() -> tuple[float, float]:
            """Mean test loss and accuracy (0..1) of the model as it is now; under
            torchrun each rank tests its part of the test set, and the sums are added up."""
            if not world.active:
                loss, preds = evaluate(model, test_x, test_y, spec.data.test_batch_size, setup.amp_dtype)
                return loss, (preds == test_y).float().mean().item()
            part = distributed.shard(torch.arange(len(test_x)), world)
            lo, hi = (int(part[0]), int(part[-1]) + 1) if len(part) else (0, 0)
            totals = torch.zeros(3, dtype=torch.float64, device=device)   # loss sum, correct, images
            if hi > lo:
                loss, preds = evaluate(model, test_x[lo:hi], test_y[lo:hi], spec.data.test_batch_size,
                                       setup.amp_dtype)
                totals += torch.tensor([loss * (hi - lo), float((preds == test_y[lo:hi]).sum()), hi - lo],
                                       dtype=torch.float64, device=device)
            loss_sum, correct, images = distributed.all_sum(totals, world).tolist()
            return loss_sum / images, correct / images

        try:   # from here on, however the run ends, run.json says how
            yield RunStarted(run_dir, described, t.epochs, start_epoch + 1, start_step, steps,
                             n, len(test_x), self.summary.total_params, texts.recipe(t), tuple(notes))
            amp = dict(device_type=device.type, dtype=setup.amp_dtype, enabled=setup.amp_dtype is not None)
            aug = spec.data.augment
            fill = datamod.black(spec.data.mean, spec.data.std, train_x.channels, device)
            for epoch in range(start_epoch, t.epochs):
                order = epoch_order(n, t.seed, epoch).to(device)
                plan = tuple(p.to(device) for p in datamod.augment_plan(n, aug.padding, aug.hflip, t.seed, epoch)) \
                    if aug.padding or aug.hflip else None
                holes = datamod.cutout_plan(n, *self.summary.input_shape[1:], t.seed, epoch).to(device) \
                    if aug.cutout else None
                first = start_step if epoch == start_epoch else 0
                if first == 0:
                    running.zero_()
                model.train()
                began, seen = time.perf_counter(), 0
                for step in range(first, steps):
                    if self._stop_now(step, world, device):
                        checkpoint(epoch, step)
                        kept = last_accuracy()
                        if step > 0:  # the weights moved since the last test: score the ones kept
                            kept = test_pass()[1]
                        trained = round(epoch + step / steps, 2)
                        finish("stopped", epochs_done=epoch, epochs_trained=trained, test_accuracy=kept)
                        yield RunEnded("stopped", epoch, kept, run_dir, trained, info["seconds"])
                        return
                    idx = order[step * batch:(step + 1) * batch]   # the global batch
                    share = len(idx)
                    idx = distributed.shard(idx, world)            # this process's part of it
                    xb, yb = train_x.take(idx), train_y.index_select(0, idx)
                    if plan is not None:   # per image, by its index: the same draw whatever the batch
                        xb = datamod.augment(xb, plan[0][idx], plan[1][idx], aug.padding, fill)
                    if holes is not None:
                        xb = datamod.cutout(xb, holes[idx], aug.cutout)
                    rate = lr_at(t, epoch * steps + step, steps)   # a function of the step: resume stays exact
                    for group in optimizer.param_groups:
                        group["lr"] = rate
                    optimizer.zero_grad(set_to_none=True)
                    with torch.autocast(**amp):
                        out = forward(xb).float()
                        if world.active:   # sum / global batch x processes: DDP's average is the global mean
                            loss = F.cross_entropy(out, yb, reduction="sum", label_smoothing=t.label_smoothing) \
                                * (world.size / share)
                        else:
                            loss = F.cross_entropy(out, yb, label_smoothing=t.label_smoothing)
                    loss.backward()
                    optimizer.step()
                    running += loss.detach()
                    seen += len(idx)
                    done = step + 1
                    if done % self.progress_every == 0 or done == steps:
                        mean = running.item() / done
                        if not math.isfinite(mean):
                            raise TrainingError(self._diverged(epoch + 1, done, metrics))
                        yield StepDone(epoch + 1, done, steps, mean,   # images/s of all the processes
                                       seen * world.size / max(time.perf_counter() - began, 1e-9))
                seconds = time.perf_counter() - began
                eval_began = time.perf_counter()
                test_loss, accuracy = test_pass()
                train_loss = distributed.all_sum(running.clone(), world).item() / world.size / steps
                seen *= world.size
                done = EpochDone(epoch + 1, t.epochs, train_loss, test_loss, accuracy,
                                 seconds, time.perf_counter() - eval_began, seen / max(seconds, 1e-9))
                metrics.append(done.as_metrics())
                if main:
                    runs.write_metrics(run_dir, metrics)
                checkpoint(epoch + 1, 0)
                info.update(epochs_done=epoch + 1, epochs_trained=epoch + 1, test_accuracy=accuracy)
                if main:
                    runs.write_info(run_dir, info)
                yield done
        except TrainingError:
            finish("failed", error="loss diverged")
            raise
        except BaseException:   # Ctrl-C, or the generator closed early; a run that already ended keeps its status
            if info["status"] == "running":
                finish("interrupted")
            raise
        finally:
            distributed.leave(world)
        finish("completed")
        yield RunEnded("completed", t.epochs, last_accuracy(), run_dir, float(t.epochs), info["seconds"])

    def _stop_now(self, step: int, world, device) -> bool:
        """A stop asked for, at this step: at once for one process; under torchrun
        every few steps, when all processes agree to (one collective per check)."""
        if not world.active:
            return self._stop_requested
        return step % STOP_CHECK_STEPS == 0 and distributed.any_rank(self._stop_requested, world, device)

    def _diverged(self, epoch: int, step: int, metrics: list[dict]) -> str:
        kept = f"epoch {len(metrics)}" if metrics else "none yet"
        return (f"the training loss became NaN or infinite in epoch {epoch}, by step {step} "
                f"(lr={self.spec.train.lr}, optimizer={self.spec.train.optimizer}).\n"
                f"  The last good checkpoint ({kept}) is kept in {self.run_dir}.\n"
                f"  Lower the learning rate (--lr), or check the data normalization.")


def lr_at(t, k: int, steps: int) -> float:
    """The learning rate of global step ``k`` (0-based) of a run of ``t.epochs``
    epochs of ``steps`` steps: linear warmup, then the schedule. The oracle test
    checks it against torch's own schedulers (CosineAnnealingLR, OneCycleLR, StepLR)."""
    total = t.epochs * steps
    if t.schedule == "onecycle":   # torch.optim.lr_scheduler.OneCycleLR's defaults, cos annealing
        up = float(0.3 * total) - 1
        start, end = t.lr / 25.0, t.lr / 25.0 / 1e4
        if k <= up:
            return _cos(start, t.lr, k / up) if up > 0 else t.lr
        return _cos(t.lr, end, (k - up) / (total - 1 - up))
    warm = round(t.warmup_epochs * steps)
    if k < warm:
        return t.lr * (k + 1) / warm
    if t.schedule == "cosine":
        return _cos(t.lr, 0.0, (k - warm) / max(total - warm, 1))
    if t.schedule == "step":
        return t.lr * t.gamma ** (k // steps // t.step_epochs)
    return t.lr


def _cos(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


def train(spec: SpecBase, on_event=None, **kwargs) -> RunEnded:
    """Run a Trainer to the end, passing each event to ``on_event``; returns RunEnded."""
    trainer = Trainer(spec, **kwargs)
    ended = None
    for event in trainer.events():
        if on_event is not None:
            on_event(event)
        if isinstance(event, RunEnded):
            ended = event
    return ended
