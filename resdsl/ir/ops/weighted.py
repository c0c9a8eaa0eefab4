"""The weighted layers: convolution and linear, the layers that count toward a network's depth."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any, ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    Op,
    Shape,
    ShapeError,
    Size,
    format_shape,
    format_size,
    nothing,
    pair,
    pointwise,
    spatial,
    square,
    window,
)
from resdsl.ir.schema import Layer, Rule, Symbol, Value, boolean, describe, integer, size
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import KAIMING_FAN_OUT, Module, options


@frozen
class Conv(Op):
    """2-D convolution; ``padding`` is explicit here (the language defaults it to ``dilation * (k // 2)``
    per axis). Kernel, stride and padding are an integer for both axes or ``(height, width)``.

    >>> Conv(64, kernel=3, padding=1).output_shape([(3, 32, 32)]), Conv(64, kernel=3).params([(3, 32, 32)])
    ((64, 32, 32), 1728)
    >>> Conv(192, kernel=(1, 7), padding=(0, 3)).output_shape([(160, 17, 17)])
    (192, 17, 17)
    """

    out_channels: int
    kernel: Size = 3
    stride: Size = 1
    padding: Size = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False
    kind: ClassVar[str] = "conv"
    family: ClassVar[str] = "conv"
    weighted: ClassVar[bool] = True
    layer = Layer("conv", (
        P("channels", integer(1), required=True), P("k", size(1), 3), P("stride", size(1), 1),
        P("padding", size(0), shown="dilation * (k // 2)"), P("groups", integer(1), 1), P("dilation", integer(1), 1),
        P("bias", boolean, False)), "2-D convolution")
    memory = SAVES_INPUT
    counting = ("params `out × in/groups × k_h × k_w` (+ `out` with bias); "
                "MACs `out × in/groups × k_h × k_w × out_h × out_w`")
    buffers = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Conv:
        padding = a["padding"] if a["padding"] is not None else \
            tuple(a["dilation"] * (k // 2) for k in pair(a["k"]))
        return cls(a["channels"], square(a["k"]), square(a["stride"]), square(padding), a["dilation"], a["groups"],
                   a["bias"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial("conv", inputs[0])
        if channels % self.groups or self.out_channels % self.groups:
            raise ShapeError(
                f"conv groups={self.groups} must divide both in_channels ({channels}) and "
                f"out_channels ({self.out_channels})", "choose channel counts that are multiples of groups")
        out_h, out_w = (window(side, k, s, p, self.dilation) for side, k, s, p in
                        zip((height, width), pair(self.kernel), pair(self.stride), pair(self.padding)))
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"conv k={describe(self.kernel)} with padding {describe(self.padding)} "
                             f"does not fit a {height}x{width} input", "use a smaller kernel or more padding")
        return (self.out_channels, out_h, out_w)

    def params(self, inputs: Sequence[Shape]) -> int:
        weights = self.out_channels * (inputs[0][0] // self.groups) * prod(pair(self.kernel))
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return self.out_channels * (inputs[0][0] // self.groups) * prod(pair(self.kernel)) * output[1] * output[2]

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
        kernel, stride, padding = self.kernel, self.stride, self.padding
        if not type(kernel) is type(stride) is type(padding) is int:  # a size per axis (the receptive field's hot path)
            kernel, stride, padding = pair(kernel)[axis], pair(stride)[axis], pair(padding)[axis]
        return lo * stride - padding, hi * stride - padding + self.dilation * (kernel - 1)

    def label(self) -> str:
        return (f"conv {format_size(self.kernel)}, {self.out_channels}{_stride(self.stride)}"
                + (f", groups {self.groups}" if self.groups > 1 else "")
                + (f", dilation {self.dilation}" if self.dilation > 1 else ""))

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Conv2d", (inputs[0][0], self.out_channels, square(self.kernel)), options(
            ("stride", square(self.stride), 1), ("padding", square(self.padding), 0), ("dilation", self.dilation, 1),
            ("groups", self.groups, 1), ("bias", self.bias, None)), KAIMING_FAN_OUT)

    def written(self) -> tuple[str, dict[str, Value]]:
        return "conv", {"channels": self.out_channels, "k": self.kernel, "stride": self.stride,
                        "padding": self.padding, "groups": self.groups, "dilation": self.dilation, "bias": self.bias}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Conv | None:
        dilation = set(pair(a["dilation"]))
        if isinstance(a["padding"], str) or len(dilation) != 1:  # padding="same": PyTorch pads per input
            return None
        return cls(a["out_channels"], square(a["kernel_size"]), square(a["stride"]), square(a["padding"]),
                   dilation.pop(), a["groups"], a["bias"])


def _over_check(value: Value) -> str | None:
    """``over:`` takes the word ``channels``; a number there may be the value of a parameter of that
    name, which hides the word where it is in scope."""
    if isinstance(value, Symbol) and value.name == "channels":
        return None
    hidden = " (where a parameter is named 'channels', its value hides the word)" \
        if isinstance(value, (int, float)) else ""
    return f"must be channels, got {describe(value)}{hidden}"


_over = Rule(_over_check, "channels (to apply it at each position of a map)", ("channels",))


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

    def written(self) -> tuple[str, dict[str, Value]]:
        return "linear", {"features": self.out_features, "bias": self.bias,
                          "over": Symbol("channels") if self.over_channels else None}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Linear:
        return cls(a["out_features"], a["bias"], over_channels=len(inputs[0]) == 3)  # ChannelLinear on a map


def _stride(stride: Size) -> str:
    """A label's stride: ``, /2``, or ``, /2×1`` along each axis; nothing for 1."""
    return "" if stride in (1, (1, 1)) else f", /{stride if isinstance(stride, int) else format_size(stride)}"
