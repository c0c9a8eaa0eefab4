"""An op's PyTorch form, as data: what both PyTorch backends build, without importing torch.

An op answers :meth:`~resdsl.ir.ops.Op.torch` with a :class:`Module` (an ``nn`` module and its
constructor arguments, called on the op's input), a :class:`Call` (a function applied to its
inputs) or a :class:`Parameter` (a bare learnable tensor at the node's path, and a call using it).
:mod:`resdsl.backends.torch_module` turns the form into ``torch.fx`` nodes and
:mod:`resdsl.backends.torch_source` into Python, so the two cannot disagree.

>>> form = Module("Conv2d", (64, 128, 3), options(("stride", 2, 1), ("padding", 1, 0), ("bias", False, None)))
>>> form.kwargs
(('stride', 2), ('padding', 1), ('bias', False))
>>> Call("operator.add", (Call("operator.add", (Arg(0), Arg(1))), Arg(2))).args[1]
Arg(index=2)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from resdsl.frozen import frozen


@frozen
class Arg:
    """The op's ``index``-th input, where a :class:`Call` takes it."""

    index: int


@frozen
class Init:
    """``nn.init.<function>(module.<parameter>, **kwargs)``: one step of a module's initialization.
    ``optional``: the parameter may be None (a conv without bias), and is then skipped."""

    parameter: str
    function: str
    kwargs: tuple[tuple[str, str], ...] = ()
    optional: bool = False


#: torchvision's ResNet initialization (He et al. 2015, "Delving deep into rectifiers"): written here
#: once; the in-process module applies it and the generated source spells it out.
KAIMING_FAN_OUT = (Init("weight", "kaiming_normal_", (("mode", "fan_out"), ("nonlinearity", "relu"))),
                   Init("bias", "zeros_", optional=True))
#: Norm layers start as the identity: weight 1, bias 0.
ONES_ZEROS = (Init("weight", "ones_"), Init("bias", "zeros_"))


@frozen
class Module:
    """``nn.<name>(*args, **kwargs)``, installed at the node's module path and called on its one input;
    ``init`` says how the backends initialize its parameters (nothing: PyTorch's own default).
    ``runtime``: the class is not ``torch.nn``'s but resdsl's own, from
    :mod:`resdsl.backends.torch_runtime` (``DropPath``), which generated source defines itself."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    init: tuple[Init, ...] = ()
    runtime: bool = False


@frozen
class Call:
    """``function(*args, **kwargs)`` on the op's inputs. ``function`` is ``torch.<name>``, ``F.<name>``
    (torch's functional module), ``operator.add``/``mul``/``getitem`` (written ``a + b``, ``a * b``,
    ``a[index]`` in source) or ``getattr`` with a name (written ``a.shape``). ``args`` and ``kwargs``
    values hold :class:`Arg` placeholders, nested calls, numbers, strings, tuples, lists and slices."""

    function: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()


@frozen
class Weight:
    """The node's own parameter (of a :class:`Parameter` form), where its call takes it."""


@frozen
class Parameter:
    """A learnable tensor of ``shape``, every element ``fill``, installed at the node's module path
    itself (so that path is its ``state_dict`` key: ``features.1.0.layer_scale``, as torchvision's
    CNBlock registers ``self.layer_scale``), and ``call`` applied to the op's inputs, where
    :class:`Weight` stands for the parameter. The fx module reads it with a ``get_attr`` node; the
    generated source registers it on its container and names it in ``forward``."""

    shape: tuple[int, ...]
    fill: float
    call: Call


Form = Module | Call | Parameter


def options(*triples: tuple[str, Any, Any]) -> tuple[tuple[str, Any], ...]:
    """Keyword arguments ``(name, value, default)`` that differ from their default; a default of
    None keeps the argument always (it is written even when it equals PyTorch's)."""
    return tuple((name, value) for name, value, default in triples if default is None or value != default)


def chain(function: str, count: int) -> Call:
    """``function`` folded left over ``count`` inputs: ``(a + b) + c``, as Python evaluates ``a + b + c``."""
    call = Call(function, (Arg(0), Arg(1)))
    for index in range(2, count):
        call = Call(function, (call, Arg(index)))
    return call


def in_place(form: Module) -> Module:
    """``form`` told to overwrite its input (``nn.ReLU(inplace=True)``); see :mod:`resdsl.passes.inplace`."""
    return replace(form, kwargs=(*form.kwargs, ("inplace", True)))
