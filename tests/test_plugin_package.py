"""The real entry-point mechanism: install the example plugin package from
examples/ (into a temporary folder, so this environment is untouched), then
check and build a spec that uses its layer type in a fresh process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

PLUGIN = ROOT / "examples" / "playground-swish"

SPEC = """\
name: swish_net
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 5}
  - {type: swish, beta: 1.5, trainable: true}
  - {type: flatten}
  - {type: linear, out_features: 10}
"""

PROBE = textwrap.dedent("""
    import sys, torch, playground
    spec = playground.load_spec(sys.argv[1])
    model = playground.build(spec)
    summary = playground.summarize(spec)
    assert summary.total_params == sum(p.numel() for p in model.parameters()), "param count"
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    print(playground.get_registry().plugin("swish").source)
""")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return target


def _run(args, site, tmp_path):
    spec = tmp_path / "swish.yaml"
    spec.write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), str(ROOT)]))}
    return subprocess.run([sys.executable, *args, str(spec)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)


def test_installed_plugin_type_checks_and_builds(plugin_site, tmp_path):
    proc = _run(["-m", "playground.check"], plugin_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "swish" in proc.stdout and "4x24x24" in proc.stdout
    proc = _run(["-c", PROBE], plugin_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("playground-swish 0.1.0 (entry point swish = playground_swish:Swish)")


@pytest.mark.skipif(importlib.util.find_spec("playground_swish") is not None,
                    reason="the example plugin is installed in this environment")
def test_without_the_plugin_the_type_is_unknown(tmp_path):
    proc = _run(["-m", "playground.check"], None, tmp_path)
    assert proc.returncode == 2
    assert "layers[1].type: unknown layer type 'swish'" in proc.stderr
