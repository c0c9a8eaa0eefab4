"""resdsl: residual networks written as specs — checked, counted, drawn and compiled.

>>> import resdsl
>>> net = resdsl.load("examples/resnet50.res")            # doctest: +SKIP
>>> net.stats().params                                    # doctest: +SKIP
25557032
"""

from resdsl.errors import ResdslError, Span
from resdsl.network import Network, load

__all__ = ["Network", "ResdslError", "Span", "load"]
__version__ = "0.1.0"
