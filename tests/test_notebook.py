"""Jupyter: a notebook that loads a spec shows its stats as an HTML table and its diagram as SVG.

The notebook runs in a real kernel (nbclient, ipykernel) started from this interpreter, with the
repository first on its path, so it tests this checkout whatever is installed."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import resdsl
from conftest import ROOT
from resdsl.backends.table import human

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec running this interpreter, found first on JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / "resdsl-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "resdsl test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "resdsl-test"


def execute(cells: list[str], kernel: str, cwd: Path) -> list[list[dict]]:
    """Run code cells in a fresh kernel; each cell's outputs."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(notebook, timeout=120, startup_timeout=120, kernel_name=kernel,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return [cell.outputs for cell in notebook.cells]


def result(outputs: list[dict]) -> dict[str, str]:
    (shown,) = [output for output in outputs if output["output_type"] == "execute_result"]
    return shown["data"]


def test_notebook_shows_the_stats_table_and_the_diagram(kernel: str, tmp_path: Path) -> None:
    path = ROOT / "examples" / "resnet50.res"
    outputs = execute([
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\nimport resdsl\nnet = resdsl.load({str(path)!r})",
        "net.stats()",
        "net.diagram(collapse='blocks')",
        "net",
    ], kernel, tmp_path)
    assert not any(output["output_type"] == "error" for cell in outputs for output in cell)
    stats = resdsl.load(path).stats()

    table = result(outputs[1])
    assert table["text/plain"] == repr(stats) == f"Stats(resnet50: {human(stats.params)} params, " \
                                                 f"{human(stats.macs)} MACs, 3x224x224 → 1000)"
    html = table["text/html"]
    assert "<table>" in html and "</table>" in html
    assert f'title="{stats.params:,}">{human(stats.params)}</th>' in html  # the total, exact on hover
    assert all(f"<td style=\"text-align:left\">{row.name}</td>" in html for row in stats.stages)
    assert "receptive field" in html and f"{stats.receptive_field} px" in html

    blocks = ET.fromstring(result(outputs[2])["image/svg+xml"])
    texts = {text.text for text in blocks.iter(f"{SVG}text")}
    assert "bottleneck(256) ×5" in texts and "layer3.1 – layer3.5" in texts
    expanded = ET.fromstring(result(outputs[3])["image/svg+xml"])
    nodes = sum(1 for group in expanded.iter(f"{SVG}g") if group.get("class") == "node")
    assert nodes == len(resdsl.load(path).graph)


def test_stats_repr_is_one_line_and_str_is_the_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    net = resdsl.load(ROOT / "examples" / "fpn_resnet50.res")
    stats = net.stats(batch=2)
    outputs = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in stats.outputs.items())
    assert repr(stats) == f"Stats(fpn_resnet50: {human(stats.params)} params, {human(stats.macs)} MACs, " \
                          f"3x224x224 → {outputs}, batch 2)"
    from resdsl.cli import main

    assert main(["stats", "examples/fpn_resnet50.res", "--batch", "2", "--by", "block"]) == 0
    assert capsys.readouterr().out == stats.table("block") + "\n"
    assert str(stats) == stats.table()
    with pytest.raises(ValueError, match="stage"):
        stats.table("row")


def test_stats_html_escapes_names() -> None:
    hostile = '<script>alert("x")</script>'
    stats = resdsl.load("network n { input 3x8x8 stage s { conv(4) bn relu } }").stats()
    stats = type(stats)(**{**stats.__dict__, "name": hostile,
                           "stages": [type(row)(**{**row.__dict__, "name": hostile}) for row in stats.stages]})
    html = stats.to_html(exact=True)
    assert "<script>" not in html and html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 2
    assert html.count("<tr>") == 1 + len(stats.stages) + 1 + 6  # header, rows, total, summary lines
    assert " title=" not in html  # exact figures: no tooltip repeats them


def test_format_table_is_public() -> None:
    assert resdsl.format_table(["a", "n"], [["x", 1], ["yy", 22]]) == "a    n\n--  --\nx    1\nyy  22"
    assert resdsl.format_table(["a", "b"], [["x", "y"]], "><") == "a  b\n-  -\nx  y"
    with pytest.raises(ValueError):
        resdsl.format_table(["a", "b"], [["x"]])


def test_diagram_without_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diagram = resdsl.load(ROOT / "examples" / "resnet18.res").diagram(collapse="stages", direction="LR")
    assert "rankdir=LR" in diagram.dot and diagram.dot.count(" [label=") == 1 + 6
    assert diagram.render("png", dpi=50)[:4] == b"\x89PNG"
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert diagram._repr_svg_() is None  # a notebook shows the text instead
    assert repr(diagram).startswith("<Diagram of resnet18 (7 nodes)")
    with pytest.raises(resdsl.ResdslError, match="not installed"):
        diagram.save(tmp_path / "net.svg")
    assert diagram.save(tmp_path / "net.dot").read_text() == diagram.dot
