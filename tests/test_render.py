"""Diagrams, read structurally: clusters, node counts per collapse level, dashed projections,
shapes on edges, determinism, escaping, and a clear error without Graphviz."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

import resdsl
from conftest import EXAMPLES, ROOT
from resdsl.backends.graphviz import RASTER_MAX_SIDE, quote, render
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


def styled_edges(dot: str) -> dict[tuple[str, str], str]:
    """(source tooltip, target tooltip) → the drawn edge's attributes."""
    tooltips, edges = parsed(dot)
    return {(tooltips[a], tooltips[b]): attributes for a, b, attributes in edges}


@pytest.mark.parametrize("collapse", ["blocks", "stages"])
def test_collapsed_main_path_into_a_stage_is_solid(collapse: str) -> None:
    """The tensor entering a stage's first block feeds its main path and its projection: the main path's
    style wins (solid, straight); dashed stays for projections, which live inside the blocks here."""
    net = network("resnet50")
    edges = styled_edges(net.to_dot(collapse=collapse))
    into_layer2 = edges[("layer1.1", "layer2.0")] if collapse == "blocks" else edges[("layer1", "layer2")]
    assert "style" not in into_layer2 and "weight=10" in into_layer2
    assert [edge for edge in edges.values() if "style=dashed" in edge] == []
    assert all("weight=10" in attributes for attributes in edges.values())  # a chain: every edge is the main path
    # The IR edges it joins: the main path and the projection's input.
    kinds = {net.graph.edges["layer1.2.relu3", target]["kind"] for target in net.graph.successors("layer1.2.relu3")}
    assert kinds == {"main", "projection"}


def test_pad_shortcut_without_a_change_is_an_identity() -> None:
    """`shortcut: pad` where the shape stays makes no node: the shortcut is the identity, drawn solid; where
    the shape changes it subsamples and pads, drawn dashed."""
    net = network("cifar_resnet20")
    assert [r["shortcut"] for r in net.graph.graph["residuals"]] == ["identity"] * 3 + (["pad"] + ["identity"] * 2) * 2
    edges = styled_edges(net.to_dot(collapse="none"))
    identity = edges[("layer1.0.relu2", "layer1.1.add1")]
    assert "style" not in identity and 'color="#333333"' in identity
    into_adds = {b: attributes for (a, b), attributes in edges.items() if net.graph.nodes[b]["op"].kind == "add"
                 and net.graph.edges[a, b]["kind"] != "main"}
    assert sorted(b for b, attributes in into_adds.items() if "style=dashed" in attributes) == \
        ["layer2.0.add1", "layer3.0.add1"]
    blocks = net.to_dot(collapse="blocks")
    assert blocks.count("\\nshortcut: pad") == 2 and "layer2.0\\nshortcut: pad" in blocks
    inline = resdsl.load("network n { input 8x8x8  residual(shortcut: pad) { conv(8) bn }  "
                         "residual(shortcut: pad) { conv(16, stride: 2) bn } }")
    kinds = [inline.graph.edges[a, b]["kind"] for a, b in inline.graph.in_edges(["add1", "add2"])]
    assert sorted(kinds) == ["main", "main", "projection", "skip"]
    edges = styled_edges(inline.to_dot(collapse="none"))
    assert "style" not in edges[("input", "add1")] and "style=dashed" in edges[("downsample2.1", "add2")]


def test_projection_shortcuts_are_dashed() -> None:
    net = network("resnet50")
    edges = styled_edges(net.to_dot(collapse="none"))
    assert "style=dashed" in edges[("layer1.2.relu3", "layer2.0.downsample.0")]
    assert "style=dashed" in edges[("layer2.0.downsample.1", "layer2.0.add1")]
    assert "style" not in edges[("layer1.2.relu3", "layer2.0.conv1")]
    assert "style" not in edges[("layer2.0.relu3", "layer2.1.add1")]  # an identity shortcut


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
    bundle = network("resnet18").diagram()._repr_mimebundle_()  # a notebook shows why, as text
    assert list(bundle) == ["text/plain"] and "no drawing: Graphviz's 'dot' program is not installed" in \
        bundle["text/plain"]


def test_usage_errors(tmp_path: Path) -> None:
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.gif")]) == 2
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "missing" / "net.svg")]) == 2


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first, right after the 8-byte signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("collapse", ["none", "blocks", "stages"])
def test_png_resolution_by_default(tmp_path: Path, collapse: str, capsys) -> None:
    """At Graphviz's 96 dpi resnet50's PNGs were 158 to 357 px wide; by default they are 600 to 1,200."""
    out = tmp_path / "net.png"
    assert main(["render", "examples/resnet50.res", "-o", str(out), "--collapse", collapse]) == 0
    width, height = png_size(out.read_bytes())
    assert 600 <= width <= 1200 and max(width, height) <= RASTER_MAX_SIDE
    assert main(["render", "examples/resnet50.res", "-o", str(out), "--collapse", collapse, "--dpi", "96"]) == 0
    assert png_size(out.read_bytes())[0] == {"none": 357, "blocks": 243, "stages": 158}[collapse]


def test_png_dpi_bounds(tmp_path: Path, capsys) -> None:
    out = tmp_path / "net.png"
    assert main(["render", "examples/resnet50.res", "-o", str(out), "--collapse", "stages", "--dpi", "300"]) == 0
    assert png_size(out.read_bytes()) == (494, 1633)  # (1.5347 + 8/72) × 300 by (5.3333 + 8/72) × 300
    tall = network("resnet152")  # 377 inches tall: the default resolution shrinks to fit a bitmap
    width, height = png_size(render(tall.graph, "png", collapse="none"))
    assert height <= RASTER_MAX_SIDE and height > RASTER_MAX_SIDE - 400 and width < 357
    capsys.readouterr()
    assert main(["render", "examples/resnet152.res", "-o", str(out), "--collapse", "none", "--dpi", "100"]) == 2
    err = capsys.readouterr().err
    assert "--dpi 100 would make a 372×37,725 px image" in err and "hint: --dpi 86 or less" in err
    assert main(["render", "examples/resnet50.res", "-o", str(tmp_path / "net.svg"), "--dpi", "200"]) == 2
    assert "error: --dpi sets the resolution of a bitmap; .svg has none" in capsys.readouterr().err
    assert not (tmp_path / "net.svg").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["render", "examples/resnet50.res", "-o", str(out), "--dpi", "0"])
    assert exit_.value.code == 2 and "--dpi: '0' is not a positive whole number" in capsys.readouterr().err
    with pytest.raises(resdsl.ResdslError, match=r"dpi=1\.5: the resolution is a whole number"):
        render(network("resnet18").graph, "png", dpi=1.5)


def test_diagram_object(tmp_path: Path) -> None:
    """``Network.diagram()``: what a notebook displays, with render's options, and files as render writes them."""
    net = network("resnet50")
    diagram = net.diagram(collapse="blocks", direction="LR", shapes=False)
    assert repr(diagram) == "<Diagram of resnet50: collapse blocks, LR>"
    assert diagram.to_dot() == net.to_dot(collapse="blocks", direction="LR", shapes=False)
    bundle = diagram._repr_mimebundle_()
    root = ET.fromstring(bundle["image/svg+xml"])
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("class") == "node") == len(parsed(diagram.to_dot())[0])
    assert png_size(diagram.save(tmp_path / "net.png", dpi=96).read_bytes())[1] < 400  # LR: wide and low
    assert diagram.save(tmp_path / "net.dot").read_text() == diagram.to_dot()
    assert net.diagram()._repr_mimebundle_()["image/svg+xml"] == net._repr_svg_()
    for bad in ({"collapse": "stage"}, {"direction": "BT"}):
        with pytest.raises(resdsl.ResdslError, match=r"collapse='stage': one of|direction='BT': 'TB'"):
            net.diagram(**bad)
