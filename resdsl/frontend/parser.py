"""Text to syntax tree: the Lark grammar in ``grammars/``, built once, lazily, with LALR.

Lark's exceptions stop here: a syntax error becomes a :class:`~resdsl.errors.ResdslError` whose wording
is chosen by matching the parser state against known-bad snippets (:data:`SYNTAX_EXAMPLES`).
"""

from __future__ import annotations

import functools
import math
import os
import sys
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from resdsl.errors import ResdslError, Span
from resdsl.frontend import ast
from resdsl.limits import MAX_NAME_LENGTH, MAX_PATH_LENGTH, NUMBER_LIMIT

_HERE = Path(__file__).resolve().parent
# Installed wheels carry the grammar inside the package; a source checkout keeps it at the top level.
_GRAMMAR_DIRS = (_HERE.parent / "grammars", _HERE.parent.parent / "grammars")

#: Known-bad snippets, and the message each kind of mistake gets. Matched by parser state, so the
#: snippets only need to reach the same state as the user's mistake.
SYNTAX_EXAMPLES: dict[str, list[str]] = {
    "keyword arguments are written 'name: value', not 'name = value'": [
        "network n { conv(16, k = 3) }",
        "network n { conv(k = 3) }",
    ],
    "arguments are separated by commas": [
        "network n { conv(16 k: 3) }",
        "network n { conv(16 3) }",
    ],
    "a keyword argument needs a value after ':'": [
        "network n { conv(16, k: ) }",
        "network n { conv(k:) }",
    ],
    "the input shape is written CxHxW, for example 'input 3x224x224'": [
        "network n { input 3, 224, 224 }",
        "network n { input (3, 224, 224) }",
        "network n { input 3 }",
        "network n { input }",
    ],
    "a stage is written 'stage NAME = block(args) * count' or 'stage NAME { ... }'": [
        "network n { stage = basic(64) }",
        "network n { stage layer1 basic(64) }",
        "network n { stage layer1 = }",
    ],
    "a parameter default is written 'name = value'": [
        "block b(planes: 64) { }",
        "network n(classes: 10) { }",
    ],
    "'|' separates branches, and only inside 'add { ... }' or 'concat { ... }'": [
        "network n { conv(16) | conv(16) }",
    ],
    "a branch needs at least one step (write 'identity' for the input itself)": [
        "network n { concat { | conv(16) } }",
        "network n { concat { conv(16) | } }",
        "network n { add { } }",
    ],
    "a repetition count follows '*': a number, a parameter or a parenthesized expression": [
        "network n { basic(64) * }",
    ],
}


def _span(path: str, meta: Any) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _parser_cache() -> str | bool:
    """Where Lark keeps the built parser (building it takes 0.15 s, loading it 0.01 s): a folder only
    this user can write, since the cache is a pickle. Lark's own default, a predictable name in the
    shared temp folder, would run whatever pickle another local user left there. No cache where no
    such folder can be had."""
    try:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resdsl"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return False
    if hasattr(os, "getuid") and (status.st_uid != os.getuid() or status.st_mode & 0o022):
        return False
    return str(folder / f"parser-lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}.pickle")


@functools.lru_cache(maxsize=None)
def _lark() -> Lark:
    for folder in _GRAMMAR_DIRS:
        grammar = folder / "resdsl.lark"
        if grammar.is_file():
            return Lark(grammar.read_text(encoding="utf-8"), parser="lalr", lexer="basic", propagate_positions=True,
                        maybe_placeholders=False, cache=_parser_cache(), lexer_callbacks={"NAME": _check_name})
    raise RuntimeError(f"resdsl's grammar is missing: looked in {', '.join(map(str, _GRAMMAR_DIRS))}")


class _ToAst(Transformer):
    """Lark tree → :mod:`resdsl.frontend.ast`. Method names are the grammar's rule names."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _tspan(self, token: Token) -> Span:
        return Span(self.path, token.line, token.column, token.end_line, token.end_column)

    # expressions
    @v_args(meta=True)
    def int(self, meta, children):
        span = _span(self.path, meta)
        return ast.Number(_integer(str(children[0]), span), span)

    @v_args(meta=True)
    def float(self, meta, children):
        text, span = str(children[0]), _span(self.path, meta)
        value = float(text)
        if not math.isfinite(value) or value > NUMBER_LIMIT:
            raise _too_large(text, span)
        return ast.Number(value, span)

    @v_args(meta=True)
    def true(self, meta, children):
        return ast.Number(True, _span(self.path, meta))

    @v_args(meta=True)
    def false(self, meta, children):
        return ast.Number(False, _span(self.path, meta))

    @v_args(meta=True)
    def name(self, meta, children):
        return ast.Name(str(children[0]), _span(self.path, meta))

    @v_args(meta=True)
    def call(self, meta, children):
        name, args = children
        return ast.CallValue(str(name), args, _span(self.path, meta), self._tspan(name))

    def _binary(operator):  # noqa: N805 - a factory used in the class body
        @v_args(meta=True)
        def method(self, meta, children):
            return ast.BinaryOp(operator, children[0], children[1], _span(self.path, meta))
        return method

    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    truediv = _binary("/")
    floordiv = _binary("//")
    mod = _binary("%")
    del _binary

    @v_args(meta=True)
    def neg(self, meta, children):
        return ast.Negate(children[0], _span(self.path, meta))

    # arguments
    def arg_list(self, children):
        return tuple(children)

    @v_args(meta=True)
    def positional(self, meta, children):
        return ast.Arg(None, children[0], _span(self.path, meta))

    @v_args(meta=True)
    def keyword(self, meta, children):
        return ast.Arg(str(children[0]), children[1], _span(self.path, meta))

    # steps
    def repeat(self, children):
        return ("repeat", children[0])

    def alias(self, children):
        return ("alias", str(children[0]))

    def label(self, children):
        return ("label", str(children[0]))

    def first(self, children):
        return ("first", children[0])

    @staticmethod
    def _options(children):
        """The ("repeat" | "alias" | "label" | "first", value) pairs among a rule's children."""
        return {key: value for key, value in children if isinstance(key, str)}

    @v_args(meta=True)
    def layer(self, meta, children):
        name = next(c for c in children if isinstance(c, Token))
        args = next((c for c in children if type(c) is tuple and (not c or isinstance(c[0], ast.Arg))), ())
        options = self._options(c for c in children if type(c) is tuple and len(c) == 2 and isinstance(c[0], str))
        return ast.Layer(str(name), args, options.get("label"), options.get("repeat"), options.get("alias"),
                         _span(self.path, meta), self._tspan(name))

    @v_args(meta=True)
    def group(self, meta, children):
        label, *rest = children
        alias = self._split_tail(rest)
        return ast.Group(str(label), tuple(rest), alias, _span(self.path, meta))

    @staticmethod
    def _split_tail(rest):
        alias = None
        if rest and type(rest[-1]) is tuple and len(rest[-1]) == 2 and rest[-1][0] == "alias":
            alias = rest.pop()[1]
        return alias

    @v_args(meta=True)
    def residual(self, meta, children):
        rest = list(children[1:])
        alias = self._split_tail(rest)
        args = rest.pop(0) if rest and type(rest[0]) is tuple else ()
        return ast.Residual(args, tuple(rest), alias, _span(self.path, meta))

    @v_args(meta=True)
    def merge_values(self, meta, children):
        rest = list(children[1:])
        alias = self._split_tail(rest)
        return ast.MergeValues(str(children[0]), rest[0], alias, _span(self.path, meta))

    @v_args(meta=True)
    def merge_branches(self, meta, children):
        rest = list(children[1:])
        alias = self._split_tail(rest)
        return ast.MergeBranches(str(children[0]), tuple(rest), alias, _span(self.path, meta))

    def branch(self, children):
        return tuple(children)

    # network level
    @v_args(meta=True)
    def input_stmt(self, meta, children):
        span = _span(self.path, meta)
        return ast.Input(tuple(_integer(dim, span) for dim in str(children[0]).split("x")), span)

    @v_args(meta=True)
    def stage_repeat(self, meta, children):
        name, callee, *rest = children
        options = self._options(c for c in rest if type(c) is tuple and len(c) == 2 and isinstance(c[0], str))
        args = next((c for c in rest if type(c) is tuple and (not c or isinstance(c[0], ast.Arg))), ())
        span = _span(self.path, meta)
        call = ast.Layer(str(callee), args, None, options.get("repeat"), None, span, self._tspan(callee))
        return ast.Stage(str(name), call, options.get("first", ()), (), options.get("alias"), span)

    @v_args(meta=True)
    def stage_body(self, meta, children):
        name, *rest = children
        alias = self._split_tail(rest)
        return ast.Stage(str(name), None, (), tuple(rest), alias, _span(self.path, meta))

    @v_args(meta=True)
    def section(self, meta, children):
        return ast.Section(str(children[0]), tuple(children[1:]), _span(self.path, meta))

    @v_args(meta=True)
    def param(self, meta, children):
        return ast.Param(str(children[0]), children[1] if len(children) > 1 else None, _span(self.path, meta))

    def param_list(self, children):
        return tuple(c for c in children if c is not None)

    @v_args(meta=True)
    def block_def(self, meta, children):
        name, *rest = children
        params = rest.pop(0) if rest and type(rest[0]) is tuple else ()
        return ast.BlockDef(str(name), params, tuple(rest), _span(self.path, meta))

    @v_args(meta=True)
    def network_def(self, meta, children):
        name, *rest = children
        params = rest.pop(0) if rest and type(rest[0]) is tuple else ()
        return ast.NetworkDef(str(name), params, tuple(rest), _span(self.path, meta))

    def import_names(self, children):
        return tuple((str(token), self._tspan(token)) for token in children)

    @v_args(meta=True)
    def import_stmt(self, meta, children):
        source, *names = children
        path = None if source.type == "STD" else str(source)[1:-1]
        if path is not None and len(path) > MAX_PATH_LENGTH:
            raise ResdslError(f"the import path is {len(path):,} characters long; paths are at most "
                              f"{MAX_PATH_LENGTH:,}", self._tspan(source))
        return ast.Import(path, names[0] if names else None, _span(self.path, meta))

    def start(self, children):
        return ast.SourceFile(
            self.path,
            tuple(c for c in children if isinstance(c, ast.Import)),
            tuple(c for c in children if isinstance(c, ast.BlockDef)),
            tuple(c for c in children if isinstance(c, ast.NetworkDef)),
        )


def _integer(text: str, span: Span) -> int:
    """An integer literal up to :data:`NUMBER_LIMIT` (a longer text is refused before ``int()``, which
    is quadratic in its length and refuses more than 4,300 digits)."""
    if len(text) > len(str(NUMBER_LIMIT)) or int(text) > NUMBER_LIMIT:
        raise _too_large(text, span)
    return int(text)


def _too_large(text: str, span: Span) -> ResdslError:
    shown = text if len(text) <= 20 else f"{text[:8]}…{text[-4:]} ({len(text):,} characters)"
    return ResdslError(f"number {shown} is too large", span, "numbers in a spec are at most 2**48")


def _check_name(token: Token) -> Token:
    """Lexer callback: names are module paths, and short."""
    if len(token) > MAX_NAME_LENGTH:
        raise _NameTooLong(token)
    return token


class _NameTooLong(Exception):
    def __init__(self, token: Token) -> None:
        super().__init__()
        self.token = token


_TERMINAL_WORDS = {
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'",
    "EQUAL": "'='", "STAR": "'*'", "VBAR": "'|'", "NAME": "a name", "INT": "a number", "FLOAT": "a number",
    "SHAPE": "a shape like 3x224x224", "STRING": "a quoted path", "$END": "the end of the file",
}


def _describe(token: Token | None) -> str:
    if token is None or token.type == "$END":
        return "the end of the file"
    return f"'{token}'"


def _expected(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(name, f"'{name.lower()}'") for name in expected if not name.startswith("_")})
    if len(words) > 6:
        return ""
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0])


def _error_key(error: UnexpectedInput) -> tuple:
    state = getattr(error, "state", None)
    token = getattr(error, "token", None)
    return (getattr(state, "position", None), getattr(token, "type", None) or type(error).__name__)


@functools.lru_cache(maxsize=None)
def _example_labels() -> dict[tuple, str]:
    """(LALR state, offending token type) → message, learned by parsing :data:`SYNTAX_EXAMPLES`.

    Lark's own ``match_examples`` also compares parser-stack depth, so a snippet would only match a
    mistake made at the same nesting; the state and the token are what identify the mistake.
    """
    labels: dict[tuple, str] = {}
    for label, snippets in SYNTAX_EXAMPLES.items():
        for snippet in snippets:
            try:
                _lark().parse(snippet)
            except UnexpectedInput as error:
                labels.setdefault(_error_key(error), label)
            else:
                raise AssertionError(f"syntax example parses: {snippet!r}")
    return labels


def _syntax_error(error: UnexpectedInput, text: str, path: str) -> ResdslError:
    label = _example_labels().get(_error_key(error))
    line, column = max(error.line, 1), max(error.column, 1)
    width = 1
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        width = max(1, len(str(error.token)))
        found = f"unexpected {_describe(error.token)}"
        expected = _expected(error.accepts or error.expected)
    elif isinstance(error, UnexpectedCharacters):
        found = f"unexpected character {text[error.pos_in_stream]!r}"
        expected = _expected(error.allowed or set()) or "resdsl specs use letters, digits, _ ( ) { } : , = * / + - % | # and \"\""
    else:  # the end of the input
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        found = "unexpected end of file"
        expected = _expected(getattr(error, "expected", set()))
        label = label or "a '{' is never closed"
    message = f"syntax error: {label or found}"
    hint = expected or None
    if label and found:
        hint = f"{found}; {expected}" if expected else found
    return ResdslError(message, Span(path, line, column, line, column + width), hint)


def parse(text: str, path: str = "<string>") -> ast.SourceFile:
    """Parse ``.res`` source into a :class:`~resdsl.frontend.ast.SourceFile`.

    >>> parse("network n { input 3x8x8  conv(4) }").networks[0].name
    'n'

    A UTF-8 byte order mark at the start is skipped, as editors on Windows write one.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, path) from None
    except _NameTooLong as error:
        token = error.token
        raise ResdslError(f"a name of {len(token):,} characters; names are at most {MAX_NAME_LENGTH}",
                          Span(path, token.line, token.column, token.end_line, token.end_column),
                          "names are module paths: keep them short") from None
    try:
        return _ToAst(path).transform(tree)
    except VisitError as error:  # a number too large, or a bug in the transformer
        raise error.orig_exc from None
