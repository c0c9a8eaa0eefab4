"""Files and imports: which blocks each file sees.

``import "blocks.res"`` resolves relative to the importing file and names a ``.res`` file: a spec
reads no other kind of file, so a hostile one cannot make a diagnostic quote one. ``import std`` is
the standard library shipped in the package (``resdsl/stdlib/std.res``). ``import std (basic,
bottleneck)`` takes only the named blocks. A file's own blocks shadow imported ones; two imports
giving one name differently is an error, and so is an import cycle.
"""

from __future__ import annotations

import functools
from pathlib import Path

from resdsl import zoo
from resdsl.errors import ResdslError, Span, UsageError, did_you_mean
from resdsl.frontend import ast
from resdsl.frontend.namespace import Namespace
from resdsl.frontend.parser import parse
from resdsl.ir.layers import LAYERS
from resdsl.limits import MAX_SOURCE_BYTES

STDLIB = Path(__file__).resolve().parent.parent / "stdlib" / "std.res"


@functools.cache
def std_blocks() -> tuple[str, ...]:
    """The names of the standard library's blocks, read once when a hint needs them (``import std
    (bottleneck)`` is suggested only for a block std defines)."""
    return tuple(block.name for block in parse(STDLIB.read_text(encoding="utf-8"), _display(STDLIB)).blocks)


def in_std(path: str) -> bool:
    """Whether a span's ``path`` is the standard library's file (diagnostics name it as :func:`_display` does)."""
    return path == _display(STDLIB)


def _display(path: Path) -> str:
    """How diagnostics name a file: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Loader:
    """Reads and parses each file once; keeps the sources for diagnostics."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self._files: dict[Path, tuple[ast.SourceFile, Namespace]] = {}

    def read(self, path: Path, span: Span | None = None) -> str:
        """The text of a spec file: at most :data:`MAX_SOURCE_BYTES` read, whatever the file claims
        to be (``/proc`` files report size 0), UTF-8 with or without a byte order mark.

        A file that cannot be opened is a :class:`UsageError` when the user named it (no ``span``), a
        fault in the importing spec otherwise; what the file holds is always the spec's fault."""
        unreadable = UsageError if span is None else ResdslError
        try:
            if not str(path) or path.is_dir():
                raise unreadable(f"{path} is a folder, not a spec", span, "name a .res file")
            if path.exists() and not path.is_file():  # a pipe or a device: reading could block, or never end
                raise unreadable(f"{path} is not a regular file", span, "name a .res file")
            with path.open("rb") as file:
                data = file.read(MAX_SOURCE_BYTES + 1)
        except FileNotFoundError:
            hint = None if span else zoo.missing_file_hint(str(path))  # examples/resnet50.res, after pip install
            raise unreadable(f"no such file: {path}", span, hint) from None
        except OSError as error:  # a name too long, a folder that may not be read
            raise unreadable(f"cannot read {path}: {error.strerror or error}", span) from None
        if len(data) > MAX_SOURCE_BYTES:
            raise ResdslError(f"{path} is larger than {MAX_SOURCE_BYTES:,} bytes, the most a spec may be", span,
                              "a spec describes a network in a few kilobytes; repeat blocks with 'block(...) * n'")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ResdslError(f"{path} is not UTF-8 text (byte {error.start:,})", span,
                              "a spec is a UTF-8 text file") from None
        if "\0" in text:
            raise ResdslError(f"{path} is not a text file (it holds NUL bytes)", span, "a spec is a UTF-8 text file")
        return text

    def parse_text(self, text: str, path: str) -> ast.SourceFile:
        self.sources[path] = text
        if len(text) > MAX_SOURCE_BYTES:
            raise ResdslError(f"the spec is {len(text):,} characters; specs are at most {MAX_SOURCE_BYTES:,}",
                              hint="a spec describes a network in a few kilobytes; repeat blocks with 'block(...) * n'")
        try:
            return parse(text, path)
        except RecursionError:
            raise ResdslError("the spec is too deep to parse: an expression of thousands of terms, or "
                              "thousands of nested braces or parentheses", Span(path, 1, 1, 1, 2),
                              "split long expressions into parameters, and flatten the nesting") from None

    def load(self, source: ast.SourceFile, directory: Path, chain: tuple[Path, ...] = ()) -> Namespace:
        """The namespace of a parsed file: its imports, then its own blocks."""
        namespace = Namespace()
        origins: dict[str, tuple[ast.BlockDef, Path]] = {}
        errors: list[ResdslError] = []
        for statement in source.imports:
            try:
                self._import(statement, directory, chain, namespace, origins)
            except ResdslError as error:
                errors.extend(error.errors)
        seen: dict[str, ast.BlockDef] = {}
        for block in source.blocks:
            if block.name in seen:
                errors.append(ResdslError(f"block '{block.name}' is defined twice (first at line "
                                          f"{seen[block.name].span.line})", block.span, "rename one of them"))
            seen[block.name] = block
            try:
                namespace.define(block)
            except ResdslError as error:
                errors.append(error)
        if errors:
            raise ResdslError.collect(errors)
        return namespace

    def _import(self, statement: ast.Import, directory: Path, chain: tuple[Path, ...], namespace: Namespace,
                origins: dict[str, tuple[ast.BlockDef, Path]]) -> None:
        if statement.path is None:
            target = STDLIB
        else:
            if not statement.path.endswith(".res"):
                raise ResdslError(f"cannot import '{statement.path}': imports name .res files", statement.span,
                                  "import a spec file of blocks, e.g. import \"blocks.res\"")
            try:
                target = (directory / statement.path).resolve()
                found = target.is_file()
            except (OSError, RuntimeError):  # a name too long, a symlink loop
                found = False
            if not found:
                raise ResdslError(f"cannot find '{statement.path}'", statement.span,
                                  "import paths are relative to the folder of the importing file")
            if target.suffix != ".res":  # a symlink named .res that leads elsewhere
                raise ResdslError(f"cannot import '{statement.path}': it leads to {target.name}, not a .res file",
                                  statement.span, "imports name .res files")
        if target in chain:
            cycle = " → ".join(p.name for p in (*chain[chain.index(target):], target))
            raise ResdslError(f"import cycle: {cycle}", statement.span, "move the shared blocks into a third file")
        parsed, home = self._file(target, statement.span, chain)
        available = {block.name: block for block in parsed.blocks}
        wanted = statement.names or tuple((name, statement.span) for name in available)
        for name, span in wanted:
            if name not in available:
                what = "the standard library" if statement.path is None else f"'{statement.path}'"
                builtin = f"'{name}' is a built-in layer: write it without importing it" if name in LAYERS else None
                raise ResdslError(f"{what} has no block '{name}'", span, builtin or did_you_mean(name, available)
                                  or f"it defines: {', '.join(sorted(available))}")
            block = available[name]
            if name in origins and origins[name] != (block, target):
                raise ResdslError(f"block '{name}' is imported twice, from {origins[name][1].name} and {target.name}",
                                  span, f"import only the blocks you need, e.g. import std ({name})")
            origins[name] = (block, target)
            namespace.define(block, home)

    def _file(self, path: Path, span: Span, chain: tuple[Path, ...]) -> tuple[ast.SourceFile, Namespace]:
        if path not in self._files:
            parsed = self.parse_text(self.read(path, span), _display(path))
            self._files[path] = (parsed, self.load(parsed, path.parent, (*chain, path)))
        return self._files[path]
