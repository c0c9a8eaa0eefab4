"""Lowering: a parsed network, with its parameters bound, becomes the IR graph.

Blocks are instantiated with their arguments, repetitions and stages expanded, residual shortcuts
resolved, and every node named by its module path (``layer2.0.downsample.0``). Lowering writes each
node's ``op``, ``span``, ``stage`` and ``block``, and each edge's ``port`` and ``kind``; it tracks
shapes only to decide what ``shortcut: auto`` means and to report shape errors where they happen.
Errors are collected, not raised one by one: a failed step poisons its value and lowering goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from math import prod
from typing import Any

import networkx as nx

from resdsl.errors import Expansion, LimitError, ResdslError, Span, TooManyErrors, did_you_mean
from resdsl.frontend import ast
from resdsl.frontend.loader import std_blocks
from resdsl.frontend.namespace import Namespace
from resdsl.ir import ops
from resdsl.ir.layers import ALIASES, LAYERS, torch_hint
from resdsl.ir.ops import ShapeError, format_shape
from resdsl.ir.schema import Rule
from resdsl.limits import MAX_ERRORS, MAX_NESTING, MAX_NODES, NUMBER_LIMIT, WORK_PER_NODE
from resdsl.lower.hints import unknown_argument
from resdsl.lower.scope import Scope, Tensor, aliases_defined
from resdsl.lower.values import (
    SYMBOLS,
    Keywords,
    Parameter,
    Positional,
    Ref,
    Symbol,
    UnknownName,
    bind,
    describe,
    evaluate,
    evaluate_args,
    integer,
    number,
    one_of,
)
from resdsl.lower.warnings import Warnings

SHORTCUTS = ("auto", "identity", "project", "pad", "avgdown")
_BLOCK = Rule(lambda value: None if isinstance(value, Ref) else "not a block", "a block")
_PROJECTIONS = {"project": "1x1 conv + bn", "pad": "option A: subsample, pad channels with zeros",
                "avgdown": "ResNet-D: 2x2 avgpool, 1x1 conv + bn"}
_RESIDUAL = (
    Parameter("shortcut", one_of(*SHORTCUTS, also=_BLOCK, meaning={
        "auto": "identity, or the projection where the shape changes", **_PROJECTIONS}), Symbol("auto")),
    Parameter("scale", number(-1e9)),
    Parameter("projection", one_of("project", "pad", "avgdown", also=_BLOCK, meaning=_PROJECTIONS),
              shown="project"),
    Parameter("name"),
)
#: The parameters of the built-in layers and of residual(...), for the hints of unknown names.
_SIGNATURES = {**{name: builtin.parameters for name, builtin in LAYERS.items()}, "residual": _RESIDUAL}


def unknown_callee(callee: str, name_span: Span, namespace: Namespace) -> ResdslError:
    """The error for calling a name that is neither a built-in layer nor a block visible here. Its hint
    names only what would work when written: a layer (``BatchNorm2d`` → ``bn``), a block in scope, or
    a block of the standard library with the import that brings it."""
    if callee == "first":
        return ResdslError("'first(...)' belongs to a repetition, after a comma", name_span,
                           "stage layer2: bottleneck(128) * 4, first(stride: 2)")
    std = std_blocks()
    hint: str | None
    if callee in std:
        hint = f"'{callee}' is in the standard library: import std ({callee})"
    else:
        hint = torch_hint(callee) or did_you_mean(callee, [*LAYERS, *namespace.names()], ALIASES)
        import difflib  # only on the error path: it is slow to import

        close: list[str] = difflib.get_close_matches(callee, std, n=1, cutoff=0.6) if hint is None else []
        if close:
            hint = f"did you mean '{close[0]}'? it is in the standard library: import std ({close[0]})"
    return ResdslError(f"unknown layer or block '{callee}'", name_span,
                       hint or "define it with 'block NAME(...) { ... }', or import the file that defines it: "
                       "import \"blocks.res\" (NAME)")


def unresolved_calls(steps: tuple[ast.Step, ...], namespace: Namespace) -> list[ResdslError]:
    """Calls in ``steps`` (layers, and blocks written as values) to names nothing defines: what can be
    checked of a block before any network gives it arguments."""
    calls = [(step.callee, step.name_span) for step in steps if isinstance(step, ast.Layer)]
    calls += [(arg.value.callee, arg.value.name_span) for step in steps for arg in getattr(step, "args", ())
              if isinstance(arg.value, ast.CallValue)]
    errors = [unknown_callee(callee, span, namespace) for callee, span in calls
              if callee not in LAYERS and namespace.lookup(callee) is None]
    for step in steps:
        for body in ast.bodies(step):
            errors += unresolved_calls(body, namespace)
    return errors


class Lowering:
    def __init__(self, max_nodes: int = MAX_NODES) -> None:
        self.graph = nx.DiGraph(residuals=[], blocks={})
        self.containers: set[str] = set()  # module paths that hold other modules
        self.errors: list[ResdslError] = []
        self.warnings = Warnings()  # legal, but likely not what was meant
        self.max_nodes = max_nodes
        self.work = WORK_PER_NODE * max_nodes  # steps, block instances and repetitions left to run
        # What the network's own body defines, to explain a block that uses it (explain_unseen)
        self.network_parameters: Mapping[str, Any] = {}
        self.network_values: Mapping[str, Span] = {}

    def spend(self, span: Span) -> None:
        """Count one unit of lowering work: a step, a block instance or a repetition, whether or not
        it makes a node. Nested empty blocks make nothing, yet each instance costs time."""
        self.work -= 1
        if self.work < 0:
            raise LimitError(f"the network expands past {self.max_nodes:,} nodes: expanding it takes more than "
                             f"{WORK_PER_NODE * self.max_nodes:,} steps and block instances", span,
                             "if that is intended, raise the limit: --max-nodes N (or load(..., max_nodes=N))")

    def record(self, error: ResdslError) -> None:
        """Keep a fault and go on, up to :data:`MAX_ERRORS` of them."""
        self.errors.append(error)
        if len(self.errors) >= MAX_ERRORS:
            raise TooManyErrors(f"too many errors: stopped after {MAX_ERRORS}", None,
                                "fix the first ones and check again")

    # --- nodes ---------------------------------------------------------------------------------

    def node(self, scope: Scope, local: str, op: ops.Op, span: Span, inputs: list[Tensor],
             kinds: list[str] | None = None) -> Tensor:
        if len(self.graph) >= self.max_nodes:
            raise LimitError(f"the network expands past {self.max_nodes:,} nodes", span,
                             "if that is intended, raise the limit: --max-nodes N (or load(..., max_nodes=N))")
        name = scope.qualify(local)
        self.claim(name, span)
        shape = None
        in_shapes = [t.shape for t in inputs if t.shape is not None]
        if len(in_shapes) == len(inputs):
            try:
                shape = op.output_shape(in_shapes)
                _bounded(op, in_shapes, shape)
            except ShapeError as error:
                shape = None
                self.record(ResdslError(error.message, span, error.hint))
        self.graph.add_node(name, op=op, span=span, stage=scope.stage, block=scope.block)
        for port, tensor in enumerate(inputs):
            self.graph.add_edge(tensor.node, name, port=port, kind=kinds[port] if kinds else scope.edge_kind)
        return Tensor(name, shape)

    def claim(self, name: str, span: Span) -> None:
        """A node's module path is its own: not another node's, not inside one, not around one
        (``fpn.inner.0`` and ``fpn.inner.0.conv`` cannot both be modules)."""
        if name.split(".")[0] == "input":  # the input's node: a label may be a keyword, not this one
            raise ResdslError(f"module path '{name}' is taken: 'input' names the network's input", span,
                              "choose another label, e.g. 'input_'; 'input' is a reserved word of the language")
        if name in self.graph or name in self.containers:
            raise ResdslError(f"module path '{name}' is already used", span,
                              "every layer needs its own module path: change a label")
        parts = name.split(".")
        for depth in range(1, len(parts)):
            container = ".".join(parts[:depth])
            if container in self.graph:
                raise ResdslError(f"module path '{name}' would put a module inside the layer '{container}'", span,
                                  "a layer cannot contain other layers: change a label")
            self.containers.add(container)

    # --- steps ---------------------------------------------------------------------------------

    def attempt(self, lower: Callable[[], Tensor], x: Tensor, scope: Scope) -> Tensor:
        """Run one lowering step in ``scope``; on a fault in the spec, record it and go on with ``x``
        poisoned. Limit breaches stop everything."""
        try:
            return lower()
        except LimitError:
            raise
        except UnknownName as error:
            self.explain_unseen(error, error.name, scope.block, scope.namespace, scope.env)
            self.record(error)
        except ResdslError as error:
            self.record(error)
        return Tensor(x.node, None)

    def explain_unseen(self, error: ResdslError, name: str, block: str | None, home: Namespace,
                       parameters: Mapping[str, Any]) -> bool:
        """A name the network defines but a block cannot see gets a hint saying why: blocks see named
        values only as arguments, and a block at the top level of a file only its own ``parameters``.
        Returns whether it explained."""
        if block is None:
            return False  # the network's own body sees everything it defines
        if name in self.network_values:
            error.hint = (f"'{name}' is a named value of the network, and a block sees named values only as "
                          f"arguments: pass it, e.g. block b(top) {{ ... from top ... }}, called b({name})")
        elif name in self.network_parameters and home.parameters is None:
            own = f" ({', '.join(sorted(parameters))})" if parameters else ""
            error.hint = (f"'{name}' is a parameter of the network, and a block defined at the top level of a file "
                          f"sees only its own parameters{own}: pass it as an argument, or define the block inside "
                          f"the network")
        else:
            return False
        return True

    def steps(self, scope: Scope, steps: tuple[ast.Step, ...], x: Tensor) -> Tensor:
        for step in steps:
            self.spend(step.span)
            x = self.attempt(partial(self.step, scope, step, x), x, scope)
            if step.alias:
                self.bind_value(scope, step.alias, x, step.span)
        return x

    def step(self, scope: Scope, step: ast.Step, x: Tensor) -> Tensor:
        """One step; a label on a residual unit or a merge makes the scope its layers are named in."""
        if step.label and isinstance(step, (ast.Residual, ast.MergeValues, ast.MergeBranches)):
            scope = scope.child(scope.names.explicit(step.label, step.span), span=step.span, values=scope.values,
                                later=scope.later)
        return _STEPS[type(step)](self, scope, step, x)

    def bind_value(self, scope: Scope, alias: str, x: Tensor, span: Span) -> None:
        if alias in scope.values:
            self.record(ResdslError(f"value '{alias}' is already defined", span, "choose another name"))
        elif alias in scope.env:
            self.record(ResdslError(f"'{alias}' is a parameter here; a value needs another name", span,
                                    "parameters and named values share one set of names"))
        elif alias in SYMBOLS:
            self.record(ResdslError(f"'{alias}' is a word of the language (as in shortcut: {alias}); a value "
                                    "needs another name", span, "choose another name"))
        scope.values[alias] = x
        self.warnings.bind(scope.values, alias, span, scope.sites, x)

    def value(self, scope: Scope, name: str, span: Span) -> Tensor:
        """The named value ``name`` (or a parameter holding one), with the reason when there is none."""
        found = scope.values.get(name, scope.env.get(name))
        if isinstance(found, Tensor):
            return found
        if name in scope.env:
            raise ResdslError(f"'{name}' is a parameter ({describe(found)}), not a named value", span,
                              "name a value with 'as NAME' after the step that makes it")
        if name in scope.later:
            raise ResdslError(f"value '{name}' is used before it is defined (line {scope.later[name].line})", span,
                              "a value can only use values defined before it: the graph has no cycles")
        error = ResdslError(f"unknown value '{name}'", span,
                            did_you_mean(name, scope.values) or "name a value with 'as NAME' before using it; "
                            "named values are local to the block or network that defines them")
        self.explain_unseen(error, name, scope.block, scope.namespace, scope.env)
        raise error

    def arguments(self, scope: Scope, args: tuple[ast.Arg, ...], callee: str | None = None) -> tuple[Positional,
                                                                                                  Keywords]:
        """Arguments evaluated where they are written: parameters, named values, blocks. An unknown
        name given to ``callee`` says what that argument takes."""
        for arg in args:  # a value defined further down gets its own message
            if isinstance(arg.value, ast.Name) and arg.value.id not in scope.env and arg.value.id in scope.later \
                    and arg.value.id not in scope.values:
                self.value(scope, arg.value.id, arg.span)
        try:
            return evaluate_args(args, scope.env, scope.namespace, scope.values)
        except UnknownName as error:
            if callee is None or self.explain_unseen(error, error.name, scope.block, scope.namespace, scope.env):
                raise  # a name the network defines but this block cannot see: that is the news
            raise unknown_argument(error, callee, args, scope.namespace, _SIGNATURES) from None

    def from_(self, scope: Scope, step: ast.From, x: Tensor) -> Tensor:
        return self.value(scope, step.name, step.span)

    def if_(self, scope: Scope, step: ast.If, x: Tensor) -> Tensor:
        condition = evaluate(step.condition, scope.env, scope.namespace, scope.values)
        if isinstance(condition, Tensor):
            what = f"'{step.condition.id}' is a value" if isinstance(step.condition, ast.Name) else "it uses a value"
            raise ResdslError(f"'if' needs a condition fixed when the network is built, but {what} the network "
                              "computes", step.condition.span,
                              "test parameters: if stride > 1 { ... }, if first { ... }")
        if not isinstance(condition, bool):
            raise ResdslError(f"'if' needs true or false, got {describe(condition)}", step.condition.span,
                              "compare to get true or false: if stride > 1 { ... }")
        return self.steps(scope, step.then if condition else step.otherwise, x)

    def layer(self, scope: Scope, step: ast.Layer, x: Tensor) -> Tensor:
        positional, keywords = self.arguments(scope, step.args, step.callee)
        count = self.count(scope, step.repeat)
        first_positional, first_keywords = self.arguments(scope, step.first, step.callee)
        if first_positional:
            raise ResdslError("first(...) takes keyword arguments", first_positional[0][1],
                              "for example first(stride: 2)")
        if count > 1 and step.label:  # `body: basic(64) * 3` is a container: body.0, body.1, body.2
            container = scope.names.explicit(step.label, step.span)
            scope = scope.child(container, index_mode=True, span=step.span, values=scope.values, later=scope.later)
        for index in range(count):
            self.spend(step.span)
            label = step.label if count == 1 else None
            arguments = keywords
            if index == 0 and first_keywords:
                overridden = {key for key, _, _ in first_keywords}
                arguments = tuple(k for k in keywords if k[0] not in overridden) + first_keywords
            x = self.call(scope, scope.namespace, step.callee, positional, arguments, step.span, step.name_span, x,
                          label)
        return x

    def count(self, scope: Scope, expr: ast.Expr | None) -> int:
        if expr is None:
            return 1
        value = evaluate(expr, scope.env, scope.namespace, scope.values)
        problem = integer(1)(value)
        if problem or not isinstance(value, int):
            raise ResdslError(f"repetition count {problem}", expr.span,
                              "repeat a block one or more times: block(...) * n")
        if value > self.max_nodes:
            raise LimitError(f"repeating {value:,} times expands past {self.max_nodes:,} nodes", expr.span,
                             "if that is intended, raise the limit: --max-nodes N (or load(..., max_nodes=N))")
        return value

    def call(self, scope: Scope, namespace: Namespace, callee: str, positional: Positional, keywords: Keywords,
             span: Span,
             name_span: Span, x: Tensor, label: str | None = None) -> Tensor:
        """Apply a built-in layer or instantiate a block on ``x``; ``label`` overrides the automatic name."""
        if callee in LAYERS:
            spec = LAYERS[callee]
            try:
                arguments = bind(callee, spec.parameters, positional, keywords, span, ALIASES)
                op = spec.build(arguments)
            except ResdslError as error:  # arguments that do not go together: at the call
                error.span = error.span or span
                raise
            if op is None:
                return x
            local = scope.names.explicit(label, span) if label else scope.names.automatic(callee, span)
            values = [value for value in arguments.values() if isinstance(value, Tensor)]  # upsample(to: y)
            out = self.node(scope, local, op, span, [x, *values])
            if out.shape is not None and x.shape is not None and (op.weighted or op.family == "pool") \
                    and scope.edge_kind != "projection":
                self.warnings.skipped_pixels(op, [x.shape], span, scope.sites)  # a 1x1 projection may skip
            return out
        found = namespace.lookup(callee)
        if found is None:
            raise unknown_callee(callee, name_span, namespace)
        block, home = found
        if callee in scope.calls:
            cycle = " → ".join((*scope.calls[scope.calls.index(callee):], callee))
            raise LimitError(f"block '{callee}' calls itself ({cycle})", name_span,
                             "blocks cannot recurse; repeat a block with 'block(...) * n'")
        if len(scope.calls) >= MAX_NESTING:
            raise LimitError(f"blocks nest more than {MAX_NESTING} deep", name_span)
        self.spend(span)
        unset = object()
        parameters = tuple(Parameter(p.name, None, unset, p.default is None) for p in block.params)
        arguments = bind(block.name, parameters, positional, keywords, span)  # a fault here is the call's
        local = scope.names.explicit(label, span) if label else scope.names.automatic(callee, span)
        instance = scope.qualify(local)
        inner = scope.child(local, span=span, namespace=home, later=aliases_defined(block.body), block=instance,
                            calls=(*scope.calls, callee), sites=(*scope.sites, span))
        written = [describe(value) for value, _ in positional] + [f"{k}: {describe(v)}" for k, v, _ in keywords]
        self.graph.graph["blocks"][instance] = f"{callee}({', '.join(written)})"
        # Whatever goes wrong from here on is inside the instance: reported at this call, with the
        # instance as a note (the caller's own call, if it is in a block, adds its note on the way out).
        frame = Expansion(callee, block.span, instance, span)
        errors = len(self.errors)  # warnings are placed at the user's line as they are found (Warnings.add)
        try:
            env = self.bind_defaults(block, home, arguments, unset, instance)
            return self.steps(inner.with_(env=env), block.body, x)
        except ResdslError as fault:  # a limit, or a default that cannot be evaluated
            fault.expanded_in(frame)
            raise
        finally:
            for recorded in self.errors[errors:]:
                recorded.expanded_in(frame)

    def bind_defaults(self, block: ast.BlockDef, home: Namespace, arguments: dict[str, Any], unset: object,
                      instance: str) -> dict[str, Any]:
        """A block instance's parameters: the arguments, then the defaults of those not given. Scoping
        is lexical: a block defined inside a network sees the network's parameters, its own shadowing
        them; defaults may use earlier parameters (block b(planes, width: planes))."""
        env = {**(home.parameters or {}), **{k: v for k, v in arguments.items() if v is not unset}}
        for param in block.params:
            if arguments[param.name] is unset and param.default is not None:
                try:
                    env[param.name] = evaluate(param.default, env, home)
                except UnknownName as error:
                    self.explain_unseen(error, error.name, instance, home, env)
                    raise
        return env

    def group(self, scope: Scope, step: ast.Group, x: Tensor) -> Tensor:
        if step.label is None:  # a body inline: its layers are named in this scope
            return self.steps(scope, step.body, x)
        local = scope.names.explicit(step.label, step.span)
        return self.steps(scope.child(local, span=step.span, values=scope.values, later=scope.later), step.body, x)

    # --- merges --------------------------------------------------------------------------------

    def merge(self, scope: Scope, kind: str, inputs: list[Tensor], kinds: list[str], span: Span) -> Tensor:
        nodes = [t.node for t in inputs]
        if len(set(nodes)) != len(nodes):
            raise ResdslError(f"{kind} takes the same value twice", span,
                              "each input of a merge must be a different value")
        op = ops.MERGES[kind]()
        return self.node(scope, scope.names.automatic(kind, span), op, span, inputs, kinds)

    def merge_branches(self, scope: Scope, step: ast.MergeBranches, x: Tensor) -> Tensor:
        outputs = [self.steps(scope, branch, x) for branch in step.branches]
        if len(outputs) < 2:
            raise ResdslError(f"{step.kind} {{ ... }} needs at least two branches", step.span,
                              "separate branches with '|'")
        kinds = ["skip" if out.node == x.node else "main" for out in outputs]
        return self.merge(scope, step.kind, outputs, kinds, step.span)

    def merge_values(self, scope: Scope, step: ast.MergeValues, x: Tensor) -> Tensor:
        inputs = [x]
        for arg in step.args:
            if arg.keyword is not None:
                raise ResdslError(f"{step.kind}(...) takes named values, not keyword arguments", arg.span,
                                  f"name a value with 'as NAME' and write {step.kind}(NAME)")
            value = self.value(scope, arg.value.id, arg.span) if isinstance(arg.value, ast.Name) else \
                evaluate(arg.value, scope.env, scope.namespace, scope.values)
            if not isinstance(value, Tensor):
                raise ResdslError(f"{step.kind}(...) takes named values, got {describe(value)}", arg.span,
                                  f"name a value with 'as NAME' and write {step.kind}(NAME)")
            inputs.append(value)
        if len(inputs) < 2:
            raise ResdslError(f"{step.kind}(...) needs at least one named value", step.span)
        return self.merge(scope, step.kind, inputs, ["main"] + ["skip"] * (len(inputs) - 1), step.span)

    # --- residual units ------------------------------------------------------------------------

    def residual(self, scope: Scope, step: ast.Residual, x: Tensor) -> Tensor:
        name_args = [a for a in step.args if a.keyword == "name"]
        label = None
        if name_args:
            if not isinstance(name_args[0].value, ast.Name):
                raise ResdslError("the shortcut's name must be a plain name", name_args[0].span,
                                  "for example residual(name: downsample)")
            label = name_args[0].value.id
        positional, keywords = self.arguments(scope, tuple(a for a in step.args if a.keyword != "name"), "residual")
        args = bind("residual", _RESIDUAL, positional, keywords, step.span, ALIASES)
        if not step.body:
            raise ResdslError("a residual unit needs a main path", step.span, "write its layers inside { ... }")
        main = self.steps(scope, step.body, x)
        if args["scale"] is not None:
            factor = args["scale"]
            assert isinstance(factor, (int, float))  # _RESIDUAL checks it is a number
            main = self.node(scope, scope.names.automatic("scale", step.span), ops.Scale(factor), step.span,
                             [main])
        shortcut, projection = args["shortcut"], args["projection"]
        if shortcut == Symbol("auto"):  # torchvision's rule: project exactly when the shape changes
            same = x.shape == main.shape or x.shape is None or main.shape is None
            shortcut = Symbol("identity") if same else (projection or Symbol("project"))
        elif shortcut == Symbol("project") and projection is not None:
            shortcut = projection
        kind = shortcut.name if isinstance(shortcut, Symbol) else "block"
        # a projection written on a unit whose shape stays: parameters where an identity would do
        # (pad makes nothing there: it is the identity)
        if kind not in ("identity", "pad") and args["shortcut"] != Symbol("auto") and x.shape is not None \
                and x.shape == main.shape:
            written = args["shortcut"]
            made = shortcut.callee if isinstance(shortcut, Ref) else kind
            auto = "residual(shortcut: auto)" if kind == "project" else f"residual(shortcut: auto, projection: {made})"
            self.warnings.projection(written.callee if isinstance(written, Ref) else describe(written),
                                     scope.block or scope.prefix, x.shape, auto, step.span, scope.sites)
        if kind == "identity":
            if None not in (x.shape, main.shape) and x.shape != main.shape:
                raise ResdslError(f"identity shortcut needs equal shapes: the input is {format_shape(x.shape)} but "
                                  f"the main path gives {format_shape(main.shape)}", step.span,
                                  "use shortcut: project (or pad, or auto)")
            skip, edge = x, "skip"
        else:
            if label is None:
                label = next(name for name in _shortcut_names() if name not in scope.names.taken)
            if isinstance(shortcut, Ref):  # a block as the shortcut
                positional = shortcut.positional
                if shortcut.bare and x.shape is not None and main.shape is not None:
                    needs = (main.shape[0], _stride(x.shape, main.shape, shortcut.callee, step.span))
                    positional = tuple((value, shortcut.span) for value in needs)
                skip = self.call(scope.with_(edge_kind="projection"), shortcut.namespace, shortcut.callee,
                                 positional, shortcut.keywords, shortcut.span, shortcut.name_span, x, label)
            else:
                inner = scope.child(scope.names.explicit(label, step.span), index_mode=True, span=step.span,
                                    values=scope.values,
                                    later=scope.later, edge_kind="projection")
                skip = self.shortcut(inner, kind, x, main, step.span)
            edge = "projection"
            if skip.node == x.node:  # a shortcut that made no node (pad on an unchanged shape) is the identity
                kind, edge = "identity", "skip"
            if None not in (skip.shape, main.shape) and skip.shape != main.shape:
                raise ResdslError(f"the shortcut gives {format_shape(skip.shape)} but the main path gives "
                                  f"{format_shape(main.shape)}", step.span, "both paths of a residual unit must agree")
        out = self.merge(scope, "add", [main, skip], ["main", edge], step.span)
        self.graph.graph["residuals"].append({"add": out.node, "shortcut": kind, "stage": scope.stage,
                                              "block": scope.block})
        return out

    def shortcut(self, scope: Scope, kind: str, x: Tensor, main: Tensor, span: Span) -> Tensor:
        """The built-in shortcut paths, named as torchvision and timm name them (downsample.0, ...)."""
        if x.shape is None or main.shape is None:
            return Tensor(x.node, None)
        for local, op in shortcut_path(kind, x.shape, main.shape, _stride(x.shape, main.shape, kind, span)):
            x = self.node(scope, local or scope.names.automatic("", span), op, span, [x])
        return x


def shortcut_path(kind: str, source: ops.Shape, target: ops.Shape, stride: int) -> list[tuple[str | None, ops.Op]]:
    """The layers of built-in shortcut ``kind`` (``project``, ``avgdown`` or ``pad``) from ``source`` to
    ``target`` with ``stride``, each with its name in the shortcut's scope (None: numbered in turn):
    what lowering makes, and what :mod:`resdsl.importing` recognizes in a traced model."""
    channels = target[0]
    if kind == "project":
        return [("0", ops.Conv(channels, 1, stride, 0)), ("1", ops.BatchNorm())]
    if kind == "avgdown":
        pool = [("0", ops.AvgPool(stride, stride, 0, True, False))] if stride > 1 else []
        return [*pool, ("1", ops.Conv(channels, 1, 1, 0)), ("2", ops.BatchNorm())]
    # pad: option A
    return [*([(None, ops.Subsample(stride))] if stride > 1 else []),
            *([(None, ops.ZeroPad(channels))] if source[0] != channels else [])]


def _bounded(op: ops.Op, in_shapes: list[ops.Shape], shape: ops.Shape) -> None:
    """Tensors stay below :data:`NUMBER_LIMIT` elements: an activation per sample, and the weights."""
    elements, params = prod(shape), op.params(in_shapes)
    if elements > NUMBER_LIMIT:
        raise ShapeError(f"{op.kind} gives {format_shape(shape)}, {elements:.3g} elements per sample",
                         "tensors hold at most 2**48 elements; check the channel counts and upsampling scales")
    if params > NUMBER_LIMIT:
        raise ShapeError(f"{op.kind} would have {params:.3g} parameters",
                         "a layer holds at most 2**48 parameters; check the channel counts")


def _shortcut_names():
    yield "downsample"  # torchvision's name
    number = 2
    while True:
        yield f"downsample{number}"
        number += 1


def _stride(source: ops.Shape, target: ops.Shape, kind: str, span: Span) -> int:
    if len(source) != 3 or len(target) != 3:
        raise ResdslError(f"shortcut: {kind} needs feature maps, got {format_shape(source)} → {format_shape(target)}",
                          span)
    (_, height, width), (_, out_h, out_w) = source, target
    guess = max(1, round(height / out_h))
    for stride in (guess, guess + 1, guess - 1):
        if stride >= 1 and (height - 1) // stride + 1 == out_h and (width - 1) // stride + 1 == out_w:
            return stride
    raise ResdslError(f"no shortcut stride maps {format_shape(source)} to {format_shape(target)}", span,
                      "the main path must divide height and width by its stride; pad its convs with k // 2")


_STEPS: dict[type, Callable[[Lowering, Scope, Any, Tensor], Tensor]] = {
    ast.Layer: Lowering.layer, ast.Group: Lowering.group, ast.Residual: Lowering.residual,
    ast.MergeValues: Lowering.merge_values, ast.MergeBranches: Lowering.merge_branches,
    ast.From: Lowering.from_, ast.If: Lowering.if_,
}
