"""Whole-network figures, per stage, per block and per layer: :func:`analyze` → :class:`Stats`.

Conventions (also in the README and ``resdsl stats --help``):

* ``params``: learnable parameters, what ``sum(p.numel() for p in model.parameters())`` says;
  ``buffers``: batch-norm running statistics (running_mean + running_var elements).
* ``macs``: multiply-accumulates by fvcore's rules (see :mod:`resdsl.ir.ops`), so equal to
  ``FlopCountAnalysis(model.eval(), x).total()``; ``flops = 2 * macs``. ``macs_by_op`` splits them
  into conv, linear, norm, pool and upsample: conv + linear is torchvision's "GFLOPS" figure.
* ``activations``: output elements of every node at the given batch.
* depth: conv and linear layers on the longest input → output path (ResNet-50 → 50).
* ``receptive_field``: input pixels one pixel of the last spatial map reads along each axis: one
  integer when height and width agree, else ``(height, width)``, as the language writes sizes.
* ``outputs``: each output's shape, by name, in order; ``output_shape`` is the first one's.
  ``receptive_fields``: each output's receptive field, by name; ``receptive_field`` is the largest
  along each axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, field
from functools import lru_cache, partial
from math import prod
from typing import Any

import networkx as nx

from resdsl.frozen import frozen
from resdsl.ir.graph import Topology, outer_block
from resdsl.ir.ops import MAC_FAMILIES, Input, Shape
from resdsl.ir.ops.base import square
from resdsl.passes.counting import count
from resdsl.passes.memory import inference_peak, training_saved
from resdsl.passes.paths import path_summary, receptive_field

DTYPE_BYTES = {"fp32": 4, "bf16": 2}


@frozen
class Row:
    """Figures of one stage, block or layer, at the analyzed batch."""

    name: str
    params: int
    buffers: int
    macs: int
    flops: int
    output_shape: Shape
    activations: int


@frozen
class Stats:
    """A network's figures (see the module docstring). ``repr`` is one line; ``str`` and
    :meth:`table` the text ``resdsl stats`` prints; Jupyter shows :meth:`to_html`.

    >>> from resdsl import load
    >>> stats = load("network tiny { input 3x32x32  conv(16) bn relu avgpool(global) flatten "
    ...              "linear(10) }").stats()
    >>> stats
    Stats(tiny: 634 params, 491.68K MACs, 3x32x32 → 10)
    >>> for line in stats.table(exact=True).splitlines()[2:6]:
    ...     print(line)
    stage      params  buffers     MACs    FLOPs  output  activations
    ---------  ------  -------  -------  -------  ------  -----------
    (network)     634       32  491,680  983,360      10       49,194
    ---------  ------  -------  -------  -------  ------  -----------
    """

    name: str
    input_shape: Shape
    output_shape: Shape
    batch: int
    params: int
    buffers: int
    macs: int
    flops: int
    macs_by_op: dict[str, int]
    activations: int
    memory: dict[str, dict[str, int]]  # {"inference_peak_bytes": {"fp32": .., "bf16": ..}, "training_bytes": ..}
    depth: int
    weighted_layers: int
    receptive_field: int | tuple[int, int]  # pixels along each axis; (height, width) where they differ
    residual_units: int
    outputs: dict[str, Shape]
    receptive_fields: dict[str, int | tuple[int, int]]
    paths: int
    shortest_path: int
    longest_path: int
    stages: list[Row] = field(default_factory=list)
    blocks: list[Row] = field(default_factory=list)
    layers: list[Row] = field(default_factory=list)

    def rows(self, by: str) -> list[Row]:
        """The rows per ``"stage"``, ``"block"`` or ``"layer"``."""
        if by not in ("stage", "block", "layer"):
            raise ValueError(f"by={by!r}: rows are per 'stage', 'block' or 'layer'")
        return {"stage": self.stages, "block": self.blocks, "layer": self.layers}[by]

    def table(self, by: str = "stage", exact: bool = False) -> str:
        """The text ``resdsl stats`` prints: one row per stage (block, layer), the total, and the other
        figures; human units (``25.56M``) unless ``exact``. See :func:`resdsl.format_table`."""
        from resdsl.backends.table import stats_table

        self.rows(by)  # a clear error for a wrong `by`
        return stats_table(self, by, exact)

    def to_html(self, by: str = "stage", exact: bool = False) -> str:
        """:meth:`table` as an HTML table (every name escaped), each figure's exact value as its tooltip."""
        from resdsl.backends.table import stats_html

        self.rows(by)
        return stats_html(self, by, exact)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        from resdsl.backends.table import stats_line

        return stats_line(self)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """The ``resdsl stats --json`` object (keys documented in the README)."""
        data = asdict(self)
        for key in ("input_shape", "output_shape"):
            data[key] = list(data[key])
        data["outputs"] = {name: list(shape) for name, shape in self.outputs.items()}
        data["receptive_fields"] = {name: list(field) if isinstance(field, tuple) else field
                                    for name, field in self.receptive_fields.items()}
        if isinstance(self.receptive_field, tuple):
            data["receptive_field"] = list(self.receptive_field)
        for key in ("stages", "blocks", "layers"):
            for row in data[key]:
                row["output_shape"] = list(row["output_shape"])
        return data


def _rows(topology: Topology, key: Callable[[str, dict[str, Any]], str], batch: int) -> list[Row]:
    """One row per distinct ``key(node, data)``, in order of first appearance; its shape is its last node's."""
    totals: dict[str, list[Any]] = {}  # name → [params, buffers, macs, shape, activations] per sample
    name: str | None = None
    total: list[Any] = []
    for node, data in zip(topology.names, topology.attributes):
        if isinstance(data["op"], Input):
            continue
        shape, row = data["shape"], key(node, data)
        if row != name:  # a row's nodes come in stretches: look it up when a stretch begins
            name = row
            if name not in totals:
                totals[name] = [0, 0, 0, shape, 0]
            total = totals[name]
        total[0] += data["params"]
        total[1] += data["buffers"]
        total[2] += data["macs"]
        total[3] = shape
        total[4] += prod(shape)
    return [Row(name, params, buffers, batch * macs, 2 * batch * macs, shape, batch * activations)
            for name, (params, buffers, macs, shape, activations) in totals.items()]


def _layer_rows(topology: Topology, batch: int) -> list[Row]:
    """One row per node but the input: ``_rows`` keyed by node name, without a dict of every name."""
    return [Row(node, data["params"], data["buffers"], batch * data["macs"], 2 * batch * data["macs"],
                data["shape"], batch * prod(data["shape"]))
            for node, data in zip(topology.names, topology.attributes) if not isinstance(data["op"], Input)]


def analyze(graph: nx.DiGraph, batch: int = 1) -> Stats:
    """Count ``graph`` (writing ``params``/``buffers``/``macs`` on its nodes) and summarize it."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    topology = Topology.of(graph)
    count(graph, topology)
    nodes = topology.attributes
    macs_by_op = dict.fromkeys(MAC_FAMILIES, 0)
    params = buffers = activations = 0
    for data in nodes:
        params += data["params"]
        buffers += data["buffers"]
        if data["macs"]:
            macs_by_op[data["op"].family] += batch * data["macs"]
        if not isinstance(data["op"], Input):
            activations += prod(data["shape"])
    macs = sum(macs_by_op.values())
    peak = inference_peak(graph, topology)
    saved, extra = training_saved(graph, topology)
    memory = {
        "inference_peak_bytes": {dtype: batch * size * peak for dtype, size in DTYPE_BYTES.items()},
        "training_bytes": {dtype: batch * (size * saved + extra) for dtype, size in DTYPE_BYTES.items()},
    }
    paths = path_summary(graph, topology)
    names = list(graph.graph["outputs"])
    outputs = {name: topology.attributes[node]["shape"] for name, node in zip(names, topology.outputs)}
    fields = {name: receptive_field(graph, topology, node) for name, node in zip(names, topology.outputs)}
    outermost = lru_cache(maxsize=64)(partial(outer_block, graph.graph["blocks"]))  # a block's nodes are consecutive
    return Stats(
        name=graph.graph["name"], input_shape=graph.graph["input_shape"],
        output_shape=outputs[names[0]], batch=batch,
        params=params, buffers=buffers, macs=macs, flops=2 * macs, macs_by_op=macs_by_op,
        activations=batch * activations,
        memory=memory, depth=paths.longest, weighted_layers=paths.weighted_layers,
        receptive_field=square((max(h for h, _ in fields.values()), max(w for _, w in fields.values()))),
        residual_units=len(graph.graph["residuals"]), outputs=outputs,
        receptive_fields={name: square(field) for name, field in fields.items()},
        paths=paths.paths, shortest_path=paths.shortest, longest_path=paths.longest,
        stages=_rows(topology, lambda n, d: d["stage"] or "(network)", batch),
        blocks=_rows(topology, lambda n, d: outermost(d["block"]) or n, batch),
        layers=_layer_rows(topology, batch),
    )
