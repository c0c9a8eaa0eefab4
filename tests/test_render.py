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


def edge_styles(net: resdsl.Network, collapse: str) -> dict[tuple[str, str], str]:
    """(source, target) tooltips → the edge's style attributes: '' for solid, 'style=dashed', ..."""
    tooltips, edges = parsed(net.to_dot(collapse=collapse))
    return {(tooltips[a], tooltips[b]): ", ".join(part for part in attributes.split(", ") if "style" in part)
            for a, b, attributes in edges}


@pytest.mark.parametrize("collapse", ["blocks", "stages"])
def test_a_collapsed_stage_is_entered_by_its_main_path(collapse: str) -> None:
    # layer2.0's input feeds both its main path and its projection: the drawn edge is the main path
    net = network("resnet50")
    styles = edge_styles(net, collapse)
    entering = {"blocks": ("layer1.1", "layer2.0"), "stages": ("layer1", "layer2")}[collapse]
    assert styles[entering] == ""
    assert all(style == "" for style in styles.values())  # every shortcut lies inside a drawn unit
    weights = re.findall(r"weight=(\d+)", net.to_dot(collapse=collapse))
    assert set(weights) == {"10"}  # a chain of main-path edges: drawn straight


def test_pad_on_an_unchanged_shape_is_an_identity() -> None:
    net = network("cifar_resnet20")
    residuals = {r["block"]: r["shortcut"] for r in net.graph.graph["residuals"]}
    assert residuals["layer1.0"] == residuals["layer2.1"] == "identity"  # pad, but nothing to pad
    assert residuals["layer2.0"] == residuals["layer3.0"] == "pad"  # stride 2 and more channels
    styles = edge_styles(net, "none")
    assert styles[("layer1.0.relu2", "layer1.1.add1")] == ""  # the identity: solid
    assert styles[("layer1.2.relu2", "layer2.0.downsample.0")] == "style=dashed"  # a real projection
    dashed = [pair for pair, style in styles.items() if style == "style=dashed"]
    assert len(dashed) == 2 * 3  # per padded unit: into the subsample, into the zero pad, into the add
    blocks = net.to_dot(collapse="blocks")
    assert blocks.count("shortcut: pad") == 2 + 5  # 2 labels of projecting units, 5 in the folded calls
    dot = resdsl.load("network n { input 8x8x8 residual(shortcut: pad) { conv(8) bn } }").to_dot()
    assert "style=dashed" not in dot


def test_a_real_projection_is_dashed() -> None:
    styles = edge_styles(network("resnet50"), "none")
    assert styles[("layer1.2.relu3", "layer2.0.downsample.0")] == "style=dashed"
    assert styles[("layer2.0.downsample.1", "layer2.0.add1")] == "style=dashed"
    assert styles[("layer2.0.relu3", "layer2.1.add1")] == ""  # the next unit's identity


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which always comes first."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("collapse", ["none", "blocks", "stages"])
def test_png_resolution(tmp_path: Path, collapse: str, capsys) -> None:
    sizes = {}
    for dpi in (None, "96"):
        out = tmp_path / f"net{dpi}.png"
        assert main(["render", "examples/resnet50.res", "-o", str(out), "--collapse", collapse,
                     *(["--dpi", dpi] if dpi else [])]) == 0
        sizes[dpi] = png_size(out.read_bytes())
    (width, height), (width96, height96) = sizes[None], sizes["96"]
    assert width96 == {"none": 357, "blocks": 243, "stages": 158}[collapse]  # Graphviz's own: too small to read
    assert 600 <= width <= 1200 and max(width, height) <= RASTER_MAX_SIDE
    # One scale for both sides: 192 dpi at least, more for the narrow ones (800 px, up to 384 dpi)
    scale = {"none": 214 / 96, "blocks": 316 / 96, "stages": 384 / 96}[collapse]
    assert abs(width - scale * width96) <= 3 and abs(height - scale * height96) <= 3


def test_png_never_passes_the_largest_bitmap(tmp_path: Path, capsys) -> None:
    """ResNet-152 with every layer is 377 inches tall: at 192 dpi Graphviz would shrink the bitmap itself
    (to 87 dpi, with a warning of its own); the default lowers the resolution to fit instead, and a
    --dpi past it is refused, saying which would fit."""
    assert main(["render", "examples/resnet152.res", "-o", str(tmp_path / "net.png"), "--collapse", "none"]) == 0
    width, height = png_size((tmp_path / "net.png").read_bytes())
    assert RASTER_MAX_SIDE - 400 < height <= RASTER_MAX_SIDE and width < 357
    assert "too large for cairo" not in capsys.readouterr().err
    assert main(["render", "examples/resnet152.res", "-o", str(tmp_path / "big.png"), "--collapse", "none",
                 "--dpi", "100"]) == 2
    err = capsys.readouterr().err
    assert "--dpi 100 would make a 372×37,725 px image; Graphviz draws bitmaps of at most 32,767 px a side" in err
    assert "hint: --dpi 86 or less" in err and not (tmp_path / "big.png").exists()
    assert main(["render", "examples/resnet152.res", "-o", str(tmp_path / "big.png"), "--collapse", "none",
                 "--dpi", "86"]) == 0
    assert png_size((tmp_path / "big.png").read_bytes())[1] <= RASTER_MAX_SIDE


def test_dpi_errors(tmp_path: Path, capsys) -> None:
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.svg"), "--dpi", "300"]) == 2
    assert "dpi" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.png"), "--dpi", "0"])
    assert exit.value.code == 2
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.png"), "--dpi", "99999"]) == 2
    assert list(tmp_path.iterdir()) == []
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.dot"), "--dpi", "300"]) == 0
    assert "dpi=300" in (tmp_path / "net.dot").read_text()
    assert "dpi" not in network("resnet18").to_dot()
