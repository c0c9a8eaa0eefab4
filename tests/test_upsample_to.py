"""Nearest resizing to another value's size (``UpsampleTo``), on hand-built IR graphs: what lowering
will make of ``upsample(to: VALUE)`` in a feature pyramid, checked against PyTorch.

At a 200x200 input torchvision's FPN resizes 7x7 to 13x13 and 13x13 to 25x25: ratios that are not
whole numbers. The second input only gives the size: it is no data path, no part of a receptive field,
nothing training keeps, and a dotted edge in diagrams.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from test_receptive_field import _linearize

from resdsl.backends.graphviz import to_dot
from resdsl.backends.torch_module import build_module
from resdsl.backends.torch_source import class_name, generate_source
from resdsl.backends.torch_tools import saved_for_backward
from resdsl.errors import Span
from resdsl.ir import ops
from resdsl.ir.graph import lint
from resdsl.ir.ops.base import HEIGHT, WIDTH
from resdsl.passes.memory import training_saved
from resdsl.passes.paths import field_span, path_summary, receptive_field
from resdsl.passes.shapes import infer_shapes
from resdsl.passes.stats import analyze

SPAN = Span("fpn.res", 1, 1, 1, 2)


def build(name: str, input_shape: tuple[int, ...], nodes: list[tuple[str, ops.Op, list[str]]]) -> nx.DiGraph:
    """An IR graph as lowering makes one: nodes in order, each with its producers in port order; an
    input read only for its size gets a ``skip`` edge, as a named value does."""
    graph = nx.DiGraph(name=name, path="fpn.res", input_shape=input_shape, outputs={"out": nodes[-1][0]}, parameters={},
                       residuals=[], blocks={})
    graph.add_node("input", op=ops.Input(input_shape), span=SPAN, stage=None, block=None)
    for node, op, producers in nodes:
        graph.add_node(node, op=op, span=SPAN, stage=None, block=None)
        for port, producer in enumerate(producers):
            graph.add_edge(producer, node, port=port, kind="main" if port == 0 else "skip")
    lint(graph)
    infer_shapes(graph)
    return graph


def fpn(side: int = 200) -> nx.DiGraph:
    """A small top-down feature pyramid (Lin et al. 2017) on five stride-2 convs, as torchvision's
    FPN computes it: each level's 1x1 lateral plus the coarser level resized to the lateral's size."""
    def conv(channels: int, k: int, stride: int = 1) -> ops.Conv:
        return ops.Conv(channels, k, stride, k // 2)
    return build("fpn", (3, side, side), [
        ("c1", conv(4, 3, 2), ["input"]), ("c2", conv(4, 3, 2), ["c1"]), ("c3", conv(4, 3, 2), ["c2"]),
        ("c4", conv(8, 3, 2), ["c3"]), ("c5", conv(8, 3, 2), ["c4"]),
        ("inner5", conv(6, 1), ["c5"]), ("inner4", conv(6, 1), ["c4"]),
        ("top5", ops.UpsampleTo(), ["inner5", "inner4"]), ("p4", ops.Add(), ["inner4", "top5"]),
        ("inner3", conv(6, 1), ["c3"]),
        ("top4", ops.UpsampleTo(), ["p4", "inner3"]), ("p3", ops.Add(), ["inner3", "top4"]),
        ("out", conv(6, 3), ["p3"]),
    ])


def test_shapes_and_the_sizes_of_a_200_pixel_input() -> None:
    graph = fpn(200)
    shapes = {node: graph.nodes[node]["shape"] for node in ("c3", "c4", "c5", "top5", "top4", "out")}
    assert shapes == {"c3": (4, 25, 25), "c4": (8, 13, 13), "c5": (8, 7, 7), "top5": (6, 13, 13),
                      "top4": (6, 25, 25), "out": (6, 25, 25)}
    assert graph.nodes["top5"]["op"].label() == "upsample to size"


def test_an_input_read_for_its_size_is_no_data_path() -> None:
    graph = fpn(200)
    data = nx.DiGraph((a, b) for a, b, port in graph.edges(data="port")
                      if port not in graph.nodes[b]["op"].shape_only)
    paths = list(nx.all_simple_paths(data, "input", "out"))
    summary = path_summary(graph)
    weighted = [sum(graph.nodes[n]["op"].weighted for n in path) for path in paths]
    assert (summary.paths, summary.shortest, summary.longest) == (len(paths), min(weighted), max(weighted)) == (3, 5, 7)
    assert len(list(nx.all_simple_paths(graph, "input", "out"))) == 5  # what counting every edge would say


@pytest.mark.parametrize("side", [200, 224])
def test_counts_memory_and_fvcore_equal_the_compiled_module(side: int) -> None:
    graph = fpn(side)
    stats = analyze(graph, batch=2)
    torch.manual_seed(0)
    model = build_module(graph).eval()
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, side, side))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    resized = {200: 6 * (13 * 13 + 25 * 25), 224: 6 * (14 * 14 + 28 * 28)}[side]  # 1 per output element
    assert analysis.by_operator()["upsample_nearest2d"] == resized == stats.macs_by_op["upsample"] // 2
    assert 2 * analysis.total() == stats.macs
    assert sum(p.numel() for p in model.parameters()) == stats.params
    assert stats.memory["training_bytes"]["fp32"] == saved_for_backward(model.train(), torch.randn(2, 3, side, side))


def test_training_keeps_nothing_of_an_input_read_for_its_size() -> None:
    """A value read only for its size is kept by no one: the 9x9 conv's output here."""
    graph = build("sized", (2, 12, 12), [
        ("small", ops.Conv(3, 3, 2, 1), ["input"]), ("big", ops.Conv(3, 9, 1, 4), ["input"]),
        ("resized", ops.UpsampleTo(), ["small", "big"]), ("out", ops.Conv(2, 1), ["resized"]),
    ])
    saved, _ = training_saved(graph)
    assert saved == 2 * 12 * 12 + 3 * 12 * 12  # the input (for both convs) and what the last conv reads
    model = build_module(graph).train()
    assert 4 * saved == saved_for_backward(model, torch.randn(1, 2, 12, 12))
    # and the receptive field ignores the 9x9 conv: a 3x3 stride-2 conv read through nearest x2
    assert receptive_field(graph) == (3, 3)


def _gradient_rows(model: torch.nn.Module, graph: nx.DiGraph, axis: int, position: int) -> list[int]:
    """The input rows (axis 0) or columns (axis 1) one pixel of the output reads: a non-zero gradient."""
    side = graph.graph["input_shape"][1]
    x = torch.ones(1, 3, side, side, dtype=torch.float64, requires_grad=True)
    out = model(x)
    middle = out.shape[-1] // 2
    pixel = (position, middle) if axis == HEIGHT else (middle, position)
    out[0, :, pixel[0], pixel[1]].sum().backward()
    assert x.grad is not None
    return (x.grad[0].abs().sum(dim=(0, 2 - axis)) > 0).nonzero().flatten().tolist()


@pytest.mark.parametrize("axis", [HEIGHT, WIDTH], ids=["height", "width"])
def test_receptive_field_is_exact_at_every_pixel(axis: int) -> None:
    """Every pixel of the 25x25 output (one whole period: 25 → 13 → 7 repeats every 25 positions)
    reads, according to the gradient of a linearized model, exactly the input rows its traced span
    covers, clipped to the input; the receptive field is the widest span over the period."""
    graph = fpn(200)
    model = build_module(graph).eval().double()
    _linearize(model)
    widths = []
    for position in range(25):
        span = field_span(graph, axis, position)
        assert span is not None
        read = _gradient_rows(model, graph, axis, position)
        assert (read[0], read[-1]) == (max(span[0], 0), min(span[1], 199)), position
        widths.append(span[1] - span[0] + 1)
    assert receptive_field(graph)[axis] == max(widths)
    assert len(set(widths)) > 1  # the non-integer ratios make the field depend on the position


def test_reads_equal_pytorch_nearest_for_every_size_pair() -> None:
    """``min(floor(i * s), n - 1)`` with ``s = n / m`` and the product in float32, as ATen computes it
    (float32 tensors; float64 CPU forwards compute in float64, and differ for a few pairs)."""
    op = ops.UpsampleTo()
    for n in range(1, 31):
        source = torch.arange(n, dtype=torch.float32).view(1, 1, n, 1)
        for m in range(1, 101):
            index = F.interpolate(source, size=(m, 1), mode="nearest").flatten().long().tolist()
            shapes = [(1, n, 1), (1, m, 1)]
            assert [op.reads(shapes, HEIGHT, i, i)[0] for i in range(m)] == index, (n, m)
            assert op.period(shapes, HEIGHT) <= m
    assert [ops.UpsampleTo().reads([(1, 3, 3), (1, 141, 141)], 0, i, i)[0] for i in (47, 94)] == [0, 1]
    assert [min(math.floor(i * 3 / 141), 2) for i in (47, 94)] == [1, 2]  # not the exact ratio


def test_compiled_module_and_source_resize_to_the_size_at_run_time(tmp_path: Path, monkeypatch) -> None:
    graph = fpn(200)
    source = generate_source(graph)
    assert "top5 = F.interpolate(inner5, size=inner4.shape[-2:], mode='nearest')  # 6x13x13" in source
    model = build_module(graph).eval()
    assert "inner4.shape" in model.code
    (tmp_path / "fpn_model.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import fpn_model

    theirs = getattr(fpn_model, class_name("fpn"))().eval()
    theirs.load_state_dict(model.state_dict(), strict=True)
    for side in (200, 224, 97):  # other input sizes: the sizes are read from the tensors, not fixed
        x = torch.randn(1, 3, side, side)
        with torch.no_grad():
            torch.testing.assert_close(theirs(x), model(x), rtol=0, atol=0)
            c3 = model.c3(model.c2(model.c1(x)))
            assert model(x).shape[-2:] == c3.shape[-2:]
    del sys.modules["fpn_model"]


def test_diagram_draws_the_size_edge_dotted() -> None:
    dot = to_dot(fpn(200))
    ids = {name: line.split()[0] for line in dot.splitlines() for name in ("inner4", "top5", "p4")
           if f'tooltip="{name}"' in line}
    edges = {line.split("[")[0].strip(): line for line in dot.splitlines() if "->" in line}
    assert "style=dotted" in edges[f"{ids['inner4']} -> {ids['top5']}"]
    assert "style=dotted" not in edges[f"{ids['inner4']} -> {ids['p4']}"]
