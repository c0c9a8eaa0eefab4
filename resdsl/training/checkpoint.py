"""Checkpoints that lose nothing and are never half-written.

A checkpoint is a directory: ``model.safetensors`` (the weights, readable by any safetensors tool
and by :func:`resdsl.load_weights`) and ``state.pt`` (optimizer, schedule, gradient scaler, RNG
states, epoch and step; read back with ``torch.load(weights_only=True)``). Both are written into a
fresh temporary directory, flushed to disk with fsync, and the directory is renamed into
``RUN_DIR/checkpoints/``; then the ``RUN_DIR/last`` (or ``best``) symlink is replaced atomically to
point at it, and older checkpoints of that kind are removed. A process killed at any instant
leaves ``last`` pointing at a complete checkpoint: the previous one or the new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from resdsl.errors import ResdslError

FORMAT = "resdsl-train-1"


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save(run_dir: Path, tag: str, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    """Write one checkpoint and point ``run_dir / tag`` at it; returns its directory."""
    from safetensors.torch import save_file

    folder = run_dir / "checkpoints"
    folder.mkdir(exist_ok=True)
    step = int(state["step"])
    temporary = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=folder))
    try:
        tensors = {key: value.detach().to("cpu").contiguous() for key, value in weights.items()}
        save_file(tensors, str(temporary / "model.safetensors"),
                  metadata={"format": FORMAT, "step": str(step), "epoch": str(state["epoch"])})
        torch.save({**state, "format": FORMAT}, temporary / "state.pt")
        for name in ("model.safetensors", "state.pt"):
            _fsync(temporary / name)
        _fsync(temporary)
        final = folder / f"{tag}-{step:010d}"
        if final.exists():  # the same step saved again (a resumed run re-saving): replace it
            shutil.rmtree(final)
        os.rename(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _fsync(folder)
    link = run_dir / tag
    pending = run_dir / f".{tag}-{os.getpid()}.link"
    with contextlib.suppress(FileNotFoundError):
        pending.unlink()
    os.symlink(Path("checkpoints") / final.name, pending)
    os.replace(pending, link)  # atomic: `last` is the old checkpoint or the new one, never neither
    _fsync(run_dir)
    for old in folder.glob(f"{tag}-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return final


def load(run_dir: Path, tag: str = "last") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights and training state ``run_dir / tag`` points at, checked to belong together."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = run_dir / tag
    if not folder.is_dir():
        raise ResdslError(f"{run_dir} has no '{tag}' checkpoint", hint="start the run without --resume")
    try:
        with safe_open(str(folder / "model.safetensors"), framework="pt") as opened:
            metadata = opened.metadata() or {}
        weights = load_file(str(folder / "model.safetensors"))
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file of any kind gets the same clear message
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ResdslError(f"checkpoint {folder.resolve()} cannot be read: {reason}",
                          hint="the checkpoint is damaged; start a new run, or --init-from an intact weights file") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or metadata.get("format") != FORMAT:
        raise ResdslError(f"checkpoint {folder.resolve()} is not a resdsl training checkpoint",
                          hint="--init-from reads weights from any checkpoint")
    if metadata.get("step") != str(state.get("step")):
        raise ResdslError(f"checkpoint {folder.resolve()}: its weights (step {metadata.get('step')}) and training "
                          f"state (step {state.get('step')}) do not belong together")
    return weights, state
