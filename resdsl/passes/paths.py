"""Depth, paths and receptive field: the structure of a residual network as a set of paths.

Veit et al. 2016 ("Residual Networks Behave Like Ensembles of Relatively Shallow Networks") read a
ResNet with n residual units as 2**n paths of different lengths; :func:`path_summary` reports their
number and the shortest and longest in weighted layers (conv, linear). The longest is the depth in
the paper's sense: ResNet-50 → 50.
"""

from __future__ import annotations

from math import prod

import networkx as nx

from resdsl.frozen import frozen
from resdsl.ir.graph import InputMap, input_map, use_counts

MAX_POSITIONS = 1024  # pixel positions traced at most for a receptive field (see receptive_field)


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
    unread = use_counts(inputs)
    count: dict[str, int] = {}
    shortest: dict[str, int] = {}
    longest: dict[str, int] = {}
    for node, producers in inputs.items():
        weight = int(ops[node].weighted)
        if not producers:
            count[node], shortest[node], longest[node] = 1, weight, weight
            continue
        if len(producers) == 1:  # most nodes: share the producer's count (a big int) rather than copy it
            (producer,) = producers
            count[node], shortest[node], longest[node] = count[producer], shortest[producer] + weight, \
                longest[producer] + weight
        else:
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
    """Receptive field, in input pixels along one axis, of one pixel of the last spatial feature map.

    The last spatial map is the last node with a CxHxW output other than a global pooling. Exact
    rather than the usual recurrence ``r += (k - 1) * jump``, which merges branches by their
    largest field and is only approximate across upsampling: the positions one pixel reads are traced
    back to the input through each op's :meth:`~resdsl.ir.ops.Op.reads`, over an unbounded input (no
    clipping at the borders), taking the union where branches merge. Where upsampling makes the figure
    depend on the pixel's position, the largest over positions is reported (the pattern repeats with
    the product of the upsampling factors; at most 1,024 positions are traced). A global pooling on
    the way (a squeeze-and-excitation gate) makes the field the whole input.
    """
    inputs = inputs or input_map(graph)
    ops = dict(graph.nodes(data="op"))
    order = list(inputs)
    source = order[0]
    spatial = [index for index, (node, data) in enumerate(graph.nodes(data=True))
               if len(data["shape"]) == 3 and data["op"].kind != "global_avgpool"]
    if not spatial:
        return 1
    upstream = order[: spatial[-1] + 1]  # the last spatial map and everything before it
    period = prod(op.scale for op in ops.values() if op.kind == "upsample")
    largest = 0
    for position in range(min(period, MAX_POSITIONS)):
        reads: dict[str, tuple[int, int] | None] = {upstream[-1]: (position, position)}
        for node in reversed(upstream):
            if node not in reads:
                continue  # not on a path to that pixel
            span = reads.pop(node) if node != source else reads[node]
            read = None if span is None else ops[node].reads(*span)
            for producer in inputs[node]:  # a producer read by several users: the union of their reads
                earlier = reads.get(producer, read)
                reads[producer] = None if read is None or earlier is None else \
                    (min(earlier[0], read[0]), max(earlier[1], read[1]))
        span = reads[source]
        if span is None:
            return graph.graph["input_shape"][1]
        largest = max(largest, span[1] - span[0] + 1)
    return largest

