"""The package's layering rule, enforced by import-linter (its contracts are in
pyproject.toml): concerns import downward only, the page's helpers never
import Streamlit, the page's tabs never import each other. The rule must
hold, and must catch an import that breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[test]')")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "playground", tmp_path / "playground", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_package_keeps_its_layers():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(("module", "line", "named"), [
    # a lower concern reaching a higher one: the layers into export, the format into the check
    ("layers/blocks.py", "from playground.export import source", "playground.layers.blocks -> playground.export"),
    ("format/spec.py", "import playground.check.analysis", "playground.format.spec -> playground.check.analysis"),
    # two concerns of one layer: export and sweeps know nothing of each other
    ("export/formats.py", "from playground.sweep import planning", "playground.export.formats -> playground.sweep"),
    # the page's helpers stay free of Streamlit, and below the page
    ("app/views.py", "import streamlit", "playground.app.views -> streamlit"),
    ("app/history.py", "from playground.page import state", "playground.app.history -> playground.page.state"),
    # the page's tabs know nothing of each other
    ("page/train.py", "from playground.page import sweep", "playground.page.train -> playground.page.sweep"),
])
def test_an_import_that_crosses_the_layers_fails_and_is_named(tmp_path, module, line, named):
    root = copy_of_the_package(tmp_path)
    target = root / "playground" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert named in result.stdout, result.stdout


def test_every_subpackage_says_what_it_holds():
    """Each subpackage's __init__ opens with a docstring naming its modules."""
    for init in sorted((ROOT / "playground").glob("*/__init__.py")):
        text = init.read_text()
        assert text.lstrip().startswith('"""'), f"{init.relative_to(ROOT)} has no docstring"
        doc = text.split('"""')[1]
        modules = sorted(p.stem for p in init.parent.glob("*.py") if p.stem not in ("__init__", "__main__"))
        missing = [m for m in modules if f"``{m}``" not in doc]
        assert not missing, f"{init.relative_to(ROOT)}'s docstring does not name {missing}"
