"""Counting: writes ``params``, ``buffers`` and ``macs`` (per sample) on every node."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import InputMap, input_map


def count(graph: nx.DiGraph, inputs: InputMap | None = None) -> None:
    """Parameters and buffers of each node, and its MACs for one sample (fvcore's rules, see ops)."""
    nodes = dict(graph.nodes(data=True))
    for node, producers in (inputs or input_map(graph)).items():
        data = nodes[node]
        in_shapes = [nodes[p]["shape"] for p in producers]
        op = data["op"]
        data["params"] = op.params(in_shapes)
        data["buffers"] = op.buffers(in_shapes)
        data["macs"] = op.macs(in_shapes, data["shape"])
