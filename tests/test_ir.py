"""The IR contract: lint rejects what breaks it, and the path figures agree with networkx's own algorithms."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import networkx as nx
import pytest

import resdsl
from conftest import EXAMPLES
from resdsl.errors import Span
from resdsl.ir import ops
from resdsl.ir.graph import IRError, Topology, inputs, lint
from resdsl.passes.paths import _sum_of_counts

SPAN = Span("t.res", 1, 1, 1, 2)


def chain() -> nx.DiGraph:
    """input → conv → relu, a valid IR graph to break."""
    graph = nx.DiGraph(outputs={"out": "relu"})
    graph.add_node("input", op=ops.Input((3, 8, 8)), span=SPAN)
    graph.add_node("conv", op=ops.Conv(4, padding=1), span=SPAN)
    graph.add_node("relu", op=ops.ReLU(), span=SPAN)
    graph.add_edge("input", "conv", port=0, kind="main")
    graph.add_edge("conv", "relu", port=0, kind="main")
    return graph


def test_lint_accepts_a_valid_graph() -> None:
    lint(chain())


def _cycle(g):
    g.add_edge("relu", "conv", port=1, kind="skip")


def _out_of_order(g):
    g.remove_node("input")
    g.add_node("input", op=ops.Input((3, 8, 8)), span=SPAN)
    g.add_edge("input", "conv", port=0, kind="main")


def _second_input(g):
    g.add_node("other", op=ops.Input((3, 8, 8)), span=SPAN)


def _second_output(g):
    g.add_node("spare", op=ops.ReLU(), span=SPAN)
    g.add_edge("conv", "spare", port=0, kind="main")


def _add_one_input(g):
    g.add_node("add", op=ops.Add(), span=SPAN)
    g.add_edge("relu", "add", port=0, kind="main")
    g.graph["outputs"] = {"out": "add"}


def _port_gap(g):
    g.add_node("add", op=ops.Add(), span=SPAN)
    g.add_edge("relu", "add", port=0, kind="main")
    g.add_edge("conv", "add", port=2, kind="skip")
    g.graph["outputs"] = {"out": "add"}


BREAKS = {
    "a plain networkx.DiGraph": lambda g: None,  # checked on a subclass below
    "cycle: ": _cycle,
    "not in topological order": _out_of_order,
    "expected one input": _second_input,
    "have no users and are not outputs": _second_output,
    "are not a non-empty dict": lambda g: g.graph.update(outputs={}),
    "output 'out' is 'nowhere', not a node": lambda g: g.graph.update(outputs={"out": "nowhere"}),
    "has no 'op'": lambda g: g.nodes["relu"].pop("op"),
    "has no 'span'": lambda g: g.nodes["conv"].pop("span"),
    "has kind 'sideways'": lambda g: g.edges["conv", "relu"].update(kind="sideways"),
    "has port None": lambda g: g.edges["conv", "relu"].pop("port"),
    "has 2 inputs, expected 1": lambda g: g.add_edge("input", "relu", port=1, kind="skip"),
    "merge 'add' has 1 inputs": _add_one_input,
    "ports [0, 2], not 0..1": _port_gap,
}


@pytest.mark.parametrize("message", BREAKS)
def test_lint_names_each_broken_invariant(message: str) -> None:
    graph = chain()
    if message == "a plain networkx.DiGraph":
        graph = type("Sub", (nx.DiGraph,), {})(graph)
    BREAKS[message](graph)
    with pytest.raises(IRError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lint(graph)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_topology_is_the_graph_by_position(path: Path) -> None:
    graph = resdsl.load(path).graph
    topology = Topology.of(graph)
    assert topology.names == tuple(graph)
    outputs = list(graph.graph["outputs"].values())
    assert {node: tuple(topology.names[p] for p in producers) for node, producers in
            zip(topology.names, topology.inputs)} == {node: tuple(inputs(graph, node)) for node in graph}
    assert all(data is graph.nodes[node] for node, data in zip(topology.names, topology.attributes))
    assert topology.uses() == [graph.out_degree(node) for node in graph]
    assert [topology.names[p] for p in topology.outputs] == outputs


def test_topology_orders_inputs_by_port_not_by_edge_order() -> None:
    graph = chain()
    graph.add_node("cat", op=ops.Concat(), span=SPAN)
    for producer, port in (("relu", 2), ("input", 0), ("conv", 1)):
        graph.add_edge(producer, "cat", port=port, kind="skip")
    graph.graph["outputs"] = {"out": "cat"}
    lint(graph)
    assert Topology.of(graph).inputs == ((), (0,), (1,), (0, 1, 2))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_path_figures_match_networkx(path: Path) -> None:
    """Depth and the shortest path from networkx's DAG algorithms; the path count by enumeration."""
    network = resdsl.load(path)
    graph, stats = network.graph, network.stats()
    source, sinks = next(iter(graph)), list(graph.graph["outputs"].values())
    weighted = {node: int(op.weighted) for node, op in graph.nodes(data="op")}
    weights = nx.DiGraph()
    weights.add_weighted_edges_from((u, v, weighted[v]) for u, v in graph.edges)
    longest = max(nx.dag_longest_path_length(weights.subgraph(nx.ancestors(weights, sink) | {sink}))
                  for sink in sinks)
    assert stats.depth == stats.longest_path == longest + weighted[source]
    assert stats.shortest_path == min(nx.shortest_path_length(weights, source, sink, weight="weight")
                                      for sink in sinks) + weighted[source]
    assert stats.weighted_layers == sum(weighted.values())
    if stats.paths <= 70_000:
        assert stats.paths == sum(1 for sink in sinks for _ in nx.all_simple_paths(graph, source, sink))
    else:  # too many to enumerate: at least the count must exceed what was enumerated
        enumerated = (path for sink in sinks for path in nx.all_simple_paths(graph, source, sink))
        assert sum(1 for _ in itertools.islice(enumerated, 70_001)) == 70_001


def test_path_counts_kept_as_odd_times_power_of_two_add_up() -> None:
    rng = random.Random(0)
    for _ in range(500):
        values = [rng.randrange(1, 1 << rng.randrange(1, 90)) << rng.randrange(0, 70)
                  for _ in range(rng.randrange(2, 6))]
        halves = []
        for value in values:
            zeros = (value & -value).bit_length() - 1
            halves.append((value >> zeros, zeros))
        odd, exponent = _sum_of_counts(halves)
        assert odd % 2 == 1 and odd << exponent == sum(values)
