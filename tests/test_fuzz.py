"""Random structural edits of every shipped spec: a node replaced by a value
of another type, a key deleted or renamed, a list item duplicated, a subtree
copied elsewhere, a layer or branch renamed. Whatever the edits, reading and
checking the spec either succeeds, and then the model builds with the
parameters the check counted, or raises SpecError with at most one screen of
text: never another exception.

CI runs the derandomized default profile (300 edited specs, and 10 per spec
from a fixed seed: a few seconds); `HYPOTHESIS_PROFILE=long` runs 5,000."""

from __future__ import annotations

import copy
import functools
import random
from typing import Any

import pytest
import torch
import yaml
from conftest import SAMPLED_SPECS
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import playground
from playground import SpecError

SPEC_PATHS = SAMPLED_SPECS
NOT_BUILT = {"alexnet", "googlenet", "resnet18", "mobilenet_v2"}   # the zoo: built on the meta device only
MAX_BUILT_PARAMS = 2_000_000
MAX_LINES = 40   # one screen

VALUES: tuple[Any, ...] = (
    0, 1, -1, 2, 3, -7, 64, 2**31, 10**12, 10**30, -(10**30),
    0.0, -0.5, 1.5, 1e308, float("inf"), float("nan"),
    "", "foo", "a.b", "$w", "$width", "$nope", "relu", "use", "sequential", "identity", "projection", "same",
    "x" * 200, "é", "forward", "keys", "$width // 0", "$width * (", "$width * 2", "$index", "$times / 0.5",
    True, False, None,
    [], [1], [1, 2], ["a"], [{}], [None], [{"type": "relu"}], [[1]],
    {}, {"a": 1}, {"type": "relu"}, {"type": "use"}, {"type": "use", "block": "x"}, {"3": {}}, {1: 2},
)
NAMES = ("forward", "keys", "training", "spec_name", "__init__", "a.b", "", "1", "a b", "é", "x" * 70, "fine")
KEYS = ("", "a.b", "forward", "keys", "1", "type", "name", "layers", "blocks", "with", "first", "times", "params",
        "body", "branches", "default", "block", "lr", "3", "é", "x" * 70)


@functools.cache
def _parsed(path) -> Any:
    return yaml.safe_load(path.read_text())


def _nodes(data: Any, path: tuple = ()) -> list[tuple]:
    """The path of every node under ``data`` (dict values and list items), ``data`` itself first."""
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, (*path, i))
    return out


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _pick(rng: random.Random, paths: list[tuple]) -> tuple:
    """A node: half the time any node, else one at a depth chosen first (so the
    few top-level sections are hit as often as the many fields of layers)."""
    if rng.random() < 0.5:
        return rng.choice(paths)
    depth = rng.randint(0, max(len(p) for p in paths))
    return rng.choice([p for p in paths if len(p) == depth] or paths)


def _value(rng: random.Random, data: Any) -> Any:
    if rng.random() < 0.15:   # a piece of the spec itself, somewhere it was not
        return copy.deepcopy(_get(data, rng.choice(_nodes(data))))
    return copy.deepcopy(rng.choice(VALUES))


def edit(rng: random.Random, data: Any) -> tuple[Any, str]:
    """``data`` with one random structural edit, and what it was."""
    paths = _nodes(data)
    kind = rng.choice(("replace", "replace", "delete", "duplicate", "rename", "name"))
    if kind == "name":   # what becomes a module's name: a layer's, a use's, a branch's
        named = [p for p in paths if isinstance(_get(data, p), dict)
                 and ("type" in _get(data, p) or p[-1:] == ("branches",))]
        if named:
            path = rng.choice(named)
            node = _get(data, path)
            taken = [v["name"] for v in map(functools.partial(_get, data), paths)
                     if isinstance(v, dict) and isinstance(v.get("name"), str)]
            name = rng.choice((*NAMES, *taken))
            if "type" in node:
                node["name"] = name
                return data, f"name {path} {name!r}"
            if node:
                key = rng.choice(list(node))
                node[name] = node.pop(key)
                return data, f"rename branch {(*path, key)} to {name!r}"
    if kind == "delete" or kind == "rename":
        keyed = [p for p in paths if p and isinstance(_get(data, p[:-1]), dict)]
        if keyed:
            path = _pick(rng, keyed)
            parent = _get(data, path[:-1])
            value = parent.pop(path[-1])
            if kind == "delete":
                return data, f"delete {path}"
            key = rng.choice((*KEYS, *(k for k in parent if isinstance(k, str)), str(path[-1]) + "s", 7))
            parent[key] = value
            return data, f"rename {path} to {key!r}"
    if kind == "duplicate":
        items = [p for p in paths if p and isinstance(_get(data, p[:-1]), list)]
        if items:
            path = _pick(rng, items)
            parent = _get(data, path[:-1])
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
            return data, f"duplicate {path}"
    path = _pick(rng, paths)
    value = _value(rng, data)
    if not path:
        return value, f"replace the document by {value!r}"
    _get(data, path[:-1])[path[-1]] = value
    return data, f"replace {path} by {value!r}"[:300]


def check_edited(path, rng: random.Random, tell=note) -> str:
    """Edit a shipped spec one to three times and read it; 'ok' or 'refused'."""
    data = copy.deepcopy(_parsed(path))
    for _ in range(rng.randint(1, 3)):
        data, what = edit(rng, data)
        tell(what)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        spec, summary = playground.load_checked(text)   # read_spec, then analyze
    except SpecError as err:
        shown = str(err)
        assert len(shown.splitlines()) <= MAX_LINES, shown
        assert shown.strip(), "an empty message"
        return "refused"
    with torch.device("meta"):   # no memory, no init: cheap for the zoo too
        model = playground.build(spec, summary)
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    if path.stem not in NOT_BUILT and summary.total_params <= MAX_BUILT_PARAMS:
        playground.build(spec, summary)
    return "ok"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SPEC_PATHS), st.randoms(use_true_random=False))
def test_an_edited_spec_loads_or_is_refused_with_a_spec_error(path, rng):
    note(f"spec: {path.name}")
    check_edited(path, rng)


@pytest.mark.parametrize("path", SPEC_PATHS, ids=lambda p: p.stem)
def test_every_shipped_spec_survives_edits_of_its_own(path):
    """A fixed seed per spec: every file gets edits, whatever hypothesis draws."""
    rng = random.Random(f"fuzz {path.stem}")
    outcomes = {check_edited(path, rng, tell=lambda what: None) for _ in range(10)}
    assert outcomes <= {"ok", "refused"}
