"""Diagrams, read structurally: clusters, node counts per collapse level, dashed projections,
shapes on edges, determinism, escaping, and a clear error without Graphviz."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

import resdsl
from conftest import EXAMPLES, ROOT
from resdsl.backends.graphviz import quote, render
from resdsl.cli import main
from resdsl.ir.ops import format_shape

NODE = re.compile(r'^\s*(n\d+) \[label=(".*?(?<!\\)"), tooltip=(".*?(?<!\\)")', re.M)
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+) \[(.*)\];$", re.M)
SVG = "{http://www.w3.org/2000/svg}"


def parsed(dot: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Node id → tooltip (the IR name or group key), and edges with their attributes."""
    tooltips = {node: tooltip.strip('"') for node, _, tooltip in NODE.findall(dot)}
    return tooltips, EDGE.findall(dot)


def network(name: str) -> resdsl.Network:
    return resdsl.load(ROOT / "examples" / f"{name}.res")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_expanded_diagram_matches_the_graph(path: Path) -> None:
    net = resdsl.load(path)
    graph = net.graph
    dot = net.to_dot(collapse="none")
    tooltips, edges = parsed(dot)
    assert sorted(tooltips.values()) == sorted(graph)
    assert len(edges) == graph.number_of_edges()
    for source, target, attributes in edges:
        producer = tooltips[source]
        label = re.search(r'label=" ([^"]*)"', attributes).group(1)
        assert label == format_shape(graph.nodes[producer]["shape"]).replace("x", "×")
        assert graph.has_edge(producer, tooltips[target])
    stages = {d["stage"] for _, d in graph.nodes(data=True) if d["stage"]}
    assert dot.count("subgraph cluster_") == len(stages)
    # Dashed edges into a merge: one per residual unit whose shortcut is not the identity.
    dashed_into_add = [e for e in edges if "style=dashed" in e[2] and graph.nodes[tooltips[e[1]]]["op"].kind == "add"]
    assert len(dashed_into_add) == sum(1 for r in graph.graph["residuals"] if r["shortcut"] != "identity")


def test_collapse_levels_resnet152() -> None:
    net = network("resnet152")
    expanded, _ = parsed(net.to_dot(collapse="none"))
    blocks, block_edges = parsed(net.to_dot(collapse="blocks"))
    stages, _ = parsed(net.to_dot(collapse="stages"))
    assert len(expanded) == len(net.graph) == 516
    # input, 4 stem layers, per stage the projecting first block and one folded run, 3 head layers
    assert len(blocks) == 1 + 4 + 4 * 2 + 3
    assert len(stages) == 1 + 6
    dot = net.to_dot(collapse="blocks")
    assert "bottleneck(256) ×35\\nlayer3.1 – layer3.35" in dot
    assert "bottleneck(128, stride: 2)\\nlayer2.0\\nshortcut: project" in dot
    assert len(block_edges) == len(blocks) - 1  # a chain: every shortcut is inside a block
    assert net.to_dot() == net.to_dot(collapse="blocks")  # the default for a network this size
    assert network("resnet50").to_dot() == network("resnet50").to_dot(collapse="none")


def test_dot_is_deterministic(golden) -> None:
    first = network("resnet18").to_dot()
    assert first == network("resnet18").to_dot()
    golden(ROOT / "tests" / "golden" / "resnet18.dot", first)


def test_labels_cannot_inject_dot_or_html() -> None:
    hostile = 'x"]; evil [label="pwned"]; a -> b [label="<b>'
    assert quote(hostile) == '"x\\"]; evil [label=\\"pwned\\"]; a -> b [label=\\"<b>"'
    assert quote("back\\slash \\N\nline") == '"back\\\\slash \\\\N\\nline"'
    graph = nx.relabel_nodes(network("cifar_resnet20").graph, {"conv1": hostile}, copy=True)
    graph.graph["name"] = '</svg><script>alert(1)</script>'
    svg = render(graph, "svg", collapse="none").decode()
    root = ET.fromstring(svg)  # still well-formed XML
    assert not list(root.iter(f"{SVG}script"))
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("class") == "node") == len(graph)
    assert "pwned" not in [t.text for t in root.iter(f"{SVG}text")]


def test_svg_structure_and_notebook_display() -> None:
    net = network("resnet50")
    root = ET.fromstring(net._repr_svg_())
    groups = [g.get("class") for g in root.iter(f"{SVG}g")]
    assert groups.count("cluster") == 6 and groups.count("node") == len(net.graph)
    titles = {t.text for g in root.iter(f"{SVG}g") if g.get("class") == "cluster" for t in g.iter(f"{SVG}text")}
    assert "layer2 · 512×28×28" in titles


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf", "dot"])
def test_cli_formats(tmp_path: Path, suffix: str, capsys) -> None:
    out = tmp_path / f"net.{suffix}"
    assert main(["render", "examples/resnet18.res", "-o", str(out), "--direction", "LR", "--no-shapes"]) == 0
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph"}[suffix]
    assert out.read_bytes().startswith(magic)
    if suffix == "dot":
        assert "rankdir=LR" in out.read_text() and "label=\" " not in out.read_text()


def test_without_dot_binary(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.svg")]) == 1
    err = capsys.readouterr().err
    assert "error: Graphviz's 'dot' program is not installed" in err and "apt-get install graphviz" in err
    assert list(tmp_path.iterdir()) == []  # no partial file
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.dot")]) == 0
    assert network("resnet18")._repr_svg_() is None


def test_usage_errors(tmp_path: Path) -> None:
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.gif")]) == 2
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "missing" / "net.svg")]) == 2
