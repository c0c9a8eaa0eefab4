"""The IR contract, stated once: :func:`lint` checks every invariant a pass or backend may rely on.

An IR graph is a plain ``networkx.DiGraph``. Node keys are module paths (``layer1.0.conv1``); node
attributes are ``op`` and ``span`` (lowering), ``stage`` and ``block`` (lowering), ``shape``
(:mod:`resdsl.passes.shapes`), ``params``/``buffers``/``macs`` (:mod:`resdsl.passes.counting`).
Edges are uses, with ``port`` (input position) and ``kind`` (``main``, ``skip``, ``projection``).
Nodes are stored in a topological order (producers before users), so the input comes first; passes
sweep the graph through a :class:`Topology`, read once per analysis. One input, one or more named
outputs: ``outputs`` maps each output's name to its node, in the order the network returns them, and
every node without users is an output. Graph attributes: ``name``, ``input_shape``, ``outputs``,
``path``, ``parameters``, ``residuals`` (one entry per residual unit), ``blocks`` (block instance →
the call that made it, ``bottleneck(256, stride: 2)``).
"""

from __future__ import annotations

from functools import cached_property
from operator import attrgetter, itemgetter
from typing import Any

import networkx as nx

from resdsl.frozen import frozen

EDGE_KINDS = ("main", "skip", "projection")


class IRError(AssertionError):
    """A broken invariant: a bug in resdsl, never a fault in the user's spec."""


def inputs(graph: nx.DiGraph, node: str) -> list[str]:
    """The producers of ``node``'s inputs, in port order."""
    producers = graph.pred[node]
    if len(producers) < 2:
        return list(producers)
    return sorted(producers, key=lambda producer: producers[producer]["port"])


def outer_block(blocks: dict[str, str], block: str | None) -> str | None:
    """The outermost block instance containing ``block`` (``layer1.0`` for ``layer1.0.se1``), given the
    graph's ``blocks`` attribute: the unit a stats row or a collapsed diagram box stands for."""
    if block is None:
        return None
    parts = block.split(".")
    return next((".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in blocks), block)


@frozen
class Topology:
    """A linted graph as the passes sweep it: nodes by topological position, inputs as positions.

    Passes visit every node, several times per analysis. Read from networkx once, each visit walks
    lists in order; a lookup in a dict keyed by node name per node and per pass missed the cache
    once the network had hundreds of thousands of nodes, and time per node grew with depth
    (bench/RESULTS.md, scaling).

    >>> topology = Topology.of(resdsl.load("examples/resnet18.res").graph)  # doctest: +SKIP
    >>> topology.names[-1], topology.inputs[-1], topology.names[68]         # doctest: +SKIP
    ('fc', (68,), 'flatten1')
    """

    names: tuple[str, ...]
    attributes: tuple[dict[str, Any], ...]  # networkx's own attribute dicts: a pass's writes land on the graph
    inputs: tuple[tuple[int, ...], ...]  # the positions of each node's producers, in port order
    outputs: tuple[int, ...]  # the positions of the graph's outputs, in order (a node may be two outputs)

    @classmethod
    def of(cls, graph: nx.DiGraph) -> Topology:
        position = {node: index for index, node in enumerate(graph)}
        producers: list[tuple[int, ...]] = [()] * len(position)
        for source, target, port in graph.in_edges(data="port"):  # grouped by target, in graph order
            user, taken = position[target], producers[position[target]]
            if port == len(taken):  # lowering adds edges port by port
                producers[user] = (*taken, position[source])
            else:
                slots = list(taken) + [-1] * (port + 1 - len(taken))  # -1: a port not seen yet
                slots[port] = position[source]
                producers[user] = tuple(slots)
        return cls(tuple(position), tuple(data for _, data in graph.nodes(data=True)), tuple(producers),
                   tuple(position[node] for node in graph.graph["outputs"].values()))

    @cached_property
    def data_inputs(self) -> tuple[tuple[int, ...], ...]:
        """Each node's producers whose values it reads, in port order: its inputs less those its op
        reads for their shape only (:attr:`~resdsl.ir.ops.Op.shape_only`). Paths, receptive fields
        and what training keeps follow these; read once per analysis."""
        shape_only = list(map(attrgetter("shape_only"), map(itemgetter("op"), self.attributes)))
        if not any(shape_only):  # nearly every network: the inputs themselves
            return self.inputs
        return tuple(tuple(p for port, p in enumerate(producers) if port not in ports) if ports else producers
                     for ports, producers in zip(shape_only, self.inputs))

    def uses(self) -> list[int]:
        """How many nodes read each node's output (its out-degree)."""
        uses = [0] * len(self.names)
        for producers in self.inputs:
            for producer in producers:
                uses[producer] += 1
        return uses


def lint(graph: nx.DiGraph) -> None:
    """Raise :class:`IRError` unless ``graph`` satisfies the IR contract."""
    if not isinstance(graph, nx.DiGraph) or type(graph) is not nx.DiGraph:
        raise IRError("an IR graph is a plain networkx.DiGraph")
    position = {node: index for index, node in enumerate(graph)}
    names = list(position)
    ports: list[list[int]] = [[] for _ in names]
    uses = [0] * len(names)
    for source, target, data in graph.in_edges(data=True):
        producer, user = position[source], position[target]
        if producer >= user:
            try:
                cycle = nx.find_cycle(graph)
            except nx.NetworkXNoCycle:
                raise IRError("nodes are not in topological order") from None
            raise IRError(f"cycle: {' → '.join(edge[0] for edge in cycle)}")
        if data.get("kind") not in EDGE_KINDS:
            raise IRError(f"edge {source!r} → {target!r} has kind {data.get('kind')!r}")
        if type(data.get("port")) is not int:
            raise IRError(f"edge {source!r} → {target!r} has port {data.get('port')!r}")
        ports[user].append(data["port"])
        uses[producer] += 1
    sources = [names[index] for index, used in enumerate(ports) if not used]
    sinks = [names[index] for index, count in enumerate(uses) if not count]
    if len(sources) != 1:
        raise IRError(f"expected one input, found {sources}")
    outputs = graph.graph.get("outputs")
    if not isinstance(outputs, dict) or not outputs or not all(isinstance(key, str) for key in outputs):
        raise IRError(f"graph outputs {outputs!r} are not a non-empty dict of names to nodes")
    for key, node in outputs.items():
        if node not in position:
            raise IRError(f"output {key!r} is {node!r}, not a node")
    dead = [sink for sink in sinks if sink not in outputs.values()]
    if dead:
        raise IRError(f"nodes {dead} have no users and are not outputs")
    for (node, data), used in zip(graph.nodes(data=True), ports):
        for key in ("op", "span"):
            if key not in data:
                raise IRError(f"node {node!r} has no {key!r}")
        if len(used) > 1:
            used.sort()
        if used != list(range(len(used))):
            raise IRError(f"node {node!r} has ports {used}, not 0..{len(used) - 1}")
        arity = data["op"].arity
        if arity is not None and len(used) != arity:
            raise IRError(f"node {node!r} ({data['op'].kind}) has {len(used)} inputs, expected {arity}")
        if arity is None and len(used) < 2:
            raise IRError(f"merge {node!r} has {len(used)} inputs")
