"""Activation memory, per sample, in elements: what inference holds at its peak, what training keeps.

Inference runs the nodes in topological order and frees a tensor after its last use; the peak is the
largest total of live tensors (the input included; ``flatten`` is a view and allocates nothing).
Training keeps, for backward, the tensors autograd saves, as each op states them
(:class:`~resdsl.ir.ops.Memory`): the input of conv, linear, the norms, max and average pooling,
gelu, silu, leaky ReLU, hard swish and layer scale; the output of relu, sigmoid, tanh and softmax;
both inputs of a product; group and layer norm's statistics; max pooling's int64 indices, dropout's
byte mask (CUDA's fused dropout; on the CPU PyTorch keeps a mask of the activation dtype instead)
and drop_path's per-sample mask. Global average pooling and the spatial mean keep nothing: PyTorch
computes a 1x1 adaptive pooling as a mean; pooling to any other size keeps its input. An input read
for its shape only (``upsample(to: y)``'s ``y``) is never kept for backward, though inference holds
it until that use. A tensor saved by several ops counts once. Checked, storage by storage, against
the tensors autograd's saved-tensor hooks see (tests/test_compile.py).
"""

from __future__ import annotations

from math import prod

import networkx as nx

from resdsl.ir.graph import Topology


def inference_peak(graph: nx.DiGraph, topology: Topology | None = None) -> int:
    """Peak live activation elements per sample under a topological schedule, freeing after last use."""
    topology = topology or Topology.of(graph)
    remaining = topology.uses()  # uses not yet run
    size = [0 if data["op"].memory.view else prod(data["shape"]) for data in topology.attributes]
    outputs = set(topology.outputs)  # returned: kept to the end
    live = peak = 0
    for node, producers in enumerate(topology.inputs):
        live += size[node]
        peak = max(peak, live)
        for producer in producers:
            remaining[producer] -= 1
            if remaining[producer] == 0:
                live -= size[producer]
        if remaining[node] == 0 and node not in outputs:  # nothing uses it
            live -= size[node]
    return peak


def training_saved(graph: nx.DiGraph, topology: Topology | None = None) -> tuple[int, int]:
    """What autograd keeps for backward, per sample: (activation elements, bytes of indices and masks).

    Activations take the bytes of the training dtype; max-pooling indices and dropout masks do not.
    """
    topology = topology or Topology.of(graph)
    nodes = topology.attributes
    saved = [False] * len(nodes)
    statistics = extra = 0
    for node, (data, producers, read) in enumerate(zip(nodes, topology.inputs, topology.data_inputs)):
        memory = data["op"].memory
        if memory.saves_inputs:
            for producer in read:  # not an input read for its shape only
                saved[producer] = True
        if memory.saves_output:
            saved[node] = True
        if memory.extra_bytes:
            extra += memory.extra_bytes * prod(data["shape"])  # max-pooling indices, dropout masks
        if memory.statistics:
            statistics += memory.statistics(data["op"], [nodes[p]["shape"] for p in producers])
    return statistics + sum(prod(data["shape"]) for data, kept in zip(nodes, saved) if kept), extra
