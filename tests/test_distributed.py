"""Data-parallel training under torchrun, proven on the CPU: two gloo processes
on localhost train the weights one process trains with the same global batch
and seed; only rank 0 reports and writes; the run resumes on one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import SPECS

import playground
from playground.core.errors import SpecError
from playground.train import distributed
from playground.train.cli import main
from playground.train.engine import RunStarted, Trainer

ARGS = ["--epochs", "1", "--device", "cpu", "--batch-size", "32"]


def _torchrun(args: list[str], tmp_path, nproc: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           str(nproc), "-m", "playground.train", *args], capture_output=True, text=True,
                          timeout=300, env=_environment(), cwd=tmp_path)


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _long_run(tmp_path, data_dir) -> subprocess.Popen:
    """Two processes training the tutorial spec for 200 epochs, rank 0's report readable as it comes."""
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "playground.train", str(SPECS / "mnist_cnn.yaml"), "--epochs", "200", "--device",
                             "cpu", "--batch-size", "32", "--data-dir", str(data_dir), "--out", str(tmp_path / "run")],
                            stderr=subprocess.PIPE, text=True, env=_environment(), cwd=tmp_path)


def _weights(run) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def test_two_processes_train_the_weights_of_one(tmp_path, data_dir):
    spec = str(SPECS / "mnist_cnn.yaml")
    assert main([spec, *ARGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "one")]) == 0
    done = _torchrun([spec, *ARGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "two")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys() and not any(k.startswith("module.") for k in two)   # the unwrapped model
    # Not the same bits: each rank sums the gradient of half the batch and gloo adds the two
    # halves, and the torchrun processes run one thread each, maybe other kernels than this
    # one (another CPU). Measured after this epoch, the ranks on AVX-512, AVX2 or SSE4.1
    # kernels against this process: at most 2.2e-8 (weights up to 0.2); 1e-6 leaves a 45x margin.
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6, msg=key)
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["world_size"] == 2 and info["backend"] == "gloo" and info["status"] == "completed"
    (m1,), (m2,) = ([json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                    for d in ("one", "two"))
    # the sharded test pass, summed: the same count of right answers, as no test image is near a tie
    # (smallest top-2 logit margin 8.6e-4; the two models' logits differ by at most 9e-8, the loss by 1e-7)
    assert m2["test_accuracy"] == pytest.approx(m1["test_accuracy"], abs=1e-6)
    assert m2["test_loss"] == pytest.approx(m1["test_loss"], abs=1e-5)
    assert m2["train_loss"] == pytest.approx(m1["train_loss"], abs=1e-5)
    assert done.stderr.count("device: cpu") == 1 and "2 processes (gloo)" in done.stderr   # rank 0 alone reports

    # trained on two processes, resumed on one: it continues, and says what changes
    events = list(Trainer.resume(tmp_path / "two", epochs=2, data_dir=data_dir).events())
    started = next(e for e in events if isinstance(e, RunStarted))
    assert any("trained on 2 processes and resumes on 1" in n for n in started.notes)
    assert events[-1].status == "completed" and events[-1].epoch == 2


def test_a_global_batch_that_does_not_divide_is_a_located_error(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SpecError) as err:
        Trainer(playground.load_spec(SPECS / "mnist_cnn.yaml"), out=tmp_path / "run")
    text = str(err.value)
    assert "data.batch_size" in text and "64 does not divide among 3 processes" in text and "multiple of 3" in text
    assert not (tmp_path / "run").exists()


def test_shards_cover_each_batch_once_and_evenly():
    for size in (1, 2, 3, 5):
        for n in (0, 1, 7, 64):
            parts = [distributed.shard(torch.arange(n), distributed.World(r, size, r, "gloo")) for r in range(size)]
            assert torch.equal(torch.cat(parts), torch.arange(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_ctrl_c_under_torchrun_stops_with_a_checkpoint_that_resumes(tmp_path, data_dir):
    """torchrun passes the interrupt on to every process; they stop at the same
    step, rank 0 saves the checkpoint, and the run resumes from it."""
    import signal
    import time

    proc = _long_run(tmp_path, data_dir)
    deadline = time.time() + 120
    for line in proc.stderr:   # wait until a few epochs are done
        if "epoch 3/200" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    try:
        rest = proc.communicate(timeout=90)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the processes did not stop within 90 s of Ctrl-C")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "stopped", rest[-2000:]
    assert "stopping after this step" in rest
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] >= 3
    events = list(Trainer.resume(tmp_path / "run", epochs=ckpt["epoch"] + 1, data_dir=data_dir).events())
    assert events[-1].status == "completed" and events[-1].epoch == ckpt["epoch"] + 1


def _children(pid: int) -> list[int]:
    try:
        text = open(f"/proc/{pid}/task/{pid}/children").read()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the worker processes through /proc")
def test_a_process_that_dies_ends_the_others_and_keeps_the_last_checkpoint(tmp_path, data_dir):
    import signal
    import time

    proc = _long_run(tmp_path, data_dir)
    for line in proc.stderr:
        if "epoch 2/200" in line:
            break
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[-1], signal.SIGKILL)   # one rank dies without a word
    began = time.time()
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the other process hung after one died")
    assert proc.returncode != 0 and time.time() - began < 120
    assert not any(os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().split()[2] != "Z"
                   for w in workers)   # no process left behind
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)   # the last complete one
    assert ckpt["epoch"] >= 2 and ckpt["step"] == 0
