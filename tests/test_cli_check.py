"""python -m playground.check: the table on success (golden file), the located
error and exit status 2 on failure, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS

from playground.check import main

GOLDEN = ROOT / "tests" / "golden"


def test_table_matches_golden_file(capsys):
    assert main([str(SPECS / "mnist_cnn.yaml")]) == 0
    # Regenerate after a deliberate change: python -m playground.check specs/mnist_cnn.yaml > tests/golden/...
    expected = (GOLDEN / "mnist_cnn.check.txt").read_text()
    assert capsys.readouterr().out == expected


def test_every_shipped_spec_checks(capsys):
    specs = sorted(str(p) for p in SPECS.glob("*.yaml"))
    assert len(specs) >= 4
    assert main(specs) == 0


def test_bad_spec_exits_2_with_the_message(tmp_path, mnist_text, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(mnist_text.replace("in_features: 320", "in_features: 300"))
    assert main([str(bad), str(SPECS / "mnist_cnn.yaml")]) == 2
    out = capsys.readouterr()
    assert "in_features=300, but its input 20x4x4 flattens to 320." in out.err
    assert "mnist_cnn: 8 layers" in out.out  # the good spec is still reported


def test_json_output(capsys):
    assert main(["--json", str(SPECS / "mnist_cnn.yaml")]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["layers"][-1]["output_shape"] == [10]
    assert result["total_params"] == 8490


@pytest.mark.parametrize("content", ["name: [\n", "name: x\nlayers:\n  - {type: conv2d}\n", "\xff"])
def test_real_process_never_prints_a_traceback(tmp_path, content):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="latin-1")
    proc = subprocess.run([sys.executable, "-m", "playground.check", str(bad)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{bad}:")
