"""resdsl: residual networks written as specs — checked, counted, drawn and compiled.

>>> import resdsl
>>> net = resdsl.load("examples/resnet50.res")            # doctest: +SKIP
>>> net.stats().params                                    # doctest: +SKIP
25557032
"""

from resdsl.errors import ResdslError, Span
from resdsl.network import Network, load



def compile(source, *, zero_init_residual: bool = False, input_shape=None, **overrides):  # noqa: A001
    """Load a spec and build its PyTorch module (see :meth:`Network.to_module`)."""
    return load(source, input_shape=input_shape, **overrides).to_module(zero_init_residual)


__all__ = ["Network", "ResdslError", "Span", "compile", "load"]
__version__ = "0.1.0"
