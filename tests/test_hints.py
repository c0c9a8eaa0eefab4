"""Hints name only what works when written: every PyTorch class name's suggestion builds that very
module, every suggested import imports, and an argument given an unknown word says what it takes."""

from __future__ import annotations

import pytest

import resdsl
from resdsl.errors import ResdslError
from resdsl.frontend.loader import std_blocks
from resdsl.ir.layers import LAYERS, torch_hint, torch_names
from resdsl.ir.schema import takes
from resdsl.ir.torch_form import Module


def _modules(call: str) -> set[str]:
    """The PyTorch modules ``call`` builds on a feature map and on a vector (where it takes them), its
    required arguments given the first value they take; ``Identity`` for no node."""
    name = call.split("(")[0]
    required = [p for p in LAYERS[name].parameters if p.required]
    built = set()
    for values in (["2"] * len(required), ["0.5"] * len(required)):
        arguments = ", ".join(values + ([call[len(name) + 1:-1]] if "(" in call else []))
        written = f"{name}({arguments})" if arguments else name
        for before in ("", "flatten "):
            try:
                network = resdsl.load(f"network n {{ input 8x8x8  {before}{written} }}")
            except ResdslError:
                continue
            node = list(network.graph)[-1]
            if node == "input":  # identity makes no node
                built.add("Identity")
                continue
            inputs = [network.graph.nodes[p]["shape"] for p in network.graph.predecessors(node)]
            form = network.graph.nodes[node]["op"].torch(inputs)
            built.add(form.name if isinstance(form, Module) else type(form).__name__)
    return built


@pytest.mark.parametrize("module", sorted(torch_names()))
def test_pytorch_names_suggest_the_layer_that_builds_them(module: str) -> None:
    forms = torch_names()[module]
    assert torch_hint(module) == f"did you mean {' or '.join(map(repr, forms))}? (PyTorch's {module})"
    assert torch_hint(module.lower()) == torch_hint(module)
    for form in forms:
        assert module in _modules(form.replace("...", "2")), form


def test_the_common_pytorch_names_are_known() -> None:
    """The names people coming from torch.nn write first."""
    for module in ("Conv2d", "BatchNorm2d", "ReLU", "Linear", "AdaptiveAvgPool2d", "MaxPool2d", "Dropout",
                   "Softmax", "GroupNorm", "LayerNorm", "Identity", "Flatten", "Upsample", "LeakyReLU", "Hardswish",
                   "Sigmoid", "AvgPool2d", "GELU", "SiLU"):
        assert torch_hint(module), module
    assert torch_names()["AdaptiveAvgPool2d"] == ("avgpool(global)", "avgpool(to: ...)")
    assert torch_hint("Sequential") is None


@pytest.mark.parametrize("name", std_blocks())
def test_a_suggested_std_import_imports(name: str) -> None:
    with pytest.raises(ResdslError) as raised:
        resdsl.check(f"block user(c) {{ {name}(c) }}\n")
    assert raised.value.hint == f"'{name}' is in the standard library: import std ({name})"
    assert resdsl.check(f"import std ({name})\nblock user(c) {{ {name}(c) }}\n") == ("user",)


def test_no_import_is_suggested_for_what_std_lacks() -> None:
    for name in ("squeeze", "softmax_block", "attention"):
        with pytest.raises(ResdslError) as raised:
            resdsl.check(f"block user(c) {{ {name}(c) }}\n")
        assert "import std" not in (raised.value.hint or "")
    with pytest.raises(ResdslError, match="has no block 'leaky_relu'") as raised:
        resdsl.load("import std (leaky_relu)\nnetwork n { input 3x8x8  conv(4) }")
    assert raised.value.hint == "'leaky_relu' is a built-in layer: write it without importing it"


def test_every_layer_argument_says_what_it_takes() -> None:
    missing = [f"{name}({p.name})" for name, layer in LAYERS.items() for p in layer.parameters
               if p.check is not None and not takes(p.check)]
    assert not missing


@pytest.mark.parametrize(("step", "expected"), [
    ("conv(8, padding: same)", "padding takes a size"),
    ("conv(8, padding: same)", "left out, it is dilation * (k // 2)"),
    ("avgpool(gap)", "k takes global or a size"),
    ("conv(8, bias: yes)", "bias takes true or false; left out, it is false"),
    ("residual(shortcut: conv) { conv(3) }", "project (1x1 conv + bn)"),
    ("residual(shortcut: conv) { conv(3) }", "'conv' is a layer, not a value"),
    ("residual(projection: avg_down) { conv(3) }", "did you mean 'avgdown'? projection takes"),
    ("outer(3, flavour: projection)", "did you mean 'project'? outer passes 'flavour' to residual's shortcut"),
])
def test_an_unknown_word_says_what_the_argument_takes(step: str, expected: str) -> None:
    """Through blocks too: outer passes its argument to inner, which gives it to residual(shortcut:)."""
    spec = ("block inner(c, kind) { residual(shortcut: kind) { conv(c) } }\n"
            "block outer(c, flavour: auto) { inner(c, flavour) }\n"
            f"network n {{ input 3x8x8  {step} }}")
    with pytest.raises(ResdslError) as raised:
        resdsl.load(spec)
    assert expected in (raised.value.hint or ""), raised.value.hint
    assert raised.value.message.startswith("unknown name ")


def test_a_name_with_no_rule_keeps_the_plain_message() -> None:
    with pytest.raises(ResdslError) as raised:
        resdsl.load("block b(c, unused) { conv(c) }\nnetwork n { input 3x8x8  b(3, widht) }")
    assert raised.value.message == "unknown name 'widht'"
