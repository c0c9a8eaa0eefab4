"""Where lowering is: the names, parameters, named values and blocks visible at one point of a spec."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field, replace
from typing import Any

from resdsl.errors import LimitError, ResdslError, Span
from resdsl.frontend import ast
from resdsl.frontend.namespace import Namespace
from resdsl.frozen import frozen
from resdsl.ir.ops import Shape
from resdsl.ir.schema import NamedValue
from resdsl.limits import MAX_NESTING


class Values(dict):
    """A scope's named values, remembering which names were read (``from c3``, ``add(c3)``,
    ``upsample(to: c3)``, a block's argument, ``output(c3)``), for the unused-value warning
    (:mod:`resdsl.lower.warnings`). Testing a name with ``in`` is not reading it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self:
            self.read.add(name)
        return super().get(name, default)


@frozen
class Tensor(NamedValue):
    """A value flowing through the network: the node that produces it, and its shape (None after an error)."""

    node: str
    shape: Shape | None

    def __str__(self) -> str:
        return f"the value of '{self.node}'"


#: Attributes of ``nn.Module``, ``nn.ModuleDict`` and ``torch.fx.GraphModule`` (torch 2.x): a module
#: path cannot use them, since each part of a path is an attribute of its parent module. Names
#: starting with ``_`` (torch's private attributes) and Python's keywords are reserved too, so that
#: every name a spec accepts compiles, and generated source imports. tests/test_hostile.py checks
#: this list against the installed torch.
MODULE_ATTRIBUTES = frozenset("""
    T_destination add_module add_submodule apply bfloat16 buffers call_super_init children clear code compile
    cpu cuda delete_all_unused_submodules delete_submodule double dump_patches eval extra_repr float forward
    get_buffer get_extra_state get_parameter get_submodule graph half ipu items keys load_state_dict meta
    modules mtia named_buffers named_children named_modules named_parameters parameters pop print_readable
    recompile register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule shape_env share_memory state_dict
    to to_empty to_folder train training type update values xpu zero_grad
""".split())


def reserved(name: str) -> str | None:
    """Why ``name`` cannot be a module name, or None when it can."""
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword"
    if name.startswith("_"):
        return f"'{name}' starts with '_', which PyTorch keeps for its own attributes"
    if name in MODULE_ATTRIBUTES:
        return f"'{name}' is an attribute of every PyTorch module"
    return None


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
        self._check(name, span, f"'{base}' names its instances '{name}'")
        self.taken[name] = span
        return name

    def explicit(self, name: str, span: Span) -> str:
        """A label: a name or a dotted module path (``fpn.inner_blocks.0``), each part checked."""
        if name in self.taken:
            earlier = self.taken[name]
            raise ResdslError(f"name '{name}' is already used here (line {earlier.line})", span,
                              "give this one another name")
        for part in name.split("."):
            self._check(part, span, f"'{part}' cannot name a module")
        self.taken[name] = span
        return name

    @staticmethod
    def _check(name: str, span: Span, what: str) -> None:
        why = reserved(name)
        if why:
            rename = f"{name.strip('_') or 'x'}_"
            raise ResdslError(f"{what}: {why}", span,
                              f"names become module paths of the compiled model; rename it, e.g. '{rename}'")


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
    sites: tuple[Span, ...] = ()  # where the block instances this scope is inside were called, outermost first

    def qualify(self, local: str) -> str:
        return f"{self.prefix}.{local}" if self.prefix else local

    def child(self, local: str, *, index_mode: bool = False, span: Span | None = None, **changes: Any) -> Scope:
        """A nested module scope: new names and named values, qualified under ``local``."""
        if self.prefix.count(".") + 1 >= MAX_NESTING:
            raise LimitError(f"modules nest more than {MAX_NESTING} deep ({self.qualify(local)[:60]}…)", span,
                             "groups, stages and blocks inside each other make module paths; flatten them")
        defaults = {"prefix": self.qualify(local), "names": Names(index_mode), "values": Values(), "later": {}}
        return replace(self, **{**defaults, **changes})

    def with_(self, **changes: Any) -> Scope:
        """The same scope (names, values shared) with a different stage or edge kind."""
        return replace(self, **changes)


def aliases_defined(steps: tuple[ast.Step, ...], into: dict[str, Span] | None = None) -> dict[str, Span]:
    """Every ``as NAME`` in a body, descending into constructs that share its scope."""
    into = {} if into is None else into
    for step in steps:
        if step.alias:
            into.setdefault(step.alias, step.span)
        for body in ast.bodies(step):
            aliases_defined(body, into)
    return into
