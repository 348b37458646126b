"""The train and evaluate commands: exit codes, messages, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT
from tinydata import TINY, write_dataset

from playground.runs import folders as runs
from playground.train.cli import main as train_main
from playground.train.evaluate import main as evaluate_main


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_train_then_evaluate(tiny, tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    assert train_main([str(tiny), "--epochs", "2", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "device: cpu" in err and "epoch 2/2: train loss" in err and "test accuracy" in err
    assert evaluate_main([str(out), "--data-dir", str(data_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(map(sum, result["confusion"])) == 80
    assert result["test_accuracy"] == pytest.approx(runs.read_metrics(out)[-1]["test_accuracy"])
    assert evaluate_main([str(out), "--data-dir", str(data_dir)]) == 0
    assert "confusion matrix" in capsys.readouterr().out


def test_spec_error_exits_2_before_any_data_is_read(tmp_path, mnist_text, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(mnist_text.replace("in_features: 320", "in_features: 300"))
    assert train_main([str(bad), "--data-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "in_features=300, but its input 20x4x4 flattens to 320" in err
    assert "MNIST" not in err and not (tmp_path / "nowhere").exists()


BAD_OPTIONS = [
    (["--lr", "0"], "train.lr: Input should be greater than 0"),
    (["--device", "gpu"], "train.device"),
    (["--no-download", "--data-dir", "{tmp}/empty"], "is not in"),
]
if not torch.cuda.is_available():
    BAD_OPTIONS.append((["--device", "cuda"], "CUDA is not available here"))


@pytest.mark.parametrize("args,message", BAD_OPTIONS)
def test_bad_options_exit_2(tiny, tmp_path, data_dir, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", str(data_dir)]
    assert train_main([str(tiny), "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_out_folder_is_never_overwritten(tiny, tmp_path, data_dir, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    assert train_main([str(tiny), "--data-dir", str(data_dir), "--out", str(tmp_path / "run")]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


def test_resume_refuses_changed_hyperparameters(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        train_main(["--resume", str(tmp_path), "--lr", "0.1"])
    assert info.value.code == 2
    assert "--resume continues a run with its own spec; only --epochs, --device and --data-dir apply" \
        in capsys.readouterr().err


def test_evaluate_refuses_data_that_does_not_fit(tiny, tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    assert train_main([str(tiny), "--epochs", "1", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    other = write_dataset(tmp_path / "data32", size=32)
    assert evaluate_main([str(out), "--data-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert "are 1x32x32, but the spec's input is 1x28x28" in err and "Traceback" not in err


def test_evaluate_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert evaluate_main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_every_stop_signal_asks_once_then_aborts(sig):
    """SIGHUP, SIGINT and SIGTERM through the one handler the train and sweep commands install
    (the end-to-end runs below send SIGINT and SIGTERM): the first asks to stop, the next aborts,
    and the previous handlers come back."""
    from playground.core.signals import stop_on_signals

    before, asked = signal.getsignal(sig), []
    with stop_on_signals(asked.append):
        os.kill(os.getpid(), sig)
        assert asked == ["Ctrl-C" if sig == signal.SIGINT else sig.name]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) is before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_ctrl_c_saves_and_resume_finishes(tiny, tmp_path, data_dir, sig):
    """Ctrl-C, and SIGTERM and SIGHUP (docker stop, Slurm, Kubernetes; a closed terminal) alike: the
    run stops at its next step with a checkpoint and status stopped, and --resume finishes it."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "playground.train", str(tiny), "--epochs", "1000", "--data-dir", str(data_dir),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "checkpoint.pt").exists():
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    assert ("Ctrl-C" if sig == signal.SIGINT else sig.name) + ": stopping after this step" in err
    info = runs.read_info(out)
    assert info["status"] == "stopped"
    done = info["epochs_done"]
    assert 1 <= done < 1000

    resume = subprocess.run([sys.executable, "-m", "playground.train", "--resume", str(out), "--epochs",
                             str(done + 2), "--data-dir", str(data_dir)], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert resume.returncode == 0, resume.stderr
    assert "resuming in" in resume.stderr
    assert runs.read_info(out)["status"] == "completed"
    assert [m["epoch"] for m in runs.read_metrics(out)] == list(range(1, done + 3))
