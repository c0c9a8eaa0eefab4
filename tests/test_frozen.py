"""``@frozen`` behaves as ``@dataclass(frozen=True)``: the standard library is the oracle."""

from __future__ import annotations

import dataclasses
import doctest
import pickle
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

import resdsl.frozen
from resdsl.frozen import frozen


def twins(body: dict, **options):
    """The same class body made by ``@frozen`` and by ``@dataclass(frozen=True)``."""
    annotations = body.pop("__annotations__")
    ours = frozen(**options)(type("C", (), {**body, "__annotations__": dict(annotations)}))
    theirs = dataclass(frozen=True, **options)(type("C", (), {**body, "__annotations__": dict(annotations)}))
    return ours, theirs


BODY = {
    "__annotations__": {"a": "int", "b": "str", "c": "int", "tags": "list", "note": "str", "kind": "ClassVar[str]"},
    "b": "x",
    "c": field(default=3, compare=False),
    "tags": field(default_factory=list, hash=False),
    "note": field(default="", repr=False),
    "kind": "k",
}


@pytest.mark.parametrize("args", [(1,), (1, "y"), (2, "x", 4), (2, "x", 5, [1])])
def test_same_behaviour_as_dataclass(args):
    ours, theirs = twins(dict(BODY))
    one, other = ours(*args), theirs(*args)
    assert repr(one) == repr(other)
    assert dataclasses.asdict(one) == dataclasses.asdict(other)
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(theirs)] == [
        "a", "b", "c", "tags", "note"]
    assert ours.kind == "k" and "kind" not in dataclasses.asdict(one)
    # equality ignores compare=False fields and never crosses types
    assert one == ours(*args)
    assert one == dataclasses.replace(one, c=99) and other == dataclasses.replace(other, c=99)  # c: compare=False
    assert one != other and one != dataclasses.replace(one, a=-1)
    assert ours(1).tags == theirs(1).tags == [] and ours(1).tags is not ours(1).tags  # a fresh default each


def test_hash_and_immutability():
    ours, theirs = twins({"__annotations__": {"a": "int", "b": "tuple"}, "b": ()})
    assert hash(ours(1, (2,))) == hash(ours(1, (2,)))
    assert len({ours(1), ours(1), ours(2)}) == 2
    for cls in (ours, theirs):
        instance = cls(1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            instance.a = 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            del instance.a


def test_order_matches_dataclass():
    ours, theirs = twins({"__annotations__": {"x": "int", "y": "int"}}, order=True)
    pairs = [(2, 1), (1, 5), (1, 2), (3, 0), (1, 2)]
    as_tuples = lambda points: [(p.x, p.y) for p in sorted(points)]
    assert as_tuples(ours(*p) for p in pairs) == as_tuples(theirs(*p) for p in pairs)
    assert ours(1, 2) <= ours(1, 2) < ours(1, 3) and ours(2, 0) > ours(1, 9) >= ours(1, 9)
    with pytest.raises(TypeError):
        _ = ours(1, 2) < theirs(1, 2)


def test_inheritance_keyword_only_and_pickle():
    @frozen
    class Base:
        """A documented base."""
        a: int
        kind: ClassVar[str] = "base"

    @frozen
    class Child(Base):
        b: int = 2
        label: str = field(default="", kw_only=True)
        kind: ClassVar[str] = "child"

    child = Child(1, label="z")
    assert (child.a, child.b, child.label, child.kind) == (1, 2, "z", "child")
    assert repr(child) == "test_inheritance_keyword_only_and_pickle.<locals>.Child(a=1, b=2, label='z')"
    assert Child(1) != Base(1) and Base.__doc__ == "A documented base." and Child.__doc__ is None
    with pytest.raises(TypeError):
        Child(1, 2, "positional label")
    assert pickle.loads(pickle.dumps(Point(3, 4))) == Point(3, 4)


def test_slotted_class_stores_through_setattr():
    """Instances without a ``__dict__`` take their fields through ``object.__setattr__``, as dataclasses does."""
    ours, theirs = twins({"__annotations__": {"a": "int", "b": "int"}, "__slots__": ("a", "b")})
    assert not hasattr(ours(1, 2), "__dict__")
    assert (ours(1, 2).a, ours(1, 2).b, repr(ours(1, 2))) == (1, 2, repr(theirs(1, 2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours(1, 2).a = 3


@frozen
class Point:
    x: int
    y: int = 0


def test_doctest():
    assert doctest.testmod(resdsl.frozen).failed == 0
