"""Normalization layers."""

from __future__ import annotations

from math import prod
from typing import ClassVar, Sequence

from resdsl.frozen import frozen
from resdsl.ir.ops.base import SAVES_INPUT, Op, Shape, nothing, pointwise, spatial
from resdsl.ir.schema import Layer, Value, number
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import ONES_ZEROS, Module, options


@frozen
class BatchNorm(Op):
    """Batch normalization over channels: 2 learnable parameters and 2 running statistics per channel."""

    eps: float = 1e-5
    momentum: float = 0.1
    kind: ClassVar[str] = "bn"
    family: ClassVar[str] = "norm"
    layer = Layer("bn", (P("eps", number(0.0), 1e-5, shown="1e-5"), P("momentum", number(0.0, 1.0), 0.1)), "batch normalization")
    memory = SAVES_INPUT
    counting = "params `2C`, buffers `2C` (running mean and variance); MACs 2 per element (eval mode)"
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> BatchNorm:
        return cls(a["eps"], a["momentum"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return spatial("bn", inputs[0])

    def params(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def buffers(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 2 * prod(inputs[0])

    def label(self) -> str:
        return "bn"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("BatchNorm2d", (inputs[0][0],), options(("eps", self.eps, 1e-5), ("momentum", self.momentum, 0.1)),
                      ONES_ZEROS)
