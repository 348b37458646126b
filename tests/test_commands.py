"""Every command keeps its spelling after the package was split by concern:
``python -m playground.NAME`` starts it, whichever subpackage holds it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

COMMANDS = {"train": "--resume RUN_DIR", "check": "SPEC", "export": "SOURCE", "sweep": "PATH=VALUES",
            "runs": "RUNS_DIR", "compare": "RUN", "evaluate": "RUN_DIR", "schema": "--out"}


@pytest.mark.parametrize("name", COMMANDS)
def test_python_dash_m_playground_name_starts_the_command(name):
    result = subprocess.run([sys.executable, "-m", f"playground.{name}", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m playground.{name}")
    assert COMMANDS[name] in result.stdout


def test_the_public_api_keeps_everything_in_its_all():
    import playground

    for name in ["Layer", "LayerRow", "PluginError", "Problem", "Registry", "Shape", "ShapeError", "Spec",
                 "SpecError", "Summary", "build", "get_registry", "load_spec", "register", "summarize"]:
        assert name in playground.__all__ and getattr(playground, name) is not None
