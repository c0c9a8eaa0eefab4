"""Which blocks are visible where: the loader fills one per file from its imports and its own blocks,
lowering one per network on top of its file's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resdsl.errors import ResdslError
from resdsl.frontend import ast
from resdsl.ir.layers import LAYERS


class Namespace:
    """The blocks visible in a file or network; a block body resolves names where it was defined.

    A network's namespace also holds the network's ``parameters`` (evaluated, overrides applied):
    scoping is lexical, so a block defined inside the network sees them; one defined at the top
    level of a file (``parameters`` None) sees only its own."""

    def __init__(self, parent: Namespace | None = None, parameters: Mapping[str, Any] | None = None) -> None:
        self.parent = parent
        self.parameters = parameters
        self.blocks: dict[str, tuple[ast.BlockDef, Namespace]] = {}

    def define(self, block: ast.BlockDef, home: Namespace | None = None) -> None:
        """Make ``block`` visible here. A block cannot take a built-in layer's name: a call of that
        name would be ambiguous, and silently picking one would hide the other."""
        if block.name in LAYERS:
            raise ResdslError(f"block '{block.name}' has the name of a built-in layer", block.span,
                              f"rename the block, e.g. '{block.name}_block'")
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
