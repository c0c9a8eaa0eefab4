"""What people do with a compiled model next: load weights, freeze for transfer learning, optimize
for inference, summarize. Imports torch when called."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from resdsl.errors import ResdslError

if TYPE_CHECKING:
    import torch


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file, or a ``.pth``/``.pt`` file read with ``weights_only=True``
    (a checkpoint never runs code); a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped.
    Anything else (a truncated or foreign file, keys that are not strings, values that are not
    tensors) is a clear :class:`~resdsl.errors.ResdslError`."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ResdslError(f"no such weights file: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ResdslError(f"cannot read weights from {path}: {reason}",
                          hint="weights are read with torch.load(weights_only=True) or safetensors") from None
    for key in ("state_dict", "model"):  # a training checkpoint: its weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]  # type: ignore[assignment]  # torch.load's stub says dict[str, Tensor]
    if not isinstance(state, dict):
        raise ResdslError(f"{path} holds a {type(state).__name__}, not a state_dict")
    wrong = [f"{key!r}: {type(value).__name__}" for key, value in state.items()
             if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if wrong:
        raise ResdslError(f"{path} is not a state_dict of named tensors ({len(wrong)} entries are not): "
                          f"{', '.join(wrong[:4])}{' …' if len(wrong) > 4 else ''}"[:500])
    return state


class Loaded:
    """What :func:`load_weights` loaded: a short summary, not the module (which prints every layer)."""

    def __init__(self, source: str, loaded: list[str], skipped: list[str]) -> None:
        self.source, self.loaded, self.skipped = source, loaded, skipped

    def __repr__(self) -> str:
        more = " …" if len(self.skipped) > 4 else ""
        skipped = f", skipped {len(self.skipped)} ({', '.join(self.skipped[:4])}{more})" if self.skipped else ""
        return f"<loaded {len(self.loaded)} tensors from {self.source}{skipped}>"


def load_weights(model: torch.nn.Module, path: str | Path, ignore: str | Iterable[str] = (),
                 rename: dict[str, str] | None = None) -> Loaded:
    """Load a checkpoint strictly; keys matching an ``ignore`` glob (``"fc.*"``, or a list of them) are
    skipped on both sides, as when the head is replaced. A mismatch lists the missing, unexpected and
    misshapen keys, and tensors whose kind of dtype differs (an int8 or bool tensor is never cast
    into float weights); loading nothing at all is an error too. Returns a summary of what loaded.

    >>> model = resdsl.compile("examples/resnet18.res", classes=10)       # doctest: +SKIP
    >>> resdsl.load_weights(model, "resnet18-f37072fd.pth", ignore=["fc.*"])  # doctest: +SKIP
    <loaded 120 tensors from resnet18-f37072fd.pth, skipped 2 (fc.weight, fc.bias)>
    """
    return load_state(model, renamed(read_state_dict(path), rename or {}), path, ignore)


def renamed(state: dict[str, torch.Tensor], rename: dict[str, str]) -> dict[str, torch.Tensor]:
    """Checkpoint keys under a renamed module path moved to the new path: ``rename`` is the key map
    ``resdsl import`` prints (``{"_blocks.0": "blocks_.0"}``), the longest path first."""
    out = {}
    for key, value in state.items():
        for old in sorted(rename, key=len, reverse=True):
            if key.startswith(old + "."):
                key = rename[old] + key[len(old):]
                break
        out[key] = value
    return out


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path,
               ignore: str | Iterable[str] = ()) -> Loaded:
    """:func:`load_weights` for a state dict already read (``source`` names it in messages)."""
    patterns = [ignore] if isinstance(ignore, str) else list(ignore)
    kept = lambda key: not any(fnmatch.fnmatchcase(key, p) for p in patterns)
    path = source
    skipped = sorted(k for k in state if not kept(k))
    state = {k: v for k, v in state.items() if kept(k)}
    expected = {k: v for k, v in model.state_dict().items() if kept(k)}
    if not state or not expected:
        raise ResdslError(f"nothing to load from {path}: "
                          + ("every key is ignored" if patterns else "it holds no tensors"),
                          hint=f"ignore={patterns!r} skips keys matching these globs" if patterns else None)
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    common = expected.keys() & state.keys()
    misshapen = sorted(f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
                       for k in common if state[k].shape != expected[k].shape)
    mistyped = sorted(f"{k}: checkpoint {state[k].dtype}, model {expected[k].dtype}"
                      for k in common if _dtype_kind(state[k]) != _dtype_kind(expected[k]))
    if missing or unexpected or misshapen or mistyped:
        parts = [f"{title} ({len(keys)}): {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                 for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen),
                                     ("wrong dtype", mistyped)) if keys]
        raise ResdslError(f"{path} does not fit the model: " + "; ".join(parts),
                          hint="replaced a head? skip its keys: load_weights(model, path, ignore=['fc.*'])")
    model.load_state_dict(state, strict=not patterns)
    return Loaded(str(path), sorted(state), skipped)


def _dtype_kind(tensor: torch.Tensor) -> str:
    """Floating point of any width loads into floating point (fp16 into fp32); nothing else converts."""
    if tensor.dtype.is_floating_point:
        return "float"
    if tensor.dtype.is_complex:
        return "complex"
    return str(tensor.dtype)


def freeze(model: torch.nn.Module, *patterns: str) -> int:
    """Stop gradients for parameters whose name matches a pattern: a stage name (``"layer1"``), a
    module path prefix, or a glob (``"layer[12].*"``). Returns how many tensors were frozen."""
    frozen = 0
    for name, parameter in model.named_parameters():
        if any(name.startswith(p + ".") or fnmatch.fnmatchcase(name, p) for p in patterns):
            parameter.requires_grad_(False)
            frozen += 1
    if not frozen and patterns:
        raise ResdslError(f"no parameter matches {', '.join(patterns)}",
                          hint="patterns are stage names, module paths or globs over parameter names")
    return frozen


def optimize_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """A new module for inference: batch norm folded into the preceding convolutions (in eval mode,
    with the running statistics), channels_last, ``torch.compile``d. ``model`` itself is left as it
    was, in the mode it was in."""
    import copy

    import torch
    from torch.fx.experimental.optimization import fuse

    fused = fuse(copy.deepcopy(model).eval(), inplace=True)
    compiled: torch.nn.Module = torch.compile(fused.to(memory_format=torch.channels_last))  # type: ignore[assignment]
    return compiled  # torch.compile returns a callable wrapper of the module: an nn.Module at run time


def summary(model: torch.nn.Module) -> str:
    """Top-level submodules and bare parameters (a layer scale) with their parameter counts (works on
    the meta device)."""
    rows = [(name, "Parameter", parameter.numel()) for name, parameter in model.named_parameters(recurse=False)]
    rows += [(name, type(module).__name__, sum(p.numel() for p in module.parameters()))
             for name, module in model.named_children()]
    width = max(len(name) for name, _, _ in rows)
    kinds = max(len(kind) for _, kind, _ in rows)
    lines = [f"  {name:<{width}}  {kind:<{kinds}}  {count:>13,}" for name, kind, count in rows]
    total = sum(p.numel() for p in model.parameters())
    return "\n".join([*lines, f"  {'total':<{width}}  {'':<{kinds}}  {total:>13,}"])


def saved_for_backward(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of activations autograd keeps for backward after ``model(x)``, measured with its
    saved-tensor hooks: every distinct storage, less parameters and buffers and the per-channel
    statistics batch norm keeps. The measured counterpart of ``Stats.memory["training_bytes"]``."""
    import torch

    excluded = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if tensor.dim() >= 2 and storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(storages.values())
