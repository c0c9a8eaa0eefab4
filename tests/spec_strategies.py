"""Hypothesis strategies that write ``.res`` specs the way the grammar reads them, valid or nearly so.

Shared by the fuzz test (a bounded run in CI) and ``bench/fuzz.py`` (longer runs). Specs are built
from the grammar's forms — layers with random arguments, groups, residual units, branches, named
values, blocks, stages — with names, numbers and shapes drawn to reach the edges: reserved words,
PyTorch attribute names, huge and non-finite literals, sizes that do not fit. A share of the texts is
then mutated character by character, for the parser's error paths. Shapes stay tiny so that every
accepted spec can be compiled and run.
"""

from __future__ import annotations

from hypothesis import strategies as st

LABELS = ["a", "b", "c", "x", "main", "layer1", "conv", "relu", "fc", "downsample", "self", "torch", "nn", "F",
          "SPEC", "std", "a", "b", "c"]
EDGE_LABELS = ["class", "def", "None", "training", "forward", "eval", "graph", "code", "meta", "_modules",
               "__class__", "input", "stem", "first", "keys"]
VALUES = ["v", "w", "skip"]
BLOCKS = ["unit", "proj", "empty"]
PARAMS = ["c", "s", "n"]

#: One example in three is edgy: its names, numbers, shapes, imports and text reach for the limits; the
#: others stay plausible, so that enough specs are accepted and run.
edgy = st.shared(st.integers(0, 2).map(lambda draw: draw == 0), key="edgy")
small = st.integers(min_value=1, max_value=12).map(str)


def pick(plain: list[str], edge: list[str]) -> st.SearchStrategy[str]:
    """A plausible choice; in an edgy example, an edge case now and then."""
    return edgy.flatmap(lambda on: st.sampled_from(plain * 3 + edge) if on else st.sampled_from(plain))


label = pick(LABELS, EDGE_LABELS)
edge_numbers = st.sampled_from(["0", "-1", "2.5", "0.5", "1e-5", "1e400", "281474976710657", "9" * 30,
                                "1e300 * 1e300", "2 ** 3", "7 / 2", "7 // 2", "5 % 0", "true", "false", "global",
                                "auto", "nearest", "bilinear", "pad", "c * 2", "s + 1", "n // 2", "unknown"])
number = edgy.flatmap(lambda on: st.one_of(*[small] * 5, edge_numbers) if on else small)


@st.composite
def arguments(draw, positional: list[str], keywords: dict[str, st.SearchStrategy[str]]) -> str:
    args = [draw(number) for _ in range(draw(st.integers(0, len(positional))))]
    chosen = draw(st.lists(st.sampled_from(sorted(keywords)), unique=True, max_size=3)) if keywords else []
    args += [f"{key}: {draw(keywords[key])}" for key in chosen]
    return f"({', '.join(args)})" if args or draw(st.booleans()) else ""


LAYERS: dict[str, tuple[list[str], dict[str, st.SearchStrategy[str]]]] = {
    "conv": (["channels"], {"k": st.sampled_from(["1", "2", "3", "5", "7"]), "stride": st.sampled_from(["1", "2", "3"]),
                            "padding": st.sampled_from(["0", "1", "2"]), "groups": st.sampled_from(["1", "2", "4"]),
                            "dilation": st.sampled_from(["1", "2"]), "bias": st.sampled_from(["true", "false"])}),
    "bn": ([], {"eps": st.sampled_from(["1e-5", "0.001", "0", "-1", "nan"]), "momentum": st.sampled_from(["0.1", "2"]),
                "affine": st.sampled_from(["true", "false", "1"])}),
    "layernorm": ([], {"eps": st.sampled_from(["1e-6", "-1"]), "affine": st.sampled_from(["true", "false"])}),
    "relu": ([], {}), "sigmoid": ([], {}), "tanh": ([], {}), "gelu": ([], {}), "silu": ([], {}),
    "leaky_relu": (["slope"], {}), "hardswish": ([], {}), "softmax": ([], {}), "mean": ([], {}),
    "drop_path": (["p"], {}), "layer_scale": (["init"], {}),
    "maxpool": (["k"], {"stride": st.sampled_from(["1", "2"]), "padding": st.sampled_from(["0", "1"]),
                        "ceil": st.sampled_from(["true", "false"])}),
    "avgpool": (["k"], {"stride": st.sampled_from(["1", "2"]), "padding": st.sampled_from(["0", "1"]),
                        "ceil": st.sampled_from(["true", "false"])}),
    "flatten": ([], {}), "identity": ([], {}),
    "linear": (["features"], {"bias": st.sampled_from(["true", "false"]),
                              "over": st.sampled_from(["channels", "channels", "features", "c"])}),
    "dropout": (["p"], {}),
    "upsample": (["scale"], {"mode": st.sampled_from(["nearest", "bilinear", "cubic"])}),
    "subsample": (["stride"], {}), "zeropad": (["channels"], {}), "scale": (["factor"], {}),
}


@st.composite
def layer(draw) -> str:
    kind = draw(pick([*LAYERS, "avgpool_global", "block", "block"], ["unknown"]))
    if kind == "avgpool_global":
        text = draw(pick(["avgpool(global)"], ["avgpool(global, stride: 2)"]))
    elif kind == "block":
        text = draw(st.sampled_from(BLOCKS)) + draw(arguments(["c", "s"], {"s": st.sampled_from(["1", "2"])}))
    elif kind == "unknown":
        text = draw(st.sampled_from(["bnn", "Conv2d", "ReLU", "batchnorm", "first"]))
    else:
        positional, keywords = LAYERS[kind]
        text = kind + draw(arguments(positional, keywords))
    if draw(st.integers(0, 5)) == 0:
        text = f"{draw(label)}: {text}"
    if draw(st.integers(0, 6)) == 0:
        text += f" * {draw(pick(['2', '3', 'n'], ['0', '100000', '-1']))}"
    if draw(st.integers(0, 6)) == 0:
        text += f" as {draw(st.sampled_from(VALUES))}"
    return text


@st.composite
def steps(draw, depth: int = 0) -> str:
    forms = ["layer"] * 6 + (["group", "residual", "residual", "branches", "values"] if depth < 2 else ["values"])
    out = []
    for _ in range(draw(st.integers(1 if depth else 0, 3))):
        form = draw(st.sampled_from(forms))
        if form == "layer":
            out.append(draw(layer()))
        elif form == "group":
            out.append(f"{draw(label)}: {{ {draw(steps(depth + 1))} }}")
        elif form == "residual":
            options = draw(st.lists(st.sampled_from(["shortcut: auto", "shortcut: identity", "shortcut: project",
                                                     "shortcut: pad", "shortcut: avgdown", "shortcut: proj",
                                                     "shortcut: proj(8, 2)", "scale: 0.2", "name: sc",
                                                     "projection: proj", "shortcut: conv"]),
                                    unique_by=lambda o: o.split(":")[0], max_size=2))
            out.append(f"residual({', '.join(options)}) {{ {draw(steps(depth + 1))} }}")
        elif form == "branches":
            merge = draw(st.sampled_from(["add", "concat", "mul"]))
            branches = [draw(steps(depth + 1)) or "identity" for _ in range(draw(st.integers(1, 3)))]
            out.append(f"{merge} {{ {' | '.join(branches)} }}")
        else:
            merge = draw(st.sampled_from(["add", "concat", "mul"]))
            out.append(f"{merge}({', '.join(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2)))})")
    return " ".join(out)


@st.composite
def block_definitions(draw) -> str:
    out = []
    for name in draw(st.lists(pick(BLOCKS, ["relu"]), unique=True, max_size=3)):
        params = draw(st.sampled_from(["", "(c)", "(c, s = 1)", "(c = 8, s = c // 4, n = 2)"]))
        body = "" if name == "empty" else draw(steps(1))
        out.append(f"block {name}{params} {{ {body} }}")
    return "\n".join(out)


@st.composite
def network_items(draw) -> str:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        form = draw(st.sampled_from(["steps", "steps", "stage", "stage_body", "stem", "head"]))
        name = draw(st.sampled_from(["layer1", "layer2", "s", "enc", "layer1", "layer2", "s", "enc", "class"]))
        if form == "steps":
            out.append(draw(steps()))
        elif form == "stage":
            first = draw(st.sampled_from(["", ", first(s: 2)", ", first(2)", ", first(stride: 2)"]))
            out.append(f"stage {name} = {draw(st.sampled_from(BLOCKS))}"
                       f"{draw(st.sampled_from(['', '(4)', '(8, 1)', '(c: 4)']))} * {draw(st.sampled_from(['1', '2', '3']))}"
                       f"{first}")
        elif form == "stage_body":
            out.append(f"stage {name} {{ {draw(steps(1))} }}")
        else:
            out.append(f"{form} {{ {draw(steps(1))} }}")
    return "\n  ".join(out)


@st.composite
def specs(draw) -> str:
    """A whole spec: imports, blocks, one network with an input shape and a body."""
    imports = draw(pick(["", "", "import std\n", "import std (basic, se)\n"],
                        ['import "/etc/passwd"\n', 'import "missing.res"\n']))
    shape = draw(pick(["3x8x8", "4x6x6", "8x5x5", "2x1x1", "3x9x7"], ["3x8x8x8", "0x8x8", "1x99999999x99999999"]))
    header = draw(st.sampled_from(["network n", "network n(n: 2)", "network net(c: 4, n: 1)", "network none"]))
    body = draw(network_items())
    tail = draw(st.sampled_from(["", "", "avgpool(global) flatten linear(5)", "stage head { avgpool(global) flatten fc: linear(3) }"]))
    text = f"{imports}{draw(block_definitions())}\n{header} {{\n  input {shape}\n  {body}\n  {tail}\n}}\n"
    if draw(edgy) and draw(st.booleans()):
        text = draw(mutated(text))
    return text


@st.composite
def mutated(draw, text: str) -> str:
    """Delete, duplicate or insert a few characters: syntax errors of every kind."""
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        length = draw(st.integers(1, 8))
        action = draw(st.sampled_from(["delete", "duplicate", "insert"]))
        if action == "delete":
            text = text[:at] + text[at + length:]
        elif action == "duplicate":
            text = text[:at] + text[at:at + length] * 2 + text[at + length:]
        else:
            text = text[:at] + draw(st.sampled_from(list('{}()|:,*#"=.x\x00\ufeff\u202e\n9'))) + text[at:]
    return text


def exercise(text: str, with_torch: bool = True) -> str:
    """Everything a user could do with ``text``: check it; if accepted, analyze, draw and generate
    source, and (``with_torch``) compile, run and compare with the analysis and the generated source.
    Returns "refused" or "accepted"; anything but a ResdslError escaping is a bug, and so is an
    accepted spec whose figures or outputs disagree."""
    import resdsl
    from resdsl.errors import format_report

    try:
        network = resdsl.check(text)
    except resdsl.ResdslError as error:
        assert format_report(error)
        return "refused"
    if isinstance(network, tuple):  # a library of blocks
        return "accepted"
    stats = network.stats(batch=2)
    network.to_dot()
    source = network.to_source()
    code = compile(source, "<generated>", "exec")
    if not with_torch:
        return "accepted"
    import torch

    from resdsl.backends.torch_source import class_name

    torch.manual_seed(0)
    model = network.to_module().eval()
    assert sum(p.numel() for p in model.parameters()) == stats.params
    x = torch.randn(2, *network.input_shape)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the code resdsl generated, which is what is under test
    standalone = namespace[class_name(network.name)]().eval()
    standalone.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        out = model(x)
        assert tuple(out.shape) == (2, *network.output_shape)
        torch.testing.assert_close(standalone(x), out, rtol=0, atol=0, equal_nan=True)
    return "accepted"
