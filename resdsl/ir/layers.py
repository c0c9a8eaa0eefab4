"""The built-in layers of the language, gathered from the op definitions (:mod:`resdsl.ir.ops`).

A layer is an op's :attr:`~resdsl.ir.ops.Op.layer`; adding one is adding an op. ``identity`` is the
one layer without an op: it makes no node. :func:`torch_names` says how the language writes each of
PyTorch's module classes, derived from the ops' PyTorch forms, for the hints of unknown names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from resdsl.errors import ResdslError
from resdsl.frozen import frozen
from resdsl.ir import ops
from resdsl.ir.schema import Layer, Parameter, Symbol, Value, choices
from resdsl.ir.torch_form import Module


@frozen
class Builtin:
    """A layer and how it lowers: ``build`` turns bound arguments into an op (None: no node)."""

    layer: Layer
    build: Callable[[dict[str, Value]], ops.Op | None]

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.layer.parameters


IDENTITY = Layer("identity", (), "the value itself (no node)")

LAYERS: dict[str, Builtin] = {op.layer.name: Builtin(op.layer, op.from_arguments) for op in ops.OPS if op.layer}
LAYERS["identity"] = Builtin(IDENTITY, lambda arguments: None)
#: PyTorch's form of the layer without an op (it makes no node: there is no module to derive it from).
_IDENTITY_MODULE = "Identity"

#: Names people reach for that mean something else here; used for did-you-mean hints.
ALIASES = {
    "kernel": "k", "kernel_size": "k", "out_channels": "channels", "filters": "channels", "out": "channels",
    "out_features": "features", "units": "features", "batchnorm": "bn", "batch_norm": "bn", "bn2d": "bn",
    "conv2d": "conv", "dense": "linear", "fc": "linear", "pool": "maxpool", "max_pool": "maxpool",
    "avg_pool": "avgpool", "gap": "avgpool", "relu6": "relu", "swish": "silu", "pad": "zeropad",
    "ceil_mode": "ceil", "scale_factor": "scale", "num_classes": "classes",
    # PyTorch's keyword arguments, where the layer's is named otherwise
    "negative_slope": "slope", "num_groups": "groups", "count_include_pad": "count_pad", "drop_prob": "p",
}


#: Values tried for an argument while deriving :func:`torch_names`: the smallest of each kind (the
#: words an argument takes are tried too).
_PROBES: tuple[Value, ...] = (1, 2, True)
#: Input shapes tried: a feature map and a vector (``layernorm`` and ``linear`` take either).
_PROBE_SHAPES: tuple[ops.Shape, ...] = ((8, 8, 8), (8,))


def _variants(layer: Layer) -> Iterator[tuple[str, dict[str, Value]]]:
    """Arguments that build ``layer``'s op in each of its forms, with how each is written: the
    layer with its defaults (required arguments given the first value their rule accepts), then
    each argument without a default set to each word it takes, or to a number."""
    base: dict[str, Value] = {}
    for parameter in layer.parameters:
        if parameter.required:
            accepted = [value for value in _PROBES if parameter.check is None or parameter.check(value) is None]
            if not accepted:
                return
            base[parameter.name] = accepted[0]
        else:
            base[parameter.name] = parameter.default
    yield layer.name, base
    for index, parameter in enumerate(layer.parameters):
        if parameter.required or parameter.default is not None:
            continue
        for word in choices(parameter.check):
            written = word if index == 0 else f"{parameter.name}: {word}"
            yield f"{layer.name}({written})", {**base, parameter.name: Symbol(word)}
        for value in _PROBES:  # each value it takes: avgpool(to: 1) and (to: 2) build different ops
            if parameter.check is None or parameter.check(value) is None:
                yield f"{layer.name}({parameter.name}: ...)", {**base, parameter.name: value}


def _forms() -> Iterator[tuple[str, str, type[ops.Op]]]:
    """Every layer's op built in each of its forms (:func:`_variants`) on each probe shape, as
    (PyTorch module class, how the language writes that form, op class) where its form is a module."""
    for builtin in LAYERS.values():
        for written, arguments in _variants(builtin.layer):
            try:
                op = builtin.build(arguments)
            except (ResdslError, TypeError, ValueError, AttributeError):  # arguments that do not go together
                continue
            for shape in _PROBE_SHAPES:
                if op is None:
                    continue
                try:
                    op.output_shape([shape])
                except ops.ShapeError:
                    continue
                form = op.torch([shape])
                if isinstance(form, Module):
                    yield form.name, written, type(op)


@functools.cache
def torch_names() -> dict[str, tuple[str, ...]]:
    """PyTorch's module class names (``BatchNorm2d``) → how the language writes each (``bn``),
    derived from the op definitions: every layer's op is built in each of its forms and asked for
    its PyTorch form (:meth:`~resdsl.ir.ops.Op.torch`). A class the plain layer builds is written as
    that layer; one only an argument builds, with it: ``AdaptiveAvgPool2d`` → ``avgpool(global)``,
    ``avgpool(to: ...)``.

    >>> torch_names()["BatchNorm2d"], torch_names()["AdaptiveAvgPool2d"]
    (('bn',), ('avgpool(global)', 'avgpool(to: ...)'))
    """
    plain: dict[str, list[str]] = {_IDENTITY_MODULE: [IDENTITY.name]}
    other: dict[str, list[str]] = {}
    for module, written, _ in _forms():
        found = (plain if written.split("(")[0] == written else other).setdefault(module, [])
        if written not in found:
            found.append(written)
    return {module: tuple(plain.get(module) or other[module]) for module in sorted({*plain, *other})}


@functools.cache
def torch_ops() -> dict[str, tuple[type[ops.Op], ...]]:
    """PyTorch's module class names → the op classes whose PyTorch form builds that class, derived as
    :func:`torch_names` is: what :mod:`resdsl.importing` asks (:meth:`~resdsl.ir.ops.Op.from_torch`)
    to read a module of that class.

    >>> [op.__name__ for op in torch_ops()["AdaptiveAvgPool2d"]]
    ['GlobalAvgPool', 'AdaptiveAvgPool']
    """
    found: dict[str, list[type[ops.Op]]] = {}
    for module, _, op in _forms():
        if op not in found.setdefault(module, []):
            found[module].append(op)
    return {module: tuple(classes) for module, classes in found.items()}


def torch_hint(name: str) -> str | None:
    """The hint for a PyTorch class name written as a layer (``BatchNorm2d``, ``relu6`` aside), or
    None: ``did you mean 'bn'? (PyTorch's BatchNorm2d)``. Matched whatever the case."""
    by_lower = {module.lower(): module for module in torch_names()}
    module = by_lower.get(name.lower())
    if module is None:
        return None
    written = " or ".join(f"'{form}'" for form in torch_names()[module])
    return f"did you mean {written}? (PyTorch's {module})"
