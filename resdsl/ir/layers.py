"""The built-in layers of the language, gathered from the op definitions (:mod:`resdsl.ir.ops`).

A layer is an op's :attr:`~resdsl.ir.ops.Op.layer`; adding one is adding an op. ``identity`` is the
one layer without an op: it makes no node.
"""

from __future__ import annotations

from collections.abc import Callable

from resdsl.frozen import frozen
from resdsl.ir import ops
from resdsl.ir.schema import Layer, Parameter, Value


@frozen
class Builtin:
    """A layer and how it lowers: ``build`` turns bound arguments into an op (None: no node)."""

    layer: Layer
    build: Callable[[dict[str, Value]], ops.Op | None]

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.layer.parameters


IDENTITY = Layer("identity", (), "the value itself (no node)")

LAYERS: dict[str, Builtin] = {op.layer.name: Builtin(op.layer, op.from_arguments) for op in ops.OPS if op.layer}
LAYERS["identity"] = Builtin(IDENTITY, lambda arguments: None)

#: Names people reach for that mean something else here; used for did-you-mean hints.
ALIASES = {
    "kernel": "k", "kernel_size": "k", "out_channels": "channels", "filters": "channels", "out": "channels",
    "out_features": "features", "units": "features", "batchnorm": "bn", "batch_norm": "bn", "bn2d": "bn",
    "conv2d": "conv", "dense": "linear", "fc": "linear", "pool": "maxpool", "max_pool": "maxpool",
    "avg_pool": "avgpool", "gap": "avgpool", "relu6": "relu", "swish": "silu", "pad": "zeropad",
    "ceil_mode": "ceil", "scale_factor": "scale", "num_classes": "classes",
}
