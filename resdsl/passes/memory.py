"""Activation memory, per sample, in elements: what inference holds at its peak, what training keeps.

Inference runs the nodes in topological order and frees a tensor after its last use; the peak is the
largest total of live tensors (the input included; ``flatten`` is a view and allocates nothing).
Training keeps, for backward, the tensors autograd saves: the input of conv, linear, batch norm,
pooling, gelu and silu; the output of relu, sigmoid and tanh; both inputs of a product; max pooling's
int64 indices and dropout's byte mask. A tensor saved by several ops counts once.
"""

from __future__ import annotations

from math import prod

import networkx as nx

from resdsl.ir.graph import inputs

_SAVES_INPUT = {"conv", "linear", "bn", "maxpool", "avgpool", "global_avgpool", "mul"}
_SAVES_OUTPUT_ACTIVATIONS = {"relu", "sigmoid", "tanh"}
_VIEWS = {"flatten"}


def inference_peak(graph: nx.DiGraph) -> int:
    """Peak live activation elements per sample under a topological schedule, freeing after last use."""
    nodes = graph.nodes
    remaining = {node: graph.out_degree(node) for node in graph}
    size = {node: 0 if nodes[node]["op"].kind in _VIEWS else prod(nodes[node]["shape"]) for node in graph}
    live = peak = 0
    for node in graph:
        live += size[node]
        peak = max(peak, live)
        for producer in inputs(graph, node):
            remaining[producer] -= 1
            if remaining[producer] == 0:
                live -= size[producer]
        if remaining[node] == 0 and graph.out_degree(node) == 0 and node != graph.graph.get("output"):
            live -= size[node]
    return peak


def training_saved(graph: nx.DiGraph, activation_bytes: int) -> int:
    """Bytes per sample that autograd keeps for backward, with activations of ``activation_bytes`` each."""
    nodes = graph.nodes
    saved: set[str] = set()
    extra = 0
    for node, data in nodes(data=True):
        op = data["op"]
        producers = inputs(graph, node)
        if op.kind in _SAVES_INPUT:
            saved.update(producers)
        elif op.kind == "activation":
            saved.add(node if op.function in _SAVES_OUTPUT_ACTIVATIONS else producers[0])
        if op.kind == "maxpool":
            extra += 8 * prod(data["shape"])  # int64 argmax indices
        elif op.kind == "dropout":
            extra += prod(data["shape"])  # bool mask
    return activation_bytes * sum(prod(nodes[n]["shape"]) for n in saved) + extra
