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
from resdsl.ir.graph import InputMap, input_map


@frozen
class PathSummary:
    paths: int  # distinct input → output paths
    shortest: int  # weighted layers on the shortest path
    longest: int  # weighted layers on the longest path: the depth
    weighted_layers: int  # conv and linear layers in the network


def path_summary(graph: nx.DiGraph, inputs: InputMap | None = None) -> PathSummary:
    """Paths counted exactly. With n residual units there are up to 2**n, so a node's count is dropped
    once its last user has read it: keeping them all would hold O(n²) bits."""
    inputs = inputs or input_map(graph)
    ops = dict(graph.nodes(data="op"))
    output = graph.graph["output"]
    unread = dict.fromkeys(inputs, 0)
    for producers in inputs.values():
        for producer in producers:
            unread[producer] += 1
    count: dict[str, int] = {}
    shortest: dict[str, int] = {}
    longest: dict[str, int] = {}
    for node, producers in inputs.items():
        weight = int(ops[node].weighted)
        if not producers:
            count[node], shortest[node], longest[node] = 1, weight, weight
            continue
        count[node] = sum(count[p] for p in producers)
        shortest[node] = min(shortest[p] for p in producers) + weight
        longest[node] = max(longest[p] for p in producers) + weight
        for producer in producers:
            unread[producer] -= 1
            if not unread[producer]:
                del count[producer]
    weighted = sum(1 for op in ops.values() if op.weighted)
    return PathSummary(count[output], shortest[output], longest[output], weighted)


def receptive_field(graph: nx.DiGraph, inputs: InputMap | None = None) -> int:
    """Theoretical receptive field, in input pixels along one axis, of the last spatial feature map.

    Standard recurrence: ``r_out = r_in + (k_eff - 1) * j_in`` and ``j_out = j_in * stride``, taking the
    largest over merged inputs; upsampling divides the jump. Global pooling ends the recurrence: the
    figure reported is the receptive field of the map it pools.
    """
    nodes = dict(graph.nodes(data=True))
    field: dict[str, int | Fraction] = {}  # Fractions only below an upsampling
    jump: dict[str, int | Fraction] = {}
    last: int | Fraction = 1
    for node, producers in (inputs or input_map(graph)).items():
        op = nodes[node]["op"]
        if not producers:
            field[node], jump[node] = 1, 1
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
        jump[node] = Fraction(j_in, scale) if scale else j_in * stride
        if len(nodes[node]["shape"]) == 3:
            last = field[node]
    return int(last)
