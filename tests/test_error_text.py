"""The pieces every error message is made of: paths, places, "did you mean",
rendering with and without a file and line, the one-screen limit, locating
by the nearest known line."""

from __future__ import annotations

import pytest

from playground.core.errors import MAX_SHOWN, Problem, SpecError, did_you_mean, fail, path_str


@pytest.mark.parametrize("path,text", [
    (("layers", 3, "out_channels"), "layers[3].out_channels"), (("train", "lr"), "train.lr"),
    (("layers", 0, "kernel_size", 1), "layers[0].kernel_size[1]"), ((), ""), (("input",), "input"),
])
def test_path_str(path, text):
    assert path_str(path) == text


def test_did_you_mean():
    assert did_you_mean("conv", ["conv2d", "linear"]) == " Did you mean 'conv2d'?"
    assert did_you_mean("xyz", ["conv2d", "linear"]) == ""
    assert did_you_mean("lineer", ["conv2d", "linear"]) == " Did you mean 'linear'?"


@pytest.mark.parametrize("problem,place", [
    (Problem(("layers", 7), "m", label="linear 'fc'"), "layers[7] (linear 'fc')"),
    (Problem(("layers", 7, "in_features"), "m", label="linear 'fc'"), "layers[7] (linear 'fc').in_features"),
    (Problem(("layers", 7, "in_features"), "m"), "layers[7].in_features"),
    (Problem(("train", "lr"), "m", label="ignored outside layers"), "train.lr"),
])
def test_places(problem, place):
    assert problem.place() == place


def test_layer_index():
    assert Problem(("layers", 4, "p"), "m").layer_index == 4
    assert Problem(("layers",), "m").layer_index is None
    assert Problem(("train", "lr"), "m").layer_index is None
    assert Problem(("layers", "x"), "m").layer_index is None


def test_render():
    p = Problem(("train", "lr"), "lr=-1 is negative.", "Use 0.01.", line=23)
    assert p.render("spec.yaml") == "spec.yaml:23: train.lr: lr=-1 is negative.\n  Use 0.01."
    assert p.render(None) == "line 23: train.lr: lr=-1 is negative.\n  Use 0.01."
    q = Problem((), "the spec is empty.")
    assert q.render("s.yaml") == "s.yaml: the spec is empty." and q.render(None) == "the spec is empty."


@pytest.mark.parametrize("count,tail", [(MAX_SHOWN, None), (MAX_SHOWN + 1, "... and 1 more problem."),
                                        (MAX_SHOWN + 2, "... and 2 more problems."),
                                        (MAX_SHOWN + 3, "... and 3 more problems.")])
def test_one_screen_at_most(count, tail):
    err = SpecError([Problem(("layers", i), f"problem {i}") for i in range(count)])
    lines = str(err).splitlines()
    assert lines[:MAX_SHOWN] == [f"layers[{i}]: problem {i}" for i in range(MAX_SHOWN)]
    assert (lines[MAX_SHOWN:] or [None]) == [tail]
    assert err.layer_indices == set(range(count))


def test_located_uses_the_longest_known_prefix():
    err = SpecError([Problem(("layers", 2, "kernel_size", 1), "a"), Problem(("train", "lr"), "b", line=9),
                     Problem(("nowhere",), "c")])
    lines = {("layers",): 3, ("layers", 2): 6, ("layers", 2, "kernel_size"): 7}
    located = err.located(lines, "net.yaml")
    assert [p.line for p in located.problems] == [7, 9, None]
    assert located.filename == "net.yaml" and str(located).startswith("net.yaml:7: layers[2].kernel_size[1]: a")
    assert err.located(None, None).filename is None


def test_fail_makes_one_problem():
    err = fail(("layers", 1), "bad.", "Fix it.", label="relu", line=4, reason="shape")
    (p,) = err.problems
    assert (p.path, p.message, p.fix, p.label, p.line, p.reason) == (("layers", 1), "bad.", "Fix it.", "relu", 4,
                                                                     "shape")
    assert isinstance(err, ValueError)
    assert fail((), "m").problems[0].reason == "spec"   # problems found before the check
