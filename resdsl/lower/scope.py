"""Where lowering is: the names, parameters, named values and blocks visible at one point of a spec."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from resdsl.errors import ResdslError, Span
from resdsl.frontend import ast
from resdsl.frozen import frozen
from resdsl.ir.ops import Shape


@frozen
class Tensor:
    """A value flowing through the network: the node that produces it, and its shape (None after an error)."""

    node: str
    shape: Shape | None


class Namespace:
    """The blocks visible in a file or network; a block body resolves names where it was defined."""

    def __init__(self, parent: Namespace | None = None) -> None:
        self.parent = parent
        self.blocks: dict[str, tuple[ast.BlockDef, Namespace]] = {}

    def define(self, block: ast.BlockDef, home: Namespace | None = None) -> None:
        self.blocks[block.name] = (block, home or self)

    def lookup(self, name: str) -> tuple[ast.BlockDef, Namespace] | None:
        namespace: Namespace | None = self
        while namespace is not None:
            if name in namespace.blocks:
                return namespace.blocks[name]
            namespace = namespace.parent
        return None

    def names(self) -> set[str]:
        names = set(self.blocks)
        return names | self.parent.names() if self.parent else names


@dataclass
class Names:
    """Module names taken in one scope, and the counters that make automatic ones (conv1, conv2, ...)."""

    index_mode: bool = False  # stages name their items 0, 1, 2 like nn.Sequential
    taken: dict[str, Span] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def automatic(self, base: str, span: Span) -> str:
        key = "" if self.index_mode else base
        number = self.counters.get(key, 0 if self.index_mode else 1)
        while True:
            name = str(number) if self.index_mode else f"{base}{number}"
            number += 1
            if name not in self.taken:
                break
        self.counters[key] = number
        self.taken[name] = span
        return name

    def explicit(self, name: str, span: Span) -> str:
        if name in self.taken:
            earlier = self.taken[name]
            raise ResdslError(f"name '{name}' is already used here (line {earlier.line})", span,
                              "give this one another name")
        self.taken[name] = span
        return name


@frozen
class Scope:
    prefix: str  # qualified module path of this scope ("" at network level)
    env: dict[str, Any]  # parameters
    namespace: Namespace
    names: Names
    values: dict[str, Tensor]  # named values (`as x`)
    later: dict[str, Span]  # names this scope defines further down (to explain use-before-definition)
    stage: str | None = None
    block: str | None = None  # qualified name of the block instance
    calls: tuple[str, ...] = ()  # block call stack, for recursion and nesting limits
    edge_kind: str = "main"  # edges made here: "main", or "projection" inside a shortcut path

    def qualify(self, local: str) -> str:
        return f"{self.prefix}.{local}" if self.prefix else local

    def child(self, local: str, *, index_mode: bool = False, **changes: Any) -> Scope:
        """A nested module scope: new names and named values, qualified under ``local``."""
        defaults = dict(prefix=self.qualify(local), names=Names(index_mode), values={}, later={})
        return replace(self, **{**defaults, **changes})

    def with_(self, **changes: Any) -> Scope:
        """The same scope (names, values shared) with a different stage or edge kind."""
        return replace(self, **changes)


def aliases_defined(steps: tuple[ast.Step, ...], into: dict[str, Span] | None = None) -> dict[str, Span]:
    """Every ``as NAME`` in a body, descending into constructs that share its scope."""
    into = {} if into is None else into
    for step in steps:
        alias = getattr(step, "alias", None)
        if alias:
            into.setdefault(alias, step.span)
        if isinstance(step, (ast.Residual, ast.Group)):
            aliases_defined(step.body, into)
        elif isinstance(step, ast.MergeBranches):
            for branch in step.branches:
                aliases_defined(branch, into)
    return into
