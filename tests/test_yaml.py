"""YAML that is malformed, tagged, alias-heavy, duplicated or oversized gets a
located SpecError; only safe loading is ever used."""

from __future__ import annotations

import pytest
import yaml

import playground
from playground import SpecError
from playground.format import yamlsource

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


def test_limits_are_inclusive(monkeypatch):
    text = "name: x\n"
    monkeypatch.setattr(yamlsource, "MAX_BYTES", len(text.encode()))
    assert yamlsource.parse(text).data == {"name": "x"}
    monkeypatch.setattr(yamlsource, "MAX_BYTES", len(text.encode()) - 1)
    with pytest.raises(SpecError, match="the spec is larger than"):
        yamlsource.parse(text)


def _aliases(n: int) -> str:
    return "a: &a [1]\n" + "".join(f"k{i}: *a\n" for i in range(n))   # aliases of a list: each one expands


def test_alias_budget_boundary():
    assert len(yamlsource.parse(_aliases(yamlsource.MAX_ALIASES)).data) == yamlsource.MAX_ALIASES + 1
    with pytest.raises(SpecError) as info:
        yamlsource.parse(_aliases(yamlsource.MAX_ALIASES + 1))
    (p,) = info.value.problems
    assert p.message == "the spec uses YAML aliases more than 100 times." and p.line == yamlsource.MAX_ALIASES + 2
    assert p.fix == "Write the values out instead of using anchors and aliases."


def test_value_budget_boundary(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_NODES", 4)   # the mapping and three values
    assert yamlsource.parse("a: 1\nb: 2\nc: 3\n").data == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(SpecError, match="the spec expands to more than 4 values"):
        yamlsource.parse("a: 1\nb: 2\nc: 3\nd: 4\n")


@pytest.mark.parametrize("text,data", [
    ("a: 1\nb: 1.5\nc: true\nd: null\ne: x\n", {"a": 1, "b": 1.5, "c": True, "d": None, "e": "x"}),
    ("a: [1, [2, 3]]\nb: {c: {d: 4}}\n", {"a": [1, [2, 3]], "b": {"c": {"d": 4}}}),
    ("a: 12:30:00\n", {"a": 45000}), ("a: 0x1F\n", {"a": 31}),
])
def test_plain_data_reads_like_yaml_safe_load(text, data):
    import yaml

    assert yamlsource.parse(text).data == data == yaml.safe_load(text)


def test_problems_name_their_line_and_the_fix():
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\nlayers: [{type: relu}]\nname: y\n")
    (p,) = info.value.problems
    assert (p.path, p.line) == (("name",), 3)
    assert p.fix == "Keep one 'name' (line 1 or 3)."
    with pytest.raises(SpecError) as info:
        yamlsource.parse("a: !!set {x}\n")
    (p,) = info.value.problems
    assert p.message == "YAML tags such as !!set are not allowed in a spec." and p.line == 1
    assert p.fix == "Remove the tag; values are plain numbers, strings, lists and mappings."
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\n? [1, 2]\n: 3\n")
    assert "keys must be plain names" in info.value.problems[0].message and info.value.problems[0].line == 2


# Every refusal, word for word: what went wrong, where, and the fix.
@pytest.mark.parametrize("text,path,line,message,fix", [
    ("name: x\nlayers: [\n", (), 3, "invalid YAML: did not find expected node content (while parsing a flow node).",
     "Check the indentation and quoting around this line."),
    ("a: b: c\n", (), 1, "invalid YAML: mapping values are not allowed in this context.",
     "Check the indentation and quoting around this line."),
    ("name: x\nb: \x01\n", (), 2, "invalid YAML: control characters are not allowed: found #x0001.",
     'Delete the character; inside double quotes it can be written as an escape ("\\x07").'),
    ("", (), None, "the spec is empty.", "A spec needs at least: name, and a list of layers."),
    ("base: &b {type: relu}\nlayers:\n  - <<: *b\n", ("layers", 0), 3, "YAML merge keys (<<) are not supported.",
     "Write the keys out in full."),
    ("name: x\n1: 2\n", (), 2, "keys must be plain names, got '1'.", "Quote the key or rename it."),
    ("a:\n  b: !custom x\n", ("a", "b"), 2, "YAML tags such as !custom are not allowed in a spec.",
     "Remove the tag; values are plain numbers, strings, lists and mappings."),
    ("a: !!seq [1]\nb: !mine [1]\n", ("b",), 2, "YAML tags such as !mine are not allowed in a spec.",
     "Remove the tag; values are plain numbers, strings, lists and mappings."),
    ("a: !mine {b: 1}\n", ("a",), 1, "YAML tags such as !mine are not allowed in a spec.",
     "Remove the tag; values are plain numbers, strings, lists and mappings."),
])
def test_refusals_word_for_word(text, path, line, message, fix):
    with pytest.raises(SpecError) as info:
        yamlsource.parse(text)
    (p,) = info.value.problems
    assert (p.path, p.line, p.message, p.fix) == (path, line, message, fix)


def test_size_and_value_limits_word_for_word(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 3 * 1024 * 1024 - 1)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("#" * (3 * 1024 * 1024))
    (p,) = info.value.problems
    assert (p.path, p.line, p.message, p.fix) == (
        (), None, "the spec is larger than 2 MiB.",
        "Specs are short lists of layers; check that this is the right file.")
    monkeypatch.setattr(yamlsource, "MAX_NODES", 2)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("a: 1\nb: [2, 3]\n")
    (p,) = info.value.problems
    assert (p.path, p.line, p.message, p.fix) == (
        ("b",), 2, "the spec expands to more than 2 values.", "Remove anchors and aliases, or split the spec.")


def test_an_unexpected_yaml_error_is_still_a_spec_error(monkeypatch):
    def broken(*args, **kwargs):
        raise __import__("yaml").YAMLError("something odd")

    monkeypatch.setattr(yamlsource.yaml, "compose", broken)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\n")
    (p,) = info.value.problems
    assert (p.path, p.line, p.message, p.fix) == ((), None, "invalid YAML: something odd.", None)


def test_the_node_tree_comes_back_with_marks_for_editors():
    doc = yamlsource.parse("name: x\nlayers:\n  - {type: relu}\n")
    assert doc.root is not None and doc.root.tag == "tag:yaml.org,2002:map"
    (_, layers), = [(k, v) for k, v in doc.root.value if k.value == "layers"]
    assert [item.start_mark.line for item in layers.value] == [2]


def test_a_lone_surrogate_is_a_located_error_not_a_crash():
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\nb: \ud800\n")
    (p,) = info.value.problems
    assert p.line == 2 and p.path == ()
    if yamlsource._Loader is not yaml.SafeLoader:   # libyaml refuses to encode it; PyYAML's reader to print it
        assert p.message == "the spec holds an invalid character (U+D800, half of a pair)."
        assert p.fix == "Delete it; it usually comes from text copied out of a broken file."
    else:
        assert p.message == "invalid YAML: special characters are not allowed: found #xd800."


@pytest.mark.parametrize("text,line", [("a: \x01\nb: 1\nc: 2\n", 1), ("\na: \x01\n", 2), ("a: 1\n\nb: \x01", 3)])
def test_a_bad_character_is_located_on_its_own_line(text, line):
    with pytest.raises(SpecError) as info:
        yamlsource.parse(text)
    assert info.value.problems[0].line == line


def test_the_size_limit_is_stated_in_whole_mib(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_BYTES", 5 * 1024 * 1024)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("#" * (5 * 1024 * 1024 + 1))
    assert info.value.problems[0].message == "the spec is larger than 5 MiB."


def test_a_yaml_error_without_a_place_still_reads_well(monkeypatch):
    def unplaced(*args, **kwargs):
        raise yaml.MarkedYAMLError(problem="something is off")

    monkeypatch.setattr(yamlsource.yaml, "compose", unplaced)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\n")
    (p,) = info.value.problems
    assert (p.line, p.message) == (None, "invalid YAML: something is off.")

    def wordless(*args, **kwargs):
        raise yaml.MarkedYAMLError(context="while reading")

    monkeypatch.setattr(yamlsource.yaml, "compose", wordless)
    with pytest.raises(SpecError) as info:
        yamlsource.parse("name: x\n")
    assert info.value.problems[0].message == "invalid YAML: while reading (while reading)."


@pytest.mark.parametrize("text,line", [("a: \ud800\nb: 1\nc: 2\n", 1), ("\na: \ud800\n", 2)])
def test_a_lone_surrogate_is_located_on_its_own_line(text, line):
    with pytest.raises(SpecError) as info:
        yamlsource.parse(text)
    assert info.value.problems[0].line == line


def test_a_number_written_without_a_dot_is_a_number():
    """PyYAML (YAML 1.1) reads 1e-06 as a string; ruamel.yaml, which writes the
    page's edits, writes small floats so, and people type lr: 1e-3."""
    doc = yamlsource.parse("a: 1e-06\nb: '1e-06'\nc: 5E3\nd: -2e+3\ne: e5\nf: [1e5, \"1e5\"]\ng: 12\n"
                           "h: [1.5e3, 1.0e5, .5e-2]\n")
    assert doc.data == {"a": 1e-06, "b": "1e-06", "c": 5000.0, "d": -2000.0, "e": "e5", "f": [100000.0, "1e5"],
                        "g": 12, "h": [1500.0, 100000.0, 0.005]}
    assert isinstance(doc.data["g"], int)


def test_a_small_float_set_from_the_page_loads_back_as_that_float():
    import playground
    from playground.format import edits

    text = ("name: t\ndata: {dataset: none}\ninput: {channels: 4, height: 8, width: 8}\n"
            "layers:\n  - {type: batchnorm2d, name: bn}\n")
    edited = edits.set_field(text, 0, "eps", 1e-6)
    assert "1e-06" in edited   # how ruamel.yaml writes it
    assert playground.load_spec(edited).layers[0].eps == 1e-6
