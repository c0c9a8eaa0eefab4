"""Reductions: the spatial mean, as timm's squeeze-and-excitation squeezes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from resdsl.frozen import frozen
from resdsl.ir.ops.base import Shape, not_a_module, nothing, spatial
from resdsl.ir.ops.resample import GlobalAvgPool
from resdsl.ir.schema import Layer, Value
from resdsl.ir.torch_form import Arg, Call


@frozen
class Mean(GlobalAvgPool):
    """The mean of each channel over all positions, kept as Cx1x1: ``x.mean((2, 3), keepdim=True)``,
    as timm's SEModule squeezes. A global average pooling (the same values, reading every position,
    saving nothing for backward, and passes treat it as one), but fvcore counts no ``aten::mean``
    where it counts 1 MAC per element of ``aten::adaptive_avg_pool2d``.

    >>> Mean().output_shape([(256, 7, 7)]), Mean().macs([(256, 7, 7)], (256, 1, 1))
    ((256, 1, 1), 0)
    """

    kind: ClassVar[str] = "mean"
    # GlobalAvgPool has no layer of its own (avgpool(global) is AvgPool's); mean has one
    layer = Layer("mean", (), "the mean of each channel over all positions, to Cx1x1 (timm's SE squeeze)")  # type: ignore[assignment]
    counting = "nothing counted (fvcore counts no `aten::mean`)"
    macs = nothing

    @classmethod
    def from_arguments(cls, a: dict[str, Value]) -> Mean:
        return cls()

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        return (spatial("mean", inputs[0])[0], 1, 1)

    def label(self) -> str:
        return "mean"

    def torch(self, inputs: Sequence[Shape]) -> Call:  # type: ignore[override]  # a call, not a module
        return Call("torch.mean", (Arg(0), (2, 3), True))  # keepdim

    def written(self) -> tuple[str, dict[str, Value]]:
        return "mean", {}

    from_torch = not_a_module  # type: ignore[assignment]  # a call, not GlobalAvgPool's module
