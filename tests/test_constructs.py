"""The language's second edition, construct by construct: outputs, `from`, module paths, values as
arguments, `if`, `stage` forms, the avgdown-where-the-shape-changes rule. Each against what the
compiled module does, not against resdsl's own figures alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import resdsl
from conftest import ROOT
from resdsl.errors import ResdslError

FPN = ROOT / "tests" / "specs" / "fpn_tiny.res"


def test_several_outputs_come_back_by_name_in_order() -> None:
    network = resdsl.load(FPN)
    assert list(network.output_shapes) == ["0", "1", "pool"]
    assert network.output_shapes == {"0": (8, 16, 16), "1": (8, 8, 8), "pool": (8, 4, 4)}
    model = network.to_module().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, dict) and list(out) == ["0", "1", "pool"]
    assert {key: tuple(value.shape[1:]) for key, value in out.items()} == network.output_shapes
    modules = dict(model.named_modules())
    assert "fpn.inner_blocks.1.0" in modules and "fpn.layer_blocks.0.0" in modules
    assert "fpn.inner_blocks.0.0.weight" in model.state_dict()


def test_outputs_compute_what_the_spec_says() -> None:
    """The FPN's top-down pathway recomputed by hand from the compiled model's own modules."""
    network = resdsl.load(FPN)
    model = network.to_module().eval()
    m = dict(model.named_modules())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        stem = torch.relu(m["body.bn1"](m["body.conv1"](x)))
        c2 = m["body.layer1.0.relu2"](m["body.layer1.0.bn2"](m["body.layer1.0.conv2"](
            m["body.layer1.0.relu1"](m["body.layer1.0.bn1"](m["body.layer1.0.conv1"](stem))))) + stem)
        top = m["fpn.inner_blocks.1.0"](_c3(model, c2))
        p3 = m["fpn.layer_blocks.1.0"](top)
        inner = m["fpn.inner_blocks.0.0"](c2) + torch.nn.functional.interpolate(top, scale_factor=2)
        torch.testing.assert_close(out["0"], m["fpn.layer_blocks.0.0"](inner))
        torch.testing.assert_close(out["1"], p3)
        torch.testing.assert_close(out["pool"], torch.nn.functional.max_pool2d(p3, 1, 2))


def _c3(model: torch.nn.Module, c2: torch.Tensor) -> torch.Tensor:
    """body.layer2 of fpn_tiny: two basic blocks, the first with a projection."""
    m = dict(model.named_modules())
    x = c2
    for index in range(2):
        unit = f"body.layer2.{index}"
        main = m[f"{unit}.bn2"](m[f"{unit}.conv2"](m[f"{unit}.relu1"](m[f"{unit}.bn1"](m[f"{unit}.conv1"](x)))))
        skip = m[f"{unit}.downsample.1"](m[f"{unit}.downsample.0"](x)) if index == 0 else x
        x = torch.relu(main + skip)
    return x


def test_stats_json_names_every_output() -> None:
    result = subprocess.run([sys.executable, "-m", "resdsl", "stats", "--json", str(FPN)], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    assert data["outputs"] == {"0": [8, 16, 16], "1": [8, 8, 8], "pool": [8, 4, 4]}
    assert data["output_shape"] == [8, 16, 16]
    assert list(data["receptive_fields"]) == ["0", "1", "pool"]
    assert data["receptive_field"] == max(data["receptive_fields"].values())
    one = json.loads(subprocess.run([sys.executable, "-m", "resdsl", "stats", "--json", "examples/resnet18.res"],
                                    cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    assert one["outputs"] == {"output": [1000]} and one["receptive_fields"] == {"output": one["receptive_field"]}


def test_render_draws_every_output() -> None:
    dot = resdsl.load(FPN).to_dot()
    for name in ("0", "1", "pool"):
        assert f'label="output {name}"' in dot


def test_from_runs_a_layer_on_an_earlier_value() -> None:
    spec = "network n { input 3x8x8  conv(4) as a  conv(6) conv(5) as c  from a conv(7) as d  output(c, d) }"
    graph = resdsl.load(spec).graph
    assert list(graph.predecessors("conv4")) == ["conv1"] and graph.graph["outputs"] == {"c": "conv3", "d": "conv4"}
    with pytest.raises(ResdslError, match="the value of 'conv3' reaches no output"):
        resdsl.load(spec.replace("output(c, d)", ""))


def test_a_block_takes_a_value_as_an_argument() -> None:
    spec = ("block level(top) { conv(8, k: 1) as lateral  add { identity | from top upsample(2) } }\n"
            "network n { input 3x16x16  conv(8, stride: 2) as c4  conv(8, stride: 2) as c5  from c4 level(c5) }")
    graph = resdsl.load(spec).graph
    assert sorted(graph.predecessors("level1.add1")) == ["level1.conv1", "level1.upsample1"]
    assert list(graph.predecessors("level1.upsample1")) == ["conv2"]


def test_if_chooses_steps_from_parameters() -> None:
    spec = ("block unit(c, stride: 1, first: false) { if first and not (stride > 1) { bn relu } else { relu } conv(c) }\n"
            "network n(first: true) { input 3x8x8  unit(4, first: first)  unit(4, stride: 2) }")
    assert [n for n in resdsl.load(spec).graph if n.startswith("unit1.")] == ["unit1.bn1", "unit1.relu1",
                                                                              "unit1.conv1"]
    assert [n for n in resdsl.load(spec, first=False).graph if n.startswith("unit1.")] == ["unit1.relu1",
                                                                                           "unit1.conv1"]
    with pytest.raises(ResdslError, match="'and' needs true or false, got 3"):
        resdsl.load("network n { input 3x8x8  if 3 and true { relu } conv(4) }")
    with pytest.raises(ResdslError, match="arithmetic needs numbers, got auto"):
        resdsl.load("network n { input 3x8x8  if auto < 3 { relu } conv(4) }")


def test_false_or_short_circuits_and_comparisons_compare_words() -> None:
    spec = "block b(s: auto) { if s == avgdown or 1 // 0 == 0 { relu } conv(4) }\nnetwork n { input 3x8x8 b(avgdown) }"
    assert "b1.relu1" in resdsl.load(spec).graph  # `or` never evaluates 1 // 0
    with pytest.raises(ResdslError, match="division by zero"):
        resdsl.load(spec.replace("b(avgdown)", "b(auto)"))


def test_numbered_and_dotted_names_become_module_paths() -> None:
    network = resdsl.load("network n { input 3x8x8  0: conv(4)  1: bn  conv1.0: conv(4)  stage stem: { conv(4) relu } "
                          "stage head { fc.2: conv(2, k: 1) } }")
    keys = set(network.to_module().state_dict())
    assert {"0.weight", "1.weight", "conv1.0.weight", "stem.0.weight", "fc.2.weight"} <= keys


def test_stage_forms_name_their_layers() -> None:
    graph = resdsl.load("network n { input 3x8x8  stage stem { conv(4) bn }  stage layer1: conv(4) "
                        "stage layer2: conv(4) * 2, first(stride: 2)  stage deep.part: { conv(4) relu } }").graph
    assert list(graph)[1:] == ["conv1", "bn1", "layer1.0", "layer2.0", "layer2.1", "deep.part.0", "deep.part.1"]
    assert graph.nodes["layer2.0"]["shape"] == (4, 4, 4) and graph.nodes["layer2.1"]["shape"] == (4, 4, 4)
    rows = [row.name for row in resdsl.load("network n { input 3x8x8  stage stem { conv(4) }  stage s: conv(4) }")
            .stats().stages]
    assert rows == ["stem", "s"]


def test_projection_avgdown_only_where_the_shape_changes() -> None:
    """ResNet-D's rule: `shortcut: auto, projection: avgdown` keeps identity shortcuts where it can."""
    spec = ("import std\nblock d(planes, stride: 1) { residual(shortcut: auto, projection: avgdown) { "
            "conv(planes, stride: stride) bn } relu }\n"
            "network n { input 16x8x8  stage s: d(16) * 2, first(stride: 2)  stage t: d(16) }")
    residuals = resdsl.load(spec).graph.graph["residuals"]
    assert [r["shortcut"] for r in residuals] == ["avgdown", "identity", "identity"]
    always = resdsl.load(spec.replace("shortcut: auto, projection: avgdown", "shortcut: avgdown")).graph
    assert [r["shortcut"] for r in always.graph["residuals"]] == ["avgdown"] * 3


def test_module_paths_never_collide() -> None:
    with pytest.raises(ResdslError, match=r"module path 'a\.b' is already used"):
        resdsl.load("network n { input 3x8x8  a: { b: conv(4) }  a.b: conv(4) }")
    with pytest.raises(ResdslError, match="would put a module inside the layer 'a'"):
        resdsl.load("network n { input 3x8x8  a: conv(4)  a.b: conv(4) }")


def test_avgdown_on_every_unit_warns_where_the_shape_stays(capsys) -> None:
    """The old form is legal but projects units ResNet-D leaves alone: check says so, and exits 0."""
    from resdsl.cli import main

    spec = ROOT / "tests" / "specs" / "avgdown_everywhere.res"
    warnings = resdsl.load(spec).warnings
    assert [w.message for w in warnings] == ["shortcut: avgdown projects s.1, whose shape does not change (16x4x4)"]
    assert "projection: avgdown" in warnings[0].hint
    # at the line of the user's own file that writes it (the block is theirs: line 3); inside the standard
    # library it would be their call of the block (tests/warn)
    assert warnings[0].span.line == 3
    assert main(["check", str(spec.relative_to(ROOT))]) == 0
    err = capsys.readouterr().err
    assert "avgdown_everywhere.res:3:3: warning: shortcut: avgdown projects s.1" in err
    assert not resdsl.load(ROOT / "examples" / "resnet50d.res").warnings


def test_first_alone_says_where_it_belongs() -> None:
    """'first' is a name now (a block parameter may be called first), so a stray first(...) is a call."""
    with pytest.raises(ResdslError, match=r"'first\(\.\.\.\)' belongs to a repetition, after a comma"):
        resdsl.load("network n { input 3x8x8  conv(4) first(stride: 2) }")
