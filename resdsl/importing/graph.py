"""What the importer traces a model into: nodes with resdsl ops, before any structure is recovered.

Torch-free: :mod:`resdsl.importing.trace` fills a :class:`Graph` from ``torch.fx``;
:mod:`resdsl.importing.spec` writes it as a spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from resdsl.errors import ResdslError
from resdsl.ir import ops
from resdsl.ir.ops.base import Shape
from resdsl.lower.scope import reserved

#: A module call around a node: the module's path and which call of it (1, 2, ...).
Call = tuple[str, int]


@dataclass
class Node:
    """One op. ``key`` is unique: the module path where the op has weights (its ``state_dict`` prefix),
    else ``%`` and fx's node name. ``name``: the module path the spec must give it (stateful ops);
    ``scopes``: the calls of modules the op ran inside, outermost first; ``origin``: the module or
    weights it came from, for messages."""

    key: str
    op: ops.Op
    inputs: list[str]
    shape: Shape
    name: str | None
    scopes: tuple[Call, ...]
    origin: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """One thing the language cannot say: where (a module path or class) and what."""

    where: str
    what: str


class ImportFault(ResdslError):
    """A model the language cannot write: every operation without an op, each once, with its module path."""

    def __init__(self, found: list[Unsupported]) -> None:
        unique = list(dict.fromkeys(found))
        lines = [f"  {item.where}: {item.what}" for item in unique[:40]]
        if len(unique) > 40:
            lines.append(f"  ... and {len(unique) - 40} more")
        noun = "operation" if len(unique) == 1 else "operations"
        super().__init__(f"cannot import: {len(unique)} {noun} the language cannot write\n" + "\n".join(lines),
                         None, "rewrite those parts with the layers `resdsl check` documents, or import a "
                         "submodule the language covers")
        self.found = unique


def writable(part: str) -> str:
    """A module name the language can write for ``part``: itself, or ``_blocks`` → ``blocks_``,
    ``training`` → ``training_``, ``a-b`` → ``a_b_``."""
    if part.isdigit() or (re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part) and reserved(part) is None):
        return part
    name = re.sub(r"\W", "_", part).strip("_") or "module"
    if not name[0].isalpha():
        name = f"m{name}"
    return f"{name}_" if reserved(f"{name}_") is None else f"m_{name}_"


@dataclass
class Graph:
    input_shape: Shape
    nodes: dict[str, Node] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    input: str | None = None
    #: module paths the language cannot write → the paths the spec has instead (its key map)
    renamed: dict[str, str] = field(default_factory=dict)

    def rename(self, path: str) -> str:
        """``path`` as the spec writes it, recorded in :attr:`renamed` where it differs."""
        written = ".".join(writable(part) for part in path.split("."))
        if written != path:
            self.renamed[path] = written
        return written

    def add(self, node: Node) -> None:
        self.nodes[node.key] = node

    def shape(self, key: str) -> Shape:
        return self.input_shape if key == self.input else self.nodes[key].shape

    def users(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {key: [] for key in [self.input or "input", *self.nodes]}
        for node in self.nodes.values():
            for source in node.inputs:
                found[source].append(node.key)
        return found

    def finish(self) -> None:
        """Concatenations of a growing list (DenseNet's ``torch.cat(features)``) rewritten to add one
        value to the previous concatenation; repeated merges of the same values made once; nodes no
        output reads dropped."""
        made: dict[tuple[str, ...], str] = {}  # a concat's (flattened) inputs → the node that makes it
        renamed: dict[str, str] = {}
        for key in list(self.nodes):
            node = self.nodes[key]
            node.inputs = [renamed.get(source, source) for source in node.inputs]
            if isinstance(node.op, ops.Concat):
                flat = tuple(node.inputs)
                for cut in range(len(flat) - 1, 1, -1):  # the longest prefix already concatenated
                    if flat[:cut] in made:
                        node.inputs = [made[flat[:cut]], *flat[cut:]]
                        break
                if flat in made:  # the same concatenation again
                    renamed[key] = made[flat]
                    del self.nodes[key]
                    continue
                made[flat] = key
        self.outputs = {name: renamed.get(key, key) for name, key in self.outputs.items()}
        self.adopt_concats()
        needed: set[str] = set()
        stack = list(self.outputs.values())
        while stack:
            key = stack.pop()
            if key in needed or key == self.input:
                continue
            needed.add(key)
            stack.extend(self.nodes[key].inputs)
        self.nodes = {key: node for key, node in self.nodes.items() if key in needed}

    def adopt_concats(self) -> None:
        """A concatenation of a module call's input and its output belongs to that call: DenseNet's
        layer computes its features and the next layer concatenates them; written as a person would,
        the layer is ``concat { identity | ... }``."""
        members: dict[Call, set[str]] = {}
        for node in self.nodes.values():
            for call in node.scopes:
                members.setdefault(call, set()).add(node.key)
        for node in self.nodes.values():
            if not isinstance(node.op, ops.Concat) or len(node.inputs) != 2 or node.inputs[1] not in self.nodes:
                continue
            before, after = node.inputs
            producer = self.nodes[after]
            common = 0
            while common < min(len(node.scopes), len(producer.scopes)) and \
                    node.scopes[common] == producer.scopes[common]:
                common += 1
            if common >= len(producer.scopes):
                continue
            call = producer.scopes[common]
            inside = members[call]
            outside = {source for key in inside for source in self.nodes[key].inputs if source not in inside}
            if outside == {before}:
                for old in node.scopes:
                    members[old].discard(node.key)
                node.scopes = producer.scopes[:common + 1]
                for new in node.scopes:
                    members[new].add(node.key)
