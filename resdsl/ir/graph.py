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


InputMap = dict[str, tuple[str, ...]]


def input_map(graph: nx.DiGraph) -> InputMap:
    """:func:`inputs` of every node, in the graph's (topological) order.

    Passes that visit every node take this map, built once per analysis: reading all predecessors in
    one sweep is several times faster than asking networkx node by node.
    """
    return {node: tuple(producers) if len(producers) < 2
            else tuple(sorted(producers, key=lambda producer: producers[producer]["port"]))
            for node, producers in graph.pred.items()}


def use_counts(inputs: InputMap) -> dict[str, int]:
    """How many nodes read each node's output (its out-degree), from an :func:`input_map`."""
    uses = dict.fromkeys(inputs, 0)
    for producers in inputs.values():
        for producer in producers:
            uses[producer] += 1
    return uses


def lint(graph: nx.DiGraph) -> None:
    """Raise :class:`IRError` unless ``graph`` satisfies the IR contract."""
    if not isinstance(graph, nx.DiGraph) or type(graph) is not nx.DiGraph:
        raise IRError("an IR graph is a plain networkx.DiGraph")
    seen: set[str] = set()
    ports: dict[str, list[int]] = {}
    uses = dict.fromkeys(graph, 0)
    for target, producers in graph.pred.items():
        ports[target] = []
        for source, data in producers.items():
            if source not in seen:
                try:
                    cycle = nx.find_cycle(graph)
                except nx.NetworkXNoCycle:
                    raise IRError("nodes are not in topological order") from None
                raise IRError(f"cycle: {' → '.join(edge[0] for edge in cycle)}")
            if data.get("kind") not in EDGE_KINDS:
                raise IRError(f"edge {source!r} → {target!r} has kind {data.get('kind')!r}")
            if type(data.get("port")) is not int:
                raise IRError(f"edge {source!r} → {target!r} has port {data.get('port')!r}")
            ports[target].append(data["port"])
            uses[source] += 1
        seen.add(target)
    sources = [node for node, used in ports.items() if not used]
    sinks = [node for node, count in uses.items() if not count]
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
        used = ports[node]
        if len(used) > 1:
            used.sort()
        if used != list(range(len(used))):
            raise IRError(f"node {node!r} has ports {used}, not 0..{len(used) - 1}")
        arity = data["op"].arity
        if arity is not None and len(used) != arity:
            raise IRError(f"node {node!r} ({data['op'].kind}) has {len(used)} inputs, expected {arity}")
        if arity is None and len(used) < 2:
            raise IRError(f"merge {node!r} has {len(used)} inputs")
