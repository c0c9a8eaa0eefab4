"""Normalization layers."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any, ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    Memory,
    Op,
    Shape,
    ShapeError,
    everywhere,
    nothing,
    pointwise,
    same_shape,
    spatial,
)
from resdsl.ir.schema import Layer, Value, boolean, integer, number
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import ONES_ZEROS, Module, options


@frozen
class BatchNorm(Op):
    """Batch normalization over channels: 2 running statistics per channel, and a learnable scale
    and shift per channel unless ``affine`` is false.

    >>> BatchNorm(affine=False).params([(64, 8, 8)]), BatchNorm(affine=False).buffers([(64, 8, 8)])
    (0, 128)
    """

    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True
    kind: ClassVar[str] = "bn"
    family: ClassVar[str] = "norm"
    layer = Layer("bn", (P("eps", number(0.0), 1e-5, shown="1e-5"), P("momentum", number(0.0, 1.0), 0.1),
                         P("affine", boolean, True)), "batch normalization; affine: false learns no scale and shift")
    memory = SAVES_INPUT
    counting = ("params `2C` (none with `affine: false`), buffers `2C` (running mean and variance); "
                "MACs 2 per element in eval mode, 1 without an affine (fvcore's `aten::batch_norm`)")
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> BatchNorm:
        return cls(a["eps"], a["momentum"], a["affine"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return spatial("bn", inputs[0])

    def params(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0] if self.affine else 0

    def buffers(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return (2 if self.affine else 1) * prod(inputs[0])

    def label(self) -> str:
        return "bn" if self.affine else "bn, no affine"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        arguments = options(("eps", self.eps, 1e-5), ("momentum", self.momentum, 0.1), ("affine", self.affine, True))
        return Module("BatchNorm2d", (inputs[0][0],), arguments, ONES_ZEROS if self.affine else ())

    def written(self) -> tuple[str, dict[str, Value]]:
        return "bn", {"eps": self.eps, "momentum": self.momentum, "affine": self.affine}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> BatchNorm:
        return cls(a["eps"], a["momentum"], a["affine"])


@frozen
class GroupNorm(Op):
    """Group normalization (Wu and He 2018): normalizes each group of ``channels / groups`` channels
    over its channels and all positions, per sample, with a learnable scale and shift per channel.
    Independent of the batch, so it has no running statistics.

    >>> GroupNorm(32).output_shape([(256, 14, 14)]), GroupNorm(32).params([(256, 14, 14)])
    ((256, 14, 14), 512)
    """

    groups: int
    eps: float = 1e-5
    kind: ClassVar[str] = "groupnorm"
    family: ClassVar[str] = "norm"
    layer = Layer("groupnorm", (P("groups", integer(1), required=True), P("eps", number(0.0), 1e-5, shown="1e-5")),
                  "group normalization")
    memory = Memory(saves_inputs=True, statistics=lambda op, inputs: 2 * op.groups,
                    statistics_are="mean and 1/std per group")
    counting = "params `2C`; MACs 5 per element (fvcore's `aten::group_norm` with an affine)"
    buffers = nothing
    reads = everywhere  # a group's statistics mix all positions

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> GroupNorm:
        return cls(a["groups"], a["eps"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels = spatial("groupnorm", inputs[0])[0]
        if channels % self.groups:
            raise ShapeError(f"groupnorm groups={self.groups} must divide the channels ({channels})",
                             "choose a number of groups that divides the channels, such as 32 or 16")
        return inputs[0]

    def params(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 5 * prod(inputs[0])

    def label(self) -> str:
        return f"groupnorm /{self.groups}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("GroupNorm", (self.groups, inputs[0][0]), options(("eps", self.eps, 1e-5)), ONES_ZEROS)

    def written(self) -> tuple[str, dict[str, Value]]:
        return "groupnorm", {"groups": self.groups, "eps": self.eps}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> GroupNorm:
        return cls(a["num_groups"], a["eps"])


@frozen
class LayerNorm(Op):
    """Layer normalization (Ba et al. 2016) over the channels at each position of a map, as ConvNeXt's
    LayerNorm2d, or over the features of a vector: per position, a mean and 1/std over C, and with
    ``affine`` a learnable scale and shift per channel (``nn.LayerNorm(C)``'s ``weight`` and ``bias``).

    >>> LayerNorm().params([(96, 56, 56)]), LayerNorm().macs([(96, 56, 56)], (96, 56, 56))
    (192, 1505280)
    """

    eps: float = 1e-5
    affine: bool = True
    kind: ClassVar[str] = "layernorm"
    family: ClassVar[str] = "norm"
    layer = Layer("layernorm", (P("eps", number(0.0), 1e-5, shown="1e-5"), P("affine", boolean, True)),
                  "layer normalization over the channels at each position of a map, or over a vector's features")
    memory = Memory(saves_inputs=True, statistics=lambda op, inputs: 2 * prod(inputs[0][1:]),
                    statistics_are="mean and 1/std per position")
    counting = ("params `2C` (none with `affine: false`); MACs 5 per element, 4 without an affine "
                "(fvcore's `aten::layer_norm`)")
    buffers = nothing
    output_shape = same_shape
    reads = pointwise  # each position's channels: nothing across positions

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> LayerNorm:
        return cls(a["eps"], a["affine"])

    def params(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0] if self.affine else 0

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return (5 if self.affine else 4) * prod(inputs[0])

    def label(self) -> str:
        return "layernorm" if self.affine else "layernorm, no affine"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        # PyTorch's LayerNorm starts as the identity itself (weight 1, bias 0): no init steps, so that
        # nothing written for nn.LayerNorm would reach its LayerNorm2d subclass in generated source
        arguments = options(("eps", self.eps, 1e-5), ("elementwise_affine", self.affine, True))
        if len(inputs[0]) == 3:  # a map: over C at each position
            return Module("LayerNorm2d", (inputs[0][0],), arguments, runtime=True)
        return Module("LayerNorm", (inputs[0][0],), arguments)

    def written(self) -> tuple[str, dict[str, Value]]:
        return "layernorm", {"eps": self.eps, "affine": self.affine}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> LayerNorm:
        return cls(a["eps"], a["elementwise_affine"])
