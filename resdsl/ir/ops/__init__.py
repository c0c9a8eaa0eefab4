"""The ops: what each IR node computes, and every fact about it, in one definition per op.

One frozen dataclass per op, grouped by family: :mod:`~resdsl.ir.ops.weighted` (conv, linear),
:mod:`~resdsl.ir.ops.norm`, :mod:`~resdsl.ir.ops.elementwise` (activations, softmax, dropout, scale,
flatten), :mod:`~resdsl.ir.ops.resample` (pooling, upsampling, subsampling), :mod:`~resdsl.ir.ops.reduce`
(the spatial mean) and :mod:`~resdsl.ir.ops.structure` (input, merges, zero padding). Each states the facts listed in
:data:`~resdsl.ir.ops.base.FACTS`: its language form, output shape, parameters, buffers, MACs,
what autograd saves, the input positions it reads, its diagram label and its PyTorch form. Shapes
are per sample — ``(channels, height, width)`` or ``(features,)`` — and counts are per sample too;
passes multiply by the batch. MACs follow fvcore's rules (``fvcore.nn.FlopCountAnalysis``) exactly,
so a compiled model's fvcore total equals ours.

>>> Conv(64, kernel=3, padding=1).output_shape([(3, 32, 32)])
(64, 32, 32)
>>> Conv(64, kernel=3, padding=1).torch([(3, 32, 32)]).kwargs
(('padding', 1), ('bias', False))
>>> [op.kind for op in OPS][:3]
['input', 'conv', 'bn']
"""

from resdsl.ir.ops.base import FACTS, FAMILIES, MAC_FAMILIES, Memory, Op, Shape, ShapeError, format_shape
from resdsl.ir.ops.elementwise import (
    GELU,
    Dropout,
    DropPath,
    Flatten,
    Hardswish,
    LayerScale,
    LeakyReLU,
    ReLU,
    Scale,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from resdsl.ir.ops.norm import BatchNorm, GroupNorm, LayerNorm
from resdsl.ir.ops.reduce import Mean
from resdsl.ir.ops.resample import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool, Subsample, Upsample, UpsampleTo
from resdsl.ir.ops.structure import Add, Concat, Input, Multiply, ZeroPad
from resdsl.ir.ops.weighted import Conv, Linear

#: Every op, in the order the docs list them.
OPS: tuple[type[Op], ...] = (
    Input, Conv, BatchNorm, GroupNorm, LayerNorm, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, SiLU, Hardswish, Softmax,
    MaxPool, AvgPool, GlobalAvgPool, AdaptiveAvgPool, Mean, Flatten, Linear, Dropout, DropPath, Upsample, UpsampleTo,
    Subsample, ZeroPad, Scale, LayerScale, Add, Multiply, Concat,
)

#: The merges, by the language's keyword (``add { a | b }``, ``concat(x)``, ``mul(...)``).
MERGES: dict[str, type[Op]] = {op.kind: op for op in (Add, Concat, Multiply)}

__all__ = [
    "FACTS", "FAMILIES", "MAC_FAMILIES", "MERGES", "OPS", "Memory", "Op", "Shape", "ShapeError", "format_shape",
    *(op.__name__ for op in OPS),
]
