"""Lowering a whole network: its parameters, input, stem, stages and head."""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

import networkx as nx

from resdsl.errors import LimitError, ResdslError, Span, UsageError, did_you_mean
from resdsl.frontend import ast
from resdsl.frontend.namespace import Namespace
from resdsl.ir import ops
from resdsl.limits import MAX_NODES, NUMBER_LIMIT
from resdsl.lower.lower import Lowering
from resdsl.lower.scope import Names, Scope, Tensor, aliases_defined
from resdsl.lower.values import SYMBOLS, Symbol, evaluate, evaluate_args


def to_value(key: str, value: Any) -> Any:
    """A Python override (``classes=10``, ``shortcut="pad"``) as a spec value."""
    if isinstance(value, str) and value in SYMBOLS:
        return Symbol(value)
    if isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) <= NUMBER_LIMIT):
        return value
    raise UsageError(f"{key}={value!r} is not a value a spec can take", None,
                     f"give a number up to 2**48, true/false, or one of: {', '.join(sorted(SYMBOLS))}")


def bind_network(network: ast.NetworkDef, overrides: Mapping[str, Any]) -> dict[str, Any]:
    names = [p.name for p in network.params]
    for key in overrides:
        if key not in names:
            raise UsageError(f"network '{network.name}' has no parameter '{key}'", None,
                             did_you_mean(key, names) or (f"its parameters are: {', '.join(names)}" if names
                                                          else "it declares no parameters"))
    env: dict[str, Any] = {}
    for param in network.params:
        if param.name in overrides:
            env[param.name] = to_value(param.name, overrides[param.name])
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
    inputs = [item for item in network.items if isinstance(item, ast.Input)]
    if input_shape is not None and not isinstance(input_shape, (tuple, list)):
        raise UsageError(f"input shape {input_shape!r} is not CxHxW", None,
                         "give it as a tuple of whole numbers, e.g. (3, 224, 224)")
    if not inputs and input_shape is None:
        raise ResdslError(f"network '{network.name}' has no input shape", network.span,
                          "add a line like 'input 3x224x224' before its first layer")
    for extra in inputs[1:]:
        lowering.errors.append(ResdslError("the input shape is given twice", extra.span, "keep one 'input' line"))
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else inputs[0].dims if inputs else ()
    if any(not isinstance(d, int) or not 1 <= d <= NUMBER_LIMIT for d in shape) or not 1 <= len(shape) <= 3 \
            or prod(shape) > NUMBER_LIMIT:
        if input_shape is not None:
            raise UsageError(f"input shape {input_shape!r} is not CxHxW with sizes from 1 to 2**48", None,
                             "give it as a tuple of whole numbers, e.g. (3, 224, 224)")
        message = f"input shape {ops.format_shape(shape)} is not CxHxW with sizes from 1 to 2**48"
        raise ResdslError(message, inputs[0].span if inputs else network.span)
    top = [item for item in network.items if not isinstance(item, ast.BlockDef)]
    if inputs and top[0] is not inputs[0]:
        lowering.errors.append(ResdslError("'input' must come before the first layer", inputs[0].span))
    later: dict[str, Span] = {}
    for item in top:
        if isinstance(item, (ast.BodyStage, ast.Section)):
            aliases_defined(item.body, later)
        alias = getattr(item, "alias", None)
        if alias:
            later.setdefault(alias, item.span)
        elif not isinstance(item, (ast.RepeatStage, ast.BodyStage, ast.Section, ast.Input)):
            aliases_defined((item,), later)
    scope = Scope(prefix="", env=env, namespace=local, names=Names(), values={}, later=later)
    x = Tensor("input", shape)
    graph.add_node("input", op=ops.Input(shape), span=(inputs[0].span if inputs else network.span), stage=None,
                   block=None)
    try:
        for item in top:
            if isinstance(item, ast.Input):
                continue
            if isinstance(item, (ast.RepeatStage, ast.BodyStage)):
                x = _stage(lowering, scope, item, x)
            elif isinstance(item, ast.Section):
                x = lowering.steps(scope.with_(stage=item.name), item.body, x)
            else:
                x = lowering.steps(scope, (item,), x)
    except LimitError as error:
        raise ResdslError.collect([*lowering.errors, error]) from None
    if lowering.errors:
        raise ResdslError.collect(lowering.errors)
    graph.graph.update(name=network.name, input_shape=shape, output=x.node, path=network.span.path,
                       parameters=dict(env))
    return graph


def _stage(lowering: Lowering, scope: Scope, stage: ast.Stage, x: Tensor) -> Tensor:
    try:
        local = scope.names.explicit(stage.name, stage.span)
    except ResdslError as error:
        lowering.record(error)
        return Tensor(x.node, None)
    inner = scope.child(local, index_mode=True, values=scope.values, later=scope.later, stage=stage.name)
    if isinstance(stage, ast.BodyStage):
        x = lowering.steps(inner, stage.body, x)
    else:
        x = lowering.attempt(lambda: _repeat(lowering, inner, stage, x), x)
    if stage.alias:
        lowering.bind_value(scope, stage.alias, x, stage.span)
    return x


def _repeat(lowering: Lowering, scope: Scope, stage: ast.RepeatStage, x: Tensor) -> Tensor:
    positional, keywords = evaluate_args(stage.args, scope.env, scope.namespace)
    first_positional, first_keywords = evaluate_args(stage.first, scope.env, scope.namespace)
    if first_positional:
        raise ResdslError("first(...) takes keyword arguments", first_positional[0][1],
                          "for example first(stride: 2)")
    count = lowering.count(scope, stage.repeat)
    for index in range(count):
        if index == 0 and first_keywords:
            overridden = {key for key, _, _ in first_keywords}
            kept = tuple(k for k in keywords if k[0] not in overridden)
            x = lowering.call(scope, scope.namespace, stage.callee, positional, kept + first_keywords, stage.span,
                              stage.name_span, x)
        else:
            x = lowering.call(scope, scope.namespace, stage.callee, positional, keywords, stage.span, stage.name_span,
                              x)
    return x

