"""The :class:`Network` a spec describes, and :func:`load`, the entry point of the Python API."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from resdsl import zoo
from resdsl.errors import ResdslError, UsageError
from resdsl.frontend import ast
from resdsl.frontend.loader import Loader
from resdsl.frontend.namespace import Namespace
from resdsl.ir.graph import lint
from resdsl.ir.ops import Shape
from resdsl.limits import MAX_NODES
from resdsl.lower.lower import unresolved_calls
from resdsl.lower.network import lower_network
from resdsl.passes.shapes import infer_shapes

if TYPE_CHECKING:
    import torch

    from resdsl.backends.graphviz import Diagram
    from resdsl.passes.stats import Stats


class Network:
    """A lowered, shape-checked network.

    ``graph`` is the IR (see :mod:`resdsl.ir.graph`); ``name``, ``input_shape`` and ``output_shape``
    describe it; ``sources`` holds the text of every file read, for diagnostics.
    """

    def __init__(self, graph: nx.DiGraph, definition: ast.NetworkDef, namespace: Namespace,
                 overrides: dict[str, Any], sources: dict[str, str], max_nodes: int) -> None:
        self.graph = graph
        self.sources = sources
        self._definition = definition
        self._namespace = namespace
        self._overrides = overrides
        self._max_nodes = max_nodes

    @property
    def name(self) -> str:
        return self.graph.graph["name"]

    @property
    def input_shape(self) -> Shape:
        return self.graph.graph["input_shape"]

    @property
    def output_shape(self) -> Shape:
        """The first output's shape (the only one's, in most networks)."""
        return next(iter(self.output_shapes.values()))

    @property
    def output_shapes(self) -> dict[str, Shape]:
        """Each output's shape, by name, in the order the compiled module returns them."""
        return {name: self.graph.nodes[node]["shape"] for name, node in self.graph.graph["outputs"].items()}

    @property
    def warnings(self) -> list[ResdslError]:
        """What the spec says that is legal but likely not meant, each with its place in the user's
        files and a hint, by position: a projection shortcut written on a unit whose shape does not
        change, a named value nothing uses, a stride larger than its kernel (see
        :mod:`resdsl.lower.warnings`). ``load(..., werror=True)`` raises them as errors."""
        return self.graph.graph.get("warnings", [])

    @property
    def path(self) -> str:
        return self.graph.graph["path"]

    def with_input(self, input_shape: Shape | None) -> Network:
        """The same spec lowered for another input shape (shortcut decisions may change with it)."""
        if input_shape is None or (isinstance(input_shape, (tuple, list)) and tuple(input_shape) == self.input_shape):
            return self
        try:
            graph = _build(self._definition, self._namespace, self._overrides, input_shape, self._max_nodes)
        except ResdslError as error:  # quoted as when the spec was loaded
            error.sources = self.sources
            raise
        return Network(graph, self._definition, self._namespace, self._overrides, self.sources, self._max_nodes)

    def stats(self, input_shape: Shape | None = None, batch: int = 1) -> Stats:
        """Parameters, MACs, memory, depth and paths: see :class:`resdsl.passes.stats.Stats`."""
        from resdsl.passes.stats import analyze

        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise UsageError(f"batch={batch!r}: the batch is a whole number of at least 1")
        network = self.with_input(input_shape)
        with _no_cyclic_gc():
            return analyze(network.graph, batch)

    def to_module(self, zero_init_residual: bool = False) -> torch.fx.GraphModule:
        """A trainable PyTorch module (imports torch): submodule paths are the IR node names.

        ``zero_init_residual`` zeroes the last batch norm of each residual branch (Goyal et al. 2017).
        Without torch installed, raises :class:`ImportError` saying ``pip install 'resdsl[torch]'``.
        """
        from resdsl.backends.torch_module import build_module, require_torch

        require_torch()  # an ImportError that says what to install, rather than torch's own
        return build_module(self.graph, zero_init_residual)

    def to_dot(self, collapse: str | None = None, direction: str = "TB", shapes: bool = True) -> str:
        """The diagram as Graphviz DOT; see :mod:`resdsl.backends.graphviz`."""
        from resdsl.backends.graphviz import to_dot

        return to_dot(self.graph, collapse, direction, shapes)

    def diagram(self, collapse: str | None = None, direction: str = "TB", shapes: bool = True) -> Diagram:
        """The diagram ``resdsl render`` draws; a notebook displays it (SVG, with Graphviz's ``dot``).
        ``collapse``: ``"none"``, ``"blocks"`` or ``"stages"`` (default: every layer up to 200 nodes);
        ``direction``: ``"TB"`` or ``"LR"``. ``.save("net.png", dpi=300)`` writes it to a file.
        See :class:`resdsl.backends.graphviz.Diagram`."""
        from resdsl.backends.graphviz import Diagram

        return Diagram(self.graph, collapse, direction, shapes)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a Network as its diagram (nothing, without Graphviz's dot program)."""
        from resdsl.backends.graphviz import render

        try:
            return render(self.graph, "svg").decode()
        except ResdslError:
            return None

    def to_source(self) -> str:
        """A standalone PyTorch file defining this network (no resdsl import); see :mod:`torch_source`."""
        from resdsl.backends.torch_source import generate_source

        return generate_source(self.graph)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        shapes = self.output_shapes
        out = "x".join(map(str, self.output_shape)) if len(shapes) == 1 else \
            ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())
        return f"<Network {self.name}: {shape} → {out}, {len(self.graph)} nodes>"


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building or analyzing a graph.

    Lowering allocates millions of small acyclic objects for a deep network; each full collection
    walks all of them, which made time per node grow with depth (bench/RESULTS.md, scaling).
    Reference counting still frees everything; the collector's previous state is restored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(definition: ast.NetworkDef, namespace: Namespace, overrides: dict[str, Any], input_shape: Shape | None,
           max_nodes: int) -> nx.DiGraph:
    with _no_cyclic_gc():
        graph = lower_network(definition, namespace, overrides, input_shape, max_nodes)
        lint(graph)
        infer_shapes(graph)
    return graph


def _looks_like_text(source: str) -> bool:
    return "\n" in source or "{" in source


def _read(loader: Loader, source: str | Path) -> tuple[ast.SourceFile, Namespace]:
    """Parse a spec and its imports: its syntax tree and the blocks visible at its top level."""
    if isinstance(source, Path) or not _looks_like_text(source):
        path = source if isinstance(source, Path) else zoo.resolve(source)  # a file, else a zoo network's name
        parsed = loader.parse_text(loader.read(path), str(path))
        directory = path.resolve().parent
    else:
        parsed = loader.parse_text(source, "<string>")
        directory = Path.cwd()
    namespace = loader.load(parsed, directory, (Path(parsed.path).resolve(),) if parsed.path != "<string>" else ())
    return parsed, namespace


def load(source: str | Path, *, input_shape: Shape | None = None, max_nodes: int = MAX_NODES,
         werror: bool = False, **overrides: Any) -> Network:
    """Parse, lower and shape-check a spec given as a path, a zoo network's name (``"resnet50"``; see
    :mod:`resdsl.zoo`) or text; keyword arguments override network parameters. ``werror``: the spec's
    warnings (:attr:`Network.warnings`) are errors.

    >>> net = load("network tiny(classes: 10) { input 3x32x32  conv(16) bn relu "
    ...            "avgpool(global) flatten linear(classes) }", classes=5)
    >>> net.output_shape
    (5,)

    Raises :class:`~resdsl.errors.ResdslError` (``.errors`` lists every fault found).
    """
    network = _load(source, input_shape, max_nodes, overrides, library=False, werror=werror)
    assert isinstance(network, Network)
    return network


def check(source: str | Path, *, input_shape: Shape | None = None, max_nodes: int = MAX_NODES,
          werror: bool = False, **overrides: Any) -> Network | tuple[str, ...]:
    """What ``resdsl check`` does: :func:`load` a network; or, for a file of blocks only (a library such
    as ``std``), parse it with its imports and require every layer and block its blocks call to exist.
    Returns the network, or the library's block names."""
    return _load(source, input_shape, max_nodes, overrides, library=True, werror=werror)


def _load(source: str | Path, input_shape: Shape | None, max_nodes: int, overrides: dict[str, Any],
          library: bool, werror: bool = False) -> Network | tuple[str, ...]:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise UsageError(f"max_nodes={max_nodes!r}: the expansion limit is a whole number of at least 1")
    loader = Loader()
    try:
        parsed, namespace = _read(loader, source)
        if library and parsed.blocks and not parsed.networks:
            errors = [error for block in parsed.blocks for error in unresolved_calls(block.body, namespace)]
            if errors:
                raise ResdslError.collect(errors)
            return tuple(block.name for block in parsed.blocks)
        if len(parsed.networks) != 1:
            where = parsed.networks[1].span if parsed.networks else None
            raise ResdslError(
                f"{parsed.path} defines {len(parsed.networks) or 'no'} network"
                f"{'s' if len(parsed.networks) != 1 else ''}", where,
                "a spec holds exactly one 'network NAME { ... }'; blocks may live in other files and be imported")
        definition = parsed.networks[0]
        graph = _build(definition, namespace, overrides, input_shape, max_nodes)
        if werror and graph.graph["warnings"]:
            raise ResdslError.collect([ResdslError(warning.message, warning.span, warning.hint)
                                       for warning in graph.graph["warnings"]])
    except RecursionError:
        error = ResdslError("the spec nests too deeply", None, "split long expressions and deep nesting")
        error.sources = loader.sources
        raise error from None
    except ResdslError as error:
        error.sources = loader.sources
        raise
    return Network(graph, definition, namespace, overrides, loader.sources, max_nodes)
