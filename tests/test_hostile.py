"""Hostile and careless input: nothing from a spec runs, nothing hangs, nothing lies.

One test (or a few) per class of fault found by an adversarial review: code execution through the
generated source, names that break compilation, output files, imports that read other files,
checkpoints, resource bombs, numbers, ranks, meaningless arguments, shadowed layers, deep nesting,
and the command line's exit codes and streams. Every bound here is one of :mod:`resdsl.limits`.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import resdsl
from conftest import ROOT
from resdsl.cli import main
from resdsl.limits import MAX_DRAWN_NODES, MAX_ECHO_WIDTH, MAX_ERRORS_SHOWN, MAX_NESTING, MAX_SOURCE_BYTES
from resdsl.lower.scope import MODULE_ATTRIBUTES, reserved


def run(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resdsl", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def import_file(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(path.parent))
    sys.modules.pop(path.stem, None)
    try:
        return importlib.import_module(path.stem)
    finally:
        sys.modules.pop(path.stem, None)


TINY = "network n {{ input 3x8x8  {body} }}"


# --- 1. the generated source executes nothing from the spec --------------------------------------

@pytest.mark.parametrize("file_name", ['n""";__import__("os").system("touch INJECTED");"""x.res',
                                       "n'''\\N{x}\\x.res", "n\nimport os\nx.res"])
def test_generated_source_quotes_the_file_name(tmp_path: Path, monkeypatch, file_name: str) -> None:
    spec = write(tmp_path / file_name, TINY.format(body="conv(4) bn relu"))
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(spec), "-o", str(tmp_path / "model.py")]) == 0
    module = import_file(tmp_path / "model.py", monkeypatch)
    assert file_name == module.SPEC
    assert not (tmp_path / "INJECTED").exists()


# --- 2. whatever check accepts compiles, runs and generates importable code ----------------------

NAMES = ["class", "def", "None", "training", "forward", "eval", "cuda", "state_dict", "graph", "code", "meta",
         "self", "__class__", "_modules", "x", "torch", "nn", "F", "SPEC", "input_", "keys", "float", "type"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", ["{name}: conv(4)", "stage {name}: {{ conv(4) }}", "g: {{ {name}: {{ conv(4) }} }}",
                                   "residual(shortcut: project, name: {name}) {{ conv(8) }}"])
def test_names_either_compile_or_are_refused_with_a_reason(tmp_path: Path, monkeypatch, name: str, where: str) -> None:
    torch = pytest.importorskip("torch")
    text = TINY.format(body=where.format(name=name) + " relu")
    try:
        network = resdsl.load(text)
    except resdsl.ResdslError as error:
        assert reserved(name) is not None, f"{name!r} refused: {error}"
        assert reserved(name) in error.message and error.span is not None and error.hint
        return
    assert reserved(name) is None
    model = network.to_module().eval()
    x = torch.randn(2, 3, 8, 8)
    path = write(tmp_path / "generated.py", network.to_source())
    module = import_file(path, monkeypatch)
    theirs = module.N().eval()
    theirs.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), model(x), rtol=0, atol=0)


def test_reserved_names_cover_the_installed_torch() -> None:
    """The torch-free list of module attributes holds every public attribute of the classes a
    compiled module is made of; private ones all start with '_', which is reserved as a whole."""
    torch = pytest.importorskip("torch")
    instances = [torch.nn.Module(), torch.nn.ModuleDict(), torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())]
    public = {name for instance in instances for name in dir(instance) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)
    assert all(reserved(name) for name in ["__init__", "_parameters", "lambda", "yield"])


def test_network_names_that_are_not_class_names() -> None:
    from resdsl.backends.torch_source import class_name

    assert [class_name(n) for n in ("none", "false_", "f", "cifar_resnet20", "_")] == \
        ["NoneNetwork", "FalseNetwork", "FNetwork", "CifarResnet20", "Network"]
    compile(resdsl.load("network none { input 3x8x8 relu }").to_source(), "none.py", "exec")


# --- 3. output files: atomic, no partial file, no planted symlink followed -----------------------

def test_output_into_a_folder_or_an_unwritable_place(tmp_path: Path) -> None:
    (tmp_path / "out.svg").mkdir()
    result = run("render", "examples/resnet18.res", "-o", str(tmp_path / "out.svg"))
    assert result.returncode == 2 and "that is a folder" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "model.py").mkdir()
    result = run("compile", "examples/resnet18.res", "-o", str(tmp_path / "model.py"))
    assert result.returncode == 2 and "that is a folder" in result.stderr
    result = run("compile", "examples/resnet18.res", "-o", str(tmp_path / "missing" / "model.py"))
    assert result.returncode == 2 and "no folder" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "out.svg"]
    assert not any((tmp_path / "out.svg").iterdir()) and not any((tmp_path / "model.py").iterdir())


def test_output_where_writing_is_not_allowed() -> None:
    """/proc takes no new files, not even root's (tests run as root in CI, where modes do not stop it)."""
    result = run("render", "examples/resnet18.res", "-o", "/proc/net.dot")
    assert result.returncode == 2 and "cannot write there" in result.stderr and "Traceback" not in result.stderr


def test_write_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    """A failure after the temporary file exists (here: the final rename) removes it again."""
    from resdsl import output

    def fail(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", fail)
    with pytest.raises(resdsl.errors.UsageError, match="No space left"):
        output.write_file(tmp_path / "net.dot", b"digraph {}")
    assert list(tmp_path.iterdir()) == []


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = write(tmp_path / "victim.txt", "precious")
    for name in (".net.dot.partial", ".net.dot.abcdefgh.partial"):
        (tmp_path / name).symlink_to(victim)
    assert main(["render", "examples/resnet18.res", "-o", str(tmp_path / "net.dot")]) == 0
    assert victim.read_text() == "precious"
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
    assert oct((tmp_path / "net.dot").stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- 4. imports read .res files only, and never echo another file -----------------------------------

@pytest.mark.parametrize("target", ["/proc/self/environ", "../../etc/passwd", "/etc/hostname", "secrets.txt"])
def test_imports_name_res_files_only(tmp_path: Path, target: str) -> None:
    write(tmp_path / "secrets.txt", "API_KEY=hunter2\n")
    spec = write(tmp_path / "n.res", f'import "{target}"\n' + TINY.format(body="relu"))
    result = run("check", str(spec), env={"API_KEY": "hunter2"})
    assert result.returncode == 1 and "imports name .res files" in result.stderr
    assert "hunter2" not in result.stderr and "root:" not in result.stderr


def test_imports_through_symlinks_and_loops(tmp_path: Path) -> None:
    """A .res name that leads elsewhere (a symlink to /etc/passwd, or to /proc/kmsg whose read
    blocks), a symlink loop, or a name too long for the file system: clear errors, nothing echoed."""
    (tmp_path / "passwd.res").symlink_to("/etc/passwd")
    (tmp_path / "kmsg.res").symlink_to("/proc/kmsg")
    (tmp_path / "loop.res").symlink_to(tmp_path / "loop.res")
    for target, match in [("passwd.res", "leads to passwd, not a .res file"), ("kmsg.res", "leads to kmsg"),
                          ("loop.res", "cannot find"), ("a" * 300 + ".res", "cannot find")]:
        spec = write(tmp_path / "n.res", f'import "{target}"\n' + TINY.format(body="relu"))
        result = run("check", str(spec), timeout=60)
        assert result.returncode == 1 and match in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert "root:" not in result.stderr


def test_paths_the_file_system_refuses() -> None:
    long = "a" * 300
    for args in (["check", f"{long}.res"], ["stats", f"/tmp/{long}/x.res"],
                 ["render", "examples/resnet18.res", "-o", f"/tmp/{long}/x.svg"],
                 ["compile", "examples/resnet18.res", "-o", ""], ["render", "examples/resnet18.res", "-o", ""]):
        result = run(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr)


def test_output_that_cannot_be_written_or_no_stdout() -> None:
    full = subprocess.run(["bash", "-c", f"{sys.executable} -m resdsl check examples/resnet18.res > /dev/full"],
                          cwd=ROOT, capture_output=True, text=True)
    assert full.returncode == 2 and "cannot write the output" in full.stderr and "Traceback" not in full.stderr
    closed = subprocess.run(["bash", "-c", f"{sys.executable} -m resdsl check examples/resnet18.res >&-"],
                            cwd=ROOT, capture_output=True, text=True)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr


def test_api_arguments_are_checked() -> None:
    network = resdsl.load(ROOT / "examples/resnet18.res")
    for batch in (0, 1.5, True):
        with pytest.raises(resdsl.errors.UsageError, match="the batch is a whole number"):
            network.stats(batch=batch)
    for limit in (-1, "5", None):
        with pytest.raises(resdsl.errors.UsageError, match="the expansion limit"):
            resdsl.load(ROOT / "examples/resnet18.res", max_nodes=limit)
    for shape in ("3x8x8", 5, (3, 8.5, 8)):
        with pytest.raises(resdsl.errors.UsageError, match="is not CxHxW"):
            network.stats(input_shape=shape)


def test_a_binary_res_file_is_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "blob.res").write_bytes(b"\x00\x01secret\x1b[31m")
    spec = write(tmp_path / "n.res", 'import "blob.res"\n' + TINY.format(body="relu"))
    result = run("check", str(spec))
    assert result.returncode == 1 and "not a text file" in result.stderr and "secret" not in result.stderr


def test_control_characters_are_not_echoed_raw(tmp_path: Path) -> None:
    spec = write(tmp_path / "n.res", "network n { input 3x8x8 relu bnn } # \x1b[2J\u202e evil\n")
    result = run("check", str(spec))
    assert result.returncode == 1 and "\x1b" not in result.stderr and "\u202e" not in result.stderr


# --- 5. load_weights --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cifar():
    pytest.importorskip("torch")
    return resdsl.compile(ROOT / "examples/cifar_resnet20.res")


def test_load_weights_ignore_as_a_string_and_loading_nothing(tmp_path: Path, cifar) -> None:
    import torch

    torch.save(cifar.state_dict(), tmp_path / "w.pth")
    wide = resdsl.compile(ROOT / "examples/cifar_resnet20.res", classes=100)
    resdsl.load_weights(wide, tmp_path / "w.pth", ignore="fc.*")  # one glob, not its characters
    assert torch.equal(wide.state_dict()["conv1.weight"], cifar.state_dict()["conv1.weight"])
    with pytest.raises(resdsl.ResdslError, match=r"nothing to load.*every key is ignored"):
        resdsl.load_weights(wide, tmp_path / "w.pth", ignore=["*"])
    torch.save({}, tmp_path / "empty.pth")
    with pytest.raises(resdsl.ResdslError, match=r"nothing to load.*holds no tensors"):
        resdsl.load_weights(wide, tmp_path / "empty.pth")


def test_load_weights_refuses_broken_and_foreign_files(tmp_path: Path, cifar) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in cifar.state_dict().items()}, str(tmp_path / "w.safetensors"))
    data = (tmp_path / "w.safetensors").read_bytes()
    write(tmp_path / "cut.safetensors", "")
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(os.urandom(512))
    (tmp_path / "junk.pth").write_bytes(os.urandom(512))
    torch.save({"conv1.weight": [1, 2, 3]}, tmp_path / "values.pth")
    torch.save({1: torch.zeros(1)}, tmp_path / "keys.pth")
    for name, match in [("cut.safetensors", "cannot read"), ("junk.safetensors", "cannot read"),
                        ("junk.pth", "cannot read"), ("values.pth", "not a state_dict of named tensors.*list"),
                        ("keys.pth", "not a state_dict of named tensors.*1")]:
        with pytest.raises(resdsl.ResdslError, match=match):
            resdsl.load_weights(cifar, tmp_path / name)


@pytest.mark.parametrize("dtype", ["int8", "bool", "int64"])
def test_load_weights_checks_dtypes(tmp_path: Path, cifar, dtype: str) -> None:
    import torch

    state = dict(cifar.state_dict())
    state["conv1.weight"] = state["conv1.weight"].to(getattr(torch, dtype))
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(resdsl.ResdslError, match=f"wrong dtype \\(1\\): conv1.weight: checkpoint torch.{dtype}"):
        resdsl.load_weights(cifar, tmp_path / "w.pth")
    state["conv1.weight"] = state["conv1.weight"].to(torch.float16)  # any float width loads into float
    torch.save(state, tmp_path / "w.pth")
    resdsl.load_weights(cifar, tmp_path / "w.pth")


# --- 6-10. resource bombs: a clear error, in bounded time and memory ---------------------------------

def test_blocks_that_make_nothing_still_count(tmp_path: Path) -> None:
    spec = "block e { }  block a { e * 100000 }  block b { a * 100000 }\nnetwork n { input 3x8x8  b * 100000 }"
    with pytest.raises(resdsl.ResdslError, match="expands past 100,000 nodes: expanding it takes more than"):
        resdsl.load(spec)
    groups = "block g { " + " ".join(f"x{i}: {{ }}" for i in range(50)) + " }\n"  # steps that make nothing
    with pytest.raises(resdsl.ResdslError, match="steps and block instances"):
        resdsl.load(groups + "network n { input 3x8x8  stage s: g * 100000 }")
    with pytest.raises(resdsl.ResdslError, match="expands past 10 nodes"):
        resdsl.load("network n { input 3x8x8  identity * 5000 }", max_nodes=10)


def test_error_output_is_bounded(tmp_path: Path) -> None:
    many = write(tmp_path / "many.res", TINY.format(body="bnn " * 3000))
    result = run("check", str(many))
    assert result.returncode == 1
    assert result.stderr.count(": error: ") == MAX_ERRORS_SHOWN
    assert result.stderr.endswith("... and 80 more\nerror: too many errors: stopped after 100\n"
                                  "hint: fix the first ones and check again\n100 errors\n"), result.stderr[-300:]
    assert len(result.stderr) < 8_000
    wide = write(tmp_path / "wide.res", TINY.format(body="relu " * 30_000 + "bnn"))
    result = run("check", str(wide))
    assert result.returncode == 1 and "unknown layer or block 'bnn'" in result.stderr
    echoed, caret = result.stderr.splitlines()[1:3]
    assert len(echoed) <= MAX_ECHO_WIDTH + 6 and echoed[caret.index("^"):caret.index("^") + 4] == "bnn "


def test_long_names_and_literals(tmp_path: Path) -> None:
    for body, match in [("a" * 5000, "a name of 5,000 characters"), ("conv(" + "9" * 5000 + ")", "is too large"),
                        ("conv(281474976710657)", "is too large"), ("scale(1e400)", "is too large"),
                        ("scale(factor: 1e300 * 1e300)", "is too large")]:
        with pytest.raises(resdsl.ResdslError, match=match):
            resdsl.load(TINY.format(body=body))
    with pytest.raises(resdsl.ResdslError, match="is too large"):
        resdsl.load("network n { input 3x" + "9" * 5000 + "x8 relu }")
    with pytest.raises(resdsl.ResdslError, match="import path is 2,000 characters"):
        resdsl.load(f'import "{"a" * 1996}.res"\n' + TINY.format(body="relu"))


def test_specs_past_the_size_limit(tmp_path: Path) -> None:
    big = write(tmp_path / "big.res", "block unused {\n" + "relu\n" * 60_000 + "}\n" + TINY.format(body="relu"))
    assert big.stat().st_size > MAX_SOURCE_BYTES
    with pytest.raises(resdsl.ResdslError, match="larger than 262,144 bytes"):
        resdsl.load(big)
    with pytest.raises(resdsl.ResdslError, match="characters; specs are at most"):
        resdsl.load(big.read_text())
    importer = write(tmp_path / "importer.res", 'import "big.res"\n' + TINY.format(body="relu"))
    with pytest.raises(resdsl.ResdslError, match="larger than"):
        resdsl.load(importer)


def test_receptive_field_after_a_large_upsampling() -> None:
    """Pointwise ops are skipped by the trace: 99,000 relus after upsample(1024) cost ~nothing."""
    network = resdsl.load("network n { input 1x1x1 upsample(scale: 1024) relu * 99000 }")
    assert network.stats().receptive_field == 1


def test_render_folds_or_refuses_large_diagrams() -> None:
    from resdsl.backends.graphviz import render

    staged = resdsl.load("block b { conv(3) relu }\nnetwork n { input 3x8x8 " +
                         " ".join(f"stage s{i}: b * 200" for i in range(3)) + " }")
    assert len(staged.graph) > 1000
    svg = render(staged.graph, "svg")  # the default folds runs of blocks: 3 nodes and the input
    assert svg.count(b'class="node"') == 4
    chain = resdsl.load(TINY.format(body="relu * 1200"))
    with pytest.raises(resdsl.errors.UsageError, match=f"Graphviz lays out at most {MAX_DRAWN_NODES:,}"):
        render(chain.graph, "svg")
    with pytest.raises(resdsl.errors.UsageError, match="--collapse blocks or --collapse stages"):
        render(staged.graph, "svg", collapse="none")
    assert render(chain.graph, "dot").count(b" -> ") == 1200  # DOT text is not laid out: no limit


# --- 11-15. wrong answers -----------------------------------------------------------------------

def test_derived_sizes_are_bounded() -> None:
    with pytest.raises(resdsl.ResdslError, match=r"would have 2.53e\+15 parameters"):
        resdsl.load(TINY.format(body="conv(2**24) conv(2**24)".replace("2**24", str(2**24))))
    with pytest.raises(resdsl.ResdslError, match="elements per sample"):
        resdsl.load(TINY.format(body=f"upsample({2**23}) upsample({2**23})"))


def test_overrides_that_are_not_values() -> None:
    for value in (float("nan"), float("inf"), 2**60, "five"):
        with pytest.raises(resdsl.errors.UsageError, match="is not a value a spec can take"):
            resdsl.load(ROOT / "examples/resnet18.res", classes=value)


def test_zeropad_needs_a_feature_map() -> None:
    with pytest.raises(resdsl.ResdslError, match="zeropad needs a CxHxW input"):
        resdsl.load(TINY.format(body="avgpool(global) flatten zeropad(8)"))


@pytest.mark.parametrize("argument", ["stride: 2", "padding: 0", "ceil: true", "count_pad: false"])
def test_global_pooling_takes_no_window_arguments(argument: str) -> None:
    with pytest.raises(resdsl.ResdslError, match="avgpool\\(global\\) takes no"):
        resdsl.load(TINY.format(body=f"avgpool(global, {argument})"))
    with pytest.raises(resdsl.ResdslError, match=r"avgpool\(to: \.\.\.\) takes no"):
        resdsl.load(TINY.format(body=f"avgpool(to: 2, {argument})"))


def test_a_block_cannot_shadow_a_layer() -> None:
    for text in ["block relu { conv(4) }\n" + TINY.format(body="relu"),
                 "network n { input 3x8x8  block bn { conv(4) }  bn }"]:
        with pytest.raises(resdsl.ResdslError, match="has the name of a built-in layer"):
            resdsl.load(text)


def test_deep_nesting_compiles_flat(tmp_path: Path, monkeypatch) -> None:
    def nested(depth: int) -> str:
        return TINY.format(body="conv(4) " + "g: { " * depth + "relu conv(4)" + " }" * depth)

    with pytest.raises(resdsl.ResdslError, match=f"modules nest more than {MAX_NESTING} deep"):
        resdsl.load(nested(100))
    network = resdsl.load(nested(MAX_NESTING - 1))
    path = write(tmp_path / "deep.py", network.to_source())
    module = import_file(path, monkeypatch)
    torch = pytest.importorskip("torch")
    theirs = module.N().eval()
    ours = network.to_module().eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)


# --- 16. exit codes and streams -----------------------------------------------------------------

def test_a_failing_check_fails_even_when_its_reader_stops_early() -> None:
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m resdsl check tests/bad/multiple_errors.res 2>&1 "
                             "| head -1; exit ${PIPESTATUS[0]}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout.count("\n") == 1, result
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m resdsl stats examples/resnet152.res --by layer "
                             "| head -1; exit ${PIPESTATUS[0]}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result


def test_check_goes_on_past_a_missing_file() -> None:
    result = run("check", "examples/resnet18.res", "missing.res", "tests/bad/unknown_layer.res", "examples/resnet50.res")
    assert result.returncode == 2
    assert result.stdout.count(" ok: ") == 2 and "no such file: missing.res" in result.stderr
    assert "unknown layer or block 'batchnorm'" in result.stderr


@pytest.mark.parametrize("args", [["--set", "unknown=1"], ["--set", "classes=five"], ["--set", "classes=nan"],
                                  ["--max-nodes", "0"], ["--input", "1x3x8x8"], ["--input", "3x0x8"],
                                  ["--batch", "-1"], ["--set", "classes=1_000"], ["--input", "３x8x8"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run("stats", "examples/resnet18.res", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "resnet18.res:" not in result.stderr  # a flag is at fault, not a line of the spec


def test_a_folder_is_not_a_spec() -> None:
    result = run("stats", "examples")
    assert result.returncode == 2 and "examples is a folder, not a spec" in result.stderr


def test_ascii_terminals() -> None:
    result = run("stats", "examples/resnet18.res", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and "3x224x224 ? 1000" in result.stdout
    result = run("check", "tests/bad/multiple_errors.res", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_byte_order_mark(tmp_path: Path) -> None:
    spec = tmp_path / "bom.res"
    spec.write_bytes("\ufeff# a comment\n".encode() + TINY.format(body="conv(4)").encode())
    assert resdsl.load(spec).output_shape == (4, 8, 8)
    assert resdsl.load(spec.read_text(encoding="utf-8")).output_shape == (4, 8, 8)
