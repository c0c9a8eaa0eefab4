"""Counting: writes ``params``, ``buffers`` and ``macs`` (per sample) on every node."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import Topology


def count(graph: nx.DiGraph, topology: Topology | None = None) -> None:
    """Parameters and buffers of each node, and its MACs for one sample (fvcore's rules, see ops)."""
    topology = topology or Topology.of(graph)
    nodes = topology.attributes
    for data, producers in zip(nodes, topology.inputs):
        in_shapes = [nodes[p]["shape"] for p in producers]
        op = data["op"]
        data["params"] = op.params(in_shapes)
        data["buffers"] = op.buffers(in_shapes)
        data["macs"] = op.macs(in_shapes, data["shape"])
