"""Which ReLUs may run in place (``nn.ReLU(inplace=True)``), as torchvision's ResNets run them.

A ReLU may overwrite its input when nothing else reads that input and autograd does not need it:
the input is used once and produced by a conv, a batch norm or an add, none of which keeps its
output for backward. Both PyTorch backends read this one answer.
"""

from __future__ import annotations

import networkx as nx

from resdsl.ir.graph import inputs
from resdsl.ir.ops import Add, BatchNorm, Conv, ReLU

_OVERWRITABLE = (Conv, BatchNorm, Add)


def inplace_relus(graph: nx.DiGraph) -> set[str]:
    """The ReLU nodes of ``graph`` that may run in place."""
    nodes = graph.nodes
    found = set()
    for node, op in graph.nodes(data="op"):
        if isinstance(op, ReLU):
            (producer,) = inputs(graph, node)
            if graph.out_degree(producer) == 1 and isinstance(nodes[producer]["op"], _OVERWRITABLE):
                found.add(node)
    return found
