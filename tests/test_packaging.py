"""pyproject.toml as setuptools reads it: installing prints no deprecation box
(a `license = {text = ...}` table did, four times on the first `make train`)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

tomllib = pytest.importorskip("tomllib")   # Python 3.11+


def test_the_license_is_an_spdx_string_for_a_setuptools_that_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert tuple(map(int, re.search(r">=(\d+)", setuptools).group(1).split("."))) >= (77,)
