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
from playground.format.loader import with_overrides
from playground.runs import folders as runs
from playground.train.engine import EpochDone, RunEnded, RunStarted, StepDone, Trainer, evaluate, train


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
    from playground.train.inference import evaluate_run, load_run

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


def test_run_json_is_a_run_info_through_and_through(spec, tmp_path, data_dir):
    """What the trainer writes is RunInfo's layout: read back, it writes the same file."""
    trainer = Trainer(spec, out=tmp_path / "run", data_dir=data_dir, download=False, progress_every=1)
    events = trainer.events()
    next(events)
    running = runs.read_info(tmp_path / "run")
    assert runs.read_run_info(tmp_path / "run").to_json() == running and "seconds" not in running
    for event in events:
        if isinstance(event, StepDone) and (event.epoch, event.step) == (1, 4):
            trainer.stop()
    info = runs.read_run_info(tmp_path / "run")
    assert info.to_json() == runs.read_info(tmp_path / "run") and info.damaged == ()
    assert (info.status, info.epochs_done, info.epochs_trained, info.world_size) == ("stopped", 0, 0.4, 1)


def test_a_resumed_run_adds_its_time_to_the_earlier_time(spec, tmp_path, data_dir):
    train(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    first = runs.read_info(tmp_path / "run")["seconds"]
    list(Trainer.resume(tmp_path / "run", epochs=2, data_dir=data_dir, download=False).events())
    info = runs.read_info(tmp_path / "run")
    assert info["seconds"] > first and info["epochs_done"] == 2


def test_a_loaded_run_predicts_like_its_model(spec, tmp_path, data_dir):
    from playground.train.data import to_tensor
    from playground.train.inference import load_run, predict_proba

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


def test_run_json_says_running_from_the_first_event(spec, tmp_path, data_dir):
    trainer = Trainer(with_overrides(spec, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    events = trainer.events()
    started = next(events)
    assert isinstance(started, RunStarted) and started.run_dir == tmp_path / "run"
    info = runs.read_info(tmp_path / "run")
    assert {k: info[k] for k in ("spec", "status", "epochs", "epochs_done", "epochs_trained", "test_accuracy")} == {
        "spec": "tiny", "status": "running", "epochs": 1, "epochs_done": 0, "epochs_trained": 0.0,
        "test_accuracy": None}
    assert info["params"] == started.params and info["data_root"] == str(data_dir)
    done = next(e for e in events if isinstance(e, EpochDone))
    info = runs.read_info(tmp_path / "run")   # brought up to date after every epoch
    assert (info["status"], info["epochs_done"], info["test_accuracy"]) == ("running", 1, done.test_accuracy)
    events.close()
    info = runs.read_info(tmp_path / "run")
    assert info["status"] == "interrupted"   # abandoned mid-way, never left "running"
    from datetime import datetime

    assert datetime.fromisoformat(info["updated"]) >= datetime.fromisoformat(info["started"])


def test_a_resumed_run_json_starts_where_the_stop_left_it(spec, tmp_path, data_dir):
    trainer = Trainer(spec, out=tmp_path / "run", data_dir=data_dir, download=False, progress_every=1)
    for event in trainer.events():
        if isinstance(event, StepDone) and (event.epoch, event.step) == (2, 3):
            trainer.stop()
    accuracy = runs.read_info(tmp_path / "run")["test_accuracy"]
    events = Trainer.resume(tmp_path / "run", data_dir=data_dir, download=False).events()
    next(events)
    info = runs.read_info(tmp_path / "run")
    assert (info["status"], info["epochs_done"], info["epochs_trained"], info["test_accuracy"]) == (
        "running", 1, 1.3, accuracy)
    events.close()


@pytest.fixture
def frozen_clock(monkeypatch):
    """No time passes in the engine: recorded seconds are exactly the earlier ones."""
    import playground.train.engine as training

    monkeypatch.setattr(training.time, "perf_counter", lambda: 100.0)


def test_wall_seconds_add_up_across_resumes(spec, tmp_path, data_dir, frozen_clock):
    run_dir = tmp_path / "run"
    events = []
    train(with_overrides(spec, epochs=1), events.append, out=run_dir, data_dir=data_dir, download=False)
    assert runs.read_info(run_dir)["seconds"] == 0.0
    (done,) = [e for e in events if isinstance(e, EpochDone)]
    assert done.images_per_s == 320 / 1e-9   # every image seen counts; a clock standing still counts as 1 ns
    assert (done.seconds, done.eval_seconds) == (0.0, 0.0)
    last_step = [e for e in events if isinstance(e, StepDone)][-1]
    assert last_step.images_per_s == 320 / 1e-9
    runs.write_info(run_dir, {**runs.read_info(run_dir), "seconds": 1.23456})
    ended = Trainer.resume(run_dir, epochs=2, data_dir=data_dir, download=False)
    assert [e for e in ended.events() if isinstance(e, RunEnded)][0].seconds == 1.23
    info = runs.read_info(run_dir)
    del info["seconds"]   # a run folder written before seconds were recorded
    runs.write_info(run_dir, info)
    list(Trainer.resume(run_dir, epochs=3, data_dir=data_dir, download=False).events())
    assert runs.read_info(run_dir)["seconds"] == 0.0


def test_progress_comes_every_20_steps_by_default(spec, tmp_path, data_dir):
    events = []
    train(with_overrides(spec, epochs=1, batch_size=8), events.append, out=tmp_path / "run", data_dir=data_dir,
          download=False)
    assert [e.step for e in events if isinstance(e, StepDone)] == [20, 40]


def test_the_amp_switch_and_the_download_default_reach_what_they_control(spec, tmp_path, data_dir, monkeypatch):
    import torchvision.datasets as tvd
    from tinydata import write_dataset

    from playground.train import devices

    asked, real = [], devices.resolve
    monkeypatch.setattr(devices, "resolve", lambda name, amp, **more: asked.append(amp) or real(name, amp=amp, **more))
    monkeypatch.setattr(tvd.MNIST, "download", lambda self: write_dataset(type(tmp_path)(self.root)))
    one = with_overrides(spec, epochs=1)
    train(one, out=tmp_path / "a", data_dir=tmp_path / "fresh")   # nothing there yet: downloaded by default
    train(one, out=tmp_path / "b", data_dir=data_dir, amp=False)
    assert asked == [True, False]


def test_a_run_without_out_gets_a_folder_named_after_the_spec(spec, tmp_path, data_dir):
    ended = train(with_overrides(spec, epochs=1), runs_base=tmp_path / "runs", data_dir=data_dir, download=False)
    assert ended.run_dir.parent == tmp_path / "runs" and ended.run_dir.name.startswith("tiny-")


def test_a_checkpoint_written_on_cuda_resumes_on_the_cpu(spec, tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *a: pytest.fail("a CPU run touched the CUDA RNG"))
    run_dir = tmp_path / "run"
    train(with_overrides(spec, epochs=1), out=run_dir, data_dir=data_dir, download=False)
    ckpt = runs.load_checkpoint(run_dir)
    runs.save_checkpoint(run_dir, {**ckpt, "rng_cuda": torch.zeros(16, dtype=torch.uint8)})   # as CUDA writes it
    ended = list(Trainer.resume(run_dir, epochs=2, data_dir=data_dir, download=False).events())[-1]
    assert ended.status == "completed" and ended.epoch == 2


def test_on_the_cpu_the_model_trains_in_channels_last_memory(spec, tmp_path, data_dir):
    two_convs = playground.load_spec(TINY.replace(
        "  - {type: relu}\n", "  - {type: relu}\n  - {type: conv2d, out_channels: 6, kernel_size: 3}\n"))
    train(with_overrides(two_convs, epochs=1), out=tmp_path / "run", data_dir=data_dir, download=False)
    weight = runs.load_checkpoint(tmp_path / "run")["model"]["2.weight"]   # 6 x 4 x 3 x 3
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_evaluation_runs_in_the_autocast_dtype_it_is_given():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x, y = torch.randn(23, 3, 4), torch.randint(0, 5, (23,))
    loss, _ = evaluate(model, x, y, batch_size=23, amp_dtype=torch.float16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        expected = F.cross_entropy(model(x).float(), y).item()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        other = F.cross_entropy(model(x).float(), y).item()
    assert loss == pytest.approx(expected, rel=1e-6) and loss != pytest.approx(other, rel=1e-6)


def test_run_json_counts_a_partial_epoch_to_two_decimals(spec, tmp_path, data_dir):
    thirds = with_overrides(spec, epochs=1, batch_size=112)   # 320 images: 3 steps per epoch
    trainer = Trainer(thirds, out=tmp_path / "run", data_dir=data_dir, download=False, progress_every=1)
    for event in trainer.events():
        if isinstance(event, StepDone) and event.step == 1:
            trainer.stop()
    assert runs.read_info(tmp_path / "run")["epochs_trained"] == 0.33
    events = Trainer.resume(tmp_path / "run", data_dir=data_dir, download=False).events()
    next(events)
    assert runs.read_info(tmp_path / "run")["epochs_trained"] == 0.33
    events.close()
