"""``@frozen``: an immutable dataclass, defined seven times faster than ``@dataclass(frozen=True)``.

Every ``resdsl`` command defines the syntax tree and the op kinds — about forty frozen dataclasses —
before it reads a line. On CPython 3.11 ``dataclass(frozen=True)`` compiles six methods per class,
one ``exec`` each: about 1 ms per class, 45 ms in all, a sixth of the 0.3 s that ``resdsl stats``
may take. :func:`frozen` lets :func:`dataclasses.dataclass` collect the fields (so ``fields``,
``replace``, ``asdict`` and pattern matching work as usual) but generate nothing, compiles only
``__init__``, and shares one ``__eq__``, ``__hash__`` and ``__repr__`` between classes, comparing
field tuples read by :func:`operator.attrgetter`. Instances behave as ``dataclass(frozen=True)``
ones: assigning a field raises :class:`dataclasses.FrozenInstanceError`; equality, ordering and
hashing go by type and the fields that take part in comparison.

>>> @frozen
... class Point:
...     x: int
...     y: int = 0
>>> Point(1) == Point(1, 0), hash(Point(1)) == hash(Point(1, 0)), Point(2, 3)
(True, True, Point(x=2, y=3))
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:  # type checkers know it on every Python version
    from typing_extensions import dataclass_transform
elif sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # only type checkers read it
    def dataclass_transform(**kwargs: Any) -> Callable[[Any], Any]:
        return lambda function: function

T = TypeVar("T", bound=type)

_MISSING = dataclasses.MISSING


def _getter(names: list[str]) -> Callable[[Any], tuple]:
    """Reads the named attributes as a tuple (attrgetter returns a bare value for one name)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        only = attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


def _init_source(fields: tuple[dataclasses.Field, ...], namespace: dict[str, Any], has_dict: bool) -> str:
    """``def __init__(self, a, b=_default_b, *, c=_MISSING)`` storing each field, as dataclasses writes it.

    Where instances have a ``__dict__`` (no ``__slots__``), fields are stored in it directly, twice as
    fast as ``object.__setattr__`` (a per-layer row or op of a deep network is made a million times)."""
    store = "    _fields[{name!r}] = {value}" if has_dict else "    _set(self, {name!r}, {value})"
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        if f.default is not _MISSING:
            namespace[f"_default_{f.name}"] = f.default
            param, value = f"{f.name}=_default_{f.name}", f"_default_{f.name}"
        elif f.default_factory is not _MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            param, value = f"{f.name}=_MISSING", f"_factory_{f.name}()"
        else:
            param, value = f.name, None
        if f.init:
            (keyword if f.kw_only else positional).append(param)
            if f.default_factory is not _MISSING:
                body.append(f"    if {f.name} is _MISSING: {f.name} = {value}")
            body.append(store.format(name=f.name, value=f.name))
        elif value is not None:
            body.append(store.format(name=f.name, value=value))
    if has_dict and body:
        body.insert(0, "    _fields = self.__dict__")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    return "\n".join([f"def __init__({params}):", *(body or ["    pass"])])


def _setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._frozen_repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self._frozen_key(self) == self._frozen_key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self._frozen_hashed(self))


def _compare(operator: Callable[[tuple, tuple], bool]) -> Callable[[Any, Any], Any]:
    def method(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return operator(self._frozen_key(self), self._frozen_key(other))
        return NotImplemented
    return method


_ORDER = {"__lt__": _compare(tuple.__lt__), "__le__": _compare(tuple.__le__),
          "__gt__": _compare(tuple.__gt__), "__ge__": _compare(tuple.__ge__)}


# dataclass_transform: type checkers see a frozen dataclass (fields, __init__, immutability).
@overload
def frozen(cls: T, /) -> T: ...
@overload
def frozen(*, order: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True)
def frozen(cls: T | None = None, /, *, order: bool = False) -> T | Callable[[T], T]:
    """Make ``cls`` an immutable dataclass; ``order=True`` adds ``<``, ``<=``, ``>``, ``>=`` on the fields."""
    if cls is None:
        return lambda cls: _frozen(cls, order)
    return _frozen(cls, order)


def _frozen(cls: Any, order: bool) -> Any:
    own_repr = "__repr__" in cls.__dict__  # written in the class body: kept, as dataclasses keeps it
    doc = cls.__doc__
    cls.__doc__ = doc or "-"  # spares dataclasses an inspect.signature() to write a docstring
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)  # fields only: nothing compiled
    cls.__doc__ = doc
    fields = dataclasses.fields(cls)
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}
    has_dict = cls.__dictoffset__ != 0  # instances have a __dict__: no __slots__
    exec(_init_source(fields, namespace, has_dict), namespace)  # noqa: S102 — generated from field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    methods = dict(__init__=init, __repr__=_repr, __eq__=_eq, __hash__=_hash,
                   __setattr__=_setattr, __delattr__=_delattr, **(_ORDER if order else {}))
    if own_repr:
        del methods["__repr__"]
    for name, method in methods.items():
        setattr(cls, name, method)
    cls._frozen_repr = tuple(f.name for f in fields if f.repr)
    cls._frozen_key = staticmethod(_getter([f.name for f in fields if f.compare]))
    cls._frozen_hashed = staticmethod(_getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)]))
    return cls
