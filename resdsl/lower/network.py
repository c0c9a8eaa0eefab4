"""Lowering a whole network: its parameters, input, stem, stages and head."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from math import prod
from typing import Any

import networkx as nx

from resdsl.errors import LimitError, ResdslError, UsageError, did_you_mean
from resdsl.frontend import ast
from resdsl.frontend.namespace import Namespace
from resdsl.ir import ops
from resdsl.limits import MAX_NODES, NUMBER_LIMIT
from resdsl.lower.lower import Lowering
from resdsl.lower.scope import Names, Scope, Tensor, Values, aliases_defined
from resdsl.lower.values import SYMBOLS, Symbol, evaluate


class OverrideError(UsageError):
    """An override the network cannot take, found before anything is built: a parameter it does not
    have, a value no spec can hold or of another kind than the parameter's default, an input shape of
    another rank than the spec's. ``key`` is the parameter, or None for the input shape, so that the
    command line can name the flag (``--set KEY=VALUE``, ``--input``) that gave it."""

    def __init__(self, message: str, hint: str | None, key: str | None) -> None:
        super().__init__(message, None, hint)
        self.key = key


def to_value(key: str, value: Any) -> Any:
    """A Python override (``classes=10``, ``shortcut="pad"``) as a spec value."""
    if isinstance(value, str) and value in SYMBOLS:
        return Symbol(value)
    if isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) <= NUMBER_LIMIT):
        return value
    raise OverrideError(f"{key}={value!r} is not a value a spec can take",
                        f"give a number up to 2**48, true/false, or one of: {', '.join(sorted(SYMBOLS))}", key)


def _kind(value: Any) -> str | None:
    """What kind of value a parameter holds, as a message names it; None where any value may do."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Symbol):
        return "a word (such as auto or pad)"
    return None


def _check_kind(param: ast.Param, value: Any, env: dict[str, Any]) -> None:
    """An override of another kind than the parameter's default (``classes=true``, ``classes=pad``)
    is the caller's mistake: said here, rather than where the spec first uses it."""
    try:
        default = evaluate(param.default, env) if param.default is not None else None
    except ResdslError:  # a default that fails is the spec's fault, reported where it is used
        return
    expected = _kind(default)
    if expected is not None and _kind(value) not in (expected, None):
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        raise OverrideError(f"parameter '{param.name}' takes {expected} (its default is "
                            f"{str(default).lower() if isinstance(default, bool) else default}), not {shown}",
                            None, param.name)


def bind_network(network: ast.NetworkDef, overrides: Mapping[str, Any]) -> dict[str, Any]:
    names = [p.name for p in network.params]
    for key in overrides:
        if key not in names:
            raise OverrideError(f"network '{network.name}' has no parameter '{key}'",
                                did_you_mean(key, names) or (f"its parameters are: {', '.join(names)}" if names
                                                             else "it declares no parameters"), key)
    env: dict[str, Any] = {}
    for param in network.params:
        if param.name in overrides:
            value = to_value(param.name, overrides[param.name])
            _check_kind(param, value, env)
            env[param.name] = value
        elif param.default is not None:
            env[param.name] = evaluate(param.default, env)
        else:
            raise ResdslError(f"network parameter '{param.name}' has no default and no value was given",
                              param.span, f"pass it: --set {param.name}=VALUE (or load(..., {param.name}=VALUE))")
    return env


def lower_network(network: ast.NetworkDef, namespace: Namespace, overrides: Mapping[str, Any],
                  input_shape: tuple[int, ...] | None = None, max_nodes: int = MAX_NODES) -> nx.DiGraph:
    """Build the IR graph of ``network``; raises one :class:`ResdslError` carrying every error found."""
    lowering = Lowering(max_nodes)
    graph = lowering.graph
    local = Namespace(namespace)
    for item in network.items:
        if isinstance(item, ast.BlockDef):
            if item.name in local.blocks:
                lowering.errors.append(ResdslError(f"block '{item.name}' is defined twice", item.span))
            try:
                local.define(item)
            except ResdslError as error:
                lowering.errors.append(error)
    env = bind_network(network, overrides)
    local.parameters = lowering.network_parameters = env  # blocks defined in the network see them
    inputs = [item for item in network.items if isinstance(item, ast.Input)]
    if input_shape is not None and not isinstance(input_shape, (tuple, list)):
        raise OverrideError(f"input shape {input_shape!r} is not CxHxW",
                            "give it as a tuple of whole numbers, e.g. (3, 224, 224)", None)
    if not inputs and input_shape is None:
        raise ResdslError(f"network '{network.name}' has no input shape", network.span,
                          "add a line like 'input 3x224x224' before its first layer")
    for extra in inputs[1:]:
        lowering.errors.append(ResdslError("the input shape is given twice", extra.span, "keep one 'input' line"))
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else inputs[0].dims if inputs else ()
    if any(not isinstance(d, int) or not 1 <= d <= NUMBER_LIMIT for d in shape) or not 1 <= len(shape) <= 3 \
            or prod(shape) > NUMBER_LIMIT:
        if input_shape is not None:
            raise OverrideError(f"input shape {input_shape!r} is not CxHxW with sizes from 1 to 2**48",
                                "give it as a tuple of whole numbers, e.g. (3, 224, 224)", None)
        message = f"input shape {ops.format_shape(shape)} is not CxHxW with sizes from 1 to 2**48"
        raise ResdslError(message, inputs[0].span if inputs else network.span)
    if input_shape is not None and inputs and len(shape) != len(inputs[0].dims):
        own = inputs[0].dims
        raise OverrideError(f"{network.name}'s input has {len(own)} size{'s' if len(own) > 1 else ''} (its own is "
                            f"{ops.format_shape(own)}), and {ops.format_shape(shape)} has {len(shape)}",
                            f"give {('C', 'CxL', 'CxHxW')[len(own) - 1]}, like {ops.format_shape(own)}", None)
    top = [item for item in network.items if not isinstance(item, ast.BlockDef)]
    if inputs and top[0] is not inputs[0]:
        lowering.errors.append(ResdslError("'input' must come before the first layer", inputs[0].span))
    steps = [item for item in top if not isinstance(item, (ast.Input, ast.Output))]
    scope = Scope(prefix="", env=env, namespace=local, names=Names(), values=Values(), later=aliases_defined(tuple(
        item.step if isinstance(item, ast.Stage) else item for item in steps)))
    lowering.network_values = scope.later
    x = Tensor("input", shape)
    graph.add_node("input", op=ops.Input(shape), span=(inputs[0].span if inputs else network.span), stage=None,
                   block=None)
    outputs: dict[str, Tensor] | None = None
    try:
        for item in top:
            if isinstance(item, ast.Input):
                continue
            if isinstance(item, ast.Output):
                if outputs is not None:
                    lowering.record(ResdslError("the outputs are listed twice", item.span,
                                                "list every output in one output(...)"))
                outputs = _outputs(lowering, scope, item)
            elif isinstance(item, ast.Stage):
                x = _stage(lowering, scope, item, x)
            else:
                x = lowering.steps(scope, (item,), x)
        if outputs is None:
            outputs = {"output": x}
        _reach_outputs(lowering, graph, outputs)
    except LimitError as error:
        raise ResdslError.collect([*lowering.errors, error]) from None
    if lowering.errors:
        raise ResdslError.collect(lowering.errors)
    graph.graph.update(name=network.name, input_shape=shape, outputs={key: t.node for key, t in outputs.items()},
                       path=network.span.path, parameters=dict(env),
                       warnings=lowering.warnings.finish(t.node for t in outputs.values()))
    return graph


def _stage(lowering: Lowering, scope: Scope, stage: ast.Stage, x: Tensor) -> Tensor:
    """A stage's construct; with a module path, in a container whose items are numbered."""
    step = stage.step
    scope = scope.with_(stage=stage.name)
    if step.label is None:  # stage stem: { ... }: inline
        return lowering.steps(scope, (step,), x)
    try:
        local = scope.names.explicit(step.label, stage.span)
        inner = scope.child(local, index_mode=True, values=scope.values, later=scope.later)
    except ResdslError as error:
        lowering.record(error)
        return Tensor(x.node, None)
    body = step.body if isinstance(step, ast.Group) else (replace(step, label=None, alias=None),)
    x = lowering.steps(inner, body, x)
    if step.alias:
        lowering.bind_value(scope, step.alias, x, stage.span)
    return x


def _outputs(lowering: Lowering, scope: Scope, statement: ast.Output) -> dict[str, Tensor]:
    """``output(p3, pool: p6)``: each output named by its keyword, or by the value's own name."""
    outputs: dict[str, Tensor] = {}
    for arg in statement.args:
        try:
            key = arg.keyword or (arg.value.id if isinstance(arg.value, ast.Name) else None)
            if key is None:
                raise ResdslError("an output is a named value", arg.span,
                                  "write output(NAME) or output(key: NAME), naming values with 'as NAME'")
            if key in outputs:
                raise ResdslError(f"output '{key}' is listed twice", arg.span, "give each output its own name")
            if not isinstance(arg.value, ast.Name):
                raise ResdslError(f"output '{key}' must be a named value", arg.value.span,
                                  "name a value with 'as NAME' and list it: output(key: NAME)")
            value = lowering.value(scope, arg.value.id, arg.value.span)
            if value.node == "input":
                raise ResdslError(f"output '{key}' is the network's input", arg.value.span,
                                  "an output is computed by the network")
            outputs[key] = value
        except ResdslError as error:
            lowering.record(error)
    if not statement.args:
        lowering.record(ResdslError("output() lists no outputs", statement.span, "write output(NAME, ...)"))
    return outputs


def _reach_outputs(lowering: Lowering, graph: nx.DiGraph, outputs: dict[str, Tensor]) -> None:
    """Every layer's result must reach an output: a dead end is a forgotten output or a misplaced
    ``from``. Reported at the last layer of each dead end."""
    if lowering.errors:
        return  # poisoned values leave dead ends of their own
    ends = {t.node for t in outputs.values()}
    for node in graph:
        if graph.out_degree(node) == 0 and node not in ends:
            span = graph.nodes[node]["span"]
            what = "the input" if node == "input" else f"'{node}'"
            lowering.record(ResdslError(f"the value of {what} reaches no output", span,
                                        "use it (add(NAME), from NAME) or list it in output(...)"))
