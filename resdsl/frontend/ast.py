"""The syntax tree: frozen dataclasses, each with the span it was written at.

The Lark tree never leaves the frontend; everything after parsing sees these.
"""

from __future__ import annotations

from resdsl.errors import Span
from resdsl.frozen import frozen

# --- expressions -------------------------------------------------------------------------------


@frozen
class Number:
    value: int | float | bool
    span: Span


@frozen
class Size:
    """``1x7``: a size per spatial axis (an asymmetric kernel, stride or padding; an output size)."""

    dims: tuple[int, ...]
    span: Span


@frozen
class Name:
    id: str
    span: Span


@frozen
class BinaryOp:
    operator: str  # one of + - * / // %, == != < <= > >=, and, or
    left: Expr
    right: Expr
    span: Span


@frozen
class Negate:
    operand: Expr
    span: Span


@frozen
class Not:
    operand: Expr
    span: Span


@frozen
class CallValue:
    """``bias_projection(128, 2)`` written as a value: a block to instantiate later (a custom shortcut)."""

    callee: str
    args: tuple[Arg, ...]
    span: Span
    name_span: Span


Expr = Number | Size | Name | BinaryOp | Negate | Not | CallValue


@frozen
class Arg:
    keyword: str | None  # None for a positional argument
    value: Expr
    span: Span


# --- steps: what a body is a sequence of -----------------------------------------------------------
#
# A construct's ``label`` is the module path written before it (``conv1:``, ``layer2.0:``): it names
# the layer, or the scope of the layers inside. ``alias`` is the value name written after it (``as c3``).


@frozen
class Layer:
    """A call of a built-in layer or of a block: ``fc: linear(classes)``, ``basic(64) * 2 as c2``;
    ``first`` overrides keywords of the first of ``repeat`` calls: ``* 4, first(stride: 2)``."""

    callee: str
    args: tuple[Arg, ...]
    repeat: Expr | None
    first: tuple[Arg, ...]
    span: Span
    name_span: Span
    label: str | None = None
    alias: str | None = None


@frozen
class Group:
    """``name: { ... }``: a named scope, the module path of the layers inside (no label: a body inline)."""

    body: tuple[Step, ...]
    span: Span
    label: str | None = None
    alias: str | None = None


@frozen
class Residual:
    """``residual(shortcut: auto) { main path }``: out = main(x) * scale + shortcut(x)."""

    args: tuple[Arg, ...]
    body: tuple[Step, ...]
    span: Span
    label: str | None = None
    alias: str | None = None


@frozen
class MergeValues:
    """``add(c3)``, ``concat(a, b)``: merge the current value with named ones."""

    kind: str  # "add" | "concat" | "mul"
    args: tuple[Arg, ...]
    span: Span
    label: str | None = None
    alias: str | None = None


@frozen
class MergeBranches:
    """``concat { a | b }``: run each branch on the current value, then merge."""

    kind: str
    branches: tuple[tuple[Step, ...], ...]
    span: Span
    label: str | None = None
    alias: str | None = None


@frozen
class From:
    """``from c3``: go on from a named value (an FPN's lateral conv runs on C3, not on the current value)."""

    name: str
    span: Span
    label: None = None  # from and if name nothing themselves
    alias: None = None


@frozen
class If:
    """``if stride > 1 { ... } else { ... }``: a choice made when the block is instantiated."""

    condition: Expr
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...]
    span: Span
    label: None = None
    alias: None = None


Construct = Layer | Group | Residual | MergeValues | MergeBranches
Step = Construct | From | If


# --- network-level statements ---------------------------------------------------------------------


@frozen
class Input:
    dims: tuple[int, ...]
    span: Span


@frozen
class Output:
    """``output(p3, pool: p6)``: the network's outputs, in order, each named by its keyword or value."""

    args: tuple[Arg, ...]
    span: Span


@frozen
class Stage:
    """``stage layer2: bottleneck(128) * 4, first(stride: 2)``: a part of the network reported as one
    row. Written with ``:``, its construct's label is the stage's module path and its items are
    numbered like ``nn.Sequential``'s (``layer2.0``); written ``stage stem: { ... }``, its construct
    is an inline :class:`Group` whose layers keep the enclosing scope's names (``conv1``, ``fc``)."""

    name: str
    step: Construct
    span: Span


@frozen
class Param:
    name: str
    default: Expr | None
    span: Span


@frozen
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Step, ...]
    span: Span


NetworkItem = BlockDef | Input | Output | Stage | Step


@frozen
class NetworkDef:
    name: str
    params: tuple[Param, ...]
    items: tuple[NetworkItem, ...]
    span: Span


@frozen
class Import:
    path: str | None  # None: the standard library
    names: tuple[tuple[str, Span], ...] | None  # None: every block
    span: Span


@frozen
class SourceFile:
    path: str
    imports: tuple[Import, ...]
    blocks: tuple[BlockDef, ...]
    networks: tuple[NetworkDef, ...]


def bodies(step: Step | Stage) -> tuple[tuple[Step, ...], ...]:
    """The step sequences written inside a step: a group's or residual unit's body, each branch, both
    arms of an ``if``, a stage's construct."""
    if isinstance(step, Stage):
        return ((step.step,),)
    if isinstance(step, (Group, Residual)):
        return (step.body,)
    if isinstance(step, MergeBranches):
        return step.branches
    if isinstance(step, If):
        return step.then, step.otherwise
    return ()
