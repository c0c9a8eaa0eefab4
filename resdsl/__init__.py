"""resdsl: residual networks written as specs — checked, counted, drawn and compiled.

>>> import resdsl
>>> net = resdsl.load("examples/resnet50.res")            # doctest: +SKIP
>>> net.stats().params                                    # doctest: +SKIP
25557032
"""

from resdsl.errors import ResdslError, Span
from resdsl.network import Network, check, load


def compile(source, *, zero_init_residual: bool = False, input_shape=None, **overrides):  # noqa: A001
    """Load a spec and build its PyTorch module (see :meth:`Network.to_module`)."""
    return load(source, input_shape=input_shape, **overrides).to_module(zero_init_residual)


def load_weights(model, path, ignore=()):
    """Load a ``.pth`` (weights_only) or ``.safetensors`` checkpoint strictly, skipping keys that match
    ``ignore`` (a glob or a list of globs); see
    :func:`resdsl.backends.torch_tools.load_weights`."""
    from resdsl.backends.torch_tools import load_weights as load

    return load(model, path, ignore)


def freeze(model, *patterns: str) -> int:
    """Freeze parameters by stage name, module path or glob; see :func:`resdsl.backends.torch_tools.freeze`."""
    from resdsl.backends.torch_tools import freeze as freeze_

    return freeze_(model, *patterns)


def optimize(model):
    """Inference: batch norm folded into convs, channels_last, ``torch.compile``d."""
    from resdsl.backends.torch_tools import optimize_for_inference

    return optimize_for_inference(model)


__all__ = ["Network", "ResdslError", "Span", "check", "compile", "freeze", "load", "load_weights", "optimize"]
__version__ = "0.1.0"
