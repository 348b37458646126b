"""The grid sampler of a sweep: each trial takes the first point of the grid
(in the order of the ``--set`` lines) that no other trial holds.

A point is held by a trial that is done (completed or pruned), running or
waiting (a retry). Optuna's own GridSampler counts a point once it was tried,
so a point whose trial was killed and failed would never train again; here it
stays open until a trial of it is done.
"""

from __future__ import annotations

import itertools

from optuna.distributions import CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

HOLDING = (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE, TrialState.PRUNED)


class GridOrder(BaseSampler):
    def __init__(self, choices) -> None:
        self.space = {c.path: CategoricalDistribution(list(c.values)) for c in choices}
        grid = itertools.product(*(c.values for c in choices))   # the first --set line varies slowest
        self.points = [dict(zip(self.space, values, strict=True)) for values in grid]

    def infer_relative_search_space(self, study, trial) -> dict:
        return dict(self.space)

    def sample_relative(self, study, trial, search_space) -> dict:
        names = list(self.space)
        held = {tuple(t.params.get(n) for n in names) for t in study.get_trials(deepcopy=False, states=HOLDING)
                if t.number != trial.number and "duplicate" not in t.user_attrs}
        # None open happens only in a race between workers: the trial then gives way as a duplicate.
        return dict(next((p for p in self.points if tuple(p.values()) not in held), self.points[0]))

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.points[0][param_name]
