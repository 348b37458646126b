"""Learning-rate schedules are pure functions of the step (so resume stays
exact), checked against torch's own schedulers; and their settings' rules."""

from __future__ import annotations

import pytest
import torch

import playground
from playground import SpecError
from playground.format.spec import Train
from playground.train.engine import lr_at

STEPS, EPOCHS = 7, 5


def _torch_rates(make, total: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = make(optimizer)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("settings,make,per", [
    (dict(schedule="cosine"), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS * STEPS), "step"),
    (dict(schedule="onecycle"), lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=EPOCHS * STEPS),
     "step"),
    (dict(schedule="step", step_epochs=2, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.5), "epoch"),
    (dict(schedule="cosine", warmup_epochs=1), lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / STEPS, total_iters=STEPS - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=(EPOCHS - 1) * STEPS)], milestones=[STEPS]), "step"),
    (dict(), lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0), "step"),
], ids=["cosine", "onecycle", "step", "warmup+cosine", "constant"])
def test_schedules_are_torchs(settings, make, per):
    t = Train(epochs=EPOCHS, lr=0.1, **settings)
    ours = [lr_at(t, k, STEPS) for k in range(EPOCHS * STEPS)]
    if per == "epoch":   # StepLR steps once an epoch
        theirs = [rate for rate in _torch_rates(make, EPOCHS) for _ in range(STEPS)]
    else:
        theirs = _torch_rates(make, EPOCHS * STEPS)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("train,path,message", [
    ("{optimizer: adam, nesterov: true}", ("train", "nesterov"), "nesterov needs optimizer sgd with a momentum"),
    ("{momentum: 0.0, nesterov: true}", ("train", "nesterov"), "nesterov needs optimizer sgd with a momentum"),
    ("{epochs: 2, warmup_epochs: 3}", ("train", "warmup_epochs"),
     "warmup_epochs=3.0 is longer than the run's 2 epochs"),
    ("{label_smoothing: 1.0}", ("train", "label_smoothing"), "Input should be less than 1"),
    ("{schedule: cosin}", ("train", "schedule"), "Did you mean 'cosine'?"),
])
def test_recipe_settings_are_checked(train, path, message):
    text = f"name: r\nlayers: [{{type: flatten}}, {{type: linear, out_features: 10}}]\ntrain: {train}\n"
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    (p,) = info.value.problems
    assert p.path == path and message in p.message and p.line == 3


def test_the_recipe_is_written_to_the_resolved_spec():
    spec = playground.load_spec("name: r\nlayers: [{type: flatten}, {type: linear, out_features: 10}]\n"
                                "train: {schedule: cosine, warmup_epochs: 1, label_smoothing: 0.1}\n")
    train = spec.to_dict()["train"]
    assert (train["schedule"], train["warmup_epochs"], train["label_smoothing"], train["nesterov"]) == \
        ("cosine", 1.0, 0.1, False)


def test_the_recipe_in_words():
    from playground.core.texts import recipe

    assert recipe(Train()) == "sgd, lr 0.01, momentum 0.5, constant lr"
    assert recipe(Train(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="cosine",
                        warmup_epochs=1, label_smoothing=0.1)) == \
        "sgd, lr 0.1, momentum 0.9 (nesterov), weight decay 0.0005, cosine schedule after 1 warmup epoch, " \
        "label smoothing 0.1"
    assert recipe(Train(optimizer="adamw", schedule="step", step_epochs=3, gamma=0.5, warmup_epochs=2)) == \
        "adamw, lr 0.01, lr x0.5 every 3 epochs after 2 warmup epochs"
    assert recipe(Train(schedule="onecycle", warmup_epochs=1)) == "sgd, lr 0.01, momentum 0.5, one-cycle schedule"


def test_the_run_log_names_the_recipe(tmp_path, data_dir, capsys):
    from tinydata import TINY

    from playground.train.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.replace("epochs: 3,", "epochs: 1, schedule: cosine, label_smoothing: 0.1,"))
    assert main([str(spec), "--data-dir", str(data_dir), "--out", str(tmp_path / "run")]) == 0
    assert "recipe: sgd, lr 0.05, momentum 0.5, cosine schedule, label smoothing 0.1\n" in capsys.readouterr().err
