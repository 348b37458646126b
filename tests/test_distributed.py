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
from playground import distributed
from playground.errors import SpecError
from playground.train import main
from playground.training import RunStarted, Trainer

ARGS = ["--epochs", "1", "--device", "cpu", "--batch-size", "32"]


def _torchrun(args: list[str], tmp_path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           str(nproc), "-m", "playground.train", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def _weights(run) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def test_two_processes_train_the_weights_of_one(tmp_path, data_dir):
    spec = str(SPECS / "mnist_cnn.yaml")
    assert main([spec, *ARGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "one")]) == 0
    done = _torchrun([spec, *ARGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "two")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys() and not any(k.startswith("module.") for k in two)   # the unwrapped model
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6, msg=key)
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["world_size"] == 2 and info["backend"] == "gloo" and info["status"] == "completed"
    (m1,), (m2,) = ([json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                    for d in ("one", "two"))
    assert m2["test_accuracy"] == pytest.approx(m1["test_accuracy"], abs=1e-6)   # the sharded test pass, summed
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
