"""The language, construct by construct: what each lowers to, by node names, ops, edges and shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import resdsl
from resdsl.frontend.parser import parse
from resdsl.ir.graph import inputs, lint


def net(body: str, header: str = "network n", shape: str = "16x32x32", **overrides) -> resdsl.Network:
    network = resdsl.load(f"{header} {{\n input {shape}\n {body}\n}}", **overrides)
    lint(network.graph)
    return network


def kinds(network: resdsl.Network) -> dict[str, str]:
    return {n: d["op"].kind for n, d in network.graph.nodes(data=True)}


def test_parse_gives_frozen_ast_with_spans() -> None:
    tree = parse("network n {\n  input 3x8x8\n  conv(4, k: 1) bn\n}", "x.res")
    layer = tree.networks[0].items[1]
    assert (layer.callee, layer.span.line, layer.span.column) == ("conv", 3, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.callee = "bn"  # frozen


def test_sequence_names_defaults_and_shapes() -> None:
    network = net("conv(32, stride: 2) bn relu conv(8, k: 1, bias: true)")
    assert list(network.graph) == ["input", "conv1", "bn1", "relu1", "conv2"]
    conv = network.graph.nodes["conv1"]["op"]
    assert (conv.kernel, conv.padding, conv.bias) == (3, 1, False)
    assert network.graph.nodes["conv2"]["op"].bias is True
    assert network.output_shape == (8, 16, 16)


def test_residual_shortcut_kinds() -> None:
    main = "{ conv(32, stride: 2) bn relu conv(32) bn }"
    auto = net(f"residual(shortcut: auto) {main}")
    assert kinds(auto)["downsample.0"] == "conv" and kinds(auto)["downsample.1"] == "bn"
    assert auto.graph.nodes["downsample.0"]["op"].stride == 2
    pad = net(f"residual(shortcut: pad) {main}")
    assert [kinds(pad)[n] for n in ("downsample.0", "downsample.1")] == ["subsample", "zeropad"]
    avgdown = net(f"residual(shortcut: avgdown) {main}")
    assert [kinds(avgdown)[n] for n in ("downsample.0", "downsample.1", "downsample.2")] == ["avgpool", "conv", "bn"]
    identity = net("residual(shortcut: identity) { conv(16) bn relu conv(16) bn }")
    assert inputs(identity.graph, "add1") == ["bn2", "input"]
    assert identity.graph.edges["input", "add1"]["kind"] == "skip"
    assert auto.graph.edges["downsample.1", "add1"]["kind"] == "projection"


def test_residual_scale_custom_shortcut_and_name() -> None:
    network = net("block proj(c, s) { conv(c, k: 1, stride: s, bias: true) }\n"
                  "residual(shortcut: proj(32, 2), name: shortcut, scale: 0.2) { conv(32, stride: 2) bn }")
    assert kinds(network)["scale1"] == "scale" and network.graph.nodes["scale1"]["op"].factor == 0.2
    assert network.graph.nodes["shortcut.conv1"]["op"].bias is True
    bare = net("block proj(c, s) { conv(c, k: 1, stride: s) }\n"
               "residual(shortcut: auto, projection: proj) { conv(32, stride: 2) bn }")
    assert bare.graph.nodes["downsample.conv1"]["op"].stride == 2


def test_branches_concat_add_mul() -> None:
    network = net("concat { identity | bn relu conv(8) }")
    assert network.output_shape == (24, 32, 32)
    assert inputs(network.graph, "concat1") == ["input", "conv1"]
    se = resdsl.load("import std (se)\nnetwork n { input 64x8x8  se(64) }")
    assert se.output_shape == (64, 8, 8) and kinds(se)["se1.mul1"] == "mul"


def test_named_values_long_skips() -> None:
    network = net("conv(16) as a\n stage down: { maxpool(k: 2) conv(16) } upsample(2) add(a) concat(a)")
    assert inputs(network.graph, "add1") == ["upsample1", "conv1"]
    assert network.output_shape == (32, 32, 32)


def test_blocks_defaults_arithmetic_and_nesting() -> None:
    network = net("block inner(c) { conv(c) }\n block outer(planes, width: planes * 2) { inner(width // 4) }\n"
                  "outer(64)")
    assert network.graph.nodes["outer1.inner1.conv1"]["op"].out_channels == 32


def test_stages_repeat_first_and_index_names() -> None:
    network = net("block b(c, stride: 1) { conv(c, stride: stride) }\n stage layer: b(16) * 3, first(stride: 2)")
    assert [n for n in network.graph if n != "input"] == ["layer.0.conv1", "layer.1.conv1", "layer.2.conv1"]
    assert network.graph.nodes["layer.0.conv1"]["op"].stride == 2
    assert network.graph.nodes["layer.1.conv1"]["op"].stride == 1
    assert {network.graph.nodes[n]["stage"] for n in network.graph if n != "input"} == {"layer"}


def test_network_parameters_and_overrides() -> None:
    spec = "network n(classes: 1000, width: 8) { input 3x8x8 conv(width) avgpool(global) flatten fc: linear(classes) }"
    assert resdsl.load(spec).output_shape == (1000,)
    tuned = resdsl.load(spec, classes=10, width=4)
    assert tuned.output_shape == (10,) and tuned.graph.nodes["conv1"]["op"].out_channels == 4
    with pytest.raises(resdsl.ResdslError, match="no parameter 'clases'") as info:
        resdsl.load(spec, clases=10)
    assert info.value.hint == "did you mean 'classes'?"


def test_imports_relative_to_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.res").write_text('import "more.res"\nblock twice(c) { once(c) once(c) }')
    (tmp_path / "lib" / "more.res").write_text("block once(c) { conv(c) bn relu }")
    (tmp_path / "net.res").write_text('import "lib/blocks.res"\nnetwork n { input 3x8x8 twice(4) }')
    network = resdsl.load(tmp_path / "net.res")
    assert "twice1.once2.conv1" in network.graph


def test_error_api_has_span_hint_and_all_errors() -> None:
    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load("network n {\n input 3x8x8\n conv(4) bnn\n conv(4, strde: 1)\n}")
    error = info.value
    assert (error.span.line, error.span.column, error.span.end_column) == (3, 10, 13)
    assert error.hint == "did you mean 'bn'?"
    assert [e.span.line for e in error.errors] == [3, 4]


def test_expansion_and_nesting_limits() -> None:
    with pytest.raises(resdsl.ResdslError, match="expands past 1,000 nodes"):
        resdsl.load("network n { input 3x8x8 stage s: relu * 999  stage t: relu * 999 }", max_nodes=1000)
    deep = "\n".join(f"block b{i}(c) {{ b{i + 1}(c) }}" for i in range(80)) + "\nblock b80(c) { conv(c) }"
    with pytest.raises(resdsl.ResdslError, match="nest more than 64 deep"):
        resdsl.load(deep + "\nnetwork n { input 3x8x8 b0(4) }")
    with pytest.raises(resdsl.ResdslError, match="too deep to parse: an expression of thousands of terms"):
        resdsl.load("network n { input 3x8x8 conv(1" + " + 1" * 5000 + ") }")
    assert resdsl.load("network n { input 3x8x8 conv(" + "(" * 500 + "4" + ")" * 500 + ") }").output_shape[0] == 4


def test_spec_is_data_not_code() -> None:
    with pytest.raises(resdsl.ResdslError):
        resdsl.load('network n { input 3x8x8 conv(__import__("os").getpid()) }')


def test_parser_cache_lives_where_only_this_user_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lark's cache is a pickle: never in the shared temp folder, never in a folder others can write."""
    from resdsl.frontend import parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = Path(parser._parser_cache())
    assert cache.parent == tmp_path / "resdsl" and cache.parent.stat().st_mode & 0o777 == 0o700
    (tmp_path / "resdsl").chmod(0o777)
    assert parser._parser_cache() is False
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("")
    assert parser._parser_cache() is False  # cannot make the folder: parse without a cache


def test_blocks_inside_a_network_see_its_parameters() -> None:
    """Scoping is lexical: a block defined in a network sees the network's parameters, overrides
    included, unless its own parameters shadow them; defaults see them too."""
    spec = ("network n(width: 8, k: 5) {\n input 3x16x16\n block b(k: 3, c: width * 2) { conv(width, k: k) conv(c) }\n"
            " block s(width: 2) { conv(width) }\n b() s() s(6)\n}")
    network = resdsl.load(spec)
    conv = {name: data["op"] for name, data in network.graph.nodes(data=True) if name != "input"}
    assert (conv["b1.conv1"].out_channels, conv["b1.conv1"].kernel, conv["b1.conv2"].out_channels) == (8, 3, 16)
    assert (conv["s1.conv1"].out_channels, conv["s2.conv1"].out_channels) == (2, 6)  # shadowed
    overridden = resdsl.load(spec, width=4).graph.nodes
    assert (overridden["b1.conv1"]["op"].out_channels, overridden["b1.conv2"]["op"].out_channels) == (4, 8)


def test_a_block_sees_the_scope_it_is_defined_in_not_its_callers() -> None:
    """A block at the top level sees only its parameters, even when a network calls it; so does one
    called from a block whose parameters it would otherwise see (no dynamic scoping)."""
    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load("block b(k: 3) { conv(width, k: k) }\nnetwork n(width: 8) { input 3x8x8  b() }")
    error = info.value
    assert error.message == "unknown name 'width'"
    assert "a block defined at the top level of a file sees only its own parameters (k)" in error.hint
    assert "define the block inside the network" in error.hint
    with pytest.raises(resdsl.ResdslError, match="unknown name 'planes'") as info:
        resdsl.load("network n { input 3x8x8  block inner { conv(planes) }  block outer(planes) { inner }  outer(4) }")
    assert info.value.message == "unknown name 'planes' for conv's argument 'channels'"
    assert "names in scope" not in info.value.hint


def test_unknown_names_in_a_block_list_what_it_sees() -> None:
    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load("network n(width: 8) { input 3x8x8  block b(k: 3) { conv(zzz, k: k) }  b() }")
    assert info.value.hint == "channels takes an integer of at least 1; names in scope: k, width"
    with pytest.raises(resdsl.ResdslError) as info:
        resdsl.load("network n(width: 8) { input 3x8x8  block b(k: 3) { conv(widht, k: k) }  b() }")
    assert info.value.hint.startswith("did you mean 'width'?")


@pytest.mark.parametrize(("use", "between"), [("add(c)", "relu"), ("from c", ""), ("upsample(to: c)", "maxpool(k: 2)")])
def test_named_values_are_not_lexical(use: str, between: str) -> None:
    """A block gets the network's values only as arguments, and the error says so."""
    with pytest.raises(resdsl.ResdslError, match=r"unknown (name|value) 'c'") as info:
        resdsl.load(f"network n {{ input 3x8x8  block b {{ {use} }}  conv(3) as c {between} b() }}")
    assert info.value.hint.startswith("'c' is a named value of the network, and a block sees named values only as "
                                      "arguments")
    passed = resdsl.load(f"network n {{ input 3x8x8  block b(c) {{ {use} }}  conv(3) as c {between} b(c) }}")
    assert passed.output_shape == (3, 8, 8)
