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
from resdsl.ir.graph import Topology
from resdsl.ir.ops import GlobalAvgPool
from resdsl.ir.ops.base import HEIGHT, WIDTH, pointwise
from resdsl.limits import MAX_TRACE_VISITS

MAX_POSITIONS = 1024  # pixel positions traced at most for a receptive field (see receptive_field)
_READ = (0, 0)  # a path count no longer needed


@frozen
class PathSummary:
    paths: int  # distinct input → output paths
    shortest: int  # weighted layers on the shortest path
    longest: int  # weighted layers on the longest path: the depth
    weighted_layers: int  # conv and linear layers in the network


def path_summary(graph: nx.DiGraph, topology: Topology | None = None) -> PathSummary:
    """Paths counted exactly, in time linear in the depth of a residual chain; with several outputs,
    the paths to each, summed, and the shortest and longest path to any of them. A path runs through
    the inputs an op reads: an input read for its shape only (``upsample(to: y)``'s ``y``) carries none.

    With n residual units there are up to 2**n paths: added as plain integers, n units would cost
    O(n²) digit operations. A count is kept as ``(odd, exponent)``, meaning ``odd * 2**exponent``,
    so the doubling at each residual unit is a constant-time step; and a count is dropped once its
    last user has read it.
    """
    topology = topology or Topology.of(graph)
    weights = [int(data["op"].weighted) for data in topology.attributes]
    unread = topology.uses()
    for output in topology.outputs:
        unread[output] += 1  # read once more, at the end
    count: list[tuple[int, int]] = [_READ] * len(weights)
    shortest = [0] * len(weights)
    longest = [0] * len(weights)
    for node, (producers, read) in enumerate(zip(topology.inputs, topology.data_inputs)):
        weight = weights[node]
        if not producers:
            count[node], shortest[node], longest[node] = (1, 0), weight, weight
            continue
        if len(read) == 1:  # most nodes: share the producer's count
            (producer,) = read
            count[node], shortest[node], longest[node] = count[producer], shortest[producer] + weight, \
                longest[producer] + weight
        else:
            count[node] = _sum_of_counts([count[p] for p in read])
            shortest[node] = min(shortest[p] for p in read) + weight
            longest[node] = max(longest[p] for p in read) + weight
        for producer in producers:
            unread[producer] -= 1
            if not unread[producer]:
                count[producer] = _READ  # its last user has it: free the digits
    outputs = topology.outputs  # a node read by others keeps its count: outputs are read at the end
    paths = sum(count[output][0] << count[output][1] for output in outputs)
    return PathSummary(paths, min(shortest[output] for output in outputs), max(longest[output] for output in outputs),
                       sum(weights))


def _sum_of_counts(counts: list[tuple[int, int]]) -> tuple[int, int]:
    """The sum of ``odd * 2**exponent`` counts, in the same form."""
    low = min(exponent for _, exponent in counts)
    total = sum(odd << (exponent - low) for odd, exponent in counts)
    zeros = (total & -total).bit_length() - 1  # trailing zero bits
    return total >> zeros, low + zeros


def receptive_field(graph: nx.DiGraph, topology: Topology | None = None,
                    output: int | None = None) -> tuple[int, int]:
    """Receptive field, in input pixels along the height and along the width, of one pixel of an
    output's last spatial map (the first output's when ``output``, a node position, is not given).

    The last spatial map is the output itself when it is CxHxW, else the last node before it, on its
    way from the input, with a CxHxW output other than a global pooling. Exact
    rather than the usual recurrence ``r += (k - 1) * jump``, which merges branches by their
    largest field and is only approximate across upsampling: the positions one pixel reads are traced
    back to the input through each op's :meth:`~resdsl.ir.ops.Op.reads`, one axis at a time (a 1x7
    conv reads 1 row and 7 columns), over an unbounded input (no clipping at the borders), taking the
    union where branches merge. Inputs an op reads for their shape only (``upsample(to: y)``'s ``y``)
    are not traced. Where upsampling or adaptive pooling makes the figure depend on the pixel's
    position, the largest over the map's pixels is reported: over one period of the pattern (the
    product of the ops' periods), or over the whole map where that is shorter. (Past the map, ops
    whose rule depends on their sizes — adaptive pooling, resizing to another value's size — repeat
    it periodically, but branches resized by different ratios drift apart there: 7 → 13 against a
    stride of 2.) A global pooling on the way (a squeeze-and-excitation gate) makes the field the
    whole input.

    The trace skips pointwise ops with one input (they pass a range on unchanged), so its cost is
    the number of other nodes times the positions traced: at most :data:`MAX_POSITIONS` positions,
    and fewer where that would exceed :data:`~resdsl.limits.MAX_TRACE_VISITS` node visits.
    """
    trace = _Trace(graph, topology or Topology.of(graph), output)
    height = trace.field(HEIGHT)
    return height, height if trace.symmetric() else trace.field(WIDTH)


def field_span(graph: nx.DiGraph, axis: int, position: int, topology: Topology | None = None) -> tuple[int, int] | None:
    """The input positions along ``axis`` that pixel ``position`` (along that axis) of the last spatial
    map reads, over an unbounded input: :func:`receptive_field`'s trace for one pixel. None: all of them."""
    return _Trace(graph, topology or Topology.of(graph)).span(axis, position)


class _Trace:
    """What :func:`receptive_field` traces: the nodes the last spatial map reads through, read once."""

    def __init__(self, graph: nx.DiGraph, topology: Topology, output: int | None = None) -> None:
        nodes, inputs = topology.attributes, topology.inputs
        output = topology.outputs[0] if output is None else output
        upstream = _upstream(topology, output)
        spatial = [node for node, data in enumerate(nodes[:output + 1])
                   if upstream[node] and len(data["shape"]) == 3 and not isinstance(data["op"], GlobalAvgPool)]
        last = spatial[-1] if spatial else 0  # the last spatial map; what it reads lies before it
        ops = [data["op"] for data in nodes[:last + 1]]
        through = list(range(last + 1))  # the nearest producer that is not a pointwise op of one input
        for node in range(1, last + 1):
            producers = inputs[node]
            if len(producers) == 1 and type(ops[node]).reads is pointwise:
                through[node] = through[producers[0]]
        traced = [node for node in range(last, 0, -1) if through[node] == node or node == last]
        data = topology.data_inputs
        self.producers_of = {node: {through[p] for p in data[node]} for node in traced}
        shapes: list[list[tuple[int, ...]]] = [[]] * (last + 1)  # each traced node's input shapes
        for node in traced:
            producers = inputs[node]
            shapes[node] = [nodes[producers[0]]["shape"]] if len(producers) == 1 else \
                [nodes[p]["shape"] for p in producers]
        self.shapes = shapes
        self.input_shape, self.last, self.last_shape = graph.graph["input_shape"], last, nodes[last]["shape"]
        self.ops, self.traced = ops, traced

    def symmetric(self) -> bool:
        """Whether every traced op reads alike along both axes (:meth:`~resdsl.ir.ops.Op.symmetric`) of
        a square input, so that the width's field is the height's."""
        height, width = self.input_shape[1:]
        if height != width:
            return False
        ops, shapes = self.ops, self.shapes
        return all(ops[node].symmetric(shapes[node]) for node in self.traced)

    def field(self, axis: int) -> int:
        """The receptive field along ``axis``: the widest span over one period of positions."""
        if self.last == 0:  # no map, or the input itself
            return 1
        period = prod(self.ops[node].period(self.shapes[node], axis) for node in self.traced)
        size = self.last_shape[1 + axis]  # beyond the map, resizing by ratios that are not whole is fiction
        positions = min(period, size, MAX_POSITIONS, max(1, MAX_TRACE_VISITS // len(self.traced)))
        largest = 0
        for position in range(positions):
            span = self.span(axis, position)
            if span is None:
                return int(self.input_shape[1 + axis])
            largest = max(largest, span[1] - span[0] + 1)
        return largest

    def span(self, axis: int, position: int) -> tuple[int, int] | None:
        """The input positions pixel ``position`` of the last map reads along ``axis``; None: all."""
        reads: dict[int, tuple[int, int] | None] = {self.last: (position, position)}  # absent: not on a path
        ops, shapes, producers_of = self.ops, self.shapes, self.producers_of
        for node in self.traced:
            if node not in reads:
                continue
            span = reads[node]
            read = None if span is None else ops[node].reads(shapes[node], axis, *span)
            for producer in producers_of[node]:  # read by several users: the union of their reads
                earlier = reads.get(producer, read)
                reads[producer] = None if read is None or earlier is None else \
                    (min(earlier[0], read[0]), max(earlier[1], read[1]))
        return reads[0]


def _upstream(topology: Topology, output: int) -> list[bool]:
    """Which nodes ``output`` reads, directly or not (itself included)."""
    upstream = [False] * (output + 1)
    upstream[output] = True
    for node in range(output, 0, -1):
        if upstream[node]:
            for producer in topology.inputs[node]:
                upstream[producer] = True
    return upstream
