"""Shape inference: writes ``shape`` on every node (per sample: CxHxW or a vector length)."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import InputMap, input_map


def infer_shapes(graph: nx.DiGraph, inputs: InputMap | None = None) -> None:
    """Set ``graph.nodes[n]["shape"]`` from each op's arithmetic, in the graph's topological order.

    Lowering has already reported any shape error at its span, so here an op that rejects its
    input shapes is a bug and its :class:`~resdsl.ir.ops.ShapeError` propagates.
    """
    nodes = dict(graph.nodes(data=True))
    for node, producers in (inputs or input_map(graph)).items():
        data = nodes[node]
        data["shape"] = data["op"].output_shape([nodes[p]["shape"] for p in producers])
