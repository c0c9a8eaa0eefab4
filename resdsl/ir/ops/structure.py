"""The ops the language's constructs make: the input, merges (``add``, ``mul``, ``concat``), and
option A's channel padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    Op,
    Shape,
    ShapeError,
    format_shape,
    not_a_module,
    not_written,
    nothing,
    pointwise,
    spatial,
)
from resdsl.ir.schema import Layer, Value, integer
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import Arg, Call, chain


@frozen
class Input(Op):
    """The network's input tensor."""

    shape: Shape
    kind: ClassVar[str] = "input"
    family: ClassVar[str] = "input"
    arity: ClassVar[int | None] = 0
    layer = None  # written 'input CxHxW'
    memory = SAVES_NOTHING
    counting = "nothing counted"
    params = buffers = macs = nothing
    reads = pointwise

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return self.shape

    def label(self) -> str:
        return "input " + "×".join(map(str, self.shape))

    def torch(self, inputs: Sequence[Shape]) -> None:
        return None  # forward's argument

    written = not_written
    from_torch = not_a_module


class _Merge(Op):
    """An op of two or more inputs of one shape or broadcastable: written ``NAME { a | b }`` or ``NAME(x)``."""

    family: ClassVar[str] = "merge"
    arity: ClassVar[int | None] = None
    layer = None
    counting = "nothing counted"
    params = buffers = macs = nothing
    reads = pointwise
    written = not_written
    from_torch = not_a_module


@frozen
class Add(_Merge):
    """Elementwise sum: the merge of a residual unit."""

    kind: ClassVar[str] = "add"
    memory = SAVES_NOTHING

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        for shape in inputs[1:]:
            if shape != inputs[0]:
                raise ShapeError(f"add needs equal shapes, got {format_shape(inputs[0])} and {format_shape(shape)}",
                                 "make the channels and strides of both paths agree")
        return inputs[0]

    def label(self) -> str:
        return "+"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        return chain("operator.add", len(inputs))


@frozen
class Multiply(_Merge):
    """Elementwise product; later inputs broadcast (Cx1x1 gates, as in squeeze-and-excitation)."""

    kind: ClassVar[str] = "mul"
    memory = SAVES_INPUT

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or any(b not in (1, a) for a, b in zip(first, shape)):
                raise ShapeError(f"mul cannot broadcast {format_shape(shape)} to {format_shape(first)}",
                                 "each size of a later input must equal the first input's, or be 1")
        return first

    def label(self) -> str:
        return "×"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        return chain("operator.mul", len(inputs))


@frozen
class Concat(_Merge):
    """Joins its inputs along the channels (DenseNet, Inception, U-Net)."""

    kind: ClassVar[str] = "concat"
    family: ClassVar[str] = "other"
    memory = SAVES_NOTHING

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or shape[1:] != first[1:]:
                raise ShapeError(f"concat needs equal height and width, got {format_shape(first)} and "
                                 f"{format_shape(shape)}", "concat joins channels; match the strides of its inputs")
        return (sum(shape[0] for shape in inputs), *first[1:])

    def label(self) -> str:
        return "concat"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        return Call("torch.cat", ([Arg(index) for index in range(len(inputs))], 1))


@frozen
class ZeroPad(Op):
    """Pad channels with zeros up to ``channels``, half before and half after (option A shortcuts)."""

    channels: int
    kind: ClassVar[str] = "zeropad"
    family: ClassVar[str] = "other"
    layer = Layer("zeropad", (P("channels", integer(1), required=True),),
                  "pad channels with zeros (option A shortcuts)")
    memory = SAVES_NOTHING
    counting = "nothing counted"
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> ZeroPad:
        return cls(a["channels"])

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        channels, *rest = spatial("zeropad", inputs[0])
        if self.channels < channels:
            raise ShapeError(f"zeropad to {self.channels} channels cannot shrink {channels} channels",
                             "zero padding only adds channels; use shortcut: project to reduce them")
        return (self.channels, *rest)

    def label(self) -> str:
        return f"zero-pad to {self.channels}"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        extra = self.channels - inputs[0][0]
        return Call("F.pad", (Arg(0), (0, 0, 0, 0, extra // 2, extra - extra // 2)))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "zeropad", {"channels": self.channels}

    from_torch = not_a_module
