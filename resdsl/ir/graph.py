"""The IR contract, stated once: :func:`lint` checks every invariant a pass or backend may rely on.

An IR graph is a plain ``networkx.DiGraph``. Node keys are module paths (``layer1.0.conv1``); node
attributes are ``op`` and ``span`` (lowering), ``stage`` and ``block`` (lowering), ``shape``
(:mod:`resdsl.passes.shapes`), ``params``/``buffers``/``macs`` (:mod:`resdsl.passes.counting`).
Edges are uses, with ``port`` (input position) and ``kind`` (``main``, ``skip``, ``projection``).
Nodes are stored in a topological order (producers before users), so passes iterate ``graph``
directly. Graph attributes: ``name``, ``input_shape``, ``output``, ``path``, ``parameters``, ``residuals`` (one
entry per residual unit), ``blocks`` (block instance → the call that made it, ``bottleneck(256, stride: 2)``).
"""

from __future__ import annotations

import networkx as nx

EDGE_KINDS = ("main", "skip", "projection")


class IRError(AssertionError):
    """A broken invariant: a bug in resdsl, never a fault in the user's spec."""


def inputs(graph: nx.DiGraph, node: str) -> list[str]:
    """The producers of ``node``'s inputs, in port order."""
    producers = graph.pred[node]
    if len(producers) < 2:
        return list(producers)
    return sorted(producers, key=lambda producer: producers[producer]["port"])


def lint(graph: nx.DiGraph) -> None:
    """Raise :class:`IRError` unless ``graph`` satisfies the IR contract."""
    if not isinstance(graph, nx.DiGraph) or type(graph) is not nx.DiGraph:
        raise IRError("an IR graph is a plain networkx.DiGraph")
    order = {node: index for index, node in enumerate(graph)}
    if any(order[source] >= order[target] for source, target in graph.edges):
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            raise IRError("nodes are not in topological order") from None
        raise IRError(f"cycle: {' → '.join(edge[0] for edge in cycle)}")
    sources = [n for n in graph if graph.in_degree(n) == 0]
    sinks = [n for n in graph if graph.out_degree(n) == 0]
    if len(sources) != 1:
        raise IRError(f"expected one input, found {sources}")
    if len(sinks) != 1:
        raise IRError(f"expected one output, found {sinks}")
    if "output" in graph.graph and graph.graph["output"] != sinks[0]:
        raise IRError(f"graph output {graph.graph['output']!r} is not the sink {sinks[0]!r}")
    for node, data in graph.nodes(data=True):
        for key in ("op", "span"):
            if key not in data:
                raise IRError(f"node {node!r} has no {key!r}")
        ports = sorted(port for _, _, port in graph.in_edges(node, data="port"))
        if ports != list(range(len(ports))):
            raise IRError(f"node {node!r} has ports {ports}, not 0..{len(ports) - 1}")
        arity = data["op"].arity
        if arity is not None and len(ports) != arity:
            raise IRError(f"node {node!r} ({data['op'].kind}) has {len(ports)} inputs, expected {arity}")
        if arity is None and len(ports) < 2:
            raise IRError(f"merge {node!r} has {len(ports)} inputs")
    for source, target, kind in graph.edges(data="kind"):
        if kind not in EDGE_KINDS:
            raise IRError(f"edge {source!r} → {target!r} has kind {kind!r}")
