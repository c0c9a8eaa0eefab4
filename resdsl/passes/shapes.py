"""Shape inference: writes ``shape`` on every node (per sample: CxHxW or a vector length)."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import Topology


def infer_shapes(graph: nx.DiGraph, topology: Topology | None = None) -> None:
    """Set ``graph.nodes[n]["shape"]`` from each op's arithmetic, in the graph's topological order.

    Lowering has already reported any shape error at its span, so here an op that rejects its
    input shapes is a bug and its :class:`~resdsl.ir.ops.ShapeError` propagates.
    """
    topology = topology or Topology.of(graph)
    nodes = topology.attributes
    for data, producers in zip(nodes, topology.inputs):
        data["shape"] = data["op"].output_shape([nodes[p]["shape"] for p in producers])
