"""The catalog of bad specs: each gets exactly its golden diagnostic, exit code 1, and no traceback."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from resdsl.cli import main
from resdsl.errors import ResdslError

BAD = sorted((Path(__file__).parent / "bad").glob("*.res"))


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_diagnostic(spec: Path, capsys: pytest.CaptureFixture[str], golden) -> None:
    relative = spec.relative_to(Path.cwd())
    assert main(["check", str(relative)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"{relative.parent}/"), captured.err  # import errors point into the imported file
    golden(spec.with_suffix(".err"), captured.err)


def test_catalog_is_large_enough() -> None:
    assert len(BAD) >= 25


def test_every_diagnostic_has_caret_and_hint() -> None:
    for spec in BAD:
        text = spec.with_suffix(".err").read_text()
        assert "^" in text, spec
        assert "hint:" in text, spec


def test_a_fault_inside_blocks_is_reported_at_the_users_call() -> None:
    """The primary place is the call in the spec the user gave; the chain of instances down to the
    fault (here through an imported file that imports another) comes with it, outermost first."""
    import resdsl

    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load(Path("tests/bad/block_imported_twice.res"))
    error = info.value
    assert (error.span.path, error.span.line) == ("tests/bad/block_imported_twice.res", 6)
    assert (error.origin.path, error.origin.line, error.origin.column) == ("tests/bad/imports/inner.res", 4, 3)
    chain = [(frame.block, frame.instance, str(frame.definition), str(frame.call)) for frame in error.expansion]
    assert chain == [("unit", "layer1.0", "tests/bad/imports/outer.res:3:1", "tests/bad/block_imported_twice.res:6:3"),
                     ("squeeze", "layer1.0.squeeze1", "tests/bad/imports/inner.res:2:1", "tests/bad/imports/outer.res:4:14")]
    assert str(error).endswith("(in block 'squeeze', tests/bad/imports/inner.res:4:3) "
                               "(hint: use a smaller kernel, or avgpool(global))")


def test_each_call_of_a_faulty_block_is_its_own_error() -> None:
    """Two calls that fail the same way inside a block are two faults in the user's file; the instances
    of one repeated call are one."""
    import resdsl

    spec = ("block sep(c) { conv(c, groups: 32) }\n"
            "network n {\n input 3x8x8\n conv(48) as x\n stage a: sep(48) * 3\n from x sep(48)\n}")
    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load(spec)
    assert [(e.span.line, e.origin.line, e.expansion[0].instance) for e in info.value.errors] == \
        [(5, 1, "a.0"), (6, 1, "sep1")]


def test_a_long_chain_of_instances_is_cut_in_the_middle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from resdsl.limits import MAX_EXPANSION_SHOWN

    depth = MAX_EXPANSION_SHOWN + 5
    blocks = "\n".join(f"block b{i}(c) {{ b{i + 1}(c) }}" for i in range(depth))
    spec = tmp_path / "deep.res"
    spec.write_text(f"{blocks}\nblock b{depth}(c) {{ conv(c, groups: 3) }}\nnetwork n {{ input 3x8x8 b0(4) }}\n")
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == MAX_EXPANSION_SHOWN + 1
    assert notes[MAX_EXPANSION_SHOWN // 2] == f"note: ... {depth + 1 - MAX_EXPANSION_SHOWN} more block instances"
    assert notes[0].startswith("note: in block 'b0'") and notes[-1].startswith(f"note: in block 'b{depth}'")
    assert err.startswith(f"{spec}:{depth + 2}:")
    assert err.splitlines()[-3:] == [f"    block b{depth}(c) {{ conv(c, groups: 3) }}",
                                     "    " + " " * (len(f"block b{depth}(c) {{ ")) + "^" * 18,
                                     "hint: choose channel counts that are multiples of groups"]


def test_readme_shows_the_golden_diagnostics() -> None:
    """Each `$ resdsl check tests/bad/X.res` the README shows is that spec's golden output."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"```\n\$ resdsl check (tests/bad/\w+\.res)\n(.*?)```", readme, re.S)
    assert len(shown) >= 2
    for spec, output in shown:
        assert output == (Path(__file__).parent.parent / spec).with_suffix(".err").read_text(encoding="utf-8"), spec


def _mutants(count: int, faults: int, seed: int):
    """Examples with ``faults`` tokens each deleted, doubled or replaced by '@', in statements at
    least three lines apart (braces and parentheses too when there is one fault)."""
    import random

    from resdsl.frontend.parser import _lark

    generator = random.Random(seed)
    specs = sorted((Path(__file__).parent.parent / "examples").glob("*.res"))
    while count:
        text = generator.choice(specs).read_text(encoding="utf-8")
        tokens = [t for t in _lark().lex(text) if faults == 1 or t.type not in ("LBRACE", "RBRACE", "LPAR", "RPAR")]
        chosen = sorted(generator.sample(tokens, faults), key=lambda t: t.start_pos)
        if any(b.line - a.line < 3 for a, b in itertools.pairwise(chosen)):
            continue
        for token in reversed(chosen):
            start, end = token.start_pos, token.end_pos
            text = generator.choice([text[:start] + text[end:], text[:end] + " " + text[start:end] + text[end:],
                                     text[:start] + "@" + text[end:]])
        count -= 1
        yield text


def test_one_syntax_error_is_reported_once() -> None:
    """Recovery never reports what is only a consequence of the first error: a mutant with one fault
    (a missing or extra brace included) gets exactly one syntax error."""
    from resdsl.frontend.parser import parse

    failed = 0
    for text in _mutants(300, 1, seed=13):
        try:
            parse(text, "mutant.res")
        except ResdslError as error:
            failed += 1
            assert len(error.errors) == 1, (text, [str(e) for e in error.errors])
    assert failed > 200
    closed = "block a(c) {\n  residual {\n    conv(c)\n  } relu @\n}\nblock b(c) {\n  concat {\n    identity\n  | conv(c)\n  }\n}"
    extra = "network n {\n  {\n  input 3x8x8\n  stage s { conv(4) }\n  stage t { conv(4) }\n}"
    for text in (closed, extra):  # no statement after is read where the first error left the parser
        with pytest.raises(ResdslError) as info:
            parse(text)
        assert len(info.value.errors) == 1, [str(e) for e in info.value.errors]


def test_independent_syntax_errors_are_each_reported() -> None:
    """Two faults in statements apart: never more than two errors, and both, mostly."""
    from resdsl.frontend.parser import parse

    counts = []
    for text in _mutants(150, 2, seed=14):
        try:
            parse(text, "mutant.res")
        except ResdslError as error:
            counts.append(len(error.errors))
            assert [e.span for e in error.errors] == sorted(e.span for e in error.errors)
    assert max(counts) == 2 and counts.count(2) > len(counts) / 2


def test_another_input_shape_reports_like_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`stats --input` lowers the spec again: its faults quote the source and name the instances too."""
    spec = tmp_path / "pool.res"
    spec.write_text("block head { avgpool(k: 7) flatten }\nnetwork n { input 3x32x32  conv(8)  head }\n")
    assert main(["stats", "--input", "3x4x4", str(spec)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{spec}:2:37: error: avgpool k=7 does not fit a 4x4 input",
        "    network n { input 3x32x32  conv(8)  head }",
        "                                        ^^^^",
        f"note: in block 'head' ({spec}:1:1), instance head1, at line 1",
        "    block head { avgpool(k: 7) flatten }",
        "                 ^^^^^^^^^^^^^",
        "hint: use a smaller kernel, or avgpool(global)",
        "note: this comes from --input 3x4x4: the spec builds at its own input, 3x32x32"]


def test_a_block_written_as_an_argument_is_called_where_it_is_written(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    """std's basic calls the projection the user passes it: that level of the chain is the user's line."""
    spec = tmp_path / "projection.res"
    spec.write_text("import std (basic)\nblock proj(c, s) { conv(c, k: 1, stride: s, groups: 3) bn }\n"
                    "network n {\n  input 3x32x32\n  conv(16) bn relu\n  basic(32, stride: 2, shortcut: proj)\n}\n")
    assert main(["check", str(spec)]) == 1
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes[0].startswith("note: in block 'basic' (") and notes[0].endswith(f", instance basic1, at {spec}:6:34")
    assert notes[1] == f"note: in block 'proj' ({spec}:2:1), instance basic1.downsample, at line 2"
