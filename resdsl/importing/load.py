"""``MODULE_REF`` as ``resdsl import`` takes it: where a model comes from, built without weights.

- ``torchvision.models:resnet50``: ``MODULE:NAME``, a class or factory in an importable module;
- ``timm:seresnet50``: ``timm.create_model("seresnet50", pretrained=False)``;
- ``path/to/file.py:NAME``: a class or factory in a Python file, which is run to define it.

The class or factory is called with no arguments (``--arg key=value`` adds keyword arguments).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from resdsl.errors import UsageError


def build(reference: str, arguments: dict[str, Any] | None = None) -> tuple[Any, str, tuple[int, ...] | None]:
    """The model ``reference`` names, its name, and the input shape it states (timm's), if any."""
    import torch

    arguments = dict(arguments or {})
    source, colon, name = reference.rpartition(":")
    if not colon or not source or not name:
        raise UsageError(f"'{reference}' is not MODULE:NAME", hint="for example torchvision.models:resnet50, "
                         "timm:seresnet50 or models.py:Net")
    if source == "timm":
        try:
            import timm
        except ImportError:
            raise UsageError("timm is not installed", hint="pip install timm") from None
        if name not in timm.list_models():
            raise UsageError(f"timm has no model '{name}'", hint="timm.list_models() lists them")
        model = timm.create_model(name, pretrained=False, **arguments)
        size = getattr(model, "pretrained_cfg", {}).get("input_size")
        return model, name, tuple(size) if size else None
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"no file {source}", hint="give a Python file that defines the model")
        spec = importlib.util.spec_from_file_location(f"resdsl_import_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of files beside it
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 - the user's file: say what it raised, not a traceback
            raise UsageError(f"running {source} raised {type(error).__name__}: {error}",
                             hint="the file must import and define the model") from None
        finally:
            sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as error:
            raise UsageError(f"cannot import {source}: {error}", hint="pip install it, or give path/to/file.py:NAME") \
                from None
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise UsageError(f"{source} has no class or function '{name}'")
    with torch.device("cpu"):
        try:
            model = factory(**arguments)
        except TypeError as error:
            raise UsageError(f"{reference}() cannot be called so: {error}",
                             hint="give its arguments with --arg key=value") from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{reference}() gives a {type(model).__name__}, not a torch.nn.Module")
    return model, name, None
