"""What each IR node computes, and its arithmetic: output shape, parameters, buffers, MACs.

One frozen dataclass per op kind. Shapes are per sample — ``(channels, height, width)`` or
``(features,)`` — and counts are per sample too; passes multiply by the batch. MACs follow fvcore's
rules (``fvcore.nn.FlopCountAnalysis``) exactly, so a compiled model's fvcore total equals ours:

* convolution: ``out_channels * in_channels/groups * k*k * out_h*out_w`` (bias not counted);
* linear: ``in_features * out_features`` (bias not counted);
* batch norm (eval, affine): 2 per element; adaptive average pooling: 1 per input element;
  nearest upsampling: 1 per output element, bilinear: 4;
* everything else (activations, adds, max/avg pooling, concat, padding): 0.

>>> Conv(64, kernel=3, padding=1).output_shape([(3, 32, 32)])
(64, 32, 32)
>>> Conv(64, kernel=3, padding=1).params([(3, 32, 32)])
1728
"""

from __future__ import annotations

from math import prod
from typing import ClassVar, Sequence

from resdsl.frozen import frozen

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot take the shapes it is given; lowering turns this into a ResdslError at the op's span."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def format_shape(shape: Shape | None) -> str:
    """``(256, 56, 56)`` → ``256x56x56``."""
    return "?" if shape is None else "x".join(map(str, shape))


def _spatial(op: str, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a CxHxW input, got {format_shape(shape)}",
                         "flatten turns a feature map into a vector; nothing turns it back")
    return shape


def _window(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output size for a sliding window (conv and pooling)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside the input
            out -= 1
    else:
        out = span // stride + 1
    return out


class Op:
    """Base of all ops. ``kind`` is the name backends dispatch on; ``family`` groups MACs by op type."""

    kind: ClassVar[str]
    family: ClassVar[str] = "other"
    weighted: ClassVar[bool] = False  # a conv or linear layer: counts toward depth
    arity: ClassVar[int | None] = 1  # number of inputs; None for any number >= 2

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return inputs[0]

    def params(self, inputs: Sequence[Shape]) -> int:
        return 0

    def buffers(self, inputs: Sequence[Shape]) -> int:
        return 0

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 0

    def reads(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The input positions, along one spatial axis, that output positions ``lo..hi`` read (for
        receptive fields); None for all of them. Positions may be negative: the input is unbounded."""
        return lo, hi


@frozen
class Input(Op):
    """The network's input tensor."""

    shape: Shape
    kind: ClassVar[str] = "input"
    arity: ClassVar[int | None] = 0

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return self.shape


@frozen
class Conv(Op):
    """2-D convolution; ``padding`` is explicit here (the language defaults it to ``dilation * (k // 2)``)."""

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

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = _spatial("conv", inputs[0])
        if channels % self.groups or self.out_channels % self.groups:
            raise ShapeError(
                f"conv groups={self.groups} must divide both in_channels ({channels}) and "
                f"out_channels ({self.out_channels})", "choose channel counts that are multiples of groups")
        out_h = _window(height, self.kernel, self.stride, self.padding, self.dilation)
        out_w = _window(width, self.kernel, self.stride, self.padding, self.dilation)
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


@frozen
class BatchNorm(Op):
    """Batch normalization over channels: 2 learnable parameters and 2 running statistics per channel."""

    eps: float = 1e-5
    momentum: float = 0.1
    kind: ClassVar[str] = "bn"
    family: ClassVar[str] = "norm"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return _spatial("bn", inputs[0])

    def params(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def buffers(self, inputs: Sequence[Shape]) -> int:
        return 2 * inputs[0][0]

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return 2 * prod(inputs[0])


@frozen
class Activation(Op):
    """An elementwise nonlinearity: relu, sigmoid, tanh, gelu or silu."""

    function: str
    kind: ClassVar[str] = "activation"


@frozen
class MaxPool(Op):
    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False
    kind: ClassVar[str] = "maxpool"
    family: ClassVar[str] = "pool"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = _spatial(self.kind, inputs[0])
        if 2 * self.padding > self.kernel:
            raise ShapeError(f"{self.kind} padding {self.padding} is more than half of k={self.kernel}",
                             "padding may be at most k // 2")
        out_h = _window(height, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        out_w = _window(width, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"{self.kind} k={self.kernel} does not fit a {height}x{width} input",
                             "use a smaller kernel, or avgpool(global)")
        return (channels, out_h, out_w)

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride - self.padding, hi * self.stride - self.padding + self.kernel - 1


@frozen
class AvgPool(MaxPool):
    count_include_pad: bool = True
    kind: ClassVar[str] = "avgpool"


@frozen
class GlobalAvgPool(Op):
    """Adaptive average pooling to 1x1 (``avgpool(global)``): fvcore counts 1 MAC per input element."""

    kind: ClassVar[str] = "global_avgpool"
    family: ClassVar[str] = "pool"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (_spatial("avgpool(global)", inputs[0])[0], 1, 1)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return prod(inputs[0])

    def reads(self, lo: int, hi: int) -> None:
        return None  # every position


@frozen
class Flatten(Op):
    kind: ClassVar[str] = "flatten"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (prod(inputs[0]),)


@frozen
class Linear(Op):
    out_features: int
    bias: bool = True
    kind: ClassVar[str] = "linear"
    family: ClassVar[str] = "linear"
    weighted: ClassVar[bool] = True

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(f"linear needs a vector input, got {format_shape(inputs[0])}",
                             "put 'flatten' (usually after 'avgpool(global)') before linear")
        return (self.out_features,)

    def params(self, inputs: Sequence[Shape]) -> int:
        return self.out_features * inputs[0][0] + (self.out_features if self.bias else 0)

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        return inputs[0][0] * self.out_features


@frozen
class Dropout(Op):
    p: float = 0.5
    kind: ClassVar[str] = "dropout"


@frozen
class Upsample(Op):
    scale: int
    mode: str = "nearest"  # or "bilinear"
    kind: ClassVar[str] = "upsample"
    family: ClassVar[str] = "upsample"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = _spatial("upsample", inputs[0])
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


@frozen
class Subsample(Op):
    """Keep every ``stride``-th row and column (``x[:, :, ::s, ::s]``): option A shortcuts."""

    stride: int
    kind: ClassVar[str] = "subsample"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, height, width = _spatial("subsample", inputs[0])
        return (channels, -(-height // self.stride), -(-width // self.stride))

    def reads(self, lo: int, hi: int) -> tuple[int, int]:
        return lo * self.stride, hi * self.stride


@frozen
class ZeroPad(Op):
    """Pad channels with zeros up to ``channels``, half before and half after (option A shortcuts)."""

    channels: int
    kind: ClassVar[str] = "zeropad"

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, *spatial = _spatial("zeropad", inputs[0])
        if self.channels < channels:
            raise ShapeError(f"zeropad to {self.channels} channels cannot shrink {channels} channels",
                             "zero padding only adds channels; use shortcut: project to reduce them")
        return (self.channels, *spatial)


@frozen
class Scale(Op):
    """Multiply by a constant: the residual branch scaling of Inception-ResNet."""

    factor: float
    kind: ClassVar[str] = "scale"


@frozen
class Add(Op):
    kind: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        for shape in inputs[1:]:
            if shape != inputs[0]:
                raise ShapeError(f"add needs equal shapes, got {format_shape(inputs[0])} and {format_shape(shape)}",
                                 "make the channels and strides of both paths agree")
        return inputs[0]


@frozen
class Multiply(Op):
    """Elementwise product; later inputs broadcast (Cx1x1 gates, as in squeeze-and-excitation)."""

    kind: ClassVar[str] = "mul"
    arity: ClassVar[int | None] = None

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or any(b not in (1, a) for a, b in zip(first, shape)):
                raise ShapeError(f"mul cannot broadcast {format_shape(shape)} to {format_shape(first)}",
                                 "each size of a later input must equal the first input's, or be 1")
        return first


@frozen
class Concat(Op):
    kind: ClassVar[str] = "concat"
    arity: ClassVar[int | None] = None

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or shape[1:] != first[1:]:
                raise ShapeError(f"concat needs equal height and width, got {format_shape(first)} and "
                                 f"{format_shape(shape)}", "concat joins channels; match the strides of its inputs")
        return (sum(shape[0] for shape in inputs), *first[1:])
