"""Text to syntax tree: the Lark grammar in ``grammars/``, built once, lazily, with LALR.

Lark's exceptions stop here: a syntax error becomes a :class:`~resdsl.errors.ResdslError` whose wording
is chosen by matching the parser state against known-bad snippets (:data:`SYNTAX_EXAMPLES`). A file
with syntax errors is parsed again to find the others: after each error, parsing resumes at the next
statement that starts a line at the depth of the statement that failed (:func:`_syntax_errors`).
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from copy import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.tree import Meta

from resdsl.errors import ResdslError, Span
from resdsl.frontend import ast
from resdsl.limits import MAX_ERRORS, MAX_NAME_LENGTH, MAX_PATH_LENGTH, NUMBER_LIMIT

_HERE = Path(__file__).resolve().parent
# Installed wheels carry the grammar inside the package; a source checkout keeps it at the top level.
_GRAMMAR_DIRS = (_HERE.parent / "grammars", _HERE.parent.parent / "grammars")

#: Known-bad snippets, and the message each kind of mistake gets. Matched by parser state, so the
#: snippets only need to reach the same state as the user's mistake.
SYNTAX_EXAMPLES: dict[str, list[str]] = {
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
    "a stage is written 'stage NAME: block(args) * count', 'stage NAME: { ... }' or 'stage NAME { ... }'": [
        "network n { stage layer1 basic(64) }",
        "network n { stage layer1: }",
    ],
    "'|' separates branches, and only inside 'add { ... }', 'concat { ... }' or 'mul { ... }'": [
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
    "'from' takes the name of a value: from c3": [
        "network n { from }",
        "network n { from (c3) }",
    ],
    "an 'if' is written 'if CONDITION { ... }', optionally followed by 'else { ... }'": [
        "network n { if true relu }",
        "network n { if { relu } }",
    ],
}


def _span(path: str, meta: Meta) -> Span:
    """Where a rule was written."""
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(path: str, token: Token) -> Span:
    """Where a token was written (a token from the lexer always knows)."""
    line, column, end_line, end_column = token.line, token.column, token.end_line, token.end_column
    assert line is not None and column is not None and end_line is not None and end_column is not None
    return Span(path, line, column, end_line, end_column)


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


@functools.cache
def _lark() -> Lark:
    for folder in _GRAMMAR_DIRS:
        grammar = folder / "resdsl.lark"
        if grammar.is_file():
            return Lark(grammar.read_text(encoding="utf-8"), parser="lalr", lexer="basic", propagate_positions=True,
                        maybe_placeholders=True, cache=_parser_cache(), lexer_callbacks={"NAME": _check_name})
    raise RuntimeError(f"resdsl's grammar is missing: looked in {', '.join(map(str, _GRAMMAR_DIRS))}")


#: A transformer method marked ``@_node`` takes the rule's position (``meta``) before its children.
_node = v_args(inline=True, meta=True)

Args = tuple[ast.Arg, ...]
Body = tuple[ast.Step, ...]
Params = tuple[ast.Param, ...]
ImportNames = tuple[tuple[str, Span], ...]


def _binary(operator: str) -> Callable[..., ast.BinaryOp]:
    """The transformer method of a binary operator's rule: ``sum "+" product -> add``."""
    @_node
    def method(self: _ToAst, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinaryOp:
        return ast.BinaryOp(operator, left, right, _span(self.path, meta))
    return method


@v_args(inline=True)
class _ToAst(Transformer[Token, ast.SourceFile]):
    """Lark tree → :mod:`resdsl.frontend.ast`: one method per grammar rule (or ``-> name`` alternative),
    named after it, whose parameters are the rule's children in order. Parsed with
    ``maybe_placeholders``, an optional ``[part]`` is always there, None when not written; a
    ``"{" _step* "}" [alias]`` ends the children, so such a method splits them ``*body, alias``."""

    def __init__(self, path: str) -> None:
        super().__init__(visit_tokens=False)  # no method handles a token alone
        self.path = path

    # expressions
    @_node
    def int(self, meta: Meta, digits: Token) -> ast.Number:
        span = _span(self.path, meta)
        return ast.Number(_integer(str(digits), span), span)

    @_node
    def float(self, meta: Meta, digits: Token) -> ast.Number:
        text, span = str(digits), _span(self.path, meta)
        value = float(text)
        if not math.isfinite(value) or value > NUMBER_LIMIT:
            raise _too_large(text, span)
        return ast.Number(value, span)

    @_node
    def size(self, meta: Meta, shape: Token) -> ast.Size:
        span = _span(self.path, meta)
        return ast.Size(tuple(_integer(dim, span) for dim in str(shape).split("x")), span)

    @_node
    def true(self, meta: Meta, _word: Token) -> ast.Number:
        return ast.Number(True, _span(self.path, meta))

    @_node
    def false(self, meta: Meta, _word: Token) -> ast.Number:
        return ast.Number(False, _span(self.path, meta))

    @_node
    def name(self, meta: Meta, name: Token) -> ast.Name:
        return ast.Name(str(name), _span(self.path, meta))

    @_node
    def call_value(self, meta: Meta, callee: Token, args: Args) -> ast.CallValue:
        return ast.CallValue(str(callee), args, _span(self.path, meta), _token_span(self.path, callee))

    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    truediv = _binary("/")
    floordiv = _binary("//")
    mod = _binary("%")
    and_ = _binary("and")
    or_ = _binary("or")

    @_node
    def compare(self, meta: Meta, left: ast.Expr, operator: Token, right: ast.Expr) -> ast.BinaryOp:
        return ast.BinaryOp(str(operator), left, right, _span(self.path, meta))

    @_node
    def neg(self, meta: Meta, operand: ast.Expr) -> ast.Negate:
        return ast.Negate(operand, _span(self.path, meta))

    @_node
    def not_(self, meta: Meta, operand: ast.Expr) -> ast.Not:
        return ast.Not(operand, _span(self.path, meta))

    # arguments
    def arg_list(self, *args: ast.Arg) -> Args:
        return args

    @_node
    def positional(self, meta: Meta, value: ast.Expr) -> ast.Arg:
        return ast.Arg(None, value, _span(self.path, meta))

    @_node
    def keyword(self, meta: Meta, keyword: Token, value: ast.Expr) -> ast.Arg:
        return ast.Arg(str(keyword), value, _span(self.path, meta))

    # module paths and the optional parts of a step
    def module_path(self, *parts: Token) -> str:
        for part in parts:  # a FLOAT part is two numbers and the dot between them: `3.0`
            if part.type == "FLOAT" and not all(piece.isdigit() for piece in str(part).split(".")):
                raise ResdslError(f"'{part}' cannot be part of a module path", _token_span(self.path, part),
                                  "a module path is names and numbers separated by dots: layer2.0.conv1")
        return ".".join(map(str, parts))

    def label(self, path: str) -> str:
        return path

    def alias(self, name: Token) -> str:
        return str(name)

    def repeat(self, count: ast.Expr, first: Args | None) -> tuple[ast.Expr, Args]:
        return count, first or ()

    def first(self, word: Token, args: Args) -> Args:
        if word != "first":
            raise ResdslError(f"syntax error: unexpected '{word}' after the repetition count",
                              _token_span(self.path, word),
                              "a repetition may give its first instance other keywords: * 4, first(stride: 2)")
        return args

    # steps
    @_node
    def step(self, meta: Meta, label: str | None, construct: ast.Construct, alias: str | None) -> ast.Construct:
        return replace(construct, label=label, alias=alias, span=_span(self.path, meta))

    @_node
    def call(self, meta: Meta, callee: Token, args: Args | None, repeat: tuple[ast.Expr, Args] | None) -> ast.Layer:
        count, first = repeat or (None, ())
        return ast.Layer(str(callee), args or (), count, first, _span(self.path, meta),
                         _token_span(self.path, callee))

    @_node
    def group(self, meta: Meta, *body: ast.Step) -> ast.Group:
        return ast.Group(body, _span(self.path, meta))

    @_node
    def residual(self, meta: Meta, args: Args | None, *body: ast.Step) -> ast.Residual:
        return ast.Residual(args or (), body, _span(self.path, meta))

    @_node
    def merge_values(self, meta: Meta, kind: Token, args: Args) -> ast.MergeValues:
        return ast.MergeValues(str(kind), args, _span(self.path, meta))

    @_node
    def merge_branches(self, meta: Meta, kind: Token, *branches: Body) -> ast.MergeBranches:
        return ast.MergeBranches(str(kind), branches, _span(self.path, meta))

    def branch(self, *steps: ast.Step) -> Body:
        return steps

    @_node
    def from_step(self, meta: Meta, name: Token) -> ast.From:
        return ast.From(str(name), _span(self.path, meta))

    @_node
    def if_step(self, meta: Meta, condition: ast.Expr, *rest: Any) -> ast.If:
        *then, otherwise = rest
        return ast.If(condition, tuple(then), otherwise or (), _span(self.path, meta))

    def else_part(self, *steps: ast.Step) -> Body:
        return steps

    # network level
    @_node
    def input_stmt(self, meta: Meta, shape: Token) -> ast.Input:
        span = _span(self.path, meta)
        return ast.Input(tuple(_integer(dim, span) for dim in str(shape).split("x")), span)

    @_node
    def output_stmt(self, meta: Meta, args: Args) -> ast.Output:
        return ast.Output(args, _span(self.path, meta))

    @_node
    def module_stage(self, meta: Meta, path: str, construct: ast.Construct, alias: str | None) -> ast.Stage:
        span = _span(self.path, meta)
        return ast.Stage(path, replace(construct, label=path, alias=alias, span=span), span)

    @_node
    def inline_stage(self, meta: Meta, name: Token, *rest: Any) -> ast.Stage:
        *body, alias = rest
        span = _span(self.path, meta)
        return ast.Stage(str(name), ast.Group(tuple(body), span, None, alias), span)

    @_node
    def param(self, meta: Meta, name: Token, default: ast.Expr | None) -> ast.Param:
        return ast.Param(str(name), default, _span(self.path, meta))

    def param_list(self, *params: ast.Param) -> Params:
        return params

    @_node
    def block_def(self, meta: Meta, name: Token, params: Params | None, *body: ast.Step) -> ast.BlockDef:
        return ast.BlockDef(str(name), params or (), body, _span(self.path, meta))

    @_node
    def network_def(self, meta: Meta, name: Token, params: Params | None, *items: ast.NetworkItem) -> ast.NetworkDef:
        return ast.NetworkDef(str(name), params or (), items, _span(self.path, meta))

    def import_names(self, *names: Token) -> ImportNames:
        return tuple((str(name), _token_span(self.path, name)) for name in names)

    @_node
    def import_stmt(self, meta: Meta, source: Token, names: ImportNames | None) -> ast.Import:
        path = None if source.type == "STD" else str(source)[1:-1]
        if path is not None and len(path) > MAX_PATH_LENGTH:
            raise ResdslError(f"the import path is {len(path):,} characters long; paths are at most "
                              f"{MAX_PATH_LENGTH:,}", _token_span(self.path, source))
        return ast.Import(path, names, _span(self.path, meta))

    def start(self, *items: ast.Import | ast.BlockDef | ast.NetworkDef) -> ast.SourceFile:
        return ast.SourceFile(
            self.path,
            tuple(item for item in items if isinstance(item, ast.Import)),
            tuple(item for item in items if isinstance(item, ast.BlockDef)),
            tuple(item for item in items if isinstance(item, ast.NetworkDef)),
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
    "LPAR": "'('", "DOT": "'.'", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'",
    "STAR": "'*'", "VBAR": "'|'", "NAME": "a name", "INT": "a number", "FLOAT": "a number",
    "SHAPE": "a shape like 3x224x224", "STRING": "a quoted path", "$END": "the end of the file",
}


def _describe(token: Token | None) -> str:
    if token is None or token.type == "$END":
        return "the end of the file"
    return f"'{token}'"


def _expected(expected: set[str]) -> str:
    if "SHAPE" in expected:  # after `input`: '.' and ':' would only make it a label (input.0: ...)
        expected = expected - {"DOT", "COLON"}
    words = sorted({_TERMINAL_WORDS.get(name, f"'{name.lower()}'") for name in expected if not name.startswith("_")})
    if len(words) > 6:
        return ""
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0])


def _error_key(error: UnexpectedInput) -> tuple:
    state = getattr(error, "state", None)
    token = getattr(error, "token", None)
    return (getattr(state, "position", None), getattr(token, "type", None) or type(error).__name__)


@functools.cache
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


@functools.cache
def reserved_words() -> frozenset[str]:
    """The language's keywords: words a name cannot be (``stage``, ``from``, ``if``...)."""
    return frozenset(str(terminal.pattern.value) for terminal in _lark().terminals
                     if terminal.pattern.type == "str" and str(terminal.pattern.value).isidentifier())


def _word_before(text: str, position: int) -> tuple[str, int, int] | None:
    """The word just before ``position``, and its line and column."""
    match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[:position])
    if not match:
        return None
    start = match.start(1)
    return match.group(1), text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start)


def _reserved_word_error(error: UnexpectedInput, text: str, path: str) -> ResdslError | None:
    """A keyword where a name belongs (``block stage(...)``, ``from: conv(16)``): say why it fails."""
    if not isinstance(error, UnexpectedToken) or error.token.type == "$END":
        return None
    token, word, line, column = error.token, None, error.line, error.column
    expected = error.accepts or error.expected
    if str(token) in reserved_words() and "NAME" in expected:
        word = str(token)
    elif token.type in ("COLON", "DOT") and token.start_pos is not None:
        before = _word_before(text, token.start_pos)
        if before and before[0] in reserved_words():
            word, line, column = before
    if word is None:
        return None
    return ResdslError(f"syntax error: '{word}' is a reserved word of the language, so it cannot be a name",
                       Span(path, line, column, line, column + len(word)),
                       f"rename it, e.g. '{word}_'; reserved words: {', '.join(sorted(reserved_words()))}")


def _number_as_name(error: UnexpectedInput, path: str) -> ResdslError | None:
    """A number where a name belongs (``as 1``, ``block 2b``): names are words; numbers only label modules."""
    if not isinstance(error, UnexpectedToken) or error.token.type not in ("INT", "FLOAT", "SHAPE") \
            or "NAME" not in (error.accepts or error.expected):
        return None
    token = error.token
    what = "a size" if token.type == "SHAPE" else "a number"
    return ResdslError(f"syntax error: '{token}' is {what}, and a name goes here", _token_span(path, token),
                       "a name starts with a letter or '_' (c1, layer_1); a number can name a module in a label "
                       "only, such as '0: conv(64)'")


def _syntax_error(error: UnexpectedInput, text: str, path: str) -> ResdslError:
    reserved = _reserved_word_error(error, text, path) or _number_as_name(error, path)
    if reserved is not None:
        return reserved
    label = _example_labels().get(_error_key(error))
    line, column = max(error.line, 1), max(error.column, 1)
    width = 1
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        width = max(1, len(str(error.token)))
        found = f"unexpected {_describe(error.token)}"
        expected = _expected(error.accepts or error.expected)
    elif isinstance(error, UnexpectedCharacters):
        assert error.pos_in_stream is not None  # the lexer says where it stopped
        found = f"unexpected character {text[error.pos_in_stream]!r}"
        if text[error.pos_in_stream] == "=":
            return ResdslError("syntax error: names are bound with ':', not '='",
                               Span(path, line, column, line, column + 1),
                               "keyword arguments conv(64, k: 3); defaults block b(planes, stride: 1); "
                               "stages stage layer1: basic(64) * 2; comparisons ==")
        expected = (_expected(error.allowed or set())
                    or "resdsl specs use letters, digits, _ ( ) { } : , = * / + - % | # and \"\"")
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


#: Tokens a statement starts with (a label too: `0: conv(64)`), or that end a body or a branch: where
#: parsing may resume after a syntax error. Never `else`, `*`, `as` or `,`, which go on a statement.
_STATEMENT_STARTS = frozenset({
    "NAME", "INT", "FLOAT", "LBRACE", "RBRACE", "VBAR", "RESIDUAL", "ADD", "CONCAT", "MUL", "FROM", "IF", "STAGE",
    "INPUT", "OUTPUT", "BLOCK", "NETWORK", "IMPORT",
})
_DEPTH = {"LBRACE": (1, 0), "RBRACE": (-1, 0), "LPAR": (0, 1), "RPAR": (0, -1)}


def _tokens(parser: InteractiveParser) -> Iterator[Token | UnexpectedCharacters | _NameTooLong]:
    """The tokens of the parser's text; a character no token starts with, or a name too long, in
    their place (lexing goes on after it)."""
    thread = parser.lexer_thread
    while True:
        try:
            yield from thread.lex(parser.parser_state)
            return
        except UnexpectedCharacters as error:
            yield error
            state = thread.state
            assert state is not None
            state.line_ctr.feed(state.text.text[state.line_ctr.char_pos:state.line_ctr.char_pos + 1])
        except _NameTooLong as error:  # the lexer is past the name already
            yield error


def _at_statement_boundary(parser: InteractiveParser) -> bool:
    """Whether the parser stands between two statements: where a body (or the file) could end."""
    actions = parser.choices()
    return "RBRACE" in actions or "$END" in actions


def _syntax_errors(text: str, path: str) -> list[ResdslError]:
    """Every syntax error recovery finds reliably, in order: at least the first.

    Parsing resumes, after an error, at a token that starts a later line and a statement, at the brace
    depth (outside any parentheses) of the last line that started between two statements, from that
    point's parser state. So the rest of a faulty statement is skipped however many lines it spans.
    Where the file's braces or parentheses do not balance, a '{' or '}' is missing or extra somewhere,
    and every statement after it would be read at the wrong depth: only the first error is reported.
    Lexing errors count as syntax errors of their line.
    """
    parser = _lark().parse_interactive(text)
    conf = copy(parser.parser_state.parse_conf)
    conf.callbacks = {}  # no tree is built: the first error already means there is none to return
    parser.parser_state.parse_conf = conf
    errors: list[ResdslError] = []
    braces = parens = 0  # open before the current token
    checkpoint: tuple[InteractiveParser, int] | None = None  # the parser at the last boundary line, its depth
    skipping: int | None = None  # while skipping: the line of the last error
    previous: Token | None = None
    last_line = 0  # where the last token or bad character ended
    balanced = True  # so far: no brace or parenthesis closed before it opened
    for item in _tokens(parser):
        kind = item.type if isinstance(item, Token) else None
        line = (item.token if isinstance(item, _NameTooLong) else item).line or 0
        starts_line = line > last_line
        if skipping is not None and checkpoint is not None and starts_line and line > skipping \
                and kind in _STATEMENT_STARTS and (braces, parens) == (checkpoint[1], 0) \
                and kind in checkpoint[0].accepts():
            parser, skipping = checkpoint[0].copy(deepcopy_values=False), None
        fault: UnexpectedInput | _NameTooLong | None = None
        if skipping is None:
            if starts_line and parens == 0 and _at_statement_boundary(parser):
                checkpoint = parser.copy(deepcopy_values=False), braces
            if isinstance(item, UnexpectedCharacters):
                item.state = parser.parser_state  # the lexer knows only the first parser's state
                fault = item
            elif isinstance(item, _NameTooLong):
                fault = item
            else:
                try:
                    parser.feed_token(item)
                except UnexpectedToken as error:
                    error.interactive_parser = parser  # what it accepts, for the message
                    fault = error
        if isinstance(item, Token):
            change = _DEPTH.get(item.type, (0, 0))
            braces, parens, previous, last_line = braces + change[0], parens + change[1], item, item.end_line or 0
            balanced = balanced and braces >= 0 and parens >= 0
            if checkpoint is not None and braces < checkpoint[1]:
                checkpoint = None  # its body is closed: no statement after this resumes it
        else:
            last_line = line
        if fault is None:
            continue
        if isinstance(fault, _NameTooLong):
            errors.append(_name_too_long(fault.token, path))
            return errors  # a fault of the lexer's own limit: not one to recover from
        errors.append(_syntax_error(fault, text, path))
        skipping = fault.line
        if len(errors) >= MAX_ERRORS or not balanced:
            checkpoint = None  # no more errors: only the braces are counted to the end
    if skipping is None:
        try:
            parser.feed_eof(previous)
        except UnexpectedToken as error:
            error.interactive_parser = parser
            errors.append(_syntax_error(error, text, path))
    return errors if balanced and braces == parens == 0 else errors[:1]


def _name_too_long(token: Token, path: str) -> ResdslError:
    return ResdslError(f"a name of {len(token):,} characters; names are at most {MAX_NAME_LENGTH}",
                       _token_span(path, token), "names are module paths: keep them short")


def parse(text: str, path: str = "<string>") -> ast.SourceFile:
    """Parse ``.res`` source into a :class:`~resdsl.frontend.ast.SourceFile`.

    >>> parse("network n { input 3x8x8  conv(4) }").networks[0].name
    'n'

    A UTF-8 byte order mark at the start is skipped, as editors on Windows write one. A file with
    syntax errors raises one error carrying each that :func:`_syntax_errors` finds.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        errors = _syntax_errors(text, path) or [_syntax_error(error, text, path)]
        raise ResdslError.collect(errors) from None
    except _NameTooLong as error:
        raise _name_too_long(error.token, path) from None
    try:
        return _ToAst(path).transform(tree)
    except VisitError as error:  # a number too large, or a bug in the transformer
        raise error.orig_exc from None
