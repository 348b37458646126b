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

A run goes in stages, each a method of Trainer: ``_prepare`` (the device, the
process group, the data, the model and its optimizer: a Prepared),
``_restore`` (a resumed run's checkpoint put back: a Start), ``_open`` (the
run folder and run.json: a Recorder, which also writes the metrics and the
checkpoints), then for each epoch ``_epoch`` (its steps) and ``_end_epoch``
(its test and record), or ``_stopped`` when a stop comes.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from playground.check.analysis import Summary, analyze, require_dataset
from playground.check.builder import build
from playground.core import clock, processes, texts
from playground.core.errors import PlaygroundError
from playground.format.datasets import data_root
from playground.format.loader import read_spec
from playground.format.spec import SpecBase
from playground.runs import folders as runs
from playground.train import data as datamod
from playground.train import devices, distributed, finetune, pretrained

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
    startup_seconds: float = 0.0  # from the command (clock.process_started), or the Trainer's making; as in run.json
    startup: tuple[tuple[str, float], ...] = ()   # where they went: (phase, seconds) in order
    at: float = field(default_factory=time.time)   # wall clock: the first step starts now


@dataclass(frozen=True)
class StepDone:
    epoch: int            # 1-based
    step: int             # steps done in this epoch
    steps: int
    loss: float           # mean training loss so far this epoch
    images_per_s: float
    at: float = field(default_factory=time.time)


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
    at: float = field(default_factory=time.time)

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
    at: float = field(default_factory=time.time)


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


@dataclass(frozen=True)
class Features:
    """What the first ``layers`` top-level layers of the model, frozen, compute from every image, once:
    in the training precision for the training images, in the test pass's for the test images. The
    rest of the model (``head``) trains on them as it would on the images through those layers."""

    layers: int
    head: torch.nn.Module
    train: torch.Tensor
    test: torch.Tensor


@dataclass(frozen=True)
class Prepared:
    """What a run trains, made once before its first step: the spec (with the
    data's statistics filled in), where it runs, the model and its optimizer,
    the data on the device, and the steps of an epoch."""

    spec: SpecBase
    setup: devices.DeviceSetup
    world: distributed.World          # joined: under torchrun, with its backend
    model: torch.nn.Module
    forward: torch.nn.Module          # the model, or its DDP wrapper under torchrun
    optimizer: torch.optim.Optimizer
    train_x: datamod.Images
    train_y: torch.Tensor
    test_x: datamod.Images
    test_y: torch.Tensor
    classes: tuple[str, ...]
    notes: tuple[str, ...]            # about the data: files skipped, a cache used, batches streamed
    fill: torch.Tensor                # a black pixel, normalized: what augmentation pads with
    steps: int                        # per epoch
    tune: finetune.Plan               # the frozen parameters, and when they thaw
    cached: Features | None = None    # a frozen prefix's outputs, computed once, while it stays frozen

    def uses_cache(self, epoch: int) -> bool:
        return self.cached is not None and self.tune.frozen_at(epoch)

    @property
    def device(self) -> torch.device:
        return self.setup.device

    def autocast(self) -> torch.autocast:
        """Mixed precision as the device setup says (none for float32)."""
        return torch.autocast(self.device.type, dtype=self.setup.amp_dtype, enabled=self.setup.amp_dtype is not None)


@dataclass(frozen=True)
class Start:
    """Where training begins: epoch 0, step 0 for a new run; for a resumed one,
    where its checkpoint left off, with that epoch's running loss so far and the
    metrics of the epochs done."""

    epoch: int                        # 0-based
    step: int
    running: torch.Tensor             # this epoch's loss sum so far: a device scalar the steps add to in place
    metrics: tuple[dict, ...] = ()


@dataclass(frozen=True)
class EpochDraws:
    """One epoch's random choices, each drawn from (seed, epoch) alone: the order
    the images are visited in, and each image's crop, flip and cutout hole."""

    order: torch.Tensor
    plan: tuple[torch.Tensor, torch.Tensor] | None    # crop offsets and flips (data.augment padding, hflip)
    holes: torch.Tensor | None                          # cutout centers (data.augment cutout)
    epoch: int = 0

    @classmethod
    def draw(cls, p: Prepared, epoch: int, image_size: tuple[int, int]) -> EpochDraws:
        t, aug, n = p.spec.train, p.spec.data.augment, len(p.train_x)
        order = epoch_order(n, t.seed, epoch).to(p.device)
        plan = tuple(x.to(p.device) for x in datamod.augment_plan(n, aug.padding, aug.hflip, t.seed, epoch)) \
            if aug.padding or aug.hflip else None
        holes = datamod.cutout_plan(n, *image_size, t.seed, epoch).to(p.device) if aug.cutout else None
        return cls(order, plan, holes, epoch)

    def batch(self, p: Prepared, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training images at ``idx``, augmented, and their labels."""
        aug = p.spec.data.augment
        if p.uses_cache(self.epoch):   # (only without augmentation)
            return p.cached.train.index_select(0, idx), p.train_y.index_select(0, idx)
        xb, yb = p.train_x.take(idx), p.train_y.index_select(0, idx)
        if self.plan is not None:   # per image, by its index: the same draw whatever the batch
            xb = datamod.augment(xb, self.plan[0][idx], self.plan[1][idx], aug.padding, p.fill)
        if self.holes is not None:
            xb = datamod.cutout(xb, self.holes[idx], aug.cutout)
        return xb, yb


@dataclass(frozen=True)
class EpochSteps:
    """How an epoch's steps went: a stop came before step ``stopped_at``, or the
    epoch ran to its end in ``seconds``, on ``seen`` images (this process's)."""

    stopped_at: int | None
    seconds: float = 0.0
    seen: int = 0


def train_step(p: Prepared, xb: torch.Tensor, yb: torch.Tensor, share: int, rate: float,
               forward: torch.nn.Module | None = None) -> torch.Tensor:
    """One optimizer step at learning rate ``rate`` on this process's part
    (``xb``, ``yb``) of a global batch of ``share`` images; its loss. ``forward``:
    what runs on ``xb`` (the model, or the head on a frozen prefix's outputs)."""
    t, world = p.spec.train, p.world
    for group in p.optimizer.param_groups:   # each part's rate follows the schedule (lr_parts: its own scale)
        group["lr"] = rate * group.get("lr_scale", 1.0)
    p.optimizer.zero_grad(set_to_none=True)
    with p.autocast():
        out = (forward or p.forward)(xb).float()
        if world.active:   # sum / global batch x processes: DDP's average is the global mean
            loss = F.cross_entropy(out, yb, reduction="sum", label_smoothing=t.label_smoothing) \
                * (world.size / share)
        else:
            loss = F.cross_entropy(out, yb, label_smoothing=t.label_smoothing)
    loss.backward()
    p.optimizer.step()
    return loss


def score_test_set(p: Prepared, epoch: int) -> tuple[float, float]:
    """Mean test loss and accuracy (0..1) of the model as it is now (in epoch ``epoch``); under
    torchrun each rank tests its part of the test set, and the sums are added up."""
    batch, amp_dtype = p.spec.data.test_batch_size, p.setup.test_dtype
    if p.uses_cache(epoch):   # the frozen prefix's test outputs, computed as this pass would
        loss, preds = evaluate(p.cached.head, p.cached.test, p.test_y, batch, amp_dtype)
        return loss, (preds == p.test_y).float().mean().item()
    if not p.world.active:
        loss, preds = evaluate(p.model, p.test_x, p.test_y, batch, amp_dtype)
        return loss, (preds == p.test_y).float().mean().item()
    part = distributed.shard(torch.arange(len(p.test_x)), p.world)
    lo, hi = (int(part[0]), int(part[-1]) + 1) if len(part) else (0, 0)
    totals = torch.zeros(3, dtype=torch.float64, device=p.device)   # loss sum, correct, images
    if hi > lo:
        loss, preds = evaluate(p.model, p.test_x[lo:hi], p.test_y[lo:hi], batch, amp_dtype)
        totals += torch.tensor([loss * (hi - lo), float((preds == p.test_y[lo:hi]).sum()), hi - lo],
                               dtype=torch.float64, device=p.device)
    loss_sum, correct, images = distributed.all_sum(totals, p.world).tolist()
    return loss_sum / images, correct / images


class Recorder:
    """What a run under way keeps in its folder: run.json (a RunInfo), the
    metrics of the epochs done, the checkpoint, and the wall clock they are
    timed by. Every process keeps the same record; only rank 0 writes it."""

    def __init__(self, p: Prepared, run_dir: Path, info: runs.RunInfo, metrics: tuple[dict, ...],
                 earlier_seconds: float, began: float):
        self.p, self.dir, self.info = p, run_dir, info
        self.metrics = list(metrics)
        self._earlier_seconds, self._began = earlier_seconds, began

    def last_accuracy(self) -> float | None:
        return self.metrics[-1]["test_accuracy"] if self.metrics else None

    def wall_seconds(self) -> float:
        """This run's wall time so far, its earlier (resumed) parts included."""
        return round(self._earlier_seconds + time.perf_counter() - self._began, 2)

    def update(self, **changes) -> None:
        """run.json with ``changes``."""
        self.info = replace(self.info, **changes)
        if self.p.world.main:
            runs.write_run_info(self.dir, self.info)

    def finish(self, status: str, **changes) -> None:
        """run.json says how the run ended, when, and its wall time."""
        self.update(status=status, updated=time.strftime("%Y-%m-%dT%H:%M:%S"), seconds=self.wall_seconds(),
                    **changes)

    def add_epoch(self, done: EpochDone, running: torch.Tensor) -> None:
        """A finished epoch: its metrics line, the checkpoint after it, then run.json."""
        self.metrics.append(done.as_metrics())
        if self.p.world.main:
            runs.write_metrics(self.dir, self.metrics)
        self.checkpoint(done.epoch, 0, running)
        self.update(epochs_done=done.epoch, epochs_trained=done.epoch, test_accuracy=done.test_accuracy)

    def checkpoint(self, epoch: int, step: int, running: torch.Tensor) -> None:
        """All an exact resume needs: ``epoch`` epochs done, ``step`` steps of the
        next, the loss sum of those steps (``running``), the random state."""
        if not self.p.world.main:
            return
        p = self.p
        runs.save_checkpoint(self.dir, {
            "epoch": epoch, "step": step, "running_loss": running.detach().cpu(),
            "model": p.model.state_dict(), "optimizer": p.optimizer.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(p.device) if p.device.type == "cuda" else None,
            "spec": p.spec.to_dict(), "classes": list(p.classes)})


class Trainer:
    """Trains one spec into one run folder; iterate ``events()`` to run it."""

    def __init__(self, spec: SpecBase, *, summary: Summary | None = None, out: str | Path | None = None,
                 runs_base: str | Path = runs.DEFAULT_RUNS, data_dir: str | Path | None = None, download: bool = True,
                 amp: bool = True, progress_every: int = 20, startup: clock.Phases | None = None,
                 cache_frozen: bool = True, _resume: tuple[Path, dict] | None = None):
        """``summary`` is the check's result for ``spec`` under this ``data_dir``
        (``playground.load_checked``); without it the spec is checked here. ``startup``:
        the phases of a command's start so far (RunStarted adds the run's own); without
        it the start-up is timed from here. ``cache_frozen``: run a frozen prefix of the model
        once, not every epoch, where its outputs cannot change (False: every epoch, as a check)."""
        self.cache_frozen = cache_frozen
        self._phases = startup if startup is not None else clock.Phases()
        require_dataset(spec)
        self.world = distributed.from_environment()   # torchrun's processes, or one
        if self.world.active and spec.data.batch_size % self.world.size:
            raise distributed.batch_error(spec, self.world)
        if not amp and spec.train.amp:   # --no-amp: the run's spec.yaml says so, and a resume keeps it
            spec = spec.model_copy(update={"train": spec.train.model_copy(update={"amp": False})})
        self.spec = spec
        self.data_root = data_root(data_dir)
        self.summary = summary if summary is not None else analyze(spec, self.data_root)
        self.download = download
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
        runs.check_resumable(run_dir)   # its records too, before anything is written
        edits = runs.spec_edits(run_dir, checkpoint.get("spec") or {})
        if edits:   # resuming would train the checkpoint's spec and write it over the edit
            shown = ", ".join(edits[:5]) + (f" and {len(edits) - 5} more" if len(edits) > 5 else "")
            raise runs.RunError(
                f"{run_dir / runs.SPEC_FILE} was edited after its checkpoint was saved ({shown}): --resume "
                "continues the spec the weights were trained with, and would write it over your edit.\n"
                f"  Train the edited spec as a new run (python -m playground.train {run_dir / runs.SPEC_FILE}), "
                "or undo the edit to resume.")
        spec = read_spec(checkpoint["spec"], overrides={"train.epochs": epochs, "train.device": device})
        return cls(spec, _resume=(run_dir, checkpoint), **kwargs)

    def stop(self) -> None:
        """Ask the run to stop at the next step; it saves a checkpoint first."""
        self._stop_requested = True

    # -- the run ----------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The run: DataProgress while an image folder decodes, RunStarted,
        StepDone and EpochDone as it trains, and RunEnded."""
        p = yield from self._prepare()
        start = self._restore(p)
        p = yield from self._cache_features(p, start.epoch)   # from the weights the run starts with
        record = self._open(p, start)
        epochs, running = p.spec.train.epochs, start.running
        try:   # from here on, however the run ends, run.json says how
            yield RunStarted(record.dir, record.info.device, epochs, start.epoch + 1, start.step, p.steps,
                             len(p.train_x), len(p.test_x), self.summary.total_params, texts.recipe(p.spec.train),
                             record.info.data_notes, record.info.startup_seconds, tuple(self._phases.parts))
            for epoch in range(start.epoch, epochs):
                ran = yield from self._epoch(p, record, running, epoch, start.step if epoch == start.epoch else 0)
                if ran.stopped_at is not None:
                    yield self._stopped(p, record, running, epoch, ran.stopped_at)
                    return
                yield self._end_epoch(p, record, running, epoch, ran)
        except TrainingError:
            record.finish("failed", error="loss diverged")
            raise
        except BaseException:   # Ctrl-C, or the generator closed early; a run that already ended keeps its status
            if record.info.status == "running":
                record.finish("interrupted")
            raise
        finally:
            distributed.leave(p.world)
        record.finish("completed")
        yield RunEnded("completed", epochs, record.last_accuracy(), record.dir, float(epochs), record.info.seconds)

    def _read_data(self) -> Generator[DataProgress, None, tuple[devices.DeviceSetup, datamod.RawData]]:
        """The device set up, the process group joined (under torchrun), and the
        data read, yielding DataProgress while an image folder decodes."""
        spec = self.spec
        setup = devices.resolve(spec.train.device, amp=spec.train.amp,
                                local_rank=self.world.local_rank if self.world.active else None)
        world = self.world = distributed.join(self.world, setup.device)
        if not world.main:   # rank 0 reads (and an image folder decodes) first; the others then read its cache
            distributed.barrier(world)
        raw = yield from datamod.load(spec.data, self.summary.input_shape, self.data_root, download=self.download)
        if world.main:
            distributed.barrier(world)
        datamod.check_fits(raw, self.summary.input_shape, self.summary.output_shape[0])
        if raw.statistics is not None and (spec.data.mean is None or spec.data.std is None):
            self.spec = with_statistics(spec, *raw.statistics)   # the run's spec.yaml records them
        return setup, raw

    def _prepare(self) -> Generator[DataProgress, None, Prepared]:
        """The starting weights read, the data read, then the model and its optimizer built (the weights
        loaded into it) and the data put on the device."""
        init = self.spec.init
        source = None   # read first, so that a missing or unsafe file stops the run before the data is read
        followed = []
        if init.weights and self._resume is None:   # (a resumed run's weights are in its checkpoint)
            source = pretrained.read(init.weights, download=self.download)
            self.spec, followed = pretrained.follow(self.spec, source)   # the run's spec.yaml records them
        setup, raw = yield from self._read_data()
        self._phases.mark("data")
        spec, t, world, device = self.spec, self.spec.train, self.world, setup.device
        torch.manual_seed(t.seed)  # same seed, same initial weights as a hand-written model
        model = build(spec, self.summary)
        notes = list(raw.notes) + followed
        if followed and raw.statistics is not None and _differ(raw.statistics, (spec.data.mean, spec.data.std)):
            mean, std = raw.statistics
            notes.append(f"the folder's own statistics differ: mean {_listed(mean)}, std {_listed(std)} (set "
                         "data.mean and data.std to normalize by them instead)")
        if source is not None:
            finetune.check_names(model, init.skip, "init.skip")
            notes += pretrained.load_into(model, source, init.skip)
        model = model.to(device)
        if setup.channels_last:
            model = model.to(memory_format=torch.channels_last)
        tune = finetune.plan(model, t)
        if world.active and tune.frozen and t.unfreeze_epoch is not None:
            raise finetune.PartError("train.unfreeze_epoch is not supported under torchrun yet (DDP fixes the "
                                "parameters it averages when it starts).\n  Train on one process, or remove "
                                "unfreeze_epoch.")
        finetune.set_epoch(model, tune, self._resume[1]["epoch"] if self._resume else 0)   # before DDP sees it
        optimizer = OPTIMIZERS[t.optimizer](finetune.param_groups(model, t), t)
        forward = distributed.wrap(model, world, device)   # DDP under torchrun: gradients averaged over ranks
        if tune.frozen:
            trainable, frozen = finetune.counts(model, tune)
            notes.append(f"frozen: {frozen:,} of {trainable + frozen:,} parameters"
                         + (f", until epoch {t.unfreeze_epoch}" if t.unfreeze_epoch else "")
                         + ("; their batch norms keep their statistics" if tune.norms_in_eval and tune.frozen_modules
                            else ""))
        size, limit = datamod.held_bytes(raw.train, raw.test), spec.data.memory_limit_mb * 2**20
        hold = size <= limit
        if not hold:
            notes.append(f"the normalized data would take {size / 2**20:,.1f} MiB, over data.memory_limit_mb="
                         f"{spec.data.memory_limit_mb:g}: batches are read from the uint8 images as they are needed")
        args = (spec.data.mean, spec.data.std, device, setup.channels_last, hold)
        train_x, train_y = datamod.Images(raw.train.images, *args), raw.train.labels.to(device)
        test_x, test_y = datamod.Images(raw.test.images, *args), raw.test.labels.to(device)
        fill = datamod.black(spec.data.mean, spec.data.std, train_x.channels, device)
        self._phases.mark("model")
        return Prepared(spec, setup, world, model, forward, optimizer, train_x, train_y, test_x, test_y,
                        tuple(raw.classes), tuple(notes), fill, math.ceil(len(train_x) / spec.data.batch_size), tune)

    def _cache_features(self, p: Prepared, epoch: int) -> Generator[DataProgress, None, Prepared]:
        """``p`` training on a frozen prefix's outputs, computed once (with progress) from the weights
        as they start ``epoch`` (a resumed run's: its checkpoint's), where the prefix stays frozen,
        the data is held and not augmented, and its outputs fit in the memory limit; else ``p``."""
        aug = p.spec.data.augment
        if not (self.cache_frozen and p.train_x.held is not None and not p.world.active
                and p.tune.frozen_at(epoch) and not (aug.padding or aug.hflip or aug.cutout)):
            return p
        k = finetune.frozen_prefix(p.model, p.tune)
        if not k:
            return p
        children = list(p.model.named_children())   # (a Model's children run in this order)
        body, head = (torch.nn.Sequential(OrderedDict(part)) for part in (children[:k], children[k:]))
        spec, limit = p.spec, p.spec.data.memory_limit_mb * 2**20
        with torch.no_grad():
            width = body.eval()(p.train_x[:1]).numel()
        size = 4 * width * (len(p.train_x) + len(p.test_x))
        if size > limit:
            return replace(p, notes=(*p.notes, f"the frozen layers' outputs would take {size / 2**20:,.1f} MiB, "
                                               f"over data.memory_limit_mb: computed every epoch instead"))
        began, outputs = time.perf_counter(), {}
        body.eval()
        for split, images, dtype in (("train", p.train_x, p.setup.amp_dtype), ("test", p.test_x, p.setup.test_dtype)):
            parts, n, batch = [], len(images), spec.data.test_batch_size
            yield DataProgress(split, 0, n, 0.0, "running the frozen layers on")
            with torch.no_grad(), torch.autocast(p.device.type, dtype=dtype, enabled=dtype is not None):
                for i in range(0, n, batch):
                    parts.append(body(images[i:i + batch]))
                    yield DataProgress(split, min(n, i + batch), n, time.perf_counter() - began,
                                       "running the frozen layers on")
            outputs[split] = torch.cat(parts)
        names = [name for name, _ in children]
        note = (f"the frozen layers {names[0]}..{names[k - 1]} run once, not every epoch: the rest trains on "
                f"their outputs ({time.perf_counter() - began:.1f} s, {size / 2**20:,.1f} MiB)")
        self._phases.mark("frozen layers")
        return replace(p, cached=Features(k, head, outputs["train"], outputs["test"]), notes=(*p.notes, note))

    def _restore(self, p: Prepared) -> Start:
        """A new run starts at epoch 0, step 0; a resumed one gets the model,
        the optimizer and the random state back as its checkpoint holds them."""
        if self._resume is None:
            return Start(0, 0, torch.zeros((), device=p.device))
        # Loaded on the CPU: RNG states must stay there; load_state_dict moves the rest to the device.
        ckpt = self._resume[1]
        p.model.load_state_dict(ckpt["model"])
        p.optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng_cpu"])
        if p.device.type == "cuda" and ckpt.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng_cuda"], p.device)
        return Start(ckpt["epoch"], ckpt["step"], ckpt["running_loss"].to(p.device),
                     tuple(runs.read_metrics(self.run_dir)[:ckpt["epoch"]]))

    def _open(self, p: Prepared, start: Start) -> Recorder:
        """The run folder (a new one, or the resumed run's) with the spec, and
        run.json saying the run is running from ``start``."""
        spec, world = p.spec, p.world
        if self._resume is None:
            self.run_dir = distributed.broadcast(
                runs.new_run_dir(spec.name, self._out, self._runs_base) if world.main else None, world)
        if world.main:
            runs.write_spec(self.run_dir, spec.to_dict())
        earlier = runs.read_run_info(self.run_dir) if self._resume is not None else None
        began = time.perf_counter()
        notes = list(p.notes)
        if earlier is not None and world.main and (earlier.world_size or 1) != world.size:
            was = earlier.world_size or 1
            notes.append(f"this run was trained on {was} process{'es' if was > 1 else ''} and resumes on "
                         f"{world.size}: the same global batches and weights updates; batch norm statistics "
                         "are now gathered over {} images per process".format(spec.data.batch_size // world.size))
        t = spec.train
        self._phases.mark("run folder")
        info = runs.RunInfo(
            spec=spec.name, status="running",
            device=p.setup.describe() + (f"; {world.describe()}" if world.active else ""),
            world_size=world.size, backend=world.backend or None,
            params=self.summary.total_params, macs=self.summary.total_macs, dataset=spec.data.dataset,
            epochs=t.epochs, epochs_done=start.epoch, epochs_trained=round(start.epoch + start.step / p.steps, 2),
            test_accuracy=start.metrics[-1]["test_accuracy"] if start.metrics else None,
            data_root=str(self.data_root), data_notes=tuple(notes), started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            host=processes.host(), pid=os.getpid(),
            startup_seconds=round(self._phases.since_began(), 3), startup=self._phases.words())
        record = Recorder(p, self.run_dir, info, start.metrics, (earlier.seconds or 0.0) if earlier else 0.0, began)
        if world.main:
            runs.write_run_info(self.run_dir, info)
        return record

    def _epoch(self, p: Prepared, record: Recorder, running: torch.Tensor, epoch: int,
               first: int) -> Generator[StepDone, None, EpochSteps]:
        """Epoch ``epoch``'s steps from step ``first`` on, adding each step's loss
        to ``running``, with a StepDone every ``progress_every`` steps; it returns
        at a stop (before the step it came at) or at the epoch's end."""
        t, batch = p.spec.train, p.spec.data.batch_size
        draws = EpochDraws.draw(p, epoch, self.summary.input_shape[1:])
        if first == 0:
            running.zero_()
        finetune.set_epoch(p.model, p.tune, epoch)
        p.model.train()
        finetune.hold_norms(p.model, p.tune, epoch)
        forward = p.cached.head if p.uses_cache(epoch) else None
        began, seen = time.perf_counter(), 0
        for step in range(first, p.steps):
            if self._stop_now(step, p.world, p.device):
                return EpochSteps(stopped_at=step)
            idx = draws.order[step * batch:(step + 1) * batch]   # the global batch
            share = len(idx)
            idx = distributed.shard(idx, p.world)                # this process's part of it
            xb, yb = draws.batch(p, idx)
            # The learning rate is a function of the step: resume stays exact.
            running += train_step(p, xb, yb, share, lr_at(t, epoch * p.steps + step, p.steps), forward).detach()
            seen += len(idx)
            done = step + 1
            if done % self.progress_every == 0 or done == p.steps:
                mean = running.item() / done
                if not math.isfinite(mean):
                    raise TrainingError(self._diverged(epoch + 1, done, record.metrics))
                yield StepDone(epoch + 1, done, p.steps, mean,   # images/s of all the processes
                               seen * p.world.size / max(time.perf_counter() - began, 1e-9))
        return EpochSteps(None, time.perf_counter() - began, seen)

    def _end_epoch(self, p: Prepared, record: Recorder, running: torch.Tensor, epoch: int,
                   ran: EpochSteps) -> EpochDone:
        """A finished epoch tested, and recorded: metrics, checkpoint, run.json."""
        eval_began = time.perf_counter()
        test_loss, accuracy = score_test_set(p, epoch)
        train_loss = distributed.all_sum(running.clone(), p.world).item() / p.world.size / p.steps
        seen = ran.seen * p.world.size
        done = EpochDone(epoch + 1, p.spec.train.epochs, train_loss, test_loss, accuracy,
                         ran.seconds, time.perf_counter() - eval_began, seen / max(ran.seconds, 1e-9))
        record.add_epoch(done, running)
        return done

    def _stopped(self, p: Prepared, record: Recorder, running: torch.Tensor, epoch: int, step: int) -> RunEnded:
        """A stop before ``step`` of ``epoch``: the checkpoint there, the weights
        it keeps scored, and run.json saying the run stopped."""
        record.checkpoint(epoch, step, running)
        kept = record.last_accuracy()
        if step > 0:  # the weights moved since the last test: score the ones kept
            kept = score_test_set(p, epoch)[1]
        trained = round(epoch + step / p.steps, 2)
        record.finish("stopped", epochs_done=epoch, epochs_trained=trained, test_accuracy=kept)
        return RunEnded("stopped", epoch, kept, record.dir, trained, record.info.seconds)

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


def _listed(v) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in (v if isinstance(v, (list, tuple)) else [v])) + "]"


def _differ(ours, theirs, tolerance: float = 0.02) -> bool:
    """Whether two (mean, std) pairs differ by more than ``tolerance`` in any channel."""
    flat = [[*(v if isinstance(v, (list, tuple)) else [v])] for v in (*ours, *theirs)]
    return any(abs(a - b) > tolerance for x, y in ((flat[0], flat[2]), (flat[1], flat[3]))
               for a, b in zip(x, y, strict=False))


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
