"""python -m playground.sweep SPEC --set PATH=VALUES ...: variants of a spec,
trained as ordinary runs, searched on Optuna.

    python -m playground.sweep specs/mnist_cnn.yaml --set train.lr=[0.01,0.05] \\
        --set layers.conv1.out_channels=[10,20] --epochs 2

``PATH`` names a spec field: ``train.lr``, ``data.batch_size``,
``layers.conv1.out_channels`` (a layer by its name), deeper through blocks by
names too (``blocks.basic.layers.conv1.kernel_size``, ``layers.layer2.with.width``).
``VALUES`` is a YAML list, or for the random and TPE samplers a range:
``loguniform(1e-4, 1e-1)``, ``uniform(0, 0.5)``, ``int(8, 64)``.

Optuna's study holds the state (a SQLite file in the sweep folder, or any
Optuna storage URL shared by workers on several machines, each started with
the same command). Every trial is a run folder ``trial-NNN`` in the sweep
folder; a candidate the static check refuses is recorded with its message
and trains nothing; weak trials are pruned after an epoch (median pruner).
The sweep folder ends with ``summary.txt`` (best first) and ``best.yaml``.

A sweep may be killed any number of times: the same command fails the trials
of workers that are gone (at once on this machine, after the heartbeat's grace
period elsewhere) and tries each again from its checkpoint, in its own run
folder, until every point is done once.

``planning`` reads the ``--set`` lines into a Plan; ``study`` runs it on Optuna
(``run``, ``trial_rows``, ``write_summary``); ``grid`` is the grid sampler (a
point stays open until a trial of it is done); ``cli`` is the command.
"""

from playground.sweep.planning import SAMPLERS, Choice, Plan, SweepError, candidate, parse_set, plan
from playground.sweep.study import Stopped, TrialRow, open_study, run, trial_rows, write_summary

__all__ = ["SAMPLERS", "Choice", "Plan", "Stopped", "SweepError", "TrialRow", "candidate", "open_study", "parse_set",
           "plan", "run", "trial_rows", "write_summary"]
