"""A traced :class:`~resdsl.importing.graph.Graph` written as a spec a person would write.

The module calls around each node give the structure: a module called once on one value, giving
one, is a unit (a group, a block instance or a stage); a merge whose branches start from one value
and meet only there is written as a branch construct (``residual``, ``concat { a | b }``,
``mul { identity | gate }``); what is not so nested is written with ``as`` and ``from``. Module
classes used more than once with the same structure become ``block``s whose parameters are the
arguments their instances differ in (a ratio between two kept as ``width * 4``), and runs of equal
calls become ``* n, first(...)``. Arguments equal to their default and labels equal to the
automatic name are left out.

:func:`write` tries that, then the same without blocks, then one step per node, and keeps the first
text whose lowered graph is the traced graph (:func:`same_graph`): the same ops, weights at the same
module paths, wired the same way.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from resdsl.errors import ResdslError
from resdsl.importing.graph import Call, Graph, ImportFault, Node, Unsupported
from resdsl.ir import ops
from resdsl.ir.layers import LAYERS
from resdsl.ir.schema import Symbol
from resdsl.lower.lower import shortcut_path

# --- steps: a small syntax tree of what is written ---------------------------------------------


@dataclass
class Layer:
    layer: str
    args: dict[str, Any]  # every argument, by name (op.written()); values or parameter expressions
    label: str | None = None
    stateful: bool = False
    alias: str | None = None
    target: str | None = None  # upsample(to: NAME)


@dataclass
class Merge:
    kind: str  # concat, add, mul
    branches: list[list[Step]]
    alias: str | None = None


@dataclass
class Residual:
    body: list[Step]
    shortcut: str  # auto, identity, project, avgdown, pad
    scale: Any = None
    name: str | None = None
    alias: str | None = None
    projection: str | None = None  # with shortcut auto: what a unit that changes the shape makes


@dataclass
class Group:
    label: str | None
    body: list[Step]
    cls: str = ""
    alias: str | None = None


@dataclass
class BlockCall:
    block: str
    args: list[Any]  # one value per parameter of the block
    label: str | None = None
    alias: str | None = None
    count: int = 1
    first: list[Any] | None = None


@dataclass
class From:
    name: str
    alias: str | None = None


@dataclass
class MergeValues:
    kind: str
    names: list[str]
    alias: str | None = None


Step = Layer | Merge | Residual | Group | BlockCall | From | MergeValues


@dataclass
class Param:
    name: str
    default: Any = None  # None: positional, required


@dataclass
class Expr:
    """A block parameter, times or divided by a constant: ``width * 4``."""

    param: str
    times: int = 1
    divide: int = 1

    def __str__(self) -> str:
        return self.param + (f" * {self.times}" if self.times != 1 else "") + \
            (f" // {self.divide}" if self.divide != 1 else "")


@dataclass
class BlockDef:
    name: str
    params: list[Param]
    body: list[Step]


# --- values as the language writes them ----------------------------------------------------------


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Symbol, Expr)):
        return str(value)
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, float):
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text
    return str(value)


def _snake(name: str) -> str:
    name = name.strip("_")
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    name = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", name)
    name = re.sub(r"[^0-9a-zA-Z_]", "_", name).lower() or "block"
    return name if name[0].isalpha() else f"b_{name}"


# --- units: the structure the module calls give --------------------------------------------------


@dataclass
class Unit:
    """A node, or the nodes one module call made (``call``) with one input value and one output."""

    nodes: list[Node]
    inputs: list[str]
    output: str
    call: Call | None = None
    cls: str = ""

    @property
    def node(self) -> Node:
        return self.nodes[0]


@dataclass
class Writer:
    graph: Graph
    classes: dict[str, str]  # module path → class name
    users: dict[str, list[str]] = field(default_factory=dict)
    aliases: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.users = self.graph.users()
        self.outputs = set(self.graph.outputs.values())

    # units of one scope

    def units(self, scope: tuple[Call, ...], nodes: list[Node]) -> list[Unit]:
        depth = len(scope)
        order: list[Call | str] = []
        grouped: dict[Call, list[Node]] = {}
        for node in nodes:
            if len(node.scopes) == depth:
                order.append(node.key)
            else:
                call = node.scopes[depth]
                if call not in grouped:
                    grouped[call] = []
                    order.append(call)
                grouped[call].append(node)
        units: list[Unit] = []
        for item in order:
            if isinstance(item, str):
                node = self.graph.nodes[item]
                units.append(Unit([node], list(node.inputs), node.key))
                continue
            members = grouped[item]
            keys = {node.key for node in members}
            inputs = list(dict.fromkeys(source for node in members for source in node.inputs if source not in keys))
            outputs = [node.key for node in members if node.key in self.outputs or
                       any(user not in keys for user in self.users[node.key])]
            # a module whose forward is one op (a subclass of a layer's class, a wrapper): that layer
            weights_here = len(members) == 1 or any(node.name == item[0] for node in members)
            if len(inputs) == 1 and len(outputs) == 1 and not weights_here:
                units.append(Unit(members, inputs, outputs[0], item, self.classes.get(item[0], "")))
            else:  # not one value in and one out: its parts, in this scope
                units.extend(self.units((*scope, item), members))
        return units

    # steps of a region

    def steps(self, prefix: str, units: list[Unit], entry: str, exit: str) -> list[Step]:
        try:
            return self.nested(prefix, units, entry, exit)
        except _NotNested:
            return self.flat(prefix, units, entry, exit)

    def nested(self, prefix: str, units: list[Unit], entry: str, exit: str) -> list[Step]:
        by_output = {unit.output: unit for unit in units}
        values = nx.DiGraph()
        values.add_node(entry)
        for unit in units:
            for source in unit.inputs:
                values.add_edge(source, unit.output)
        if exit not in values:
            raise _NotNested
        dominators = nx.immediate_dominators(values, entry)
        used = Counter(source for unit in units for source in unit.inputs)
        return self.chain(prefix, by_output, dominators, entry, exit, used)

    def chain(self, prefix: str, by_output: dict[str, Unit], dominators: dict[str, str], entry: str, exit: str,
              used: Counter[str]) -> list[Step]:
        steps: list[Step] = []
        current = exit
        while current != entry:
            unit = by_output.get(current)
            if unit is None:
                raise _NotNested
            if len(unit.inputs) == 1:
                if current != exit and used[current] != 1:
                    raise _NotNested
                steps.insert(0, self.unit_step(prefix, unit))
                current = unit.inputs[0]
                continue
            fork = dominators.get(current)
            if fork is None:
                raise _NotNested
            branches: list[list[Step]] = []
            seen: set[str] = set()
            for source in unit.inputs:
                members = self.between(by_output, fork, source)
                if members & seen:
                    raise _NotNested
                seen |= members
                for member in members:  # nothing leaves a branch but its end
                    if member != source and used[member] != 1:
                        raise _NotNested
                branches.append(self.chain(prefix, by_output, dominators, fork, source, used)
                                if source != fork else [])
            steps.insert(0, self.merge_step(prefix, unit, branches, fork))
            current = fork
        return steps

    def between(self, by_output: dict[str, Unit], fork: str, end: str) -> set[str]:
        found: set[str] = set()
        stack = [end]
        while stack:
            value = stack.pop()
            if value == fork or value in found:
                continue
            if value not in by_output:
                raise _NotNested
            found.add(value)
            stack.extend(by_output[value].inputs)
        return found

    def merge_step(self, prefix: str, unit: Unit, branches: list[list[Step]], fork: str) -> Step:
        op = unit.node.op
        if unit.call is not None or not isinstance(op, (ops.Add, ops.Concat, ops.Multiply)):
            raise _NotNested
        if isinstance(op, ops.Add) and len(branches) == 2:
            residual = self.residual(prefix, unit, branches, fork)
            if residual is not None:
                return residual
        kind = {ops.Add: "add", ops.Concat: "concat", ops.Multiply: "mul"}[type(op)]
        return Merge(kind, [branch or [Layer("identity", {})] for branch in branches])

    def residual(self, prefix: str, unit: Unit, branches: list[list[Step]], fork: str) -> Residual | None:
        ports = [0, 1] if self.weight(branches[0]) >= self.weight(branches[1]) else [1, 0]  # the main path: more layers
        main, skip = branches[ports[0]], branches[ports[1]]
        if not main:
            return None
        scale = None
        last = main[-1]
        if isinstance(last, Layer) and last.layer == "scale" and last.label is None:
            main, scale = main[:-1], last.args["factor"]
            if not main:
                return None
        source, target = self.graph.shape(fork), unit.node.shape
        if not skip:
            return Residual(main, "auto" if source == target else "identity", scale)
        if len(skip) != 1 or not isinstance(skip[0], Group) or not skip[0].label:
            return None
        group = skip[0]
        layers = [(step.label, step.layer, step.args) for step in group.body if isinstance(step, Layer)]
        if len(layers) != len(group.body) or len(source) != 3:
            return None
        stride = source[1] // target[1] if target[1] and source[1] % target[1] in (0, 1) else 0
        for kind in ("project", "avgdown", "pad"):
            for candidate in {stride, -(-source[1] // target[1]) if target[1] else 0} - {0}:
                path = shortcut_path(kind, source, target, candidate)
                made = [(local, *_written(op)) for local, op in path]
                mine = [(label, name, args) for label, name, args in layers]
                if made == mine:
                    name = None if group.label == "downsample" else group.label
                    if source == target:  # a projection where an identity would do: written as it is
                        return Residual(main, kind, scale, name)
                    return Residual(main, "auto", scale, name, projection=None if kind == "project" else kind)
        return None

    @staticmethod
    def weight(steps: list[Step]) -> int:
        return sum(1 for _ in _layers(steps))

    def unit_step(self, prefix: str, unit: Unit) -> Step:
        if unit.call is None:
            return self.layer_step(prefix, unit.node)
        path = unit.call[0]
        inner = self.units(unit.node.scopes[:unit.node.scopes.index(unit.call) + 1], unit.nodes)
        body = self.steps(path, inner, unit.inputs[0], unit.output)
        return Group(_relative(prefix, path), body, unit.cls)

    def layer_step(self, prefix: str, node: Node) -> Layer:
        written = node.op.written()
        if written is None:
            raise _NotNested
        name, args = written
        label = _relative(prefix, node.name) if node.name else None
        return Layer(name, dict(args), label, node.name is not None)

    # one step per node

    def flat(self, prefix: str, units: list[Unit], entry: str, exit: str) -> list[Step]:
        names: dict[str, str] = {}

        def name(value: str) -> str:
            if value not in names:
                self.aliases["x"] += 1
                names[value] = f"x{self.aliases['x']}"
            return names[value]

        steps: list[Step] = []
        produced: dict[str, Step] = {}
        current = entry
        order = list(units)
        for unit in order:
            first = unit.inputs[0]
            if first != current:
                steps.append(From(name(first)))
            if unit.call is None and isinstance(unit.node.op, (ops.Add, ops.Concat, ops.Multiply)):
                kind = {ops.Add: "add", ops.Concat: "concat", ops.Multiply: "mul"}[type(unit.node.op)]
                step: Step = MergeValues(kind, [name(source) for source in unit.inputs[1:]])
            elif unit.call is None and isinstance(unit.node.op, ops.UpsampleTo):
                step = Layer("upsample", {}, None, False, target=name(unit.inputs[1]))
            elif unit.call is None:
                step = self.layer_step(prefix, unit.node)
            else:
                step = self.unit_step(prefix, unit)
            steps.append(step)
            produced[unit.output] = step
            current = unit.output
        if current != exit:
            steps.append(From(name(exit)))
        head: list[Step] = []
        for value, alias in names.items():
            if value == entry:
                head.append(Layer("identity", {}, alias=alias))
            else:
                produced[value].alias = alias
        return head + steps


class _NotNested(Exception):
    """This region is not a nest of chains and branches: it is written with names."""


def _written(op: ops.Op) -> tuple[str, dict[str, Any]]:
    written = op.written()
    assert written is not None
    return written[0], dict(written[1])


def _relative(prefix: str, path: str | None) -> str | None:
    if path is None:
        return None
    if not prefix:
        return path
    if not path.startswith(prefix + "."):
        raise _NotNested
    return path[len(prefix) + 1:]


def _layers(steps: Sequence[Step]) -> Iterator[Layer]:
    for step in steps:
        if isinstance(step, Layer):
            if step.layer != "identity":
                yield step
        elif isinstance(step, Merge):
            for branch in step.branches:
                yield from _layers(branch)
        elif isinstance(step, (Residual, Group)):
            yield from _layers(step.body)
        elif isinstance(step, BlockCall):
            yield Layer(step.block, {})


# --- blocks: classes used more than once --------------------------------------------------------


def _slots(steps: Sequence[Step], into: list[tuple[Any, str, Any]]) -> list[tuple[Any, str, Any]]:
    """Every value an instance writes, in order: (the step, its argument, the value)."""
    for step in steps:
        if isinstance(step, Layer):
            for key, value in step.args.items():
                into.append((step, key, value))
        elif isinstance(step, Merge):
            for branch in step.branches:
                _slots(branch, into)
        elif isinstance(step, Residual):
            into.append((step, "scale", step.scale))
            _slots(step.body, into)
        elif isinstance(step, Group):
            _slots(step.body, into)
        elif isinstance(step, BlockCall):
            for index, value in enumerate(step.args):
                into.append((step, str(index), value))
    return into


def _skeleton(steps: Sequence[Step]) -> Any:
    out: list[Any] = []
    for step in steps:
        if isinstance(step, Layer):
            out.append(("L", step.layer, step.label, tuple(step.args), step.alias, step.target))
        elif isinstance(step, Merge):
            out.append(("M", step.kind, step.alias, tuple(_skeleton(branch) for branch in step.branches)))
        elif isinstance(step, Residual):
            out.append(("R", step.shortcut, step.alias, step.scale is None, _skeleton(step.body)))
        elif isinstance(step, Group):
            out.append(("G", step.label, step.alias, _skeleton(step.body)))
        elif isinstance(step, BlockCall):
            out.append(("B", step.block, step.label, step.alias, len(step.args)))
        else:
            out.append((type(step).__name__, repr(vars(step))))
    return tuple(out)


#: PyTorch's containers: modules that only hold others, never a block of their own.
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
_PARAMETER_NAMES = {"channels": "width", "features": "features", "factor": "scale"}


def make_blocks(root: list[Step], reserved: set[str]) -> list[BlockDef]:
    """Groups of a module class used twice or more with one structure become block calls, innermost
    first; returns the blocks, in the order their definitions must be written."""
    definitions: list[BlockDef] = []
    taken = set(reserved)
    while True:
        groups: dict[tuple[str, Any], list[Group]] = {}
        for group, _depth in _groups(root):
            if group.cls in CONTAINERS:
                group.cls = ""
            if group.cls and not any(isinstance(inner, Group) and inner.cls for inner, _ in _groups(group.body)):
                groups.setdefault((group.cls, _skeleton(group.body)), []).append(group)
        candidates = [(key, found) for key, found in groups.items() if len(found) >= 2]
        if not candidates:
            # classes whose instances nest unconverted groups: convert the remaining groups by treating them as plain
            leftovers = [group for group, _ in _groups(root) if group.cls]
            if not leftovers:
                return definitions
            for group in leftovers:
                group.cls = ""
            continue
        for (cls, _), found in candidates:
            name = _snake(cls)
            base = name
            number = 2
            while name in taken or name in LAYERS or keyword.iskeyword(name):
                name = f"{base}_{number}" if base not in LAYERS else f"{base}_block"
                number += 1 if base not in LAYERS else 0
                base = base if base not in LAYERS else f"{base}_block"
            taken.add(name)
            calls: dict[int, BlockCall] = {}
            definitions.append(_define(name, found, calls))
            _replace(root, calls)
        # groups of classes used once are plain groups: their own class says nothing more
        used = {key for key, found in groups.items() if len(found) >= 2}
        for key, found in groups.items():
            if key not in used:
                for group in found:
                    group.cls = ""


def _replace(steps: list[Step], calls: dict[int, BlockCall]) -> None:
    """Each group in ``calls`` replaced by its block call, wherever it is."""
    for index, step in enumerate(steps):
        if id(step) in calls:
            steps[index] = calls[id(step)]
        elif isinstance(step, Merge):
            for branch in step.branches:
                _replace(branch, calls)
        elif isinstance(step, (Residual, Group)):
            _replace(step.body, calls)


def _groups(steps: Sequence[Step], depth: int = 0) -> Iterator[tuple[Group, int]]:
    for step in steps:
        if isinstance(step, Group):
            yield from _groups(step.body, depth + 1)
            yield step, depth
        elif isinstance(step, Merge):
            for branch in step.branches:
                yield from _groups(branch, depth)
        elif isinstance(step, Residual):
            yield from _groups(step.body, depth)


def _define(name: str, instances: list[Group], calls: dict[int, BlockCall]) -> BlockDef:
    body_slots = [_slots(group.body, []) for group in instances]
    template = instances[0].body
    params: list[Param] = []
    vectors: list[tuple[str, list[Any], bool]] = []  # parameter name, values per instance, required
    count = len(body_slots[0])
    # default elision is decided per layer step across instances
    for position in range(count):
        step, key, _ = body_slots[0][position]
        values = [slots[position][2] for slots in body_slots]
        if all(value == values[0] for value in values):  # the same in every instance: written as it is
            continue
        expression = None
        for param_name, vector, _ in vectors:
            if all(isinstance(v, int) and not isinstance(v, bool) for v in (*values, *vector)):
                if values == vector:
                    expression = Expr(param_name)
                elif vector[0] and values[0] % vector[0] == 0 and \
                        all(v == w * (values[0] // vector[0]) for v, w in zip(values, vector)):
                    expression = Expr(param_name, times=values[0] // vector[0])
                elif values[0] and vector[0] % values[0] == 0 and \
                        all(v == w // (vector[0] // values[0]) and w % (vector[0] // values[0]) == 0
                            for v, w in zip(values, vector)):
                    expression = Expr(param_name, divide=vector[0] // values[0])
            elif values == vector:
                expression = Expr(param_name)
            if expression is not None:
                break
        if expression is None:
            base = _PARAMETER_NAMES.get(key, key if key.isidentifier() and not key.isdigit() else "value")
            if isinstance(step, BlockCall):
                base = "value"
            param_name = base
            number = 2
            while any(p.name == param_name for p in params) or param_name in LAYERS or keyword.iskeyword(param_name):
                param_name = f"{base}{number}"
                number += 1
            required = isinstance(step, BlockCall) or _required(step, key)
            default = None if required else Counter(values).most_common(1)[0][0]
            params.append(Param(param_name, default))
            vectors.append((param_name, values, required))
            expression = Expr(param_name)
        if isinstance(step, Layer):
            step.args[key] = expression
        elif isinstance(step, BlockCall):
            step.args[int(key)] = expression
        elif isinstance(step, Residual):
            step.scale = expression
    for position, (step, key, _) in enumerate(body_slots[0]):
        if isinstance(step, Residual) and key == "scale":  # a unit's shortcut, from the instances that make one
            made = {(slots[position][0].name, slots[position][0].projection) for slots in body_slots
                    if slots[position][0].projection is not None or slots[position][0].name is not None}
            if len(made) > 1:
                raise _NotNested
            if made:
                step.name, step.projection = made.pop()
    _elide_template(template, body_slots)
    params.sort(key=lambda p: p.default is not None)
    order = [param.name for param in params]
    by_name = {param_name: vector for param_name, vector, _ in vectors}
    for index, group in enumerate(instances):
        calls[id(group)] = BlockCall(name, [by_name[param][index] for param in order], group.label, group.alias)
    return BlockDef(name, params, template)


def _required(step: Any, key: str) -> bool:
    if not isinstance(step, Layer) or step.layer not in LAYERS:
        return False
    return any(p.name == key and p.required for p in LAYERS[step.layer].parameters)


def _elide_template(template: list[Step], body_slots: list[list[tuple[Any, str, Any]]]) -> None:
    """Arguments every instance could leave out (the op is the same without them) are left out."""
    per_step: dict[int, list[dict[str, Any]]] = {}
    steps: dict[int, Layer] = {}
    for slots in body_slots:
        seen: dict[int, dict[str, Any]] = {}
        for position, (_step, key, value) in enumerate(slots):
            anchor = body_slots[0][position][0]
            if isinstance(anchor, Layer):
                seen.setdefault(id(anchor), {})[key] = value
                steps[id(anchor)] = anchor
        for ident, args in seen.items():
            per_step.setdefault(ident, []).append(args)
    for ident, instances in per_step.items():
        step = steps[ident]
        for key in _droppable(step.layer, instances):
            step.args.pop(key, None)


def _droppable(layer: str, instances: list[dict[str, Any]]) -> list[str]:
    if layer not in LAYERS:
        return []
    builtin = LAYERS[layer]
    dropped: list[str] = []
    for parameter in builtin.parameters:
        if parameter.required or not any(parameter.name in args for args in instances):
            continue
        same = True
        for args in instances:
            full = {p.name: args.get(p.name, p.default) for p in builtin.parameters}
            trial = {**full, **{key: p.default for p in builtin.parameters for key in [*dropped, parameter.name]
                                if p.name == key}}
            try:
                same = builtin.build(trial) == builtin.build(full)
            except Exception:  # noqa: BLE001 - arguments that do not go together
                same = False
            if not same:
                break
        if same:
            dropped.append(parameter.name)
    return dropped


def elide(steps: Sequence[Step]) -> None:
    """Arguments left at their default, in steps outside blocks."""
    for layer in _layers(steps):
        if layer.layer in LAYERS and not any(isinstance(v, Expr) for v in layer.args.values()):
            for key in _droppable(layer.layer, [layer.args]):
                layer.args.pop(key, None)


# --- stages and runs --------------------------------------------------------------------------


def compress(calls: list[BlockCall], blocks: dict[str, BlockDef]) -> list[BlockCall] | None:
    """Calls labeled 0, 1, ... as runs: ``b(64) * 3``, and ``b(128) * 4, first(stride: 2)``."""
    if any(call.label != str(index) for index, call in enumerate(calls)):
        return None
    runs: list[BlockCall] = []
    for call in calls:
        last = runs[-1] if runs else None
        if last is not None and last.block == call.block and last.args == call.args:
            last.count += 1
            continue
        runs.append(BlockCall(call.block, list(call.args), None))
    # a first call differing from the run after it only in keyword arguments
    merged: list[BlockCall] = []
    index = 0
    while index < len(runs):
        run = runs[index]
        after = runs[index + 1] if index + 1 < len(runs) else None
        keywords_only = after is not None and after.block == run.block and all(
            param.default is not None or mine == theirs
            for param, mine, theirs in zip(blocks[run.block].params, run.args, after.args))
        if run.count == 1 and after is not None and keywords_only and run.first is None:
            merged.append(BlockCall(run.block, after.args, None, None, after.count + 1, run.args))
            index += 2
            continue
        merged.append(run)
        index += 1
    return merged


# --- labels the lowering would make itself are left out ----------------------------------------


class _Names:
    """Lowering's automatic names (:class:`resdsl.lower.scope.Names`), simulated to leave out labels."""

    def __init__(self, index_mode: bool) -> None:
        self.index_mode = index_mode
        self.taken: set[str] = set()
        self.counters: dict[str, int] = {}

    def peek(self, base: str) -> str:
        key = "" if self.index_mode else base
        number = self.counters.get(key, 0 if self.index_mode else 1)
        while (name := str(number) if self.index_mode else f"{base}{number}") in self.taken:
            number += 1
        return name

    def automatic(self, base: str) -> None:
        key = "" if self.index_mode else base
        name = self.peek(base)
        self.counters[key] = (int(name) if self.index_mode else int(name[len(base):])) + 1
        self.taken.add(name)


def drop_labels(steps: Sequence[Step], index_mode: bool) -> None:
    """Labels in one scope that lowering's automatic names make anyway, left out."""
    _drop(steps, _Names(index_mode))


def _name(step: Layer | BlockCall, base: str, names: _Names) -> None:
    """The step's label left out where lowering's automatic name for ``base`` is that label."""
    if step.label is not None and step.label == names.peek(base):
        step.label = None
    if step.label is None:
        names.automatic(base)
    else:
        names.taken.add(step.label)


def _drop(steps: Sequence[Step], names: _Names) -> None:
    for step in steps:
        if isinstance(step, Layer) and step.layer != "identity":
            _name(step, step.layer, names)
        elif isinstance(step, BlockCall) and step.count == 1:
            _name(step, step.block, names)
        elif isinstance(step, Group):
            if step.label is not None:
                names.taken.add(step.label)
                drop_labels(step.body, False)
            else:
                _drop(step.body, names)
        elif isinstance(step, Merge):
            for branch in step.branches:
                _drop(branch, names)
            names.automatic(step.kind)
        elif isinstance(step, MergeValues):
            names.automatic(step.kind)
        elif isinstance(step, Residual):
            _drop(step.body, names)
            if step.scale is not None:
                names.automatic("scale")
            if step.shortcut != "identity":
                names.taken.add(step.name or "downsample")
            names.automatic("add")


# --- text ---------------------------------------------------------------------------------------


def _arguments(layer: Layer) -> str:
    if layer.target is not None:
        return f"(to: {layer.target})"
    parameters = LAYERS[layer.layer].parameters if layer.layer in LAYERS else ()
    parts = []
    for parameter in parameters:
        if parameter.name not in layer.args:
            continue
        value = layer.args[parameter.name]
        if parameter.required:
            parts.append(literal(value))
        elif isinstance(value, Symbol) and parameter is parameters[0] and not parts:
            parts.append(literal(value))  # avgpool(global)
        else:
            parts.append(f"{parameter.name}: {literal(value)}")
    return f"({', '.join(parts)})" if parts else ""


def _call_text(call: BlockCall, definition: BlockDef) -> str:
    parts = []
    for param, value in zip(definition.params, call.args):
        if param.default is None:
            parts.append(literal(value))
        elif value != param.default:
            parts.append(f"{param.name}: {literal(value)}")
    text = f"{call.block}({', '.join(parts)})" if parts else call.block
    if call.count > 1:
        text += f" * {call.count}"
        if call.first is not None:
            first = [f"{param.name}: {literal(value)}" for param, value, other in
                     zip(definition.params, call.first, call.args) if value != other]
            if first:
                text += f", first({', '.join(first)})"
    return text


class Text:
    def __init__(self, blocks: dict[str, BlockDef]) -> None:
        self.blocks = blocks

    def lines(self, steps: Sequence[Step], indent: int) -> list[str]:
        pad = "  " * indent
        out: list[str] = []
        line = ""
        for step in steps:
            text = self.inline(step)
            if text is not None and "\n" not in text:
                if line and len(pad) + len(line) + 1 + len(text) <= 100 and not line.endswith("}"):
                    line += " " + text
                else:
                    if line:
                        out.append(pad + line)
                    line = text
                continue
            if line:
                out.append(pad + line)
                line = ""
            out.extend(self.block_lines(step, indent))
        if line:
            out.append(pad + line)
        return out

    def alias(self, step: Step, text: str) -> str:
        return f"{text} as {step.alias}" if step.alias else text

    def inline(self, step: Step) -> str | None:
        if isinstance(step, Layer):
            text = f"{step.layer}{_arguments(step)}"
            return self.alias(step, f"{step.label}: {text}" if step.label else text)
        if isinstance(step, BlockCall):
            text = _call_text(step, self.blocks[step.block])
            return self.alias(step, f"{step.label}: {text}" if step.label else text)
        if isinstance(step, From):
            return f"from {step.name}"
        if isinstance(step, MergeValues):
            return self.alias(step, f"{step.kind}({', '.join(step.names)})")
        if isinstance(step, Merge) and all(len(branch) <= 3 for branch in step.branches):
            branches = [" ".join(self.inline(s) or "?" for s in branch) for branch in step.branches]
            if all("?" not in b for b in branches) and sum(map(len, branches)) < 80:
                return self.alias(step, f"{step.kind} {{ {' | '.join(branches)} }}")
        return None

    def block_lines(self, step: Step, indent: int) -> list[str]:
        pad = "  " * indent
        if isinstance(step, Group):
            head = f"{step.label}: {{" if step.label else "{"
            return [pad + head, *self.lines(step.body, indent + 1), pad + "}" + (f" as {step.alias}" if step.alias
                                                                                  else "")]
        if isinstance(step, Residual):
            args = []
            if step.shortcut != "auto":
                args.append(f"shortcut: {step.shortcut}")
            if step.projection:
                args.append(f"projection: {step.projection}")
            if step.scale is not None:
                args.append(f"scale: {literal(step.scale)}")
            if step.name:
                args.append(f"name: {step.name}")
            head = f"residual({', '.join(args)}) {{" if args else "residual {"
            return [pad + head, *self.lines(step.body, indent + 1), pad + "}" + (f" as {step.alias}" if step.alias
                                                                                  else "")]
        if isinstance(step, Merge):
            out = [pad + f"{step.kind} {{"]
            for index, branch in enumerate(step.branches):
                if index:
                    out.append(pad + "|")
                out.extend(self.lines(branch, indent + 1))
            out.append(pad + "}" + (f" as {step.alias}" if step.alias else ""))
            return out
        raise AssertionError(step)

    def definition(self, block: BlockDef, indent: int) -> list[str]:
        pad = "  " * indent
        params = ", ".join(p.name if p.default is None else f"{p.name}: {literal(p.default)}" for p in block.params)
        head = f"block {block.name}({params}) {{" if params else f"block {block.name} {{"
        return [pad + head, *self.lines(block.body, indent + 1), pad + "}"]


# --- the network --------------------------------------------------------------------------------


def network(graph: Graph, classes: dict[str, str], name: str, blocks: bool, nested: bool,
            header: Sequence[str] = ()) -> str:
    writer = Writer(graph, classes)
    if not nested:
        writer.nested = writer.flat  # type: ignore[method-assign]
    top = writer.units((), list(graph.nodes.values()))
    (exit,) = graph.outputs.values()  # write() refuses several outputs
    assert graph.input is not None
    body = writer.steps("", top, graph.input, exit)
    definitions: list[BlockDef] = []
    if blocks:
        definitions = make_blocks(body, {name})
    for group, _ in _groups(body):
        group.cls = ""
    elide(body)
    for definition in definitions:
        drop_labels(definition.body, False)
    stages = _stages(body, {d.name: d for d in definitions})
    lines = [*header, f"network {_snake(name) if not name.isidentifier() else name} {{",
             f"  input {'x'.join(map(str, graph.input_shape))}"]
    text = Text({d.name: d for d in definitions})
    for definition in definitions:
        lines.append("")
        lines.extend(text.definition(definition, 1))
    lines.append("")
    for stage, steps, index_mode in stages:
        if stage is None:
            lines.extend(text.lines(steps, 1))
        elif len(steps) == 1 and isinstance(steps[0], BlockCall) and index_mode:
            lines.append(f"  stage {stage}: {text.inline(steps[0])}")
        else:
            inner = text.lines(steps, 2)
            opener = f"  stage {stage}: {{" if index_mode else f"  stage {stage.replace('.', '_')} {{"
            if len(inner) == 1 and len(inner[0]) + len(opener) < 100:
                lines.append(f"{opener} {inner[0].strip()} }}")
            else:
                lines.extend([opener, *inner, "  }"])
    lines.append("}")
    return "\n".join(lines) + "\n"


def _stages(body: list[Step], blocks: dict[str, BlockDef]) -> list[tuple[str | None, list[Step], bool]]:
    """The top level as stages: each top-level module (a group or a block instance) one, the layers
    before the first the stem, after the last the head."""
    stages: list[tuple[str | None, list[Step], bool]] = []
    body = _splice(body)
    modules = [index for index, step in enumerate(body) if isinstance(step, Group) and step.label]
    if not modules:
        drop_labels(body, False)
        return [(None, body, False)]
    first = modules[0]
    loose: list[Step] = []
    names = _Names(False)
    for index, step in enumerate(body):
        if isinstance(step, Group) and step.label:
            if loose:
                stages.append(("stem" if not stages and index == first else None, loose, False))
                loose = []
            if isinstance(step, Group):
                calls = [s for s in step.body if isinstance(s, BlockCall)]
                runs = compress(calls, blocks) if len(calls) == len(step.body) else None
                if runs is not None:
                    stages.append((step.label, list(runs), True))
                    continue
                drop_labels(step.body, True)
                stages.append((step.label, step.body, True))
            else:
                stages.append((step.label, [step], False))
            names.taken.add(step.label)
            continue
        loose.append(step)
    if loose:
        stages.append(("head", loose, False))
    for _stage, steps, index_mode in stages:
        if not index_mode:
            _drop(steps, names)
    return stages


# --- checked against the traced graph ---------------------------------------------------------


def _canonical(order: Sequence[tuple[str, ops.Op, list[str], bool]], outputs: Sequence[str]) -> tuple[int, ...]:
    """Each value as an id equal for equal computations: the op, the module path of an op with weights,
    and the ids of its inputs (sorted for add and mul, whose order does not matter)."""
    ids: dict[str, int] = {}
    made: dict[Any, int] = {}
    for key, op, inputs, stateful in order:
        sources = [ids[source] for source in inputs]
        if isinstance(op, (ops.Add, ops.Multiply)):
            sources.sort()
        signature = (op, key if stateful else None, tuple(sources))
        ids[key] = made.setdefault(signature, len(made))
    return tuple(ids[key] for key in outputs)


def same_graph(graph: Graph, text: str) -> str | None:
    """None when ``text`` lowers to the traced graph; else why not."""
    import resdsl

    try:
        net = resdsl.load(text, max_nodes=max(10_000, 4 * len(graph.nodes)))
    except ResdslError as error:
        return str(error)
    lowered = net.graph
    order: list[tuple[str, ops.Op, list[str], bool]] = []
    for key in nx.topological_sort(lowered):
        data = lowered.nodes[key]
        op = data["op"]
        inputs = [source for source, _, _ in sorted(lowered.in_edges(key, data=True), key=lambda e: e[2]["port"])]
        if isinstance(op, ops.Input):
            order.append((key, op, [], True))
            continue
        shapes = [lowered.nodes[source]["shape"] for source in inputs]
        order.append((key, op, inputs, op.params(shapes) + op.buffers(shapes) > 0))
    mine: list[tuple[str, ops.Op, list[str], bool]] = [("input", ops.Input(graph.input_shape), [], True)]
    for node in graph.nodes.values():
        mine.append((node.name or node.key, node.op, ["input" if s == graph.input else
                                                      (graph.nodes[s].name or s) for s in node.inputs],
                     node.name is not None))
    theirs = _canonical(order, list(lowered.graph["outputs"].values()))
    ours = _canonical(mine, [graph.nodes[key].name or key for key in graph.outputs.values()])
    if theirs != ours:
        return "the spec computes something else"
    if list(lowered.graph["outputs"]) != list(graph.outputs) and len(graph.outputs) > 1:
        return "the outputs are named otherwise"
    return None


LEVELS = (("blocks", True, True), ("groups", False, True), ("flat", False, False))


def write(graph: Graph, classes: dict[str, str], name: str, header: Sequence[str] = ()) -> tuple[str, str]:
    """The most structured spec of ``graph`` that lowers to it, and which level of structure that is."""
    if len(graph.outputs) != 1:
        raise ImportFault([Unsupported("output", f"{len(graph.outputs)} outputs ({', '.join(graph.outputs)}): "
                                                 "writing a spec with several outputs is not done yet")])
    reasons = []
    for level, blocks, nested in LEVELS:
        try:
            text = network(graph, classes, name, blocks, nested, header)
        except (_NotNested, ResdslError) as error:
            reasons.append(f"{level}: {error}")
            continue
        why = same_graph(graph, text)
        if why is None:
            return text, level
        reasons.append(f"{level}: {why}")
    raise ResdslError("internal error: no spec written for this model lowers to it (" + "; ".join(reasons) + ")",
                      None, "please report it with the model")


def _splice(body: list[Step]) -> list[Step]:
    """A top-level container of modules (DenseNet's and ConvNeXt's ``features``) opened: its modules
    are the stages, labeled with their whole paths."""
    out: list[Step] = []
    for step in body:
        if isinstance(step, Group) and step.label and not step.alias and \
                any(isinstance(inner, (Group, BlockCall)) and inner.label for inner in step.body) and \
                not all(isinstance(inner, BlockCall) for inner in step.body) and \
                all(not isinstance(inner, (From, MergeValues)) and not inner.alias for inner in step.body):
            for inner in step.body:
                if isinstance(inner, (Layer, Group, BlockCall)) and inner.label:
                    inner.label = f"{step.label}.{inner.label}"
                out.append(inner)
        else:
            out.append(step)
    return out
