"""Sweeps on Optuna, on the tiny generated MNIST: a 2x2 grid gives four run
folders and a summary whose best row is the best accuracy; a value the check
refuses trains nothing; paths name fields (did you mean); two workers share
one SQLite study and run every trial once; a sweep killed any number of
times and started again ends with every point once, where an uninterrupted
one ends."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tinydata import TINY

import playground
from playground.runs import folders as runs
from playground.sweep.cli import main

NAMED = TINY.replace("- {type: conv2d,", "- {type: conv2d, name: conv,")
GRID = ["--set", "train.lr=[0.01, 0.1]", "--set", "layers.conv.out_channels=[2, 4]", "--epochs", "1"]


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(NAMED)
    return path


def _trials(summary: str) -> list[tuple[str, ...]]:
    return [tuple(line.split()) for line in summary.splitlines()[2:] if re.match(r"^\d+\s", line)]


def test_a_grid_gives_a_run_per_point_and_the_best_first(spec_file, tmp_path, data_dir, capsys):
    out = tmp_path / "sweep"
    assert main([str(spec_file), *GRID, "--data-dir", str(data_dir), "--out", str(out)]) == 0
    trials = sorted(p.name for p in out.glob("trial-*"))
    assert trials == ["trial-000", "trial-001", "trial-002", "trial-003"]
    summary = (out / "summary.txt").read_text()
    rows = _trials(summary)
    assert {(r[3], r[4]) for r in rows} == {("0.01", "2"), ("0.01", "4"), ("0.1", "2"), ("0.1", "4")}
    accuracies = [runs.read_info(out / Path(r[-1]).name)["test_accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)           # best first
    assert float(rows[0][2].rstrip("%")) == pytest.approx(100 * accuracies[0], abs=0.01)
    best = playground.load_spec(out / "best.yaml")                   # a spec file, ready to train
    assert (best.train.lr, best.layers[0].out_channels) == (float(rows[0][3]), int(rows[0][4]))
    err = capsys.readouterr().err
    assert err.count("test accuracy") >= 4 and "(4/4)" in err      # a line per trial as it ends


def test_a_value_the_check_refuses_trains_nothing(spec_file, tmp_path, data_dir):
    out = tmp_path / "sweep"
    assert main([str(spec_file), "--set", "layers.conv.kernel_size=[5, 40]", "--epochs", "1", "--data-dir",
                 str(data_dir), "--out", str(out)]) == 0
    summary = (out / "summary.txt").read_text()
    assert "refused" in summary and "kernel_size" in summary and "does not fit" in summary
    assert len(list(out.glob("trial-*"))) == 1                      # only kernel 5 trained


@pytest.mark.parametrize("setting,message", [
    ("layers.convv.out_channels=[2]", "no layer named 'convv'. Did you mean 'conv'?"),
    ("train.lrr=[0.1]", "unknown key 'lrr'"),
    ("train.lr=0.1", "VALUES is a YAML list"),
    ("train.lr=loguniform(0, 1)", "low > 0"),
    ("train.lr=[0.01, 0.1]|--trials|3|--sampler|random", "make 2 distinct points"),
    ("train.lr=[!!binary aGVsbG8=]", "YAML tags such as !!binary are not allowed"),
    ("train.lr=[&a [*a]]", "Write the values out instead of using anchors and aliases"),
])
def test_a_bad_set_is_a_clear_error(spec_file, tmp_path, capsys, setting, message):
    setting, *more = setting.split("|")   # the --set line, then other options
    assert main([str(spec_file), "--set", setting, *more, "--out", str(tmp_path / "s")]) == 2
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "s").glob("trial-*")) if (tmp_path / "s").exists() else True


def _sweep_process(spec_file, out, data_dir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "playground.sweep", str(spec_file), *GRID, "--data-dir",
                             str(data_dir), "--out", str(out)], stderr=subprocess.PIPE, text=True)


def optuna_trials(out: Path) -> list:
    import optuna

    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{(out / 'study.db').resolve()}").get_trials()


def _finished(out: Path) -> list[tuple[str, str]]:
    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{(out / 'study.db').resolve()}")
    return sorted((str(t.params["train.lr"]), str(t.params["layers.conv.out_channels"]))
                  for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE")


def test_two_workers_share_one_study_and_run_each_trial_once(spec_file, tmp_path, data_dir):
    out = tmp_path / "sweep"
    workers = [_sweep_process(spec_file, out, data_dir) for _ in range(2)]
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read()[-2000:]
    done = _finished(out)
    assert done == [("0.01", "2"), ("0.01", "4"), ("0.1", "2"), ("0.1", "4")]   # every point, once
    assert len(list(out.glob("trial-*"))) == 4


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """kill -9 the sweep the moment ``ready()`` holds (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def _epochs(run: Path) -> int:
    try:
        return len((run / runs.METRICS_FILE).read_text().splitlines())
    except OSError:
        return 0


def _started_by(run: Path, process: subprocess.Popen) -> bool:
    try:
        return runs.read_info(run)["pid"] == process.pid
    except (runs.RunError, OSError, KeyError):
        return False


def test_any_number_of_kills_and_the_same_command_trains_every_point_once_from_its_checkpoint(
        spec_file, tmp_path, data_dir, capsys):
    grid = ["--set", "train.lr=[0.01, 0.02, 0.03, 0.05]", "--epochs", "2", "--data-dir", str(data_dir)]
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "playground.sweep", str(spec_file), *grid, "--out", str(out)]
    first, second = out / "trial-000", out / "trial-001"
    moments = [lambda p: _epochs(first) == 1,                        # the first point after its first epoch
               lambda p: _started_by(first, p),                      # the same point again, resumed
               lambda p: _started_by(second, p)]                     # the next point before any checkpoint
    for moment in moments:   # started again at once each time: no waiting out a heartbeat
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        _kill_when(process, lambda: moment(process))  # noqa: B023
    again = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = _trials((out / "summary.txt").read_text())
    assert sorted(r[3] for r in rows) == ["0.01", "0.02", "0.03", "0.05"]            # every point, once
    assert {r[1] for r in rows} <= {"complete", "pruned"}
    assert sorted(p.name for p in out.glob("trial-*")) == [f"trial-00{n}" for n in range(4)]   # none trained twice
    # each point ends exactly where an uninterrupted sweep's does
    alone = tmp_path / "alone"
    assert main([str(spec_file), *grid, "--out", str(alone)]) == 0
    expected = {r[3]: (r[1], r[2]) for r in _trials((alone / "summary.txt").read_text())}
    assert {r[3]: (r[1], r[2]) for r in rows} == expected
    losses = lambda run: [(m["epoch"], m["train_loss"], m["test_loss"]) for m in runs.read_metrics(run)]  # noqa: E731
    assert losses(first) == losses(alone / "trial-000") and losses(second) == losses(alone / "trial-001")


KILLED_AT_TRIAL_START = """
import os, signal, sys
from playground.sweep import cli, study

def killed(self, trial):   # kill -9 as the trial starts: before its worker names itself on it
    os.kill(os.getpid(), signal.SIGKILL)

study.Objective.__call__ = killed
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_trial_killed_as_it_started_is_tried_again_not_waited_for(spec_file, tmp_path, data_dir):
    from playground.sweep import study

    out = tmp_path / "sweep"
    args = [str(spec_file), "--set", "train.lr=[0.01, 0.1]", "--epochs", "1", "--data-dir", str(data_dir),
            "--out", str(out)]
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_TRIAL_START, *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    (orphan,) = optuna_trials(out)
    assert orphan.state.name == "RUNNING" and study.WORKER not in orphan.user_attrs   # no heartbeat, no worker
    sooner = "import sys; from playground.sweep import cli, study; study.ORPHAN_AFTER = 1.0; sys.exit(cli.main())"
    again = subprocess.run([sys.executable, "-c", sooner, *args], capture_output=True, text=True,
                           timeout=120)   # (it waited for trial 0 for good; 1 s, not 10, to be an orphan)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(r[3] for r in _trials((out / "summary.txt").read_text())) == ["0.01", "0.1"]
    assert optuna_trials(out)[0].state.name == "FAIL"                           # failed, and tried again


def test_a_diverging_value_is_recorded_and_the_sweep_goes_on(registry, tmp_path, data_dir, capsys):
    from test_training import NanAfter

    registry.register(NanAfter)   # NaN from its Nth call on: a value that makes training diverge
    spec_file = tmp_path / "nan.yaml"
    spec_file.write_text(NAMED.replace("  - {type: relu}\n", "  - {type: nan_after, name: bad, calls: 1000}\n"))
    out = tmp_path / "sweep"
    assert main([str(spec_file), "--set", "layers.bad.calls=[3, 1000]", "--epochs", "1", "--data-dir",
                 str(data_dir), "--out", str(out)]) == 0
    summary = (out / "summary.txt").read_text()
    assert [(r[1], r[3]) for r in _trials(summary)] == [("complete", "1000"), ("diverged", "3")]
    assert "NaN or infinite in epoch 1" in summary
    assert "diverged (loss not finite)" in capsys.readouterr().err
    assert playground.load_spec(out / "best.yaml").layers[1].calls == 1000


def test_numbers_in_exponent_form_are_numbers():
    from playground.sweep.planning import parse_set

    assert parse_set("train.lr=[1e-3, 0.1, 5E2]").values == (0.001, 0.1, 500.0)   # YAML 1.1 reads 1e-3 as text


def test_a_study_refuses_to_continue_from_another_spec(spec_file, tmp_path, data_dir, capsys):
    out = tmp_path / "sweep"
    args = ["--set", "train.lr=[0.01]", "--epochs", "1", "--data-dir", str(data_dir), "--out", str(out)]
    assert main([str(spec_file), *args]) == 0
    spec_file.write_text(NAMED.replace("out_features: 10", "out_features: 10, bias: false"))
    capsys.readouterr()
    assert main([str(spec_file), *args]) == 2
    err = capsys.readouterr().err
    assert "was started from another spec" in err and "bias" in err and "--study" in err
    assert len(list(out.glob("trial-*"))) == 1


def test_a_stopped_sweep_continues_the_interrupted_trial_from_its_checkpoint(spec_file, tmp_path, data_dir):
    import yaml

    from playground import sweep
    from playground.train.engine import EpochDone, RunStarted

    grid = ["train.lr=[0.01, 0.1]", "layers.conv.out_channels=[2, 4]"]
    plan = sweep.plan(yaml.safe_load(NAMED), grid, epochs=2, data_dir=str(data_dir), out=tmp_path / "sweep")
    epochs_seen = []
    with pytest.raises(sweep.Stopped):   # stop the second trial after its first epoch
        sweep.run(plan, on_event=lambda number, values, event: epochs_seen.append(number)
                  if isinstance(event, EpochDone) else None,
                  should_stop=lambda: len(epochs_seen) == 3)
    (interrupted,) = [r for r in sweep.trial_rows(sweep.open_study(plan)) if r.status == "interrupted"]
    assert runs.read_info(Path(interrupted.run))["status"] == "stopped"   # its checkpoint kept
    assert len(runs.read_metrics(Path(interrupted.run))) == 1
    summary = sweep.write_summary(sweep.open_study(plan), plan.doc, plan.folder)
    (row,) = [r for r in _trials(summary) if r[1] == "interrupted"]
    assert row[2] == "—"                      # its first epoch's accuracy is not shown as if it were final
    starts = {}
    rows = sweep.trial_rows(sweep.run(plan, on_event=lambda number, values, event: starts.setdefault(
        number, event.start_epoch) if isinstance(event, RunStarted) else None))
    point = lambda r: (r.params["train.lr"], r.params["layers.conv.out_channels"])  # noqa: E731
    assert sorted(map(point, rows)) == [(0.01, 2), (0.01, 4), (0.1, 2), (0.1, 4)]   # every point once, none lost
    assert {r.status for r in rows} <= {"complete", "pruned"} and interrupted.number not in {r.number for r in rows}
    resumed = next(r for r in rows if point(r) == point(interrupted))
    assert resumed.status == "complete" and resumed.run == interrupted.run                    # in its own folder
    assert starts[resumed.number] == 2                                       # from the checkpoint: epoch 2 on
    assert len(list((tmp_path / "sweep").glob("trial-*"))) == 4
    # going on from the checkpoint ends exactly where one uninterrupted run of that point does
    from playground.format.loader import with_overrides
    from playground.train.engine import train

    alone = with_overrides(playground.load_spec(sweep.candidate(yaml.safe_load(NAMED), resumed.params)), epochs=2)
    train(alone, out=tmp_path / "alone", data_dir=data_dir)
    losses = lambda run: [(m["epoch"], m["train_loss"], m["test_loss"]) for m in runs.read_metrics(Path(run))]  # noqa: E731
    assert losses(resumed.run) == losses(tmp_path / "alone")
    assert resumed.accuracy == runs.read_info(tmp_path / "alone")["test_accuracy"]


@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=lambda s: s.name)   # SIGINT: the same handler (test_cli_train)
def test_ctrl_c_stops_a_sweep_cleanly_and_the_same_command_continues_it(spec_file, tmp_path, data_dir, sig):
    out = tmp_path / "sweep"
    first = _sweep_process(spec_file, out, data_dir)
    for line in first.stderr:
        if line.startswith("trial "):   # one trial finished, the next one is training
            break
    first.send_signal(sig)
    assert first.wait(timeout=60) == 130
    err = first.stderr.read()
    assert "the same command continues the sweep" in err and "Traceback" not in err
    again = _sweep_process(spec_file, out, data_dir)
    assert again.wait(timeout=300) == 0, again.stderr.read()[-2000:]
    assert _finished(out) == [("0.01", "2"), ("0.01", "4"), ("0.1", "2"), ("0.1", "4")]
    statuses = [r[1] for r in _trials((out / "summary.txt").read_text())]
    assert statuses == ["complete"] * 4    # the interrupted trial trained again and is not listed


def test_missing_data_stops_the_sweep_with_the_fix_and_loses_no_point(spec_file, tmp_path, data_dir, capsys):
    out = tmp_path / "sweep"
    sets = ["--set", "train.lr=[0.01, 0.1]", "--set", "layers.conv.out_channels=[4]", "--epochs", "1"]
    assert main([str(spec_file), *sets, "--data-dir", str(tmp_path / "nothing"), "--no-download",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "the same command continues it" in err and "Traceback" not in err
    assert not (tmp_path / "nothing").exists()                       # nothing downloaded
    assert main([str(spec_file), *sets, "--data-dir", str(data_dir), "--no-download", "--out", str(out)]) == 0
    rows = _trials((out / "summary.txt").read_text())
    assert sorted((r[1], r[3]) for r in rows) == [("complete", "0.01"), ("complete", "0.1")]   # none lost
