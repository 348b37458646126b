"""Safe YAML reading that remembers where every value came from.

Only PyYAML's safe composer is used. On top of it this module refuses what a
spec never needs and an attacker might send: explicit tags, alias expansion
beyond a small budget, duplicate keys, non-string keys and oversized input.
It returns plain Python data plus a map from each path to its 1-based line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from playground.core.errors import Path, fail

MAX_BYTES = 2 * 1024 * 1024   # a 10,000-layer spec is about 0.5 MB
MAX_NODES = 500_000           # values visited, aliases counted every time they expand
MAX_ALIASES = 100             # alias uses; specs have no need for many

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_constructor = yaml.SafeLoader("")  # only its scalar constructors are used
# YAML 1.1 (PyYAML) reads 1e-06, 5E3 or 1.5e3 (an exponent without a dot or a sign) as a string;
# YAML 1.2, ruamel.yaml (which writes the page's edits) and every person read it as a number. A plain,
# unquoted one is a float.
_EXPONENT_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


@dataclass
class Document:
    data: object
    lines: dict[Path, int]
    root: yaml.Node | None = None   # the composed node tree, with marks (line, column) for editors


def parse(text: str) -> Document:
    """Parse YAML text into data and a path -> line map, or raise SpecError."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise fail((), f"the spec is larger than {MAX_BYTES // 1024 // 1024} MiB.",
                   "Specs are short lists of layers; check that this is the right file.")
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise fail((), f"invalid YAML: {problem}{context}.",
                   "Check the indentation and quoting around this line.", line=line) from None
    except yaml.reader.ReaderError as exc:   # a character YAML does not allow, e.g. a control character
        raise fail((), f"invalid YAML: {exc.reason}: found #x{exc.character:04x}.",   # character: a code point
                   "Delete the character; inside double quotes it can be written as an escape (\"\\x07\").",
                   line=text.count("\n", 0, exc.position) + 1) from None
    except UnicodeEncodeError as exc:   # a lone surrogate, which no UTF-8 text can hold
        raise fail((), f"the spec holds an invalid character (U+{ord(exc.object[exc.start]):04X}, half of a pair).",
                   "Delete it; it usually comes from text copied out of a broken file.",
                   line=text.count("\n", 0, exc.start) + 1) from None
    except yaml.YAMLError as exc:
        raise fail((), f"invalid YAML: {exc}.") from None
    if root is None:
        raise fail((), "the spec is empty.", "A spec needs at least: name, and a list of layers.")
    walker = _Walker()
    data = walker.value(root, ())
    return Document(data, walker.lines, root)


class _Walker:
    def __init__(self):
        self.lines: dict[Path, int] = {}
        self.seen: set[int] = set()
        self.nodes = 0
        self.aliases = 0

    def value(self, node: yaml.Node, path: Path):
        # The line of the key (for an alias: where it is used, not the anchor it points to).
        line = self.lines.setdefault(path, node.start_mark.line + 1)
        self.nodes += 1
        if id(node) in self.seen:  # the same node again: an alias being expanded
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise fail(path, f"the spec uses YAML aliases more than {MAX_ALIASES} times.",
                           "Write the values out instead of using anchors and aliases.", line=line)
        if self.nodes > MAX_NODES:
            raise fail(path, f"the spec expands to more than {MAX_NODES:,} values.",
                       "Remove anchors and aliases, or split the spec.", line=line)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _CORE + "timestamp":  # a date-like string, e.g. a name
                return node.value
            if node.tag not in _SCALAR_TAGS:
                raise self._tag_error(node, path)
            if node.tag == _CORE + "str" and not node.style and _EXPONENT_FLOAT.fullmatch(node.value):
                return float(node.value)
            return _constructor.yaml_constructors[node.tag](_constructor, node)
        self.seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _CORE + "seq":
                raise self._tag_error(node, path)
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag != _CORE + "map":
            raise self._tag_error(node, path)
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _CORE + "merge":
                raise fail(path, "YAML merge keys (<<) are not supported.",
                           "Write the keys out in full.", line=key_line)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _CORE + "str":
                raise fail(path, f"keys must be plain names, got {key_node.value!r}.",
                           "Quote the key or rename it.", line=key_line)
            key = key_node.value
            if key in out:
                raise fail((*path, key), f"key '{key}' appears twice in this mapping.",
                           f"Keep one '{key}' (line {self.lines[(*path, key)]} or {key_line}).",
                           line=key_line)
            self.lines[(*path, key)] = key_line
            out[key] = self.value(value_node, (*path, key))
        return out

    @staticmethod
    def _tag_error(node: yaml.Node, path: Path):
        tag = node.tag.replace(_CORE, "!!")
        return fail(path, f"YAML tags such as {tag} are not allowed in a spec.",
                    "Remove the tag; values are plain numbers, strings, lists and mappings.",
                    line=node.start_mark.line + 1)
