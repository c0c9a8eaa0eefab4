"""What people do with a compiled model next: load weights, freeze for transfer learning, optimize
for inference, summarize. Imports torch when called."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from resdsl.errors import ResdslError

if TYPE_CHECKING:
    import torch


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file, or a ``.pth``/``.pt`` file read with ``weights_only=True``
    (a checkpoint never runs code); a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ResdslError(f"no such weights file: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ResdslError(f"cannot read weights from {path}: {error}".splitlines()[0],
                          hint="weights are read with torch.load(weights_only=True) or safetensors") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ResdslError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


def load_weights(model: torch.nn.Module, path: str | Path, ignore: Iterable[str] = ()) -> torch.nn.Module:
    """Load a checkpoint strictly; keys matching an ``ignore`` glob (``"fc.*"``) are skipped on both
    sides, as when the head is replaced. A mismatch lists the missing, unexpected and misshapen keys.

    >>> model = resdsl.compile("examples/resnet18.res", classes=10)       # doctest: +SKIP
    >>> resdsl.load_weights(model, "resnet18-f37072fd.pth", ignore=["fc.*"])  # doctest: +SKIP
    """
    patterns = list(ignore)
    kept = lambda key: not any(fnmatch.fnmatchcase(key, p) for p in patterns)  # noqa: E731
    state = {k: v for k, v in read_state_dict(path).items() if kept(k)}
    expected = {k: v for k, v in model.state_dict().items() if kept(k)}
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    misshapen = sorted(f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
                       for k in expected.keys() & state.keys() if state[k].shape != expected[k].shape)
    if missing or unexpected or misshapen:
        parts = [f"{title} ({len(keys)}): {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                 for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen))
                 if keys]
        raise ResdslError(f"{path} does not fit the model: " + "; ".join(parts),
                          hint="replaced a head? skip its keys: load_weights(model, path, ignore=['fc.*'])")
    model.load_state_dict(state, strict=not patterns)
    return model


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
    """Batch norm folded into the preceding convolutions, channels_last, ``torch.compile``d."""
    import torch
    from torch.fx.experimental.optimization import fuse

    fused = fuse(model.eval())
    return torch.compile(fused.to(memory_format=torch.channels_last))


def summary(model: torch.nn.Module) -> str:
    """Top-level submodules with their parameter counts (works on the meta device)."""
    rows = [(name, type(module).__name__, sum(p.numel() for p in module.parameters()))
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
