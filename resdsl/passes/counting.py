"""Counting: writes ``params``, ``buffers`` and ``macs`` (per sample) on every node."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import inputs


def count(graph: nx.DiGraph) -> None:
    """Parameters and buffers of each node, and its MACs for one sample (fvcore's rules, see ops)."""
    nodes = graph.nodes
    for node, data in nodes(data=True):
        in_shapes = [nodes[p]["shape"] for p in inputs(graph, node)]
        op = data["op"]
        data["params"] = op.params(in_shapes)
        data["buffers"] = op.buffers(in_shapes)
        data["macs"] = op.macs(in_shapes, data["shape"])
