"""Shape inference: writes ``shape`` on every node (per sample: CxHxW or a vector length)."""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import inputs


def infer_shapes(graph: nx.DiGraph) -> None:
    """Set ``graph.nodes[n]["shape"]`` from each op's arithmetic, in the graph's topological order.

    Lowering has already reported any shape error at its span, so here an op that rejects its
    input shapes is a bug and its :class:`~resdsl.ir.ops.ShapeError` propagates.
    """
    nodes = graph.nodes
    for node in graph:
        nodes[node]["shape"] = nodes[node]["op"].output_shape([nodes[p]["shape"] for p in inputs(graph, node)])
