"""A PyTorch model traced with ``torch.fx`` into an :class:`~resdsl.importing.graph.Graph` of resdsl ops.

Modules whose class an op's PyTorch form builds (``nn.Conv2d``, ``nn.BatchNorm2d``, resdsl's own
runtime classes; :func:`resdsl.ir.layers.torch_ops`) are traced as leaves and read back into ops by
the op's own :meth:`~resdsl.ir.ops.Op.from_torch`, kept only where the op's :meth:`~resdsl.ir.ops.Op.torch`
builds a module with the same constructor arguments. Every other module is traced through, and the
module calls around each node are recorded, so blocks and stages can be recovered. Functions and
methods (``torch.cat``, ``x + y``, ``F.relu``, ``x.mean((2, 3))``, ``x.view(x.size(0), -1)``) become
the ops that compute the same; a functional call on a module's own weights (``F.batch_norm`` in a
``BatchNorm2d`` subclass) is that module. Whatever has no op is collected, with its module path,
into one :class:`ImportFault`.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from resdsl.backends import torch_runtime
from resdsl.importing.graph import Graph, ImportFault, Node, Unsupported
from resdsl.ir import ops
from resdsl.ir.layers import torch_ops
from resdsl.ir.ops.base import Shape
from resdsl.ir.torch_form import Call, Module

#: Functions that compute what a module class computes, with the same argument names (PyTorch's own
#: convention: ``F.max_pool2d(x, kernel_size, stride)`` is ``nn.MaxPool2d(kernel_size, stride)(x)``).
FUNCTIONAL: dict[Callable[..., Any], str] = {
    F.relu: "ReLU", torch.relu: "ReLU", F.gelu: "GELU", F.silu: "SiLU", torch.sigmoid: "Sigmoid",
    F.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.tanh: "Tanh", F.hardswish: "Hardswish",
    F.leaky_relu: "LeakyReLU", F.softmax: "Softmax", torch.softmax: "Softmax", F.max_pool2d: "MaxPool2d",
    F.avg_pool2d: "AvgPool2d", F.adaptive_avg_pool2d: "AdaptiveAvgPool2d", F.dropout: "Dropout",
    torch.flatten: "Flatten", F.interpolate: "Upsample",
}
#: Tensor methods that are those functions.
METHODS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax", "flatten": "Flatten"}
#: Argument names of the functions and methods whose signatures Python cannot read (torch's builtins).
_BUILTIN_PARAMETERS: dict[str, tuple[tuple[str, Any], ...]] = {
    "Flatten": (("input", None), ("start_dim", 0), ("end_dim", -1)),
    "Softmax": (("input", None), ("dim", None)),
    "AvgPool2d": (("input", None), ("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True), ("divisor_override", None)),
}
#: Functions that compute a module's output from its own weights (a subclass's forward calling
#: ``F.batch_norm`` on ``self.weight``): the module's class, by the classes' MRO.
OWNED = {F.batch_norm: "BatchNorm2d", F.layer_norm: "LayerNorm", F.group_norm: "GroupNorm",
         F.conv2d: "Conv2d", F.linear: "Linear"}
#: Constructor arguments that change how, not what, a module computes.
_IGNORED = {"inplace", "device", "dtype"}
_ADD = {operator.add, operator.iadd, torch.add}
_MUL = {operator.mul, operator.imul, torch.mul}
_NO_OPS = {"contiguous", "clone"}  # methods that return the same values
_COMPARISONS = {operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge, operator.not_}


class _Batch:
    """The batch size, where a model reads it (``x.size(0)``): unknown, and the same everywhere."""

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()


def _shortest32(value: float) -> float:
    """The shortest decimal that rounds to the same float32 as ``value`` (1e-06, not 9.99999997e-07)."""
    import struct

    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == single:
            return candidate
    return value


@functools.cache
def _runtime_classes() -> dict[str, type]:
    return {name: cls for name, cls in vars(torch_runtime).items() if isinstance(cls, type) and
            issubclass(cls, nn.Module) and cls.__module__ == torch_runtime.__name__}


def _known(cls: type) -> str | None:
    """The name of ``cls`` where an op's form builds exactly that class (``nn.Conv2d``, resdsl's
    ``LayerNorm2d``), else None: a subclass computes what its own forward says."""
    name = cls.__name__
    if name not in torch_ops():
        return None
    if getattr(nn, name, None) is cls or _runtime_classes().get(name) is cls:
        return name
    return None


def _class_of(name: str) -> type:
    return getattr(nn, name, None) or _runtime_classes()[name]


def _signature(cls: type) -> list[tuple[str, Any]]:
    parameters = list(inspect.signature(cls).parameters.values())  # the constructor's, without self
    return [(p.name, p.default) for p in parameters
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in _IGNORED]


def constructor_arguments(module: nn.Module, cls: type | None = None) -> dict[str, Any]:
    """The arguments ``cls`` (``module``'s class unless given: a base it extends) was built with,
    read back from the instance's attributes by the constructor's own parameter names."""
    arguments = {}
    for name, default in _signature(cls or type(module)):
        if name == "bias" and getattr(module, "weight", None) is None and getattr(module, "bias", None) is None \
                and default is not inspect.Parameter.empty:
            arguments[name] = default  # no affine at all (BatchNorm2d(affine=False)): bias says nothing
        elif name == "bias":
            arguments[name] = getattr(module, "bias", None) is not None
        else:
            arguments[name] = getattr(module, name, default)
    return arguments


def _same(a: Any, b: Any) -> bool:
    """Equal as PyTorch reads constructor arguments back: ``3`` is ``(3, 3)`` and ``(3,)``, a list a tuple."""
    a, b = (tuple(v) if isinstance(v, list) else v for v in (a, b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, tuple) or isinstance(b, tuple):
        items, single = (a, b) if isinstance(a, tuple) else (b, a)
        return all(_same(item, single) for item in items)
    return bool(a == b)


def _form_arguments(form: Module) -> dict[str, Any]:
    parameters = _signature(_class_of(form.name))
    names = [name for name, _ in parameters]
    bound = dict(parameters)
    bound.update(zip(names, form.args))
    bound.update({key: value for key, value in form.kwargs if key not in _IGNORED})
    if "bias" in bound and not isinstance(bound["bias"], bool):
        bound["bias"] = True
    return bound


def _differences(form: Module, arguments: dict[str, Any]) -> list[str]:
    made = _form_arguments(form)
    return [f"{name}={arguments[name]!r}" for name in made
            if name in arguments and not _same(made[name], arguments[name])]


def module_op(name: str, arguments: dict[str, Any], shape: Shape) -> ops.Op | str:
    """The op a module of class ``name`` built with ``arguments`` computes on ``shape``; where there
    is none, what the language cannot write (``dilation=2``)."""
    missing = []
    for cls in torch_ops()[name]:
        op = cls.from_torch(arguments, [shape])
        if op is None:
            continue
        try:
            op.output_shape([shape])
        except ops.ShapeError as error:
            return error.message
        form = op.torch([shape])
        if not isinstance(form, Module) or form.name != name:
            continue
        differences = _differences(form, arguments)
        if not differences:
            return op
        missing = differences
    if missing:
        return f"the language has no {', '.join(missing)}"
    given = {key: value for key, value in arguments.items() if not _same(value, dict(_signature(_class_of(name)))[key])}
    return f"no layer takes {', '.join(f'{k}={v!r}' for k, v in given.items()) or 'it'}"


class _Tracer(torch.fx.Tracer):
    """Traces through every module but those an op builds, recording the module calls around each node."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, int]] = []
        self.calls: dict[str, int] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return _known(type(m)) is not None

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        if self.is_leaf_module(m, ""):
            return super().call_module(m, forward, args, kwargs)
        path = self.path_of_module(m)
        self.calls[path] = self.calls.get(path, 0) + 1
        self.stack.append((path, self.calls[path]))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.stack.pop()

    def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta["resdsl_scopes"] = tuple(self.stack)
        return node


def trace(model: nn.Module, input_shape: Shape) -> Graph:
    """``model`` (put in eval mode) as a graph of ops on one input of ``input_shape`` (per sample)."""
    model.eval()
    tracer = _Tracer()
    try:
        fx_graph = tracer.trace(model)
    except Exception as error:  # noqa: BLE001 - fx raises anything a model's forward does with a proxy
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ImportFault([Unsupported(type(model).__name__, f"torch.fx cannot trace it: {message}")]) from None
    return _Converter(model, fx_graph, tuple(input_shape)).run()


class _Value:
    """What an fx node gives: a tensor (a graph node, its shape per sample and layout), a constant
    (a Python value in which :data:`BATCH` stands for the batch size), or a list of values."""

    def __init__(self, node: str | None = None, shape: Shape = (), layout: str = "chw", constant: Any = None,
                 items: list[_Value] | None = None) -> None:
        self.node, self.shape, self.layout, self.constant, self.items = node, shape, layout, constant, items

    @property
    def is_tensor(self) -> bool:
        return self.node is not None

    def torch_shape(self) -> tuple[Any, ...]:
        """The shape PyTorch sees, the batch first."""
        shape = self.shape
        if self.layout == "hwc":
            shape = (*shape[1:], shape[0])
        return (BATCH, *shape)


_FAILED = _Value(constant=None)


class _Converter:
    def __init__(self, model: nn.Module, fx_graph: torch.fx.Graph, input_shape: Shape) -> None:
        self.model = model
        self.fx = fx_graph
        self.graph = Graph(input_shape)
        self.values: dict[torch.fx.Node, _Value] = {}
        self.faults: list[Unsupported] = []
        self.used: set[str] = set()
        self.modules = dict(model.named_modules())
        self.parameters = dict(model.named_parameters())
        self.buffers = dict(model.named_buffers())

    # --- helpers -----------------------------------------------------------------------------

    def where(self, fx_node: torch.fx.Node) -> str:
        scopes = fx_node.meta.get("resdsl_scopes", ())
        return scopes[-1][0] if scopes else type(self.model).__name__

    def fault(self, fx_node: torch.fx.Node, what: str, why: str, path: str | None = None) -> _Value:
        """Records what cannot be written, once: an op on a value that itself failed is not reported."""
        if not any(self.values.get(source) is _FAILED for source in fx_node.all_input_nodes):
            self.faults.append(Unsupported(path or self.where(fx_node), f"{what}: {why}"))
        return _FAILED

    def emit(self, fx_node: torch.fx.Node, op: ops.Op, inputs: Sequence[_Value], path: str | None = None,
             layout: str = "chw") -> _Value:
        shapes = [value.shape for value in inputs]
        try:
            shape = op.output_shape(shapes)
        except ops.ShapeError as error:
            return self.fault(fx_node, op.kind, error.message, path)
        stateful = op.params(shapes) + op.buffers(shapes) > 0
        if stateful:
            assert path is not None
            if path in self.used:
                return self.fault(fx_node, op.kind, "called twice: its weights are shared, and every layer of a "
                                  "spec has its own", path)
            self.used.add(path)
            key = path
        else:
            key = f"%{fx_node.name}"
            while key in self.graph.nodes:
                key += "_"
        scopes = tuple((self.graph.rename(call), count) for call, count in fx_node.meta.get("resdsl_scopes", ()))
        if stateful:
            key = self.graph.rename(key)
        self.graph.add(Node(key, op, [value.node for value in inputs], shape, key if stateful else None,  # type: ignore[misc]
                            scopes, path))
        return _Value(key, shape, layout)

    def tensor(self, fx_node: torch.fx.Node, argument: Any) -> _Value | None:
        value = self.read(argument)
        return value if value.is_tensor else None

    def read(self, argument: Any) -> _Value:
        if isinstance(argument, torch.fx.Node):
            return self.values.get(argument, _Value(constant=None))
        if isinstance(argument, (list, tuple)):
            items = [self.read(item) for item in argument]
            if any(item.is_tensor or item.items is not None for item in items):
                return _Value(items=items)
            return _Value(constant=type(argument)(item.constant for item in items))
        if isinstance(argument, slice):
            return _Value(constant=slice(self.read(argument.start).constant, self.read(argument.stop).constant,
                                         self.read(argument.step).constant))
        return _Value(constant=argument)

    # --- the walk ------------------------------------------------------------------------------

    def run(self) -> Graph:
        for fx_node in self.fx.nodes:
            self.values[fx_node] = self.convert(fx_node)
        if self.faults:
            raise ImportFault(self.faults)
        self.graph.finish()
        return self.graph

    def convert(self, fx_node: torch.fx.Node) -> _Value:
        if fx_node.op == "placeholder":
            if self.graph.input is not None:
                return self.fault(fx_node, f"argument '{fx_node.name}'", "the model takes more than one input")
            self.graph.input = "input"
            return _Value("input", self.graph.input_shape)
        if fx_node.op == "output":
            return self.output(fx_node)
        if fx_node.op == "get_attr":
            return _Value(constant=("attribute", fx_node.target))
        if fx_node.op == "call_module":
            return self.call_module(fx_node)
        if fx_node.op == "call_method":
            return self.call_method(fx_node)
        return self.call_function(fx_node)

    def output(self, fx_node: torch.fx.Node) -> _Value:
        result = fx_node.args[0]
        named: list[tuple[str, Any]]
        if isinstance(result, dict):
            named = [(str(key), value) for key, value in result.items()]
        elif isinstance(result, (list, tuple)):
            named = [(str(index), value) for index, value in enumerate(result)]
        else:
            named = [("output", result)]
        for name, item in named:
            value = self.read(item)
            if not value.is_tensor:
                self.fault(fx_node, f"output {name}", "not a tensor the model computes")
            elif value.layout != "chw":
                self.fault(fx_node, f"output {name}", "channels-last: the language's values are channels-first")
            else:
                self.graph.outputs[name] = value.node  # type: ignore[assignment]
        return _Value(constant=None)

    def call_module(self, fx_node: torch.fx.Node) -> _Value:
        path = str(fx_node.target)
        module = self.modules[path]
        name = _known(type(module))
        assert name is not None
        x = self.tensor(fx_node, fx_node.args[0]) if fx_node.args else None
        if x is None or len(fx_node.args) != 1 or fx_node.kwargs:
            return self.fault(fx_node, f"{type(module).__name__} at {path}", "called on something other than one "
                              "tensor", path)
        return self.module(fx_node, name, constructor_arguments(module), x, path)

    def module(self, fx_node: torch.fx.Node, name: str, arguments: dict[str, Any], x: _Value,
               path: str | None) -> _Value:
        seen = x.shape if x.layout == "chw" else (x.shape[0],)  # channels-last: a vector of C per position
        op = module_op(name, arguments, seen)
        if isinstance(op, str):
            return self.fault(fx_node, f"{name}" + (f" at {path}" if path else ""), op, path)
        if x.layout == "hwc":
            if isinstance(op, ops.Linear):
                op = replace(op, over_channels=True)
            elif (not isinstance(op, (ops.LayerNorm, ops.Dropout)) and op.output_shape([seen]) != seen) \
                    or isinstance(op, (ops.Softmax, ops.Flatten)):
                return self.fault(fx_node, name, "on a channels-last value (the language's values are "
                                  "channels-first)", path)
        return self.emit(fx_node, op, [x], path, x.layout)

    # --- functions and methods ---------------------------------------------------------------

    def bind(self, function: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if name in _BUILTIN_PARAMETERS and not inspect.isfunction(function):
            parameters = _BUILTIN_PARAMETERS[name]
            bound = dict(parameters)
            bound.update(zip([key for key, _ in parameters], args))
            bound.update(kwargs)
            return bound
        signature = inspect.signature(function)
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        return dict(call.arguments)

    def as_module(self, fx_node: torch.fx.Node, function: Any, name: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> _Value:
        """A function that computes what module class ``name`` computes, with its arguments' names."""
        try:
            bound = self.bind(function, name, args, kwargs)
        except (TypeError, ValueError):
            return self.fault(fx_node, getattr(function, "__name__", str(function)), "arguments it cannot read")
        x = self.read(bound.pop("input"))
        if not x.is_tensor:
            return self.fault(fx_node, name, "not called on a tensor")
        arguments = {}
        for key, default in _signature(_class_of(name)):
            value = self.read(bound[key]).constant if key in bound else default
            arguments[key] = value
        if "kernel_size" in arguments and arguments.get("stride", 0) in (None, ()):  # as nn's pools store it
            arguments["stride"] = arguments["kernel_size"]
        if name == "Flatten" and arguments.get("start_dim") == 0:
            return self.fault(fx_node, "flatten", "from the batch dimension (start_dim=0)")
        if name == "Dropout":
            arguments["p"] = self.read(bound.get("p", 0.5)).constant
        return self.module(fx_node, name, arguments, x, None)

    def call_method(self, fx_node: torch.fx.Node) -> _Value:
        method = str(fx_node.target)
        this = self.read(fx_node.args[0])
        rest = fx_node.args[1:]
        if method in METHODS and this.is_tensor:
            function = {"Flatten": torch.flatten, "Softmax": torch.softmax}.get(METHODS[method], F.relu)
            if METHODS[method] in ("ReLU", "Sigmoid", "Tanh"):
                return self.module(fx_node, METHODS[method], {}, this, None)
            return self.as_module(fx_node, function, METHODS[method], (fx_node.args[0], *rest), dict(fx_node.kwargs))
        if method in _NO_OPS and this.is_tensor:
            return this
        if method == "size" and this.is_tensor:
            shape = this.torch_shape()
            dim = self.read(rest[0] if rest else fx_node.kwargs.get("dim")).constant
            return _Value(constant=shape if dim is None else shape[dim])
        if method in ("view", "reshape") and this.is_tensor:
            return self.reshape(fx_node, this, rest)
        if method == "permute" and this.is_tensor:
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
            return self.permute(fx_node, this, tuple(self.read(list(dims)).constant))
        if method == "mean" and this.is_tensor:
            return self.mean(fx_node, this, rest, dict(fx_node.kwargs))
        if method in ("add", "add_", "mul", "mul_"):
            return self.arithmetic(fx_node, operator.add if method.startswith("add") else operator.mul,
                                   (fx_node.args[0], *rest))
        return self.fault(fx_node, f"the method .{method}()", "no op computes it")

    def call_function(self, fx_node: torch.fx.Node) -> _Value:
        function = fx_node.target
        args, kwargs = fx_node.args, dict(fx_node.kwargs)
        if function in OWNED:
            return self.owned(fx_node, function, args, kwargs)
        if function in FUNCTIONAL and not (function is F.interpolate and "size" in kwargs):
            return self.as_module(fx_node, function, FUNCTIONAL[function], args, kwargs)
        if function in _ADD or function in _MUL:
            return self.arithmetic(fx_node, function, args)
        if function is torch.cat:
            return self.concat(fx_node, args, kwargs)
        if function is getattr:
            owner = self.read(args[0])
            if owner.is_tensor and args[1] in ("shape", "ndim"):
                shape = owner.torch_shape()
                return _Value(constant=shape if args[1] == "shape" else len(shape))
        if function in _COMPARISONS:
            operands = [self.read(argument).constant for argument in args]
            if not any(value is None or value is BATCH for value in operands):
                return _Value(constant=function(*operands))
        if function is torch._assert:  # checks of shapes the trace knows: true here, or the model fails anyway
            if self.read(args[0]).constant is False:
                return self.fault(fx_node, "torch._assert", f"fails on a {len(self.graph.input_shape) + 1}-D input")
            return _Value(constant=None)
        if function is operator.getitem:
            return self.getitem(fx_node, args)
        if function is torch.permute:
            return self.permute(fx_node, self.read(args[0]), tuple(self.read(args[1]).constant))
        if function is torch.mean:
            return self.mean(fx_node, self.read(args[0]), args[1:], kwargs)
        if function in (torch.reshape,):
            return self.reshape(fx_node, self.read(args[0]), args[1:])
        if function is F.pad:
            return self.pad(fx_node, args, kwargs)
        if function is F.interpolate:
            return self.resize(fx_node, args, kwargs)
        name = getattr(function, "__qualname__", None) or getattr(function, "__name__", str(function))
        module = getattr(function, "__module__", "") or ""
        if (module, name) == ("torchvision.ops.stochastic_depth", "stochastic_depth"):
            return self.stochastic_depth(fx_node, args, kwargs)
        return self.fault(fx_node, f"{module}.{name}" if module else str(name), "no op computes it")

    def owned(self, fx_node: torch.fx.Node, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Value:
        """``F.batch_norm(x, self.running_mean, ..., self.weight, ...)`` in a module's own forward: that module."""
        bound = inspect.signature(function).bind(*args, **kwargs)
        attributes = [value.target for value in bound.arguments.values()
                      if isinstance(value, torch.fx.Node) and value.op == "get_attr"]
        owners = {str(target).rpartition(".")[0] for target in attributes}
        owner: nn.Module | None = self.modules.get(owners.pop()) if len(owners) == 1 else None
        base = OWNED[function]
        if owner is None or not isinstance(owner, _class_of(base)):
            return self.fault(fx_node, f"F.{function.__name__}", "on weights that are not one module's")
        path = self.path(owner)
        mine = {name: getattr(owner, name, None) for name in ("weight", "bias", "running_mean", "running_var")}
        for key, value in bound.arguments.items():
            if isinstance(value, torch.fx.Node) and value.op == "get_attr":
                if mine.get(key) is None or str(value.target) != f"{path}.{key}":
                    return self.fault(fx_node, f"F.{function.__name__}", f"its {key} is not {path}.{key}", path)
            elif key in mine and mine[key] is not None and key != "input":
                return self.fault(fx_node, f"F.{function.__name__}", f"its {key} is computed, not {path}.{key}",
                                  path)
        for key in ("eps",):
            if key in bound.arguments and not _same(bound.arguments[key], getattr(owner, key)):
                return self.fault(fx_node, f"F.{function.__name__}", f"{key}={bound.arguments[key]!r} is not the "
                                  f"module's", path)
        x = self.tensor(fx_node, bound.arguments["input"])
        if x is None:
            return self.fault(fx_node, f"F.{function.__name__}", "not called on a tensor", path)
        return self.module(fx_node, base, constructor_arguments(owner, _class_of(base)), x, path)

    def path(self, module: nn.Module) -> str:
        for name, candidate in self.modules.items():
            if candidate is module:
                return name
        raise KeyError(module)

    def arithmetic(self, fx_node: torch.fx.Node, function: Any, args: tuple[Any, ...]) -> _Value:
        values = [self.read(argument) for argument in args[:2]]
        what = "add" if function in _ADD else "mul"
        tensors = [value for value in values if value.is_tensor]
        attributes = [value.constant[1] for value in values
                      if isinstance(value.constant, tuple) and value.constant[:1] == ("attribute",)]
        if len(tensors) == 2:
            if tensors[0].layout != tensors[1].layout:
                return self.fault(fx_node, what, "of values in different layouts")
            op: ops.Op = ops.Add() if what == "add" else ops.Multiply()
            return self.emit(fx_node, op, tensors, layout=tensors[0].layout)
        if len(tensors) == 1 and what == "mul" and attributes:
            return self.layer_scale(fx_node, tensors[0], str(attributes[0]))
        numbers = [value.constant for value in values if isinstance(value.constant, (int, float))
                   and not isinstance(value.constant, bool)]
        if len(tensors) == 1 and what == "mul" and numbers:
            return self.emit(fx_node, ops.Scale(numbers[0]), tensors, layout=tensors[0].layout)
        return self.fault(fx_node, what, "of these operands no op computes (the language adds and multiplies "
                          "values, and multiplies by a constant)")

    def layer_scale(self, fx_node: torch.fx.Node, x: _Value, target: str) -> _Value:
        parameter = self.parameters.get(target)
        expected = (x.shape[0], *(1 for _ in x.shape[1:]))
        if parameter is None or tuple(parameter.shape) != expected or x.layout != "chw":
            return self.fault(fx_node, f"mul by {target}", f"a layer scale is a parameter of shape "
                              f"{'x'.join(map(str, expected))} on a channels-first value", target)
        first = parameter.detach().flatten()[0]
        # the shortest decimal that is this float32 (1e-06, not 9.99999997e-07)
        init = _shortest32(float(first)) if bool((parameter == first).all()) else 1e-6
        return self.emit(fx_node, ops.LayerScale(init), [x], target)

    def concat(self, fx_node: torch.fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Value:
        items = self.read(args[0]).items or []
        dim = self.read(args[1] if len(args) > 1 else kwargs.get("dim", 0)).constant
        tensors = [item for item in items if item.is_tensor]
        if not tensors or len(tensors) != len(items):
            return self.fault(fx_node, "torch.cat", "of something other than tensors")
        if len(tensors) == 1:
            return tensors[0]
        rank = len(tensors[0].shape) + 1
        if any(t.layout != "chw" for t in tensors) or dim not in (1, 1 - rank):
            return self.fault(fx_node, "torch.cat", f"along dim {dim}: the language concatenates channels")
        return self.emit(fx_node, ops.Concat(), tensors)

    def getitem(self, fx_node: torch.fx.Node, args: tuple[Any, ...]) -> _Value:
        this, index = self.read(args[0]), self.read(args[1]).constant
        if this.items is not None and isinstance(index, int):
            return this.items[index]
        if this.constant is not None and not this.is_tensor:
            try:
                return _Value(constant=this.constant[index])
            except (TypeError, IndexError):
                pass
        if this.is_tensor and this.layout == "chw" and len(this.shape) == 3 and isinstance(index, tuple):
            whole = slice(None)
            if len(index) == 4 and index[:2] == (whole, whole) and index[2] == index[3] and \
                    isinstance(index[2], slice) and index[2].start in (None, 0) and index[2].stop is None and \
                    isinstance(index[2].step, int) and index[2].step > 1:
                return self.emit(fx_node, ops.Subsample(index[2].step), [this])
        return self.fault(fx_node, "indexing", "only x[:, :, ::s, ::s] (subsample) has an op")

    def permute(self, fx_node: torch.fx.Node, this: _Value, dims: tuple[int, ...]) -> _Value:
        if this.is_tensor and len(this.shape) == 3:
            dims = tuple(d % 4 for d in dims)
            if this.layout == "chw" and dims == (0, 2, 3, 1):
                return _Value(this.node, this.shape, "hwc")
            if this.layout == "hwc" and dims == (0, 3, 1, 2):
                return _Value(this.node, this.shape, "chw")
            if dims == (0, 1, 2, 3):
                return this
        return self.fault(fx_node, f"permute{dims}", "only to channels-last and back, around layers over "
                          "channels (layernorm, linear)")

    def reshape(self, fx_node: torch.fx.Node, this: _Value, rest: Sequence[Any]) -> _Value:
        shape = self.read(list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else list(rest))
        sizes = shape.constant if shape.constant is not None else \
            [item.constant for item in shape.items or []]
        if this.is_tensor and this.layout == "chw" and sizes and sizes[0] is BATCH and len(sizes) == 2 and \
                sizes[1] in (-1, math.prod(this.shape)):
            return this if len(this.shape) == 1 else self.emit(fx_node, ops.Flatten(), [this])
        return self.fault(fx_node, f"view/reshape to {tuple(sizes) if sizes else '?'}",
                          "only x.view(x.size(0), -1) (flatten) has an op")

    def mean(self, fx_node: torch.fx.Node, this: _Value, rest: Sequence[Any], kwargs: dict[str, Any]) -> _Value:
        dims = self.read(rest[0] if rest else kwargs.get("dim")).constant
        keep = self.read(rest[1] if len(rest) > 1 else kwargs.get("keepdim", False)).constant
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if this.is_tensor and this.layout == "chw" and len(this.shape) == 3 and {d % 4 for d in dims} == {2, 3}:
            pooled = self.emit(fx_node, ops.Mean(), [this])
            if keep:
                return pooled
            return self.emit(fx_node, ops.Flatten(), [pooled])
        return self.fault(fx_node, f"mean over dims {dims}", "only the mean over height and width has an op")

    def pad(self, fx_node: torch.fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Value:
        this = self.read(args[0])
        pads = tuple(self.read(args[1] if len(args) > 1 else kwargs.get("pad")).constant or ())
        value = self.read(args[3] if len(args) > 3 else kwargs.get("value", 0)).constant or 0
        mode = self.read(args[2] if len(args) > 2 else kwargs.get("mode", "constant")).constant
        if this.is_tensor and len(this.shape) == 3 and len(pads) == 6 and pads[:4] == (0, 0, 0, 0) and \
                mode == "constant" and value == 0:
            op = ops.ZeroPad(this.shape[0] + pads[4] + pads[5])
            form = op.torch([this.shape])
            if isinstance(form, Call) and form.args[1] == pads:
                return self.emit(fx_node, op, [this])
        return self.fault(fx_node, f"F.pad{pads}", "only zero channels, half before and half after (option A), "
                          "have an op")

    def resize(self, fx_node: torch.fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Value:
        this = self.read(args[0])
        size = kwargs.get("size", args[1] if len(args) > 1 else None)
        mode = kwargs.get("mode", "nearest")
        if isinstance(size, torch.fx.Node) and mode == "nearest" and this.is_tensor:
            source = size
            # size=y.shape[-2:]: getitem(getattr(y, "shape"), slice(-2, None))
            if source.target is operator.getitem and isinstance(source.args[0], torch.fx.Node) and \
                    source.args[0].target is getattr and self.read(source.args[1]).constant == slice(-2, None):
                reference = self.read(source.args[0].args[0])
                if reference.is_tensor:
                    return self.emit(fx_node, ops.UpsampleTo(), [this, reference])
        return self.fault(fx_node, "F.interpolate(size=...)", "only to another value's height and width "
                          "(size=y.shape[-2:], nearest) has an op")

    def stochastic_depth(self, fx_node: torch.fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Value:
        """torchvision's ``stochastic_depth(x, p, "row", training)`` (its StochasticDepth module) is drop_path."""
        names = ("input", "p", "mode", "training")
        bound = {**dict(zip(names, args)), **kwargs}
        x, p, mode = self.read(bound["input"]), self.read(bound["p"]).constant, self.read(bound["mode"]).constant
        if not x.is_tensor or mode != "row" or not isinstance(p, (int, float)):
            return self.fault(fx_node, f"stochastic_depth(mode={mode!r})", "only mode 'row' (drop_path) has an op")
        return self.emit(fx_node, ops.DropPath(float(p)), [x], layout=x.layout)
