"""A notebook run by a real Jupyter kernel (nbclient, ipykernel): ``net.stats()`` shows an HTML table,
``net`` and ``net.diagram(...)`` an SVG diagram, ``repr`` one line, ``print`` the ``resdsl stats`` table."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

import resdsl
from conftest import ROOT
from resdsl.backends.table import human

SVG = "{http://www.w3.org/2000/svg}"


def kernel(tmp_path: Path) -> KernelManager:
    """A kernel of this very interpreter, whatever kernel specs the machine has installed."""
    spec = tmp_path / "kernels" / "resdsl-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "resdsl test", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)], allowed_kernelspecs={"resdsl-test"})
    return KernelManager(kernel_name="resdsl-test", kernel_spec_manager=specs)


def outputs(cell: nbformat.NotebookNode, output_type: str) -> list[nbformat.NotebookNode]:
    return [output for output in cell.outputs if output.output_type == output_type]


def svg_of(cell: nbformat.NotebookNode) -> ET.Element:
    (result,) = outputs(cell, "execute_result")
    return ET.fromstring(result.data["image/svg+xml"])


def test_notebook_shows_the_stats_table_and_the_diagram(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "resnet18.res"
    sources = [
        # the checkout under test, wherever the kernel starts and whatever resdsl is installed
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport resdsl\nprint(sys.executable)\nprint(resdsl.__file__)",
        f"net = resdsl.load({str(spec)!r})\nstats = net.stats()\nstats",
        "net",
        "net.diagram(collapse='stages')",
        "print(stats)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(notebook, km=kernel(tmp_path), timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    setup, table, network, stages, printed = notebook.cells

    executable, module = outputs(setup, "stream")[0].text.split()
    assert Path(executable) == Path(sys.executable)
    assert Path(module).is_relative_to(ROOT / "resdsl")

    net = resdsl.load(spec)
    stats = net.stats()
    (result,) = outputs(table, "execute_result")
    html, text = result.data["text/html"], result.data["text/plain"]
    assert "<table>" in html and html.count("<tr") == len(stats.stages) + 2 + 6  # header, total, summary lines
    assert f'title="{stats.params:,}">{escape(human(stats.params))}</th>' in html  # the total's params, 11.69M
    assert all(f">{escape(row.name)}</td>" in html for row in stats.stages)
    assert text == repr(stats) == "Stats(resnet18: 11.69M params, 1.82G MACs, 3x224x224 → 1000, batch 1)"

    drawn = svg_of(network)  # the default diagram: every layer
    assert sum(1 for g in drawn.iter(f"{SVG}g") if g.get("class") == "node") == len(net.graph)
    folded = svg_of(stages)
    labels = {t.text for g in folded.iter(f"{SVG}g") if g.get("class") == "node" for t in g.iter(f"{SVG}text")}
    assert {"layer1", "layer4", "head"} <= labels and len(labels) < len(net.graph)

    assert outputs(printed, "stream")[0].text == stats.table() + "\n"


def test_stats_display_escapes_every_name() -> None:
    """Names come from specs, which may be hostile: the HTML escapes them (and everything else)."""
    from dataclasses import replace
    from html.parser import HTMLParser

    stats = resdsl.load(ROOT / "examples" / "cifar_resnet20.res").stats()
    hostile = '<script>alert("x")</script>&'
    evil = replace(stats, name=hostile, stages=[replace(row, name=hostile + row.name) for row in stats.stages],
                   outputs={hostile: stats.output_shape})
    html = evil.to_html()
    assert "<script>" not in html and escape(hostile) in html

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.text: list[str] = []

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    cells = Cells()
    cells.feed(html)
    assert [hostile + row.name for row in stats.stages] == [t for t in cells.text if t.startswith(hostile)][1:]


def test_stats_table_api() -> None:
    stats = resdsl.load(ROOT / "examples" / "resnet50.res").stats(batch=2)
    assert str(stats) == stats.table() and stats.table().splitlines()[0] == "resnet50: 3x224x224 → 1000, batch 2"
    lines = stats.table(by="block", exact=True).splitlines()
    assert lines[2].split()[:2] == ["block", "params"]
    rows = lines[4:4 + len(stats.blocks)]
    assert [line.split()[:2] for line in rows] == [[row.name, f"{row.params:,}"] for row in stats.blocks]
    assert lines[5 + len(stats.blocks)].split()[:2] == ["total", f"{stats.params:,}"]  # under a rule
    assert f"<td style=\"text-align: right\">{stats.blocks[1].params:,}</td>" in stats.to_html(by="block", exact=True)
    assert repr(stats) == "Stats(resnet50: 25.56M params, 8.22G MACs, 3x224x224 → 1000, batch 2)"
    assert len(repr(resdsl.load(ROOT / "examples" / "fpn_resnet50.res").stats())) < 100  # → 5 outputs
    try:
        stats.table(by="stages")
    except resdsl.ResdslError as error:
        assert error.message == "by='stages': rows go by one of stage, block, layer"
    else:
        raise AssertionError("an unknown kind of row is an error")
