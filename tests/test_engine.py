"""The training engine's numbers, each against an independent computation:
the optimizer the recipe names, the events' counts and losses, a test pass
redone outside the engine, and what run.json records."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tinydata import TINY

import playground
from playground import runs
from playground.training import EpochDone, RunEnded, RunStarted, StepDone, Trainer, evaluate, train, with_overrides


def test_overrides_go_to_their_section(spec):
    assert with_overrides(spec).to_dict() == spec.to_dict()
    changed = with_overrides(spec, epochs=7, lr=0.5, seed=9, device="cpu", batch_size=16, test_batch_size=8)
    assert (changed.train.epochs, changed.train.lr, changed.train.seed) == (7, 0.5, 9)
    assert (changed.data.batch_size, changed.data.test_batch_size) == (16, 8)
    assert with_overrides(spec, epochs=None).train.epochs == spec.train.epochs


def test_evaluate_is_the_mean_loss_and_the_argmax():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5)).train()
    x, y = torch.randn(23, 3, 4), torch.randint(0, 5, (23,))
    loss, preds = evaluate(model, x, y, batch_size=5)          # five batches, the last one short
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert torch.equal(preds, logits.argmax(1))
    assert not model.training


@pytest.mark.parametrize("optimizer,state_key", [("sgd", "momentum_buffer"), ("adam", "exp_avg"),
                                                   ("adamw", "exp_avg")])
def test_the_optimizer_is_the_one_the_recipe_names(tmp_path, data_dir, optimizer, state_key):
    extra = "momentum: 0.7, " if optimizer == "sgd" else ""
    text = TINY.replace("train: {epochs: 3, lr: 0.05, momentum: 0.5,",
                        f"train: {{epochs: 1, lr: 0.02, optimizer: {optimizer}, {extra}weight_decay: 0.001,")
    train(playground.load_spec(text), out=tmp_path / "run", data_dir=data_dir, download=False)
    state = runs.load_checkpoint(tmp_path / "run")["optimizer"]
    group = state["param_groups"][0]
    assert (group["lr"], group["weight_decay"]) == (0.02, 0.001)
    if optimizer == "sgd":
        assert group["momentum"] == 0.7
    assert state_key in next(iter(state["state"].values()))
    assert group.get("decoupled_weight_decay", False) == (optimizer == "adamw")   # AdamW, not Adam


def test_events_count_steps_losses_and_sizes(spec, tmp_path, data_dir):
    events = []
    trainer = Trainer(with_overrides(spec, epochs=2), out=tmp_path / "run", data_dir=data_dir, download=False,
                      progress_every=3)
    for event in trainer.events():
        events.append(event)
    started = events[0]
    assert isinstance(started, RunStarted)
    assert (started.train_size, started.test_size, started.steps_per_epoch) == (320, 80, math.ceil(320 / 32))
    assert (started.epochs, started.start_epoch, started.start_step) == (2, 1, 0)
    assert started.params == trainer.summary.total_params == 4 * 25 + 4 + 576 * 10 + 10
    steps = [e for e in events if isinstance(e, StepDone)]
    assert [(s.epoch, s.step) for s in steps] == [(e, k) for e in (1, 2) for k in (3, 6, 9, 10)]
    assert all(s.steps == 10 and s.images_per_s > 0 and s.loss > 0 for s in steps)
    epochs = [e for e in events if isinstance(e, EpochDone)]
    for epoch, last_step in zip(epochs, [s for s in steps if s.step == 10], strict=True):
        assert epoch.train_loss == pytest.approx(last_step.loss)        # the epoch's mean step loss
        assert epoch.epochs == 2 and epoch.seconds > 0 and epoch.eval_seconds >= 0 and epoch.images_per_s > 0
    ended = events[-1]
    assert isinstance(ended, RunEnded) and (ended.status, ended.epoch, ended.epochs_trained) == ("completed", 2, 2.0)
    assert ended.test_accuracy == epochs[-1].test_accuracy and ended.seconds > 0


def test_the_reported_test_numbers_are_a_real_test_pass(spec, tmp_path, data_dir):
    from playground.inference import evaluate_run, load_run

    events = []
    train(spec, events.append, out=tmp_path / "run", data_dir=data_dir, download=False)
    last = [e for e in events if isinstance(e, EpochDone)][-1]
    ev = evaluate_run(load_run(tmp_path / "run"), data_dir, download=False)   # the checkpoint, scored again
    assert last.test_accuracy == pytest.approx(ev.accuracy, abs=1e-9)
    assert last.test_loss == pytest.approx(ev.test_loss, rel=1e-5)
    metrics = runs.read_metrics(tmp_path / "run")
    assert [m["epoch"] for m in metrics] == [1, 2, 3] and metrics[-1]["test_accuracy"] == last.test_accuracy


def test_run_json_records_the_run(spec, tmp_path, data_dir):
    train(spec, out=tmp_path / "run", data_dir=data_dir, download=False)
    info = runs.read_info(tmp_path / "run")
    assert info["spec"] == "tiny" and info["status"] == "completed" and info["epochs"] == 3
    assert (info["epochs_done"], info["epochs_trained"]) == (3, 3)
    assert info["data_root"] == str(data_dir) and info["seconds"] > 0
    assert info["started"] <= info["updated"] and len(info["started"]) == 19
    assert info["test_accuracy"] == runs.read_metrics(tmp_path / "run")[-1]["test_accuracy"]


def test_a_resumed_run_adds_its_time_to_the_earlier_time(spec, tmp_path, data_dir):
    train(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    first = runs.read_info(tmp_path / "run")["seconds"]
    list(Trainer.resume(tmp_path / "run", epochs=2, data_dir=data_dir, download=False).events())
    info = runs.read_info(tmp_path / "run")
    assert info["seconds"] > first and info["epochs_done"] == 2


def test_a_loaded_run_predicts_like_its_model(spec, tmp_path, data_dir):
    from playground.data import to_tensor
    from playground.inference import load_run, predict_proba

    train(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    run = load_run(tmp_path / "run", "cpu")
    assert run.epoch == 1 and run.spec.name == "tiny" and not run.model.training
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8)
    probs = predict_proba(run, images)
    model = playground.build(run.spec)
    model.load_state_dict(runs.load_checkpoint(tmp_path / "run")["model"])
    with torch.no_grad():
        expected = torch.softmax(model.eval()(to_tensor(images, spec.data.mean, spec.data.std,
                                                        torch.device("cpu"))), 1)
    torch.testing.assert_close(probs, expected)
    assert probs.sum(1).allclose(torch.ones(4))


def test_epoch_metrics_are_the_event_with_rounded_timings():
    done = EpochDone(epoch=2, epochs=5, train_loss=0.123456789, test_loss=0.987654321, test_accuracy=0.9876,
                     seconds=1.23456, eval_seconds=0.98765, images_per_s=12345.678)
    assert done.as_metrics() == {"epoch": 2, "train_loss": 0.123456789, "test_loss": 0.987654321,
                                 "test_accuracy": 0.9876, "seconds": 1.235, "eval_seconds": 0.988,
                                 "images_per_s": 12345.7}
