"""Ops that change the spatial size: pooling, upsampling, and option A's subsampling."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import ClassVar

from resdsl.errors import ResdslError
from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    Memory,
    Op,
    Shape,
    ShapeError,
    everywhere,
    nothing,
    spatial,
    window,
)
from resdsl.ir.schema import Layer, Symbol, Value, boolean, integer, one_of
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import Arg, Call, Module, options

_POOL = (P("stride", integer(1), shown="k"), P("padding", integer(0), shown="0"), P("ceil", boolean, shown="false"))


@frozen
class MaxPool(Op):
    """Max pooling over ``kernel``×``kernel`` windows."""

    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False
    kind: ClassVar[str] = "maxpool"
    family: ClassVar[str] = "pool"
    layer = Layer("maxpool", (P("k", integer(1), required=True), *_POOL), "max pooling")
    memory = Memory(saves_inputs=True, extra_bytes=8, extra="int64 indices")
    counting = "nothing counted"
    params = buffers = macs = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        stride = a["stride"] if a["stride"] is not None else a["k"]
        return cls(a["k"], stride, a["padding"] or 0, bool(a["ceil"]))

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial(self.kind, inputs[0])
        if 2 * self.padding > self.kernel:
            raise ShapeError(f"{self.kind} padding {self.padding} is more than half of k={self.kernel}",
                             "padding may be at most k // 2")
        out_h = window(height, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        out_w = window(width, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"{self.kind} k={self.kernel} does not fit a {height}x{width} input",
                             "use a smaller kernel, or avgpool(global)")
        return (channels, out_h, out_w)

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride - self.padding, hi * self.stride - self.padding + self.kernel - 1

    def label(self) -> str:
        return f"{self.kind} {self.kernel}×{self.kernel}" + (f", /{self.stride}" if self.stride > 1 else "")

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("MaxPool2d", (self.kernel,), options(
            ("stride", self.stride, None), ("padding", self.padding, 0), ("ceil_mode", self.ceil_mode, False)))


@frozen
class AvgPool(MaxPool):
    """Average pooling over ``kernel``×``kernel`` windows; ``avgpool(global)`` is :class:`GlobalAvgPool`."""

    count_include_pad: bool = True
    kind: ClassVar[str] = "avgpool"
    layer = Layer("avgpool", (P("k", one_of("global", also=integer(1)), required=True), *_POOL),
                  "average pooling; avgpool(global) pools each channel to 1x1")
    memory = SAVES_INPUT
    counting = "nothing counted (a fixed window: fvcore counts no `aten::avg_pool2d`)"

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        if isinstance(a["k"], Symbol):  # global
            given = [name for name in ("stride", "padding", "ceil") if a[name] is not None]
            if given:
                raise ResdslError(f"avgpool(global) takes no {' or '.join(given)}: it pools each channel to 1x1",
                                  None, "write avgpool(global), or a kernel: avgpool(k: 2, stride: 2)")
            return GlobalAvgPool()
        return super().from_arguments(a)

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("AvgPool2d", (self.kernel,), options(
            ("stride", self.stride, None), ("padding", self.padding, 0), ("ceil_mode", self.ceil_mode, False),
            ("count_include_pad", self.count_include_pad, True)))


@frozen
class GlobalAvgPool(Op):
    """Adaptive average pooling to 1x1 (``avgpool(global)``): fvcore counts 1 MAC per input element.
    PyTorch computes it as a mean, which saves nothing for backward."""

    kind: ClassVar[str] = "avgpool(global)"
    family: ClassVar[str] = "pool"
    layer = None  # written avgpool(global): AvgPool's layer
    memory = SAVES_NOTHING
    counting = "MACs 1 per input element"
    params = buffers = nothing
    reads = everywhere

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (spatial("avgpool(global)", inputs[0])[0], 1, 1)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(inputs[0])

    def label(self) -> str:
        return "avgpool global"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("AdaptiveAvgPool2d", (1,))


@frozen
class Upsample(Op):
    """Nearest or bilinear (``align_corners=False``) upsampling by an integer ``scale``."""

    scale: int
    mode: str = "nearest"  # or "bilinear"
    kind: ClassVar[str] = "upsample"
    family: ClassVar[str] = "upsample"
    layer = Layer("upsample", (
        P("scale", integer(1), 2),
        P("mode", one_of("nearest", "bilinear"), Symbol("nearest"), shown="nearest; or bilinear"),
    ), "nearest or bilinear upsampling")
    memory = SAVES_NOTHING
    counting = "MACs 1 per output element (nearest), 4 (bilinear)"
    params = buffers = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Upsample:
        return cls(a["scale"], a["mode"].name)

    @property
    def period(self) -> int:
        return self.scale

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial("upsample", inputs[0])
        return (channels, height * self.scale, width * self.scale)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(output) * (1 if self.mode == "nearest" else 4)

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        if self.mode == "nearest":  # output o copies input o // scale
            return lo // self.scale, hi // self.scale
        # bilinear, align_corners=False: o reads floor(x) and, unless x is whole, floor(x) + 1,
        # where x = (o + 0.5) / scale - 0.5 = (2o + 1 - scale) / (2 scale)
        first, last = 2 * lo + 1 - self.scale, 2 * hi + 1 - self.scale
        return first // (2 * self.scale), last // (2 * self.scale) + (1 if last % (2 * self.scale) else 0)

    def label(self) -> str:
        return f"upsample ×{self.scale}" + (" bilinear" if self.mode == "bilinear" else "")

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Upsample", (), (("scale_factor", self.scale), ("mode", self.mode))
                      + ((("align_corners", False),) if self.mode == "bilinear" else ()))


@frozen
class Subsample(Op):
    """Keep every ``stride``-th row and column (``x[:, :, ::s, ::s]``): option A shortcuts."""

    stride: int
    kind: ClassVar[str] = "subsample"
    family: ClassVar[str] = "other"
    layer = Layer("subsample", (P("stride", integer(1), 2),),
                  "keep every stride-th row and column (option A shortcuts)")
    memory = SAVES_NOTHING
    counting = "nothing counted"
    params = buffers = macs = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Subsample:
        return cls(a["stride"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial("subsample", inputs[0])
        return (channels, -(-height // self.stride), -(-width // self.stride))

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride, hi * self.stride

    def label(self) -> str:
        return f"subsample /{self.stride}"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        every = slice(None, None, self.stride)
        return Call("operator.getitem", (Arg(0), (slice(None), slice(None), every, every)))
