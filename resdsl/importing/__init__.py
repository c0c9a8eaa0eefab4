"""``resdsl import``: a PyTorch model as a readable spec.

>>> import torchvision, resdsl.importing
>>> text = resdsl.importing.from_module(torchvision.models.resnet18(), (3, 224, 224))  # doctest: +SKIP

:mod:`~resdsl.importing.trace` traces the model with ``torch.fx`` into ops, and
:mod:`~resdsl.importing.spec` writes them as a spec, checked to lower to the same graph.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from resdsl.ir.ops.base import Shape

if TYPE_CHECKING:
    from torch import nn


@dataclass
class Imported:
    """A written spec: its text, how structured it is (``blocks``, ``groups`` or ``flat``), and the
    seconds each part took (``trace``, ``write``)."""

    text: str
    level: str
    seconds: dict[str, float] = field(default_factory=dict)
    #: the key map: the model's module paths the language cannot write → the spec's
    #: (``load_weights(model, path, rename=imported.renamed)`` reads a checkpoint of the model)
    renamed: dict[str, str] = field(default_factory=dict)


def import_module(model: nn.Module, input_shape: Sequence[int], name: str | None = None,
                  header: Sequence[str] = ()) -> Imported:
    from resdsl.importing.spec import write
    from resdsl.importing.trace import trace

    start = time.perf_counter()
    graph = trace(model, tuple(input_shape))
    traced = time.perf_counter()
    classes = {graph.rename(path): type(module).__name__ for path, module in model.named_modules() if path}
    renamed = {old: new for old, new in graph.renamed.items() if any(node.name == new for node in graph.nodes.values())}
    notes = [f"# renamed: {_safe(old)} → {new} (load_weights(..., rename=...) maps a checkpoint's keys)"
             for old, new in renamed.items()]
    text, level = write(graph, classes, name or type(model).__name__, [*header, *notes])
    return Imported(text, level, {"trace": traced - start, "write": time.perf_counter() - traced}, renamed)


def _safe(text: str) -> str:
    """``text`` on one line of a comment: control characters escaped, never a line break."""
    return text.encode("unicode_escape").decode("ascii")


def from_module(model: nn.Module, input_shape: Shape = (3, 224, 224), name: str | None = None) -> str:
    """``model`` as spec text whose compiled module loads ``model.state_dict()`` strictly and computes
    the same; raises :class:`~resdsl.importing.graph.ImportFault` (a :class:`~resdsl.ResdslError`)
    listing every operation the language cannot write."""
    return import_module(model, input_shape, name).text
