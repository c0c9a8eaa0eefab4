"""The model zoo: the example specs, shipped in the package and addressed by name, as timm's
``create_model("resnet50")`` is.

A spec argument — on the command line or a string given to :func:`resdsl.load` — is a file when a file
of that name exists, or when it has a folder in it or ends in ``.res``; otherwise it names a zoo network
(a :class:`~pathlib.Path` is always a file):

>>> resolve("resnet50").name
'resnet50.res'
>>> "resnet50" in names() and "cifar_resnet20" in names()
True
>>> resolve("resnet5O")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
resdsl.errors.UsageError: no such file or zoo network: resnet5O (hint: did you mean 'resnet50'? ...)

The zoo is the repository's ``examples/*.res``; a wheel carries them as ``resdsl/examples``. The first
comment line of each names the source it follows (:func:`source`).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from resdsl.errors import UsageError, did_you_mean
from resdsl.frozen import frozen

_HERE = Path(__file__).resolve().parent


@cache
def folder() -> Path | None:
    """Where the zoo's specs are: inside the package (an installed wheel), else the checkout's
    ``examples/`` (only in a resdsl checkout, recognized by its grammar beside it)."""
    if (_HERE / "examples").is_dir():
        return _HERE / "examples"
    root = _HERE.parent
    if (root / "examples").is_dir() and (root / "grammars" / "resdsl.lark").is_file():
        return root / "examples"
    return None


@cache
def names() -> tuple[str, ...]:
    """Every zoo network's name (its file's name without ``.res``), sorted."""
    where = folder()
    return tuple(sorted(path.stem for path in where.glob("*.res"))) if where else ()


def path(name: str) -> Path | None:
    """The spec file of zoo network ``name``, or None."""
    where = folder()
    return where / f"{name}.res" if where and name in names() else None


def is_path(spec: str) -> bool:
    """Whether ``spec`` is meant as a file rather than a zoo name: it exists, or it has a folder in it
    or the ``.res`` extension."""
    if "/" in spec or os.sep in spec or spec.endswith(".res"):
        return True
    try:
        return Path(spec).exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file, and no zoo name either
        return True


def resolve(spec: str) -> Path:
    """The file a spec argument means: the path itself when it is one (:func:`is_path`; a missing
    file is left to the reader, which says so), else the zoo network of that name.

    Raises :class:`~resdsl.errors.UsageError` for a name that is neither, with the closest zoo names.
    """
    if is_path(spec):
        return Path(spec)
    found = path(spec)
    if found is not None:
        return _shown(found)
    close = did_you_mean(spec, names())
    hint = f"{close} resdsl list shows the zoo" if close else "resdsl list shows the zoo's networks"
    raise UsageError(f"no such file or zoo network: {spec}", None, hint)


def missing_file_hint(spec: str) -> str | None:
    """For a spec file that does not exist, the zoo network it probably meant (``examples/resnet50.res``
    after ``pip install``, where the examples live in the package)."""
    stem = Path(spec).name.removesuffix(".res")
    if path(stem) is not None:
        return f"the model zoo has '{stem}': give its name alone, without a folder or .res"
    return None


def source(name: str) -> str:
    """The source a zoo network follows: the first comment line of its spec.

    >>> source("resnet50")
    'ResNet-50: He et al. 2015, "Deep Residual Learning for Image Recognition", Table 1'
    """
    found = path(name)
    if found is None:
        raise UsageError(f"no zoo network {name!r}", None, did_you_mean(name, names()))
    with found.open(encoding="utf-8") as file:
        first = file.readline()
    return first.removeprefix("#").strip() if first.startswith("#") else ""


@frozen
class Entry:
    """One line of ``resdsl list``: a zoo network's figures at its spec's own input, batch 1."""

    name: str
    params: int
    macs: int
    input_shape: tuple[int, ...]
    source: str

    def to_dict(self) -> dict[str, object]:
        """The ``resdsl list --json`` object of this network."""
        return {"name": self.name, "params": self.params, "macs": self.macs, "input_shape": list(self.input_shape),
                "source": self.source}


def catalog() -> list[Entry]:
    """Every zoo network with its parameters and MACs (each spec loaded and counted; no torch)."""
    from resdsl.network import load

    entries = []
    for name in names():
        found = path(name)
        assert found is not None
        stats = load(found).stats()
        entries.append(Entry(name, stats.params, stats.macs, stats.input_shape, source(name)))
    return entries


def _shown(found: Path) -> Path:
    """A zoo file as diagnostics name it: relative to the working directory when below it."""
    try:
        return found.relative_to(Path.cwd())
    except ValueError:
        return found
