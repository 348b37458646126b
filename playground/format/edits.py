"""Layer edits on the spec's YAML text that keep everything else as written.

The layer editor changes one thing at a time (add, delete or move a layer,
set or clear one field). Each operation takes the YAML text and returns the new
text, through ruamel.yaml's round-trip mode: comments, flow or block style,
key order, quoting and indentation of everything the edit did not touch stay
exactly as the user wrote them. A new layer takes the style of its
neighbours (one flow-style line per layer, as in the example specs, or a block).

Text is first read by ``playground.format.yamlsource.parse`` (the safe reader the check
uses), so the round-trip reader only ever sees text that is already known to
be plain data: no tags, no alias bombs, no oversized input.

Round-tripping a whole 200-layer spec through ruamel.yaml takes about 200 ms,
too slow for an edit. So when the layers are a block list (the usual
``layers:`` followed by ``- ...`` lines) an edit touches only the lines of the
layers involved: the safe reader's marks give each layer's lines, a field edit
round-trips just that layer's text, and add, delete and move splice whole
lines. Anything else (a flow list ``layers: [...]``, a layer split oddly over
lines) goes through the whole-document round trip; both give the same result.
"""

from __future__ import annotations

import io
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from playground.core.errors import SpecError, fail
from playground.format.paths import PathError, set_path
from playground.format.yamlsource import parse
from playground.layers.registry import Registry, get_registry


def _round_trip() -> YAML:
    """ruamel.yaml's round-trip mode as every edit here uses it: quotes kept,
    never re-wrapping a long flow line, a one-key layer in a flow list kept in braces."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.brace_single_entry_mapping_in_flow_sequence = True   # [{type: relu}], not [type: relu]
    return rt


def _dumped(rt: YAML, node: Any) -> str:
    out = io.StringIO()
    rt.dump(node, out)
    return out.getvalue()


class _Doc:
    """A round-trip-loaded spec and what it takes to write it back the same way.
    Only made from text ``_Lines`` has already read with the safe reader."""

    def __init__(self, text: str):
        rt = _round_trip()
        data = _load_keeping_indent(rt, text)
        if not isinstance(data, CommentedMap):
            raise fail((), "the spec is not a mapping, so its layers cannot be edited.",
                       "Start the spec with `name:` and `layers:` keys.")
        self.data = data
        self._yaml = rt
        self._final_newline = text.endswith("\n")

    @property
    def layers(self) -> CommentedSeq:
        layers = self.data.get("layers")
        if not isinstance(layers, CommentedSeq):
            layers = CommentedSeq()
            self.data["layers"] = layers
        return layers

    def text(self) -> str:
        text = _dumped(self._yaml, self.data)
        return text if self._final_newline else text.removesuffix("\n")


def _load_keeping_indent(rt: YAML, text: str) -> Any:
    """Load ``text``, and set ``rt`` to write it back with the same indentation."""
    data, indent, block_seq_indent = load_yaml_guess_indent(text, yaml=rt)
    indent = indent or 2
    offset = block_seq_indent if block_seq_indent is not None else 0
    rt.indent(mapping=_map_indent(text) or indent, sequence=max(indent, offset + 2), offset=offset)
    return data


def _map_indent(text: str) -> int | None:
    """The indentation of the first nested block mapping (``data:\\n  dataset: mnist``)."""
    lines = text.splitlines()
    for line, following in zip(lines, lines[1:], strict=False):
        stripped = line.split("#", 1)[0].rstrip()
        if stripped.endswith(":") and not stripped.lstrip().startswith("-"):
            inner = following.lstrip(" ")
            if inner and not inner.startswith(("-", "#")):
                depth = len(following) - len(inner) - (len(line) - len(line.lstrip(" ")))
                if depth > 0:
                    return depth
    return None


def _holds_layers(value: Any) -> bool:
    """A list of mappings (a container's layers), or a mapping of such lists (branches)."""
    if isinstance(value, list):
        return any(isinstance(v, dict) for v in value)
    return isinstance(value, dict) and any(_holds_layers(v) for v in value.values())


def _styled(value: Any, flow: bool) -> Any:
    """Plain data as round-trip nodes; lists (kernel sizes, pairs) in flow style.
    What holds layers (a container's body, its branches) is in block style, one
    layer per line, like the top-level list."""
    if isinstance(value, dict):
        node = CommentedMap((k, _styled(v, True)) for k, v in value.items())
        block = not flow or any(_holds_layers(v) for v in value.values())
        node.fa.set_block_style() if block else node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        node = CommentedSeq(_styled(v, True) for v in value)
        node.fa.set_block_style() if _holds_layers(value) else node.fa.set_flow_style()
        return node
    return value


def _neighbour_is_flow(layers: CommentedSeq, index: int) -> bool:
    for i in (index - 1, index, 0):
        if 0 <= i < len(layers) and isinstance(layers[i], CommentedMap):
            return bool(layers[i].fa.flow_style())
    return True  # the example specs' style: one layer per line


def _layer(layers: CommentedSeq, index: int) -> CommentedMap:
    _check_index(layers, index)
    layer = layers[index]
    if not isinstance(layer, CommentedMap):
        raise _not_a_mapping()
    return layer


class _Lines:
    """The layers of a block list, each as an inclusive range of lines; ``ok`` is
    False when the layout is not one this fast path handles. Reading the text
    here, with the safe reader, is what every edit starts with."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.items: list[tuple[yaml.Node, int, int]] = []   # (node, first line, last line)
        self.ok = False
        root = parse(text).root
        if not isinstance(root, yaml.MappingNode):
            return
        layers = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "layers"), None)
        if not isinstance(layers, yaml.SequenceNode) or layers.flow_style or not layers.value:
            return
        for node in layers.value:
            first = node.start_mark.line
            prefix = self.lines[first][:node.start_mark.column] if first < len(self.lines) else ""
            if prefix.strip() != "-":
                return   # the dash and the layer are not on one line
            last = _last_line(node)
            if node.flow_style and last != first:
                return
            self.items.append((node, first, last))
        self.ok = True

    def prefix(self, i: int) -> str:
        node, first, _ = self.items[i]
        return self.lines[first][:node.start_mark.column]   # e.g. "  - "

    def block(self, i: int) -> list[str]:
        _, first, last = self.items[i]
        return self.lines[first:last + 1]

    def joined(self, lines: list[str]) -> str:
        text = "".join(lines)
        if self.text.endswith("\n") and not text.endswith("\n"):
            text += "\n"
        return text


def _last_line(node: yaml.Node) -> int:
    """The last line holding any of ``node``'s own text (not the comments after it)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


def _roundtrip_layer(lines: list[str], column: int, change) -> list[str]:
    """Apply ``change`` to one layer's text (its lines, the first one starting
    with its dash) through ruamel.yaml, and give the new lines."""
    first = lines[0]
    head, body = first[:column], first[column:]
    snippet = [body] + [line[column:] if line[:column].strip() == "" else line for line in lines[1:]]
    yaml_rt = _round_trip()
    text = "".join(snippet)
    node = _load_keeping_indent(yaml_rt, text)
    if not isinstance(node, CommentedMap):
        raise _not_a_mapping()
    change(node)
    new = _dumped(yaml_rt, node).splitlines(keepends=True)
    pad = " " * column
    if not lines[-1].endswith("\n") and new and new[-1].endswith("\n"):
        new[-1] = new[-1][:-1]
    return [head + new[0]] + [pad + line if line.strip() else line for line in new[1:]]


def _new_layer_lines(example: dict, prefix: str, flow: bool) -> list[str]:
    new = _dumped(_round_trip(), _styled(example, flow)).splitlines(keepends=True)
    pad = " " * len(prefix)
    return [prefix + new[0]] + [pad + line for line in new[1:]]


def _not_a_mapping() -> SpecError:
    return fail(("layers",), "this layer is not a mapping, so its fields cannot be set.",
                "Write it as `{type: ..., ...}` in the YAML.")


def add_layer(text: str, index: int, type_name: str, registry: Registry | None = None) -> str:
    """``text`` with a new layer of ``type_name`` (its plugin's example) inserted at ``index``."""
    registry = registry or get_registry()
    example = dict(registry[type_name].example or {"type": type_name})
    fast = _Lines(text)
    if fast.ok:
        index = max(0, min(index, len(fast.items)))
        near = min(index, len(fast.items) - 1)
        node, first, last = fast.items[near]
        new = _new_layer_lines(example, fast.prefix(near), bool(node.flow_style))
        at = first if index < len(fast.items) else last + 1
        lines = list(fast.lines)
        if at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return fast.joined(lines[:at] + new + lines[at:])
    doc = _Doc(text)
    layers = doc.layers
    index = max(0, min(index, len(layers)))
    layers.insert(index, _styled(example, _neighbour_is_flow(layers, index)))
    return doc.text()


def delete_layer(text: str, index: int) -> str:
    fast = _Lines(text)
    if fast.ok:
        _check_index(fast.items, index)
        _, first, last = fast.items[index]
        return fast.joined(fast.lines[:first] + fast.lines[last + 1:])
    doc = _Doc(text)
    layers = doc.layers
    _check_index(layers, index)
    del layers[index]
    return doc.text()


def move_layer(text: str, index: int, delta: int) -> str:
    """Swap layer ``index`` with the one ``delta`` places away; a line comment moves with its layer."""
    target = index + delta
    fast = _Lines(text)
    if fast.ok:
        _check_index(fast.items, index)
        _check_index(fast.items, target)
        a, b = sorted((index, target))
        (_, a_first, a_last), (_, b_first, b_last) = fast.items[a], fast.items[b]
        lines = fast.lines
        # the lines between the two (comments, blank lines) stay where they are
        return fast.joined(lines[:a_first] + _ended(fast.block(b)) + lines[a_last + 1:b_first]
                           + fast.block(a) + lines[b_last + 1:])
    doc = _Doc(text)
    layers = doc.layers
    _check_index(layers, index)
    _check_index(layers, target)
    layers[index], layers[target] = layers[target], layers[index]
    last = len(layers) - 1
    comments = layers.ca.items
    # The last item also carries what follows the list (blank lines, the next section's
    # comments): only line comments travel with a layer, and never past the end.
    if last not in (index, target):
        a, b = comments.pop(index, None), comments.pop(target, None)
        if b is not None:
            comments[index] = b
        if a is not None:
            comments[target] = a
    return doc.text()


def set_field(text: str, index: int, name: str, value: Any) -> str:
    """Set one field of a layer; None removes the key (back to its default, or inferred)."""

    def change(layer: CommentedMap) -> None:
        if value is None:
            layer.pop(name, None)
        elif layer.get(name) != value:
            layer[name] = _styled(value, True)

    fast = _Lines(text)
    if fast.ok:
        _check_index(fast.items, index)
        node, first, last = fast.items[index]
        if not isinstance(node, yaml.MappingNode):
            raise _not_a_mapping()
        before = fast.block(index)
        after = _roundtrip_layer(before, node.start_mark.column, change)
        if after == before:
            return text
        return fast.joined(fast.lines[:first] + after + fast.lines[last + 1:])
    doc = _Doc(text)
    change(_layer(doc.layers, index))
    return doc.text()


def set_section_field(text: str, section: str, name: str, value: Any, order: tuple[str, ...] = ()) -> str:
    """Set ``section.name`` (e.g. data.dataset); None removes the key. A missing
    section is added as a one-line mapping, ``data: {dataset: cifar10}``. A new
    key goes before the first key that comes after it in ``order`` (the
    section's field order), else last."""
    doc = _Doc(text)
    part = doc.data.get(section)
    if part is None:
        if value is None:
            return text
        part = CommentedMap()
        part.fa.set_flow_style()
        doc.data[section] = part
    if not isinstance(part, CommentedMap):
        raise fail((section,), f"{section} is not a mapping, so {section}.{name} cannot be set.",
                   f"Write it as `{section}: {{{name}: ...}}`.")
    if value is None:
        if name not in part:
            return text
        part.pop(name)
    elif part.get(name) == value:
        return text
    elif name in part:
        part[name] = _styled(value, True)
    else:
        later = set(order[order.index(name) + 1:]) if name in order else set()
        at = next((i for i, key in enumerate(part) if key in later), len(part))
        part.insert(at, name, _styled(value, True))
    return doc.text()


def set_paths(text: str, values: dict[str, Any]) -> str:
    """Set fields addressed by names, as sweeps address them (``train.lr``,
    ``layers.conv1.out_channels``), keeping everything else as written: a
    sweep's best values go into the user's own text, comments and all."""
    parse(text)   # the safe reader first, as for every edit
    doc = _Doc(text)
    try:
        for path, value in values.items():
            set_path(doc.data, path, value)
    except PathError as exc:
        raise fail((), str(exc), "The spec no longer has the field the sweep varied.") \
            from None
    return doc.text()


def _ended(lines: list[str]) -> list[str]:
    """``lines`` with a final newline (a layer that ended the file moves up)."""
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + "\n"]
    return lines


def _check_index(layers, index: int) -> None:
    if not 0 <= index < len(layers):
        raise fail(("layers",), f"there is no layer {index}; the spec has {len(layers)}.")

