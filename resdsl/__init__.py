"""resdsl: residual networks written as specs — checked, counted, drawn and compiled.

>>> import resdsl
>>> net = resdsl.load("resnet50")           # a zoo network by name (resdsl list), a .res file, or spec text
>>> net.stats().params
25557032
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resdsl.backends.table import format_table
from resdsl.errors import ResdslError, Span
from resdsl.network import Network, check, load

if TYPE_CHECKING:
    import torch

    from resdsl.backends.torch_tools import Loaded
    from resdsl.ir.ops import Shape


def compile(source: str | Path, *, zero_init_residual: bool = False, input_shape: Shape | None = None,  # noqa: A001
            **overrides: Any) -> torch.fx.GraphModule:
    """Load a spec (a zoo network's name such as ``"resnet50"``, a path, or text) and build its PyTorch
    module (see :meth:`Network.to_module`); keywords override network parameters (``classes=10``).
    Without torch installed, raises :class:`ImportError` saying ``pip install 'resdsl[torch]'``."""
    return load(source, input_shape=input_shape, **overrides).to_module(zero_init_residual)


def from_module(model: torch.nn.Module, input_shape: Shape = (3, 224, 224), name: str | None = None) -> str:
    """A PyTorch model as spec text (``resdsl import``): traced with ``torch.fx``, its module paths the
    spec's names, so its compiled module loads ``model.state_dict()`` strictly and computes the same.
    Raises :class:`ResdslError` listing every operation the language cannot write."""
    from resdsl.importing import from_module as write

    return write(model, input_shape, name)


def load_weights(model: torch.nn.Module, path: str | Path, ignore: str | Iterable[str] = (),
                 rename: dict[str, str] | None = None) -> Loaded:
    """Load a ``.pth`` (weights_only) or ``.safetensors`` checkpoint strictly, skipping keys that match
    ``ignore`` (a glob or a list of globs), with module paths renamed by ``rename`` (the key map
    ``resdsl import`` prints for names the language cannot write); returns a summary of what loaded. See
    :func:`resdsl.backends.torch_tools.load_weights`."""
    from resdsl.backends.torch_tools import load_weights as load

    return load(model, path, ignore, rename)


def freeze(model: torch.nn.Module, *patterns: str) -> int:
    """Freeze parameters by stage name, module path or glob; see :func:`resdsl.backends.torch_tools.freeze`."""
    from resdsl.backends.torch_tools import freeze as freeze_

    return freeze_(model, *patterns)


def optimize(model: torch.nn.Module) -> torch.nn.Module:
    """A copy for inference: batch norm folded into convs, channels_last, ``torch.compile``d; ``model``
    keeps its mode (train or eval) and weights."""
    from resdsl.backends.torch_tools import optimize_for_inference

    return optimize_for_inference(model)


__all__ = ["Network", "ResdslError", "Span", "check", "compile", "format_table", "freeze", "from_module", "load",
           "load_weights",
           "optimize"]
__version__ = "0.1.0"
