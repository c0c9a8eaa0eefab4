"""The weighted layers: convolution and linear, the layers that count toward a network's depth."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import SAVES_INPUT, Op, Shape, ShapeError, format_shape, nothing, pointwise, spatial, window
from resdsl.ir.schema import Layer, Symbol, Value, boolean, describe, integer
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import KAIMING_FAN_OUT, Module, options


@frozen
class Conv(Op):
    """2-D convolution; ``padding`` is explicit here (the language defaults it to ``dilation * (k // 2)``).

    >>> Conv(64, kernel=3, padding=1).output_shape([(3, 32, 32)]), Conv(64, kernel=3).params([(3, 32, 32)])
    ((64, 32, 32), 1728)
    """

    out_channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False
    kind: ClassVar[str] = "conv"
    family: ClassVar[str] = "conv"
    weighted: ClassVar[bool] = True
    layer = Layer("conv", (
        P("channels", integer(1), required=True), P("k", integer(1), 3), P("stride", integer(1), 1),
        P("padding", integer(0), shown="dilation * (k // 2)"), P("groups", integer(1), 1), P("dilation", integer(1), 1),
        P("bias", boolean, False)), "2-D convolution")
    memory = SAVES_INPUT
    counting = "params `out × in/groups × k²` (+ `out` with bias); MACs `out × in/groups × k² × out_h × out_w`"
    buffers = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Conv:
        padding = a["padding"] if a["padding"] is not None else a["dilation"] * (a["k"] // 2)
        return cls(a["channels"], a["k"], a["stride"], padding, a["dilation"], a["groups"], a["bias"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial("conv", inputs[0])
        if channels % self.groups or self.out_channels % self.groups:
            raise ShapeError(
                f"conv groups={self.groups} must divide both in_channels ({channels}) and "
                f"out_channels ({self.out_channels})", "choose channel counts that are multiples of groups")
        out_h = window(height, self.kernel, self.stride, self.padding, self.dilation)
        out_w = window(width, self.kernel, self.stride, self.padding, self.dilation)
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"conv k={self.kernel} with padding {self.padding} does not fit a "
                             f"{height}x{width} input", "use a smaller kernel or more padding")
        return (self.out_channels, out_h, out_w)

    def params(self, inputs: Sequence[Shape]) -> int:
        weights = self.out_channels * (inputs[0][0] // self.groups) * self.kernel * self.kernel
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return self.out_channels * (inputs[0][0] // self.groups) * self.kernel * self.kernel * output[1] * output[2]

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride - self.padding, hi * self.stride - self.padding + self.dilation * (self.kernel - 1)

    def label(self) -> str:
        return (f"conv {self.kernel}×{self.kernel}, {self.out_channels}{_stride(self.stride)}"
                + (f", groups {self.groups}" if self.groups > 1 else "")
                + (f", dilation {self.dilation}" if self.dilation > 1 else ""))

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Conv2d", (inputs[0][0], self.out_channels, self.kernel), options(
            ("stride", self.stride, 1), ("padding", self.padding, 0), ("dilation", self.dilation, 1),
            ("groups", self.groups, 1), ("bias", self.bias, None)), KAIMING_FAN_OUT)


def _over(value: Value) -> str | None:
    """``over:`` takes the word ``channels``; a number there may be the value of a parameter of that
    name, which hides the word where it is in scope."""
    if isinstance(value, Symbol) and value.name == "channels":
        return None
    hidden = " (where a parameter is named 'channels', its value hides the word)" \
        if isinstance(value, (int, float)) else ""
    return f"must be channels, got {describe(value)}{hidden}"


@frozen
class Linear(Op):
    """Fully connected layer on a vector, or, ``over: channels``, at each position of a map over its
    channels (ConvNeXt's pointwise MLP; ``nn.Linear``'s parameters, computed as a 1x1 convolution so
    that autograd keeps the input itself, whatever its memory layout).

    >>> Linear(384, over_channels=True).output_shape([(96, 56, 56)]), Linear(384).params([(96,)])
    ((384, 56, 56), 37248)
    """

    out_features: int
    bias: bool = True
    over_channels: bool = False
    kind: ClassVar[str] = "linear"
    family: ClassVar[str] = "linear"
    weighted: ClassVar[bool] = True
    layer = Layer("linear", (P("features", integer(1), required=True), P("bias", boolean, True),
                             P("over", _over, shown="a vector's features; or channels, at each position of a map")),
                  "fully connected")
    memory = SAVES_INPUT
    counting = "params `in × out` (+ `out` with bias); MACs `in × out` (per position over channels)"
    buffers = nothing
    reads = pointwise  # a vector has no spatial positions; over channels, each position alone

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Linear:
        return cls(a["features"], a["bias"], a["over"] is not None)

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        if self.over_channels:
            return (self.out_features, *spatial("linear over: channels", inputs[0])[1:])
        if len(inputs[0]) != 1:
            raise ShapeError(f"linear needs a vector input, got {format_shape(inputs[0])}",
                             "put 'flatten' (usually after 'avgpool(global)') before linear, or write "
                             f"linear({self.out_features}, over: channels) to apply it at each position")
        return (self.out_features,)

    def params(self, inputs: Sequence[Shape]) -> int:
        return self.out_features * inputs[0][0] + (self.out_features if self.bias else 0)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return inputs[0][0] * self.out_features * prod(inputs[0][1:])

    def label(self) -> str:
        return f"fc {self.out_features}" + (" over channels" if self.over_channels else "")

    def torch(self, inputs: Sequence[Shape]) -> Module:
        arguments = options(("bias", self.bias, True))
        if self.over_channels:
            return Module("ChannelLinear", (inputs[0][0], self.out_features), arguments, runtime=True)
        return Module("Linear", (inputs[0][0], self.out_features), arguments)


def _stride(stride: int) -> str:
    return f", /{stride}" if stride > 1 else ""
