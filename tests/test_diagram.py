"""The page's diagram (Graphviz DOT) read as Graphviz reads it: every layer
sits in the cluster of the block that holds it in the spec, no other; every
node is declared, with its box, before any edge names it; a block deeper than
the depth asked for is one node. The zoo's branching families are the cases
(ResNet's shortcuts, GoogLeNet's four branches, MobileNetV2's inverted residuals)."""

from __future__ import annotations

import re

import pytest
from conftest import SPECS

import playground
from playground.check.report import position, tree_diagram

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"')
EDGE = re.compile(r"^\s*(\w+) -> (\w+) ")


def read_dot(dot: str) -> tuple[dict[str, tuple], list[tuple[str, str]], dict[str, str]]:
    """{node: the clusters it is in, outermost first (their labels' positions)}, the edges, {node: label}.
    Fails where Graphviz would move a node: an edge inside a cluster, or naming an undeclared node."""
    stack: list[str] = []
    where: dict[str, tuple] = {}
    labels: dict[str, str] = {}
    edges = []
    for line in dot.splitlines()[1:-1]:
        text = line.strip()
        if text.startswith("subgraph cluster_"):
            stack.append(re.search(r'label="([^":]*)', text).group(1))
        elif text == "}":
            stack.pop()
        elif (edge := EDGE.match(line)) is not None:
            assert not stack, f"an edge inside cluster {stack[-1]}: {text}"
            assert edge.group(1) in where and edge.group(2) in where, f"an edge to an undeclared node: {text}"
            edges.append(edge.groups())
        elif (node := NODE.match(line)) is not None:
            assert node.group(1) not in where, f"{node.group(1)} declared twice"
            where[node.group(1)] = tuple(stack)
            labels[node.group(1)] = node.group(2)
    assert not stack
    return where, edges, labels


def _expected(rows, holders=(), depth=0, max_depth=None, out=None):
    """{position: the positions of the blocks that hold it} for every layer drawn as a node."""
    out = {} if out is None else out
    for row in rows:
        if row.children and (max_depth is None or depth < max_depth):
            _expected(row.children, (*holders, position(row.path)), depth + 1, max_depth, out)
        else:
            out[position(row.path)] = holders
    return out


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "mobilenet_v2"])
@pytest.mark.parametrize("max_depth", [None, 0, 1])
def test_every_layer_is_drawn_in_the_block_that_holds_it(name, max_depth):
    spec = playground.load_spec(SPECS / "zoo" / f"{name}.yaml")
    summary = playground.summarize(spec)
    dot = tree_diagram(spec, summary, max_depth)
    where, edges, labels = read_dot(dot)
    drawn = {labels[n].split(":")[0]: clusters for n, clusters in where.items()
             if ":" in labels[n]}
    assert drawn == _expected(summary.rows, max_depth=max_depth)
    assert where["input"] == where["output"] == ()
    assert ("input", next(n for n, label in labels.items() if label.startswith("0"))) in edges
    assert "shape=" not in dot.replace("node [shape=box", "")   # rounded boxes only (see report._DOT_HEAD)


def test_a_block_past_the_depth_is_one_node_with_a_double_border():
    spec = playground.load_spec(SPECS / "zoo" / "resnet18.yaml")
    dot = tree_diagram(spec, playground.summarize(spec), max_depth=0)
    assert "subgraph" not in dot
    assert re.search(r'label="4: layer1\\n\w+", peripheries=2\]', dot)
    assert re.search(r'label="3: maxpool2d"\]', dot)


def test_a_spec_that_fails_its_shape_check_keeps_its_blocks_the_layer_at_fault_red():
    """A wrong in_channels inside ResNet's block template: the check stops at the
    template's second use (layers[5]), so there are no shapes from there on; the
    diagram still draws every block as a cluster, that use's border red, the
    layers past the error grey with "?" on their edges."""
    from playground.app.editing import check_text

    conv2 = "- {type: conv2d, name: conv2, out_channels: $width,"
    text = (SPECS / "zoo" / "resnet18.yaml").read_text()
    checked = check_text(text.replace(conv2, conv2.replace("conv2, ", "conv2, in_channels: 64, ")))
    assert checked.summary is None and checked.spec is not None and len(checked.rows) == 5
    assert checked.bad_paths == {("layers", 5)}
    full = playground.summarize(playground.load_spec(SPECS / "zoo" / "resnet18.yaml"))

    dot = tree_diagram(checked.spec, None, rows=checked.rows, bad=checked.bad_paths)
    where, edges, labels = read_dot(dot)
    drawn = {labels[n].split(":")[0]: clusters for n, clusters in where.items() if ":" in labels[n]}
    expected = _expected(full.rows)
    # a projection shortcut is made by its block when the block is checked: past the error it is not drawn,
    # the block's input goes to its merge instead
    assert drawn == {p: c for p, c in expected.items() if int(p.split(".")[0]) < 5 or "shortcut" not in p}
    assert re.search(r'subgraph cluster_\d+ \{ label="5: layer2\\n\w+"; style="rounded"; color="#c0392b";', dot)
    assert dot.count('#c0392b') == 1                              # only the use at fault
    node = {label.split(":")[0]: n for n, label in labels.items()}
    assert (node["4.1.after.0"], node["5.0.body.0"]) in edges
    assert f'{node["4.1.after.0"]} -> {node["5.0.body.0"]} [label=" 64x56x56"]' in dot   # checked: its shape
    assert f'{node["5.0.body.0"]} [label="5.0.body.0: conv1\\nconv2d", fillcolor="#eeeeee"]' in dot
    assert f'{node["10"]} -> output [label=" ?"]' in dot
    merges = [n for n, label in labels.items() if label == "+"]
    assert all(sum(b == m for _, b in edges) == 2 for m in merges)   # every + adds two things
