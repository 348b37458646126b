"""Shared fixtures. Plugin discovery is switched off for every test: the
process registry holds exactly the built-in layers, registered directly, so no
test depends on which plugins happen to be installed. Tests that need more
register mock plugins on the ``registry`` fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from playground.layers import BUILTINS
from playground.layers.registry import Registry, set_registry

# Property tests: CI runs a fixed, derandomized set of examples (a failure there
# is reproducible); `make test-long` (HYPOTHESIS_PROFILE=long) explores many more.
settings.register_profile("ci", max_examples=300, derandomize=True, print_blob=True)
settings.register_profile("long", max_examples=5000, print_blob=True)
settings.register_profile("mutants", max_examples=100, derandomize=True)   # `make mutants`: each mutant, quickly
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Every test, and every process a test starts, runs as on a CPU without bfloat16 arithmetic
# (float32 training, as the exactness tests against hand-written loops assume), whatever
# this machine's CPU; the tests of bfloat16 training turn the switch on themselves.
os.environ["PLAYGROUND_CPU_BF16"] = "0"

# `make test` runs the suite in parallel (pytest-xdist, a test file per worker): each
# worker's torch gets its share of the cores, and so do the processes its tests start,
# rather than every worker's threads on every core (they wait on one another there).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("OMP_NUM_THREADS", _threads)
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
ZOO = SPECS / "zoo"
# Every shipped spec: the examples and the zoo (torchvision's families).
# `make test-long`: the slow halves of tests that CI runs in part (every zoo file's outputs).
LONG = os.environ.get("PLAYGROUND_LONG") == "1"
SHIPPED_SPECS = sorted(SPECS.glob("*.yaml")) + sorted(ZOO.glob("*.yaml"))
# The examples and the first five zoo specs: what the slower per-spec tests (every export
# format, fuzzed edits) go through; tests/test_zoo.py judges the whole zoo.
SAMPLED_SPECS = sorted(SPECS.glob("*.yaml")) + [ZOO / f"{n}.yaml" for n in
                                                ("alexnet", "efficientnet_b0", "googlenet", "mobilenet_v2", "resnet18")]


def builtin_registry() -> Registry:
    registry = Registry()
    for cls in BUILTINS:
        registry.register(cls, source="builtins (test)")
    return registry


_BUILTINS_ONLY = builtin_registry()


@pytest.fixture(autouse=True)
def _discovery_off():
    old = set_registry(_BUILTINS_ONLY)
    yield
    set_registry(old)


@pytest.fixture(autouse=True)
def _cache_in_temp(tmp_path_factory, monkeypatch):
    """Decoded image folders go to a temporary cache, never the user's."""
    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def registry():
    """A fresh built-ins registry installed as the process registry; mutate freely."""
    fresh = builtin_registry()
    old = set_registry(fresh)
    yield fresh
    set_registry(old)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A tiny MNIST in torchvision's layout, written once; tests only read it."""
    from tinydata import write_dataset

    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def spec():
    """The tiny training spec (tinydata.TINY), loaded."""
    from tinydata import TINY

    import playground

    return playground.load_spec(TINY)


@pytest.fixture
def mnist_text() -> str:
    return (SPECS / "mnist_cnn.yaml").read_text()


def module_name(path, spec) -> str:
    """The module attribute path of a spec path: a layer's name where given, else
    its position; a sequential is its list of layers, so its `layers` adds nothing."""
    parts, node = [], spec
    for part in path:
        node = node[part] if isinstance(part, int) or isinstance(node, dict) else getattr(node, part)
        if isinstance(part, int):
            parts.append(getattr(node, "name", None) or str(part))
        elif part != "layers":
            parts.append(part)
    return ".".join(parts)


def layer_spec(*layers: str, name: str = "layers", size: int = 8) -> str:
    """A spec of ``layers`` (one flow-style YAML mapping each) on a 3 x size x size input, without a
    dataset; its first layer is on line 5."""
    lines = "\n".join(f"  - {line}" for line in layers)
    return (f"name: {name}\ninput: {{channels: 3, height: {size}, width: {size}}}\ndata: {{dataset: none}}\n"
            f"layers:\n{lines}\n")


def only_problem(text: str):
    """The one located Problem the check finds in a spec's text."""
    from playground.check.analysis import load_checked
    from playground.core.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_checked(text)
    (problem,) = info.value.problems
    return problem


def assert_located(text: str, path: tuple, words: list[str]):
    """The spec's one problem is at ``path``, on the line of the layer ``path`` names (layer_spec's
    lines), and says every one of ``words`` in its message or fix."""
    problem = only_problem(text)
    assert problem.path == path, problem
    said = f"{problem.message} {problem.fix}"
    for word in words:
        assert word in said, said
    assert problem.line == 5 + path[1]
    return problem
