"""Ops that keep each value where it is: activations, softmax, dropout, a constant scale, and flatten."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any, ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    SAVES_OUTPUT,
    Memory,
    Op,
    Shape,
    not_a_module,
    nothing,
    pointwise,
    same_shape,
)
from resdsl.ir.schema import Layer, Value, number
from resdsl.ir.schema import Parameter as P
from resdsl.ir.torch_form import Arg, Call, Module, Parameter, Weight, options


class _Activation(Op):
    """An elementwise nonlinearity with no arguments: ``nn.<module>()``."""

    module: ClassVar[str]
    family: ClassVar[str] = "other"
    counting = "nothing counted"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Op:
        return cls()

    def label(self) -> str:
        return self.kind

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module(self.module)

    def written(self) -> tuple[str, dict[str, Value]]:
        return self.kind, {}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Op:
        return cls()


@frozen
class ReLU(_Activation):
    kind: ClassVar[str] = "relu"
    module: ClassVar[str] = "ReLU"
    layer = Layer("relu", (), "rectified linear unit, max(x, 0)")
    memory = SAVES_OUTPUT


@frozen
class Sigmoid(_Activation):
    kind: ClassVar[str] = "sigmoid"
    module: ClassVar[str] = "Sigmoid"
    layer = Layer("sigmoid", (), "logistic sigmoid")
    memory = SAVES_OUTPUT


@frozen
class Tanh(_Activation):
    kind: ClassVar[str] = "tanh"
    module: ClassVar[str] = "Tanh"
    layer = Layer("tanh", (), "hyperbolic tangent")
    memory = SAVES_OUTPUT


@frozen
class GELU(_Activation):
    kind: ClassVar[str] = "gelu"
    module: ClassVar[str] = "GELU"
    layer = Layer("gelu", (), "Gaussian error linear unit (exact)")
    memory = SAVES_INPUT


@frozen
class SiLU(_Activation):
    kind: ClassVar[str] = "silu"
    module: ClassVar[str] = "SiLU"
    layer = Layer("silu", (), "sigmoid linear unit, x · sigmoid(x) (swish)")
    memory = SAVES_INPUT


@frozen
class Hardswish(_Activation):
    kind: ClassVar[str] = "hardswish"
    module: ClassVar[str] = "Hardswish"
    layer = Layer("hardswish", (), "x · relu6(x + 3) / 6 (MobileNetV3)")
    memory = SAVES_INPUT


@frozen
class LeakyReLU(Op):
    """max(x, 0) + slope · min(x, 0): ``nn.LeakyReLU(slope)``; its backward reads the input."""

    slope: float = 0.01
    kind: ClassVar[str] = "leaky_relu"
    family: ClassVar[str] = "other"
    layer = Layer("leaky_relu", (P("slope", number(-1e9), 0.01),), "leaky rectified linear unit, x or slope · x")
    memory = SAVES_INPUT
    counting = "nothing counted"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> LeakyReLU:
        return cls(a["slope"])

    def label(self) -> str:
        return f"leaky_relu {self.slope:g}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("LeakyReLU", (), options(("negative_slope", self.slope, 0.01)))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "leaky_relu", {"slope": self.slope}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> LeakyReLU:
        return cls(a["negative_slope"])


@frozen
class Softmax(Op):
    """Softmax over the channels of a map (at each position) or the features of a vector: dim 1.
    fvcore counts no ``aten::softmax``; its backward reads the output."""

    kind: ClassVar[str] = "softmax"
    family: ClassVar[str] = "other"
    layer = Layer("softmax", (), "softmax over the channels of a map, or the features of a vector")
    memory = SAVES_OUTPUT
    counting = "nothing counted (fvcore counts no `aten::softmax`)"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise  # each position's channels: nothing across positions

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Softmax:
        return cls()

    def label(self) -> str:
        return "softmax"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Softmax", (), (("dim", 1),))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "softmax", {}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Softmax:
        return cls()


@frozen
class Dropout(Op):
    """Zeroes each element with probability ``p`` in training."""

    p: float = 0.5
    kind: ClassVar[str] = "dropout"
    family: ClassVar[str] = "other"
    layer = Layer("dropout", (P("p", number(0.0, 1.0), 0.5),), "dropout")
    memory = Memory(extra_bytes=1, extra="a mask")
    counting = "nothing counted"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Dropout:
        return cls(a["p"])

    def label(self) -> str:
        return f"dropout {self.p:g}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Dropout", (self.p,))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "dropout", {"p": self.p}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Dropout:
        return cls(a["p"])


@frozen
class DropPath(Op):
    """Stochastic depth per sample (Huang et al. 2016): in training, each sample's value is zeroed
    with probability ``p`` and the others scaled by 1 / (1 - p); in eval, the identity. timm's
    DropPath, torchvision's ``StochasticDepth(p, "row")``. Its product keeps the per-sample mask (one
    element per sample, of the activations' dtype) for backward, and not the input."""

    p: float
    kind: ClassVar[str] = "drop_path"
    family: ClassVar[str] = "other"
    layer = Layer("drop_path", (P("p", number(0.0, 1.0), required=True),),
                  "stochastic depth: in training, zero whole samples with probability p, scale the rest by 1/(1-p)")
    memory = Memory(statistics=lambda op, inputs: 1 if op.p > 0 else 0, statistics_are="a mask (1 element per sample)")
    counting = "nothing counted"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> DropPath:
        return cls(a["p"])

    def label(self) -> str:
        return f"drop_path {self.p:g}"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("DropPath", (self.p,), runtime=True)

    def written(self) -> tuple[str, dict[str, Value]]:
        return "drop_path", {"p": self.p}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> DropPath:
        return cls(a["p"])


@frozen
class Scale(Op):
    """Multiply by a constant: the residual branch scaling of Inception-ResNet."""

    factor: float
    kind: ClassVar[str] = "scale"
    family: ClassVar[str] = "other"
    layer = Layer("scale", (P("factor", number(-1e9), required=True),), "multiply by a constant")
    memory = SAVES_NOTHING
    counting = "nothing counted"
    output_shape = same_shape
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Scale:
        return cls(a["factor"])

    def label(self) -> str:
        return f"× {self.factor:g}"

    def torch(self, inputs: Sequence[Shape]) -> Call:
        return Call("operator.mul", (Arg(0), self.factor))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "scale", {"factor": self.factor}

    from_torch = not_a_module


@frozen
class LayerScale(Op):
    """A learnable scale per channel (Touvron et al. 2021; ConvNeXt's layer scale), every element
    ``init`` at first: a parameter of shape Cx1x1 (C on a vector) at the node's own module path, so
    ``layer_scale: layer_scale(1e-6)`` in block ``features.1.0`` is torchvision's
    ``features.1.0.layer_scale``, multiplied into the input, which its product keeps for backward.

    >>> LayerScale().params([(96, 56, 56)]), LayerScale().torch([(96, 56, 56)]).shape
    (96, (96, 1, 1))
    """

    init: float = 1e-6
    kind: ClassVar[str] = "layer_scale"
    family: ClassVar[str] = "other"
    layer = Layer("layer_scale", (P("init", number(-1e9), 1e-6, shown="1e-6"),),
                  "a learnable scale per channel, initialized to init (ConvNeXt's layer scale)")
    memory = SAVES_INPUT
    counting = "params `C` (a parameter at the node's own path); nothing else counted"
    output_shape = same_shape
    buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> LayerScale:
        return cls(a["init"])

    def params(self, inputs: Sequence[Shape]) -> int:
        return inputs[0][0]

    def label(self) -> str:
        return f"layer scale {self.init:g}"

    def torch(self, inputs: Sequence[Shape]) -> Parameter:
        shape = (inputs[0][0], *(1 for _ in inputs[0][1:]))  # broadcast over the positions
        return Parameter(shape, self.init, Call("operator.mul", (Weight(), Arg(0))))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "layer_scale", {"init": self.init}

    from_torch = not_a_module


@frozen
class Flatten(Op):
    """CxHxW to a vector of C·H·W: a view of its input."""

    kind: ClassVar[str] = "flatten"
    family: ClassVar[str] = "other"
    layer = Layer("flatten", (), "CxHxW to a vector")
    memory = Memory(view=True)
    counting = "nothing counted"
    params = buffers = macs = nothing
    reads = pointwise

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Flatten:
        return cls()

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (prod(inputs[0]),)

    def label(self) -> str:
        return "flatten"

    def torch(self, inputs: Sequence[Shape]) -> Module:
        return Module("Flatten", (1,))

    def written(self) -> tuple[str, dict[str, Value]]:
        return "flatten", {}

    @classmethod
    def from_torch(cls, a: dict[str, Any], inputs: Sequence[Shape]) -> Flatten:
        return cls()
