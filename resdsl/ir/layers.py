"""The built-in layers of the language: their argument lists and the op each one lowers to.

Adding a layer is one row here (and an op in :mod:`resdsl.ir.ops` if it computes something new).
"""

from __future__ import annotations

from typing import Callable

from resdsl.errors import ResdslError
from resdsl.frozen import frozen
from resdsl.ir import ops
from resdsl.ir.schema import Parameter as P
from resdsl.ir.schema import Symbol, Value, boolean, integer, number, one_of


@frozen
class LayerSpec:
    parameters: tuple[P, ...]
    build: Callable[[dict[str, Value]], ops.Op | None]  # None: no node (identity)
    summary: str


def _conv(a: dict[str, Value]) -> ops.Op:
    padding = a["padding"] if a["padding"] is not None else a["dilation"] * (a["k"] // 2)
    return ops.Conv(a["channels"], a["k"], a["stride"], padding, a["dilation"], a["groups"], a["bias"])


def _pool(cls: type[ops.MaxPool]) -> Callable[[dict[str, Value]], ops.Op]:
    def build(a: dict[str, Value]) -> ops.Op:
        if isinstance(a["k"], Symbol):  # global
            given = [name for name in ("stride", "padding", "ceil") if a[name] is not None]
            if given:
                raise ResdslError(f"avgpool(global) takes no {' or '.join(given)}: it pools each channel to 1x1",
                                  None, "write avgpool(global), or a kernel: avgpool(k: 2, stride: 2)")
            return ops.GlobalAvgPool()
        stride = a["stride"] if a["stride"] is not None else a["k"]
        return cls(a["k"], stride, a["padding"] or 0, bool(a["ceil"]))
    return build


_POOL = (P("stride", integer(1)), P("padding", integer(0)), P("ceil", boolean))

LAYERS: dict[str, LayerSpec] = {
    "conv": LayerSpec(
        (P("channels", integer(1), required=True), P("k", integer(1), 3), P("stride", integer(1), 1),
         P("padding", integer(0)), P("groups", integer(1), 1), P("dilation", integer(1), 1),
         P("bias", boolean, False)),
        _conv, "2-D convolution; padding defaults to dilation * (k // 2), bias to false"),
    "bn": LayerSpec((P("eps", number(0.0), 1e-5), P("momentum", number(0.0, 1.0), 0.1)),
                    lambda a: ops.BatchNorm(a["eps"], a["momentum"]), "batch normalization"),
    **{name: LayerSpec((), (lambda f: lambda a: ops.Activation(f))(name), f"{name} activation")
       for name in ("relu", "sigmoid", "tanh", "gelu", "silu")},
    "maxpool": LayerSpec((P("k", integer(1), required=True), *_POOL), _pool(ops.MaxPool),
                         "max pooling; stride defaults to k"),
    "avgpool": LayerSpec((P("k", one_of("global", also=integer(1)), required=True), *_POOL), _pool(ops.AvgPool),
                         "average pooling; avgpool(global) pools each channel to 1x1"),
    "flatten": LayerSpec((), lambda a: ops.Flatten(), "CxHxW to a vector"),
    "linear": LayerSpec((P("features", integer(1), required=True), P("bias", boolean, True)),
                        lambda a: ops.Linear(a["features"], a["bias"]), "fully connected; bias defaults to true"),
    "dropout": LayerSpec((P("p", number(0.0, 1.0), 0.5),), lambda a: ops.Dropout(a["p"]), "dropout"),
    "identity": LayerSpec((), lambda a: None, "the value itself (no node)"),
    "upsample": LayerSpec((P("scale", integer(1), 2), P("mode", one_of("nearest", "bilinear"), Symbol("nearest"))),
                          lambda a: ops.Upsample(a["scale"], a["mode"].name), "nearest or bilinear upsampling"),
    "subsample": LayerSpec((P("stride", integer(1), 2),), lambda a: ops.Subsample(a["stride"]),
                           "keep every stride-th row and column (option A shortcuts)"),
    "zeropad": LayerSpec((P("channels", integer(1), required=True),), lambda a: ops.ZeroPad(a["channels"]),
                         "pad channels with zeros (option A shortcuts)"),
    "scale": LayerSpec((P("factor", number(-1e9), required=True),), lambda a: ops.Scale(a["factor"]),
                       "multiply by a constant"),
}

#: Names people reach for that mean something else here; used for did-you-mean hints.
ALIASES = {
    "kernel": "k", "kernel_size": "k", "out_channels": "channels", "filters": "channels", "out": "channels",
    "out_features": "features", "units": "features", "batchnorm": "bn", "batch_norm": "bn", "bn2d": "bn",
    "conv2d": "conv", "dense": "linear", "fc": "linear", "pool": "maxpool", "max_pool": "maxpool",
    "avg_pool": "avgpool", "gap": "avgpool", "relu6": "relu", "swish": "silu", "pad": "zeropad",
    "ceil_mode": "ceil", "scale_factor": "scale", "num_classes": "classes",
}
