"""Ops that change the spatial size: pooling, upsampling, and option A's subsampling."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from math import floor, gcd, prod
from typing import Any, ClassVar

from resdsl.errors import ResdslError
from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    Memory,
    Op,
    Shape,
    ShapeError,
    Size,
    everywhere,
    format_size,
    not_a_module,
    not_written,
    nothing,
    pair,
    spatial,
    square,
    window,
)
from resdsl.ir.schema import Layer, Symbol, Value, boolean, describe, integer, named_value, one_of, size
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import Arg, Call, Module, options

_POOL = (P("stride", size(1), shown="k"), P("padding", size(0), shown="0"), P("ceil", boolean, shown="false"))


@frozen
class MaxPool(Op):
    """Max pooling over ``kernel`` windows (an integer for both axes, or ``(height, width)``)."""

    kernel: Size
    stride: Size
    padding: Size = 0
    ceil_mode: bool = False
    kind: ClassVar[str] = "maxpool"
    family: ClassVar[str] = "pool"
    layer = Layer("maxpool", (P("k", size(1), required=True), *_POOL), "max pooling")
    memory = Memory(saves_inputs=True, extra_bytes=8, extra="int64 indices")
    counting = "nothing counted"
    params = buffers = macs = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        stride = a["stride"] if a["stride"] is not None else a["k"]
        return cls(square(a["k"]), square(stride), square(a["padding"] or 0), bool(a["ceil"]))

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial(self.kind, inputs[0])
        if any(2 * padding > kernel for padding, kernel in zip(pair(self.padding), pair(self.kernel))):
            raise ShapeError(f"{self.kind} padding {describe(self.padding)} is more than half of "
                             f"k={describe(self.kernel)}", "padding may be at most k // 2")
        out_h, out_w = (window(side, k, s, p, ceil_mode=self.ceil_mode) for side, k, s, p
                        in zip((height, width), pair(self.kernel), pair(self.stride), pair(self.padding)))
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"{self.kind} k={describe(self.kernel)} does not fit a {height}x{width} input",
                             "use a smaller kernel, or avgpool(global)")
        return (channels, out_h, out_w)

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
        kernel, stride, padding = pair(self.kernel)[axis], pair(self.stride)[axis], pair(self.padding)[axis]
        return lo * stride - padding, hi * stride - padding + kernel - 1

    def label(self) -> str:
        stride = "" if self.stride in (1, (1, 1)) else \
            f", /{self.stride if isinstance(self.stride, int) else format_size(self.stride)}"
        return f"{self.kind} {format_size(self.kernel)}{stride}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("MaxPool2d", (square(self.kernel),), options(
            ("stride", square(self.stride), None), ("padding", square(self.padding), 0),
            ("ceil_mode", self.ceil_mode, False)))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "maxpool", {"k": self.kernel, "stride": self.stride, "padding": self.padding, "ceil": self.ceil_mode}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> MaxPool:
        return cls(square(a["kernel_size"]), square(a["stride"] or a["kernel_size"]), square(a["padding"]),
                   a["ceil_mode"])


@frozen
class AvgPool(MaxPool):
    """Average pooling over ``kernel`` windows; ``avgpool(global)`` is :class:`GlobalAvgPool` and
    ``avgpool(to: 7x7)`` :class:`AdaptiveAvgPool`."""

    count_include_pad: bool = True
    kind: ClassVar[str] = "avgpool"
    layer = Layer("avgpool", (P("k", one_of("global", also=size(1)), shown="a size or global, unless to"), *_POOL,
                              P("count_pad", boolean, shown="true"),
                              P("to", size(1), shown="none; an output size")),
                  "average pooling; avgpool(global) pools each channel to 1x1, avgpool(to: 7x7) to a fixed size "
                  "(adaptive); count_pad: false leaves padding out of each average (count_include_pad=False)")
    memory = SAVES_INPUT
    counting = "nothing counted (a fixed window: fvcore counts no `aten::avg_pool2d`)"

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        if a["to"] is not None:
            given = [name for name in ("k", "stride", "padding", "ceil", "count_pad") if a[name] is not None]
            if given:
                raise ResdslError(f"avgpool(to: ...) takes no {' or '.join(given)}: it chooses its own windows "
                                  "to give that size", None,
                                  "write avgpool(to: 7x7), or a kernel: avgpool(k: 2, stride: 2)")
            to = square(a["to"])
            return GlobalAvgPool() if to == 1 else AdaptiveAvgPool(to)
        if a["k"] is None:
            raise ResdslError("avgpool needs a kernel (k), global, or an output size (to)", None,
                              "write avgpool(k: 2), avgpool(global) or avgpool(to: 7x7)")
        if isinstance(a["k"], Symbol):  # global
            given = [name for name in ("stride", "padding", "ceil", "count_pad") if a[name] is not None]
            if given:
                raise ResdslError(f"avgpool(global) takes no {' or '.join(given)}: it pools each channel to 1x1",
                                  None, "write avgpool(global), or a kernel: avgpool(k: 2, stride: 2)")
            return GlobalAvgPool()
        stride = a["stride"] if a["stride"] is not None else a["k"]
        return cls(square(a["k"]), square(stride), square(a["padding"] or 0), bool(a["ceil"]),
                   a["count_pad"] in (None, True))

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("AvgPool2d", (square(self.kernel),), options(
            ("stride", square(self.stride), None), ("padding", square(self.padding), 0),
            ("ceil_mode", self.ceil_mode, False), ("count_include_pad", self.count_include_pad, True)))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "avgpool", {"k": self.kernel, "stride": self.stride, "padding": self.padding, "ceil": self.ceil_mode,
                           "count_pad": self.count_include_pad}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> AvgPool:
        return cls(square(a["kernel_size"]), square(a["stride"] or a["kernel_size"]), square(a["padding"]),
                   a["ceil_mode"], a["count_include_pad"])


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

    def written(self) -> tuple[str, dict[str, Value]]:
        return "avgpool", {"k": Symbol("global")}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> GlobalAvgPool | None:
        return cls() if a["output_size"] in (1, (1, 1)) else None


@frozen
class AdaptiveAvgPool(Op):
    """Adaptive average pooling to a fixed ``size`` (``avgpool(to: 7x7)``; torchvision VGG's
    ``nn.AdaptiveAvgPool2d((7, 7))``). Along an axis of ``n`` input positions pooled to ``m``, output
    position ``i`` averages inputs ``floor(i·n/m)`` to ``ceil((i+1)·n/m) − 1``, PyTorch's bins
    (windows overlap where ``m`` does not divide ``n``). A size of 1 is :class:`GlobalAvgPool`, which
    PyTorch computes as a mean; any other size keeps its input for backward.

    >>> pool = AdaptiveAvgPool((7, 7))
    >>> pool.output_shape([(512, 15, 14)]), pool.reads([(512, 15, 14)], 0, 3, 3), pool.reads([(512, 15, 14)], 1, 3, 3)
    ((512, 7, 7), (6, 8), (6, 7))
    """

    size: Size
    kind: ClassVar[str] = "avgpool(to)"
    family: ClassVar[str] = "pool"
    layer = None  # written avgpool(to: HxW): AvgPool's layer
    memory = SAVES_INPUT
    counting = "MACs 1 per input element (fvcore's `aten::adaptive_avg_pool2d`)"
    params = buffers = nothing

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (spatial(self.kind, inputs[0])[0], *pair(self.size))

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(inputs[0])

    def symmetric(self, inputs: Sequence[Shape]) -> bool:
        return type(self.size) is int and inputs[0][1] == inputs[0][2]

    def period(self, inputs: Sequence[Shape], axis: int) -> int:
        size = pair(self.size)[axis]
        return size // gcd(inputs[0][1 + axis], size)  # i + period reads what i reads, shifted by n/gcd

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
        n, m = inputs[0][1 + axis], pair(self.size)[axis]
        return lo * n // m, -(-(hi + 1) * n // m) - 1

    def label(self) -> str:
        return f"avgpool to {format_size(self.size)}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("AdaptiveAvgPool2d", (pair(self.size),))  # torchvision writes (7, 7)

    def written(self) -> tuple[str, dict[str, Value]]:
        return "avgpool", {"to": self.size}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> AdaptiveAvgPool | None:
        size = a["output_size"]
        if None in pair(size) or square(size) == 1:  # None keeps an axis's size; 1 is GlobalAvgPool
            return None
        return cls(square(size))


@frozen
class Upsample(Op):
    """Nearest or bilinear (``align_corners=False``) upsampling by an integer ``scale``."""

    scale: int
    mode: str = "nearest"  # or "bilinear"
    kind: ClassVar[str] = "upsample"
    family: ClassVar[str] = "upsample"
    layer = Layer("upsample", (
        P("scale", integer(1), shown="2, unless to"),
        P("mode", one_of("nearest", "bilinear"), Symbol("nearest"), shown="nearest; or bilinear"),
        P("to", named_value, shown="none; a named value"),
    ), "nearest or bilinear upsampling; upsample(to: y), nearest to y's height and width")
    memory = SAVES_NOTHING
    counting = "MACs 1 per output element (nearest), 4 (bilinear)"
    params = buffers = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        if a["to"] is None:
            return cls(a["scale"] or 2, a["mode"].name)
        if a["scale"] is not None:
            raise ResdslError("upsample takes a scale or a value to match, not both", None,
                              "upsample(2) doubles the size; upsample(to: y) takes y's size, as FPNs do")
        if a["mode"] != Symbol("nearest"):
            raise ResdslError("upsample(to: ...) is nearest upsampling", None, "drop mode: bilinear")
        return UpsampleTo()  # lowering gives it the value as its second input

    def period(self, inputs: Sequence[Shape], axis: int) -> int:
        return self.scale

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = spatial("upsample", inputs[0])
        return (channels, height * self.scale, width * self.scale)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(output) * (1 if self.mode == "nearest" else 4)

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
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

    def written(self) -> tuple[str, dict[str, Value]]:
        return "upsample", {"scale": self.scale, "mode": Symbol(self.mode)}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Upsample | None:
        scale = a["scale_factor"]
        scale = set(scale) if isinstance(scale, tuple) else {scale}
        if len(scale) != 1 or a["mode"] not in ("nearest", "bilinear"):
            return None
        factor = scale.pop()
        return cls(int(factor), a["mode"]) if factor is not None and factor == int(factor) else None


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (exactly what C's ``(float)`` cast does)."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@lru_cache(maxsize=256)
def _nearest(n: int, m: int) -> tuple[int, int, tuple[int, ...]]:
    """PyTorch's nearest source index of each of ``m`` output positions resized from ``n``:
    ``min(floor(i * s), n - 1)`` with ``s = n / m`` and the product in float32 (ATen's
    ``nearest_neighbor_compute_source_index``, on CPU and CUDA alike; CPU forward passes of float64
    tensors compute in float64 instead, which differs for a few size pairs such as 3 → 141).
    Returned with the smallest period ``p`` of the pattern and its shift ``d``: position ``i + p``
    reads ``d`` further on. Ratios need not be whole: 7 → 13 reads 0 0 1 1 2 2 3 3 4 4 5 5 6."""
    scale = _float32(n / m)  # float32 n / float32 m, correctly rounded (double rounding is exact here)
    index = tuple(min(floor(_float32(i * scale)), n - 1) for i in range(m))  # i * scale is exact in double
    step = m // gcd(n, m)
    if m <= 4096:  # larger maps: the whole map is the period (positions traced are bounded anyway)
        for period in range(step, m, step):
            shift = n * period // m
            if all(index[i + period] == index[i] + shift for i in range(m - period)):
                return period, shift, index
    return m, n, index


@frozen
class UpsampleTo(Op):
    """Nearest resizing of input 0 to the height and width of input 1, read at run time:
    ``F.interpolate(x, size=y.shape[-2:], mode="nearest")``, as torchvision's FPN upsamples a level to
    its lateral. Input 1 gives only its size (:attr:`shape_only`): nothing of it is read or saved.
    Ratios need not be whole: at a 200x200 input an FPN resizes 7x7 to 13x13 and 13x13 to 25x25, and
    output position ``i`` copies input ``min(floor(i · n/m), n − 1)`` computed in float32, as PyTorch
    does (:func:`_nearest`). Made by lowering from ``upsample(to: VALUE)``.

    >>> UpsampleTo().output_shape([(256, 7, 7), (256, 13, 13)])
    (256, 13, 13)
    >>> [UpsampleTo().reads([(256, 7, 7), (256, 13, 13)], 0, i, i)[0] for i in range(-1, 14)]
    [-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7]
    """

    kind: ClassVar[str] = "upsample(to)"
    family: ClassVar[str] = "upsample"
    arity: ClassVar[int | None] = 2
    shape_only: ClassVar[tuple[int, ...]] = (1,)
    layer = None  # written upsample(to: VALUE): lowering makes it
    memory = SAVES_NOTHING
    counting = "MACs 1 per output element (fvcore's `aten::upsample_nearest2d`)"
    params = buffers = nothing

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels = spatial(self.kind, inputs[0])[0]
        _, height, width = spatial(self.kind, inputs[1])
        return (channels, height, width)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(output)

    def symmetric(self, inputs: Sequence[Shape]) -> bool:
        return inputs[0][1] == inputs[0][2] and inputs[1][1] == inputs[1][2]

    def period(self, inputs: Sequence[Shape], axis: int) -> int:
        return _nearest(inputs[0][1 + axis], inputs[1][1 + axis])[0]

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
        period, shift, index = _nearest(inputs[0][1 + axis], inputs[1][1 + axis])
        (first, at_first), (last, at_last) = divmod(lo, period), divmod(hi, period)
        return index[at_first] + first * shift, index[at_last] + last * shift  # beyond the map: repeated

    def label(self) -> str:
        return "upsample to size"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        size = Call("operator.getitem", (Call("getattr", (Arg(1), "shape")), slice(-2, None)))
        return Call("F.interpolate", (Arg(0),), (("size", size), ("mode", "nearest")))

    written = not_written
    from_torch = not_a_module


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

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride, hi * self.stride

    def label(self) -> str:
        return f"subsample /{self.stride}"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        every = slice(None, None, self.stride)
        return Call("operator.getitem", (Arg(0), (slice(None), slice(None), every, every)))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "subsample", {"stride": self.stride}

    from_torch = not_a_module
