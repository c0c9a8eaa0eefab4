"""What an op is: the facts every op definition states, and the shared answers ops pick from.

An op is a frozen dataclass whose fields are its arguments (``Conv(64, kernel=3)``) and whose class
states every fact the passes and backends need (:data:`FACTS`). :class:`Op` defines none of them:
a subclass states each one itself or takes a shared answer by name (``reads = pointwise``,
``params = buffers = macs = nothing``), never by silent inheritance from the base, and
``tests/test_ops.py`` names any op and fact left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from resdsl.frozen import frozen
from resdsl.ir.schema import Layer, Value
from resdsl.ir.torch_form import Form

Shape = tuple[int, ...]
#: A size along the spatial axes: one integer for both, or ``(height, width)`` (``k: 1x7``).
Size = int | tuple[int, int]
#: The spatial axes, as :meth:`Op.reads` names them: 0 is the height, 1 the width.
HEIGHT, WIDTH = 0, 1

#: MAC families: how ``stats`` splits MACs (``macs_by_op``); conv + linear is torchvision's "GFLOPS".
MAC_FAMILIES = ("conv", "linear", "norm", "pool", "upsample")
#: Every family: the MAC families, and how diagrams draw the rest (merges as circles, the input bare).
FAMILIES = (*MAC_FAMILIES, "merge", "input", "other")


class ShapeError(Exception):
    """An op cannot take the shapes it is given; lowering turns this into a ResdslError at the op's span."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def format_shape(shape: Shape | None) -> str:
    """``(256, 56, 56)`` → ``256x56x56``."""
    return "?" if shape is None else "x".join(map(str, shape))


def spatial(op: str, shape: Shape) -> Shape:
    """``shape`` if it is CxHxW, else the error every spatial op gives."""
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a CxHxW input, got {format_shape(shape)}",
                         "flatten turns a feature map into a vector; nothing turns it back")
    return shape


def pair(size: Size) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; ``(1, 7)`` stays."""
    return (size, size) if isinstance(size, int) else size


def square(size: Size) -> Size:
    """A size as ops keep it: an integer when both axes agree (``3x3`` → ``3``), so that ``k: 3`` and
    ``k: 3x3`` make the same op and PyTorch forms write ``kernel_size=3`` as torchvision does."""
    height, width = pair(size)
    return height if height == width else (height, width)


def format_size(size: Size) -> str:
    """A diagram label's size: ``3`` → ``3×3``; ``(1, 7)`` → ``1×7``."""
    return "×".join(map(str, pair(size)))


def window(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output size for a sliding window (conv and pooling)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside the input
            out -= 1
    else:
        out = span // stride + 1
    return out


@frozen
class Memory:
    """What an op costs in activation memory: what autograd saves for backward, and whether its output
    is a view of its input (allocating nothing). ``extra_bytes``: bytes per output element kept
    besides activations, and what they are (max pooling's int64 indices: 8; dropout's mask: 1, as
    CUDA keeps it). ``statistics``: activation elements per sample kept besides the tensors, given
    the op and its input shapes (group norm's mean and 1/std per group), and what they are."""

    saves_inputs: bool = False
    saves_output: bool = False
    extra_bytes: int = 0
    extra: str = ""
    view: bool = False
    statistics: Callable[[Any, Sequence[Shape]], int] | None = None
    statistics_are: str = ""

    def describe(self) -> str:
        """The README's words for it: ``input``, ``output + 8-byte indices``, ``nothing (a view)``."""
        kept = [word for word, saved in (("input", self.saves_inputs), ("output", self.saves_output)) if saved]
        if self.extra_bytes:
            kept.append(f"{self.extra} ({self.extra_bytes} B per output element)")
        if self.statistics:
            kept.append(self.statistics_are)
        return " + ".join(kept) or ("nothing (a view)" if self.view else "nothing")


SAVES_NOTHING = Memory()
SAVES_INPUT = Memory(saves_inputs=True)
SAVES_OUTPUT = Memory(saves_output=True)


class Op:
    """Base of all ops: the facts, declared. Shapes and counts are per sample."""

    #: The op's name in messages, diagrams and the docs (``conv``, ``avgpool(global)``).
    kind: ClassVar[str]
    #: A MAC family (:data:`MAC_FAMILIES`), or how diagrams draw it (:data:`FAMILIES`).
    family: ClassVar[str]
    #: How the language writes it; None for ops its constructs make (``input``, ``add { }``...).
    layer: ClassVar[Layer | None]
    #: What autograd saves for backward and what the output allocates.
    memory: ClassVar[Memory]
    #: The README's counting rule, for params, buffers and MACs (fvcore's rule).
    counting: ClassVar[str]
    weighted: ClassVar[bool] = False  # a conv or linear layer: counts toward depth
    arity: ClassVar[int | None] = 1  # number of inputs; None for any number >= 2
    #: Input ports read for their shape only, never their values (``upsample(to: y)``'s ``y``): memory
    #: keeps nothing of them, and no data path or receptive field runs through them.
    shape_only: ClassVar[tuple[int, ...]] = ()

    def symmetric(self, inputs: Sequence[Shape]) -> bool:
        """Whether :meth:`reads` says the same along the width as along the height for these inputs,
        so that a receptive field traced along one axis holds for both (of a square input). By
        default: no size written per axis (no tuple among the op's fields, as :data:`Size` writes
        one); ops whose rule depends on their input sizes say so. tests/test_ops.py checks it
        against :meth:`reads` for every example."""
        return tuple not in map(type, self.__dict__.values())  # no generator: the receptive field asks every node

    def period(self, inputs: Sequence[Shape], axis: int) -> int:
        """Output positions along ``axis`` repeat their :meth:`reads` pattern every ``period``
        positions, shifted by what ``period`` positions read (1 but for upsampling and adaptive
        pooling); tests/test_ops.py checks each op's reads against it."""
        return 1

    @classmethod
    def from_arguments(cls, arguments: dict[str, Value]) -> Op | None:
        """The op ``layer`` builds from its bound arguments (None: no node, the input itself)."""
        raise NotImplementedError(f"{cls.__name__} is not a layer")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        raise NotImplementedError

    def params(self, inputs: Sequence[Shape]) -> int:
        """Learnable parameters, as ``numel`` counts them."""
        raise NotImplementedError

    def buffers(self, inputs: Sequence[Shape]) -> int:
        """Buffer elements (running statistics)."""
        raise NotImplementedError

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        """Multiply-accumulates for one sample, by fvcore's rule for the op's aten call."""
        raise NotImplementedError

    def reads(self, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int] | None:
        """The input positions along spatial ``axis`` (:data:`HEIGHT` or :data:`WIDTH`) that output
        positions ``lo..hi`` read, given the op's input shapes (for receptive fields); None for all of
        them. Positions may be negative: the input is unbounded, and an op whose rule depends on its
        input size (adaptive pooling, resizing to another value's size) repeats it with its period."""
        raise NotImplementedError

    def label(self) -> str:
        """The diagram's node label: the op and its key arguments (``conv 3×3, 128, /2``)."""
        raise NotImplementedError

    def torch(self, inputs: Sequence[Shape]) -> Form | None:
        """The PyTorch form (:mod:`resdsl.ir.torch_form`); None for the network's input."""
        raise NotImplementedError

    def written(self) -> tuple[str, dict[str, Value]] | None:
        """How the language writes this op: its layer's name and every argument
        (``("conv", {"channels": 64, "k": 3, ...})``), the inverse of :meth:`from_arguments`; None
        for ops only the language's constructs make (the input, merges, ``upsample(to: y)``).
        :mod:`resdsl.importing` writes specs with it; tests/test_ops.py builds every example back."""
        raise NotImplementedError

    @classmethod
    def from_torch(cls, arguments: dict[str, Any], inputs: Sequence[Shape]) -> Op | None:
        """The op whose PyTorch :class:`~resdsl.ir.torch_form.Module` form is a module built with
        ``arguments`` (its constructor's, by name, read back from an instance), on ``inputs``; None
        where it cannot be this op. The importer keeps the answer only if the op's own :meth:`torch`
        builds a module with the same arguments, so this picks fields and checks nothing."""
        raise NotImplementedError


#: The facts :class:`Op` declares and every op must state (tests/test_ops.py checks each).
FACTS = ("kind", "family", "layer", "memory", "counting", "output_shape", "params", "buffers", "macs", "reads",
         "label", "torch", "written", "from_torch")


# --- shared answers, taken by name ----------------------------------------------------------------

def same_shape(self: Any, inputs: Sequence[Shape]) -> Shape:
    """The output has the input's shape."""
    return inputs[0]


def nothing(self: Any, inputs: Sequence[Shape], output: Shape | None = None) -> int:
    """No parameters, buffers or MACs."""
    return 0


def pointwise(self: Any, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> tuple[int, int]:
    """Each output position reads the same input position."""
    return lo, hi


def not_written(self: Any) -> None:
    """Only the language's constructs make this op (the input, a merge): no layer writes it."""
    return None


@classmethod  # type: ignore[misc]
def not_a_module(cls: Any, arguments: dict[str, Any], inputs: Sequence[Shape]) -> None:
    """The op's PyTorch form is a call or a parameter, never a module of its own."""
    return None


def everywhere(self: Any, inputs: Sequence[Shape], axis: int, lo: int, hi: int) -> None:
    """Each output position reads every input position."""
    return None
