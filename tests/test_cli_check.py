"""python -m playground.check: the table on success (golden file), the located
error and exit status 2 on failure, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHIPPED_SPECS, SPECS

from playground.check.cli import main

GOLDEN = ROOT / "tests" / "golden"


def test_table_matches_golden_file(capsys):
    assert main([str(SPECS / "mnist_cnn.yaml")]) == 0
    # Regenerate after a deliberate change: python -m playground.check specs/mnist_cnn.yaml > tests/golden/...
    expected = (GOLDEN / "mnist_cnn.check.txt").read_text()
    assert capsys.readouterr().out == expected


def test_nested_table_matches_golden_file(capsys):
    """Blocks collapsed to depth 1: each stage with its totals, and its residual blocks."""
    assert main([str(SPECS / "zoo" / "resnet18.yaml"), "--depth", "1"]) == 0
    # Regenerate: python -m playground.check specs/zoo/resnet18.yaml --depth 1 > tests/golden/resnet18.depth1.check.txt
    assert capsys.readouterr().out == (GOLDEN / "resnet18.depth1.check.txt").read_text()


def test_depth_collapses_blocks_and_keeps_the_totals(capsys):
    assert main([str(SPECS / "zoo" / "resnet18.yaml"), "--depth", "0"]) == 0
    top = capsys.readouterr().out
    assert main([str(SPECS / "zoo" / "resnet18.yaml")]) == 0
    full = capsys.readouterr().out
    assert "\n4.0.body.0 " in full and "\n4.0 " not in top and "\n4.0 " in full
    stage = next(line for line in top.splitlines() if "layer1" in line)
    assert stage.split()[-2:] == ["147,968", "462,422,016"]   # 2 blocks x (2 x 64*64*9 + 2 x 128)
    assert 2 * (2 * 64 * 64 * 9 + 2 * 128) == 147_968
    assert top.splitlines()[-3].split() == full.splitlines()[-3].split()      # the same totals


def test_the_golden_numbers_are_the_hand_computed_ones():
    """The golden file's numbers were checked by hand; this keeps the arithmetic
    here, written out, so a regenerated golden file cannot drift from it."""
    conv1 = 10 * (1 * 5 * 5) + 10, 10 * 24 * 24 * (1 * 5 * 5)        # params, MACs: 260, 144,000
    conv2 = 20 * (10 * 5 * 5) + 20, 20 * 8 * 8 * (10 * 5 * 5)        # 5,020, 320,000
    fc = 320 * 10 + 10, 320 * 10                                       # 3,210, 3,200
    activations = 784 + 5760 + 1440 + 1440 + 1280 + 320 + 320 + 320 + 10   # values per sample: 11,674
    golden = (GOLDEN / "mnist_cnn.check.txt").read_text()
    for name, (params, macs) in (("conv1", conv1), ("conv2", conv2), ("fc", fc)):
        row = next(line for line in golden.splitlines() if f"  {name}  " in line)
        assert row.split()[-2:] == [f"{params:,}", f"{macs:,}"], row
    total = conv1[0] + conv2[0] + fc[0], conv1[1] + conv2[1] + fc[1]
    assert total == (8490, 467200)
    assert "total                 8,490  467,200" in golden
    assert f"activations: {activations * 4 / 1000:.3g}kB per sample" in golden               # 46.7kB
    assert f"{activations * 4 * 64 / 1e6:.3g}MB per batch of 64" in golden                  # 2.99MB
    assert f"({8490 * 4 / 1000:.2g}kB float32)" in golden                                  # 34kB


def test_every_shipped_spec_checks(capsys):
    specs = [str(p) for p in SHIPPED_SPECS]
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


def test_json_carries_the_tree(capsys):
    assert main(["--json", str(SPECS / "zoo" / "resnet18.yaml")]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    stage = result["layers"][5]
    assert (stage["name"], stage["path"], len(stage["children"])) == ("layer2", "layers[5]", 2)
    block = stage["children"][0]
    assert block["type"] == "residual" and block["path"] == "layers[5].layers[0]"
    assert [c["path"] for c in block["children"]][-3:] == ["layers[5].layers[0].shortcut[0]",
                                                           "layers[5].layers[0].shortcut[1]",
                                                           "layers[5].layers[0].after[0]"]
    assert sum(c["params"] for c in stage["children"]) == stage["params"]
    assert result["macs_count"] == "convolutions and linear layers"


@pytest.mark.parametrize("content", ["name: [\n", "name: x\nlayers:\n  - {type: conv2d}\n", "\xff"])
def test_real_process_never_prints_a_traceback(tmp_path, content):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="latin-1")
    proc = subprocess.run([sys.executable, "-m", "playground.check", str(bad)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{bad}:")
