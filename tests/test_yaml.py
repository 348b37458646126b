"""YAML that is malformed, tagged, alias-heavy, duplicated or oversized gets a
located SpecError; only safe loading is ever used."""

from __future__ import annotations

import pytest

import playground
from playground import SpecError, yamlsource

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True))


@pytest.mark.parametrize("text,line,message", [
    ("name: x\nlayers: [\n", 3, "invalid YAML"),
    ("name: x\n  layers: []\n", 2, "invalid YAML"),
    ("name: !!python/object/apply:os.system ['echo hi']\n", 1, "YAML tags such as !!python/object/apply:os.system"),
    ("name: !custom x\n", 1, "YAML tags such as !custom are not allowed"),
    ("name: !!binary aGVsbG8=\n", 1, "YAML tags such as !!binary"),
    ("name: x\nname: y\n", 2, "key 'name' appears twice"),
    ("base: &b {type: relu}\nlayers:\n  - <<: *b\n", 3, "merge keys"),
    ("name: x\n1: 2\n", 2, "keys must be plain names"),
    (LAUGHS, None, "aliases more than 100 times"),
    ("", None, "the spec is empty"),
    ("# only a comment\n", None, "the spec is empty"),
    ("- a\n- b\n", 1, "the spec must be a mapping"),
])
def test_unsafe_or_broken_yaml(text, line, message):
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    err = info.value
    assert message in str(err)
    if line is not None:
        assert err.problems[0].line == line
    assert len(str(err).splitlines()) <= 3   # one short, located message


def test_python_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\nlayers: []\n"
    with pytest.raises(SpecError):
        playground.load_spec(text)
    assert not marker.exists()


def test_size_limit(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 100)
    with pytest.raises(SpecError, match="larger than"):
        playground.load_spec("name: x\n" + "#" * 200 + "\n")


def test_a_few_aliases_are_fine():
    spec = playground.load_spec(
        "name: x\nlayers:\n  - &fc {type: linear, out_features: 10}\n  - {type: relu}\n".replace(
            "layers:\n", "layers:\n  - {type: flatten}\n"))
    assert [layer.type for layer in spec.layers] == ["flatten", "linear", "relu"]


def test_lines_are_recorded_for_every_value():
    doc = yamlsource.parse("name: x\nlayers:\n  - {type: relu}\n  - type: flatten\n    name: f\n")
    assert doc.lines[("layers", 0, "type")] == 3
    assert doc.lines[("layers", 1)] == 4
    assert doc.lines[("layers", 1, "name")] == 5


def test_date_like_values_stay_strings():
    assert yamlsource.parse("name: 2024-01-01\n").data == {"name": "2024-01-01"}
