"""Training on tiny IDX datasets written to a temp folder: learning, exact
reproducibility, exact resume, divergence, data checks, run folders."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from tinydata import TINY, write_dataset

import playground
from playground.format.loader import with_overrides
from playground.layers import Elementwise
from playground.runs import folders as runs
from playground.train.data import DataError
from playground.train.engine import EpochDone, RunEnded, StepDone, Trainer, TrainingError, train

TIMING = {"seconds", "eval_seconds", "images_per_s"}


def _run(spec, tmp_path, data_dir, name="run", **kwargs):
    events = []
    train(spec, events.append, out=tmp_path / name, data_dir=data_dir, download=False, **kwargs)
    return events


def _metrics(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in runs.read_metrics(run_dir)]


def _weights(run_dir):
    return runs.load_checkpoint(run_dir)["model"]


def test_loss_goes_down_and_the_model_learns(spec, tmp_path, data_dir):
    events = _run(spec, tmp_path, data_dir)
    epochs = [e for e in events if isinstance(e, EpochDone)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    steps = [e for e in events if isinstance(e, StepDone)]
    assert steps[-1].loss < steps[0].loss
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].test_accuracy > 0.5  # the patches are learnable; chance is 0.1
    assert isinstance(events[-1], RunEnded) and events[-1].status == "completed"


def test_a_spec_with_blocks_trains_and_resumes(tmp_path, data_dir):
    """A spec that uses a block (a residual stage, twice) trains, writes its
    resolved spec with the block definitions, and resumes from its checkpoint."""
    text = """\
name: blocky
blocks:
  stage:
    params: {width: int, stride: {type: int, default: 1}}
    layers:
      - type: residual
        body:
          - {type: conv2d, out_channels: $width, kernel_size: 3, stride: $stride, padding: 1}
          - {type: relu}
        shortcut: projection
layers:
  - {type: use, block: stage, name: s1, with: {width: 4, stride: 2}}
  - {type: use, block: stage, name: s2, with: {width: 4}}
  - {type: adaptive_avgpool2d, output_size: 1}
  - {type: flatten}
  - {type: linear, out_features: 10}
data: {batch_size: 32, test_batch_size: 40}
train: {epochs: 2, lr: 0.05, seed: 3, device: cpu}
"""
    from playground.train.engine import Trainer

    spec = playground.load_spec(text)
    events = list(Trainer(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir).events())
    assert events[-1].status == "completed"
    written = playground.load_spec(tmp_path / "run" / "spec.yaml")
    assert written.to_dict() == with_overrides(spec, epochs=1).to_dict() and "stage" in written.blocks
    resumed = list(Trainer.resume(tmp_path / "run", epochs=2, data_dir=data_dir).events())
    assert resumed[-1].status == "completed" and resumed[-1].epoch == 2


def test_run_folder_contents(spec, tmp_path, data_dir):
    _run(spec, tmp_path, data_dir)
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "run.json", "spec.yaml"]
    assert len(runs.read_metrics(run_dir)) == 3
    info = runs.read_info(run_dir)
    assert info["status"] == "completed" and info["epochs_done"] == 3 and info["params"] == 4 * 25 + 4 + 576 * 10 + 10
    assert "cpu" in info["device"]
    # the resolved spec reloads to the same spec
    assert playground.load_spec(run_dir / "spec.yaml").to_dict() == spec.to_dict()
    # checkpoints load with the safe loader
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] == 3 and payload["step"] == 0 and payload["spec"]["name"] == "tiny"


def test_same_seed_same_metrics_and_weights(spec, tmp_path, data_dir):
    _run(spec, tmp_path, data_dir, "a")
    _run(spec, tmp_path, data_dir, "b")
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    for key, value in _weights(tmp_path / "a").items():
        assert torch.equal(value, _weights(tmp_path / "b")[key]), key


def test_other_seed_other_weights(spec, tmp_path, data_dir):
    _run(spec, tmp_path, data_dir, "a")
    _run(with_overrides(spec, seed=4), tmp_path, data_dir, "b")
    assert _metrics(tmp_path / "a") != _metrics(tmp_path / "b")


def test_bfloat16_trains_in_bfloat16_and_tests_in_float32(spec, tmp_path, data_dir, monkeypatch):
    """On a CPU that computes bfloat16 (the switch stands in for one, on any CPU): the
    forward pass runs in bfloat16 autocast, so the weights leave the float32 run's;
    train.amp: false and amp=False (--no-amp) train exactly the float32 run, and the
    run's spec.yaml records it; the reported test accuracy is a float32 test pass."""
    from playground.train.inference import evaluate_run, load_run

    one = with_overrides(spec, epochs=1)
    _run(one, tmp_path, data_dir, "f32")
    monkeypatch.setenv("PLAYGROUND_CPU_BF16", "1")
    _run(one, tmp_path, data_dir, "bf16")
    _run(with_overrides(one, amp=False), tmp_path, data_dir, "amp-false")
    _run(one, tmp_path, data_dir, "no-amp", amp=False)
    device = {name: runs.read_info(tmp_path / name)["device"] for name in ("f32", "bf16", "amp-false", "no-amp")}
    assert device["bf16"].endswith("autocast bfloat16 (PLAYGROUND_CPU_BF16=1; test pass in float32)")
    assert all(device[name].endswith("float32") for name in ("f32", "amp-false", "no-amp"))
    f32 = _weights(tmp_path / "f32")
    assert any(not torch.equal(value, f32[key]) for key, value in _weights(tmp_path / "bf16").items())
    for name in ("amp-false", "no-amp"):
        assert all(torch.equal(value, f32[key]) for key, value in _weights(tmp_path / name).items()), name
    assert "amp: false" in (tmp_path / "no-amp" / runs.SPEC_FILE).read_text()
    reported = runs.read_metrics(tmp_path / "bf16")[-1]
    ev = evaluate_run(load_run(tmp_path / "bf16"), data_dir, download=False)   # float32, no autocast
    assert reported["test_accuracy"] == pytest.approx(ev.accuracy, abs=1e-9)
    assert reported["test_loss"] == pytest.approx(ev.test_loss, rel=1e-6)


@pytest.mark.parametrize("stop_at,recipe,precision", [((2, 3), False, "float32"), ((1, 10), False, "float32"),
                                                      ((2, 3), True, "float32"), ((2, 3), False, "bfloat16")],
                         ids=["mid-epoch-2", "end-of-epoch-1", "mid-epoch-2-augmented-cosine", "mid-epoch-2-bfloat16"])
def test_resume_equals_uninterrupted(spec, tmp_path, data_dir, stop_at, recipe, precision, monkeypatch):
    """Bit for bit, in float32 and in bfloat16 autocast alike: the same kernels on the same
    shapes round the same way, so a resumed run repeats what an uninterrupted one computes."""
    if precision == "bfloat16":
        monkeypatch.setenv("PLAYGROUND_CPU_BF16", "1")
    if recipe:   # augmentation and the schedule are drawn from (seed, epoch, step): resume stays exact
        from tinydata import TINY

        spec = playground.load_spec(TINY.replace("data: {", "data: {augment: {padding: 2, hflip: true}, ")
                                    .replace("train: {", "train: {schedule: cosine, label_smoothing: 0.1, "))
        assert spec.data.augment.padding == 2 and spec.train.schedule == "cosine"
    _run(spec, tmp_path, data_dir, "whole")

    trainer = Trainer(spec, out=tmp_path / "parts", data_dir=data_dir, download=False, progress_every=1)
    ended = None
    for event in trainer.events():
        if isinstance(event, StepDone) and (event.epoch, event.step) == stop_at:
            trainer.stop()
        ended = event
    assert ended.status == "stopped"
    assert runs.read_info(tmp_path / "parts")["status"] == "stopped"

    events = list(Trainer.resume(tmp_path / "parts", data_dir=data_dir, download=False).events())
    assert events[0].start_epoch == stop_at[0] + (stop_at[1] == 10)
    assert events[-1].status == "completed"
    assert _metrics(tmp_path / "parts") == _metrics(tmp_path / "whole")
    whole = _weights(tmp_path / "whole")
    for key, value in _weights(tmp_path / "parts").items():
        assert torch.equal(value, whole[key]), key


def test_a_stopped_run_reports_the_accuracy_of_the_weights_it_kept(spec, tmp_path, data_dir):
    from playground.core.texts import outcome
    from playground.train.inference import evaluate_run, load_run

    slower = playground.load_spec(TINY.replace("lr: 0.05", "lr: 0.01"))   # accuracy still moving after a step
    trainer = Trainer(slower, out=tmp_path / "run", data_dir=data_dir, download=False, progress_every=1)
    for event in trainer.events():
        if isinstance(event, EpochDone):
            after_epoch_1 = event.test_accuracy
        if isinstance(event, StepDone) and (event.epoch, event.step) == (2, 1):
            trainer.stop()
        ended = event
    assert (ended.status, ended.epoch, ended.epochs_trained, ended.run_dir) == ("stopped", 1, 1.1, tmp_path / "run")
    kept = evaluate_run(load_run(tmp_path / "run"), data_dir, download=False).accuracy  # an independent pass
    info = runs.read_info(tmp_path / "run")
    assert ended.test_accuracy == pytest.approx(kept, abs=1e-9) and kept != after_epoch_1
    assert (info["test_accuracy"], info["epochs_done"], info["epochs_trained"]) == (ended.test_accuracy, 1, 1.1)
    assert ended.seconds == info["seconds"] > 0
    assert outcome(info).startswith(f"Stopped in epoch 2 after 1.1 epochs ({info['seconds']:.1f} s): "
                                    f"{100 * kept:.2f}% test accuracy of the weights kept")


def test_a_run_stopped_between_epochs_keeps_the_last_epochs_accuracy(spec, tmp_path, data_dir):
    trainer = Trainer(spec, out=tmp_path / "run", data_dir=data_dir, download=False)
    for event in trainer.events():
        if isinstance(event, EpochDone):
            trainer.stop()   # takes effect before the first step of epoch 2
            after_epoch_1 = event.test_accuracy
        ended = event
    assert (ended.status, ended.epoch, ended.epochs_trained, ended.test_accuracy) == ("stopped", 1, 1.0, after_epoch_1)


def test_a_reader_that_leaves_at_the_end_keeps_the_runs_status(spec, tmp_path, data_dir):
    """Leaving the event loop at RunEnded (closing the generator) must not turn a
    stopped run into an interrupted one; leaving it mid-run must."""
    trainer = Trainer(spec, out=tmp_path / "run", data_dir=data_dir, download=False)
    events = trainer.events()
    for event in events:
        if isinstance(event, EpochDone):
            trainer.stop()
        if isinstance(event, RunEnded):
            break
    events.close()
    assert runs.read_info(tmp_path / "run")["status"] == "stopped"
    events = Trainer(spec, out=tmp_path / "left", data_dir=data_dir, download=False).events()
    next(e for e in events if isinstance(e, EpochDone))
    events.close()
    assert runs.read_info(tmp_path / "left")["status"] == "interrupted"


def test_resume_can_extend_a_finished_run(spec, tmp_path, data_dir):
    _run(spec, tmp_path, data_dir)
    events = list(Trainer.resume(tmp_path / "run", epochs=4, data_dir=data_dir, download=False).events())
    assert [e.epoch for e in events if isinstance(e, EpochDone)] == [4]
    assert len(runs.read_metrics(tmp_path / "run")) == 4


class NanAfter(Elementwise):
    """Identity until it has seen `calls` training batches, then NaN or inf (a test plugin)."""

    type: Literal["nan_after"] = "nan_after"
    calls: int = 12
    value: Literal["nan", "inf"] = "nan"

    def build(self, x):
        from torch import nn
        limit, bad = self.calls, self.value

        class _Nan(nn.Module):
            seen = 0

            def forward(self, t):
                if self.training:
                    self.seen += 1
                if self.seen <= limit:
                    return t
                if bad == "nan":
                    return t * float("nan")
                return t.index_fill(1, torch.tensor([0]), float("-inf"))  # class 0 impossible: an infinite loss

        return _Nan()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_nan_or_infinite_loss_stops_and_keeps_the_last_good_checkpoint(registry, tmp_path, data_dir, value):
    registry.register(NanAfter)
    text = TINY.replace("  - {type: relu}\n", "  - {type: nan_after, calls: 15}\n") if value == "nan" else \
        TINY.replace("out_features: 10}\n", "out_features: 10}\n  - {type: nan_after, calls: 15, value: inf}\n")
    spec = playground.load_spec(text)
    with pytest.raises(TrainingError, match="NaN or infinite in epoch 2") as info:
        _run(spec, tmp_path, data_dir)  # 10 steps per epoch: NaN from step 16, in epoch 2
    assert "last good checkpoint (epoch 1)" in str(info.value)
    assert runs.load_checkpoint(tmp_path / "run")["epoch"] == 1
    info = runs.read_info(tmp_path / "run")
    assert (info["status"], info["error"]) == ("failed", "loss diverged")
    assert len(runs.read_metrics(tmp_path / "run")) == 1


def test_mismatched_image_size_is_refused_before_training(spec, tmp_path):
    root = write_dataset(tmp_path / "data32", size=32)
    with pytest.raises(DataError, match="images in .* are 1x32x32, but the spec's input is 1x28x28"):
        _run(spec, tmp_path, root)
    assert not (tmp_path / "run").exists()


def test_missing_dataset_says_where_files_go(spec, tmp_path):
    with pytest.raises(DataError) as info:
        _run(spec, tmp_path, tmp_path / "empty")
    message = str(info.value)
    assert f"MNIST is not in {tmp_path / 'empty' / 'MNIST' / 'raw'}, and downloading is switched off" in message
    assert "train-images-idx3-ubyte" in message and "PLAYGROUND_DATA" in message


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    root = write_dataset(tmp_path / "d", folder="FashionMNIST")
    text = TINY.replace("data: {", "data: {dataset: fashion_mnist, ").replace("epochs: 3", "epochs: 1")
    spec = playground.load_spec(text)
    events = _run(spec, tmp_path, root)
    assert events[-1].status == "completed"


def test_overrides_are_checked(spec):
    assert with_overrides(spec, lr=0.2, batch_size=8).train.lr == 0.2
    with pytest.raises(playground.SpecError, match=r"train.lr: Input should be greater than 0. Received: lr=-1"):
        with_overrides(spec, lr=-1)


def test_a_loss_that_is_never_finite_says_no_checkpoint_is_kept_yet(registry, tmp_path, data_dir):
    registry.register(NanAfter)
    spec = playground.load_spec(TINY.replace("  - {type: relu}\n", "  - {type: nan_after, calls: 0}\n"))
    with pytest.raises(TrainingError) as info:
        _run(spec, tmp_path, data_dir)
    assert str(info.value) == (
        "the training loss became NaN or infinite in epoch 1, by step 10 (lr=0.05, optimizer=sgd).\n"
        f"  The last good checkpoint (none yet) is kept in {tmp_path / 'run'}.\n"
        "  Lower the learning rate (--lr), or check the data normalization.")


def test_train_returns_how_the_run_ended(spec, tmp_path, data_dir):
    ended = train(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    assert isinstance(ended, RunEnded)
    assert (ended.status, ended.epoch, ended.run_dir) == ("completed", 1, tmp_path / "run")


def test_resume_takes_a_device_override(spec, tmp_path, data_dir):
    _run(with_overrides(spec, epochs=1, device="auto"), tmp_path, data_dir)
    assert Trainer.resume(tmp_path / "run").spec.train.device == "auto"
    assert Trainer.resume(tmp_path / "run", device="cpu").spec.train.device == "cpu"
