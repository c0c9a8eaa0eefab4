"""Depth, paths and receptive field: the structure of a residual network as a set of paths.

Veit et al. 2016 ("Residual Networks Behave Like Ensembles of Relatively Shallow Networks") read a
ResNet with n residual units as 2**n paths of different lengths; :func:`path_summary` reports their
number and the shortest and longest in weighted layers (conv, linear). The longest is the depth in
the paper's sense: ResNet-50 → 50.
"""

from __future__ import annotations

from fractions import Fraction

import networkx as nx

from resdsl.frozen import frozen
from resdsl.ir.graph import inputs


@frozen
class PathSummary:
    paths: int  # distinct input → output paths
    shortest: int  # weighted layers on the shortest path
    longest: int  # weighted layers on the longest path: the depth
    weighted_layers: int  # conv and linear layers in the network


def path_summary(graph: nx.DiGraph) -> PathSummary:
    nodes = graph.nodes
    count: dict[str, int] = {}
    shortest: dict[str, int] = {}
    longest: dict[str, int] = {}
    for node in graph:
        weight = int(nodes[node]["op"].weighted)
        producers = inputs(graph, node)
        if not producers:
            count[node], shortest[node], longest[node] = 1, weight, weight
            continue
        count[node] = sum(count[p] for p in producers)
        shortest[node] = min(shortest[p] for p in producers) + weight
        longest[node] = max(longest[p] for p in producers) + weight
    output = graph.graph["output"]
    weighted = sum(1 for _, op in nodes(data="op") if op.weighted)
    return PathSummary(count[output], shortest[output], longest[output], weighted)


def receptive_field(graph: nx.DiGraph) -> int:
    """Theoretical receptive field, in input pixels along one axis, of the last spatial feature map.

    Standard recurrence: ``r_out = r_in + (k_eff - 1) * j_in`` and ``j_out = j_in * stride``, taking the
    largest over merged inputs; upsampling divides the jump. Global pooling ends the recurrence: the
    figure reported is the receptive field of the map it pools.
    """
    nodes = graph.nodes
    field: dict[str, Fraction] = {}
    jump: dict[str, Fraction] = {}
    last = Fraction(1)
    for node in graph:
        op = nodes[node]["op"]
        producers = inputs(graph, node)
        if not producers:
            field[node], jump[node] = Fraction(1), Fraction(1)
            continue
        r_in = max(field[p] for p in producers)
        j_in = max(jump[p] for p in producers)
        kernel, stride = op.window()
        if kernel == 0:  # global pooling
            last = r_in
            field[node], jump[node] = r_in, j_in
            continue
        scale = getattr(op, "scale", None) if op.kind == "upsample" else None
        field[node] = r_in + (kernel - 1) * j_in
        jump[node] = j_in / scale if scale else j_in * stride
        if len(nodes[node]["shape"]) == 3:
            last = field[node]
    return int(last)
