"""The set-up: .ci/setup's two modes, the pins each installs, and the test session's one torch thread."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def _names(requirements: str) -> set[str]:
    """The package names a requirements file lists, its includes left out."""
    lines = (line.split("#")[0].strip() for line in (ROOT / "tests" / requirements).read_text().splitlines())
    return {re.split(r"[=<>!~\[ ]", line)[0].lower() for line in lines if line and not line.startswith("-")}


def test_analysis_installs_what_resdsl_needs_and_no_torch() -> None:
    """`bash .ci/setup analysis`: resdsl's runtime dependencies, pinned, and the editable-install backend."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[=<>!~\[ ]", dependency)[0].lower() for dependency in project["dependencies"]}
    assert _names("requirements-analysis.txt") == runtime | {"hatchling", "editables"}
    assert not {"torch", "torchvision", "fvcore"} & _names("requirements-analysis.txt")
    full = (ROOT / "tests" / "requirements.txt").read_text().splitlines()
    assert "-r requirements-analysis.txt" in full  # everything includes the analysis set
    assert {"torch", "pytest", "mypy", "ruff"} <= _names("requirements.txt")


def test_setup_refuses_an_unknown_mode_before_touching_anything() -> None:
    result = subprocess.run(["bash", str(ROOT / ".ci" / "setup"), "analyse"], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (2, "usage: bash .ci/setup [analysis]\n")
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "setup")]).returncode == 0


def test_the_test_session_runs_torch_on_one_thread() -> None:
    """conftest.py sets OMP_NUM_THREADS=1 (unless the environment chose) before torch is imported, so
    this process and the ones tests start use one intra-op thread."""
    import torch

    threads = os.environ["OMP_NUM_THREADS"]
    assert torch.get_num_threads() == int(threads)
    child = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == threads
