"""The wheel carries the grammar and the standard library: build it, install it apart, check an example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_wheel_installs_and_checks_from_outside(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True)
    wheel = next((tmp_path / "dist").glob("resdsl-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True)
    assert (tmp_path / "site" / "resdsl" / "grammars" / "resdsl.lark").is_file()
    assert (tmp_path / "site" / "resdsl" / "stdlib" / "std.res").is_file()
    assert (tmp_path / "site" / "resdsl" / "backends" / "torch_runtime.py").is_file()  # generated source copies it
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "resnet34.res", work)  # imports std: exercises the shipped library
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([sys.executable, "-c", "import resdsl, sys; print(resdsl.__file__); "
                             "sys.exit(__import__('resdsl.cli').cli.main(['check', 'resnet34.res']))"],
                            cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(tmp_path / "site"))
    assert "resnet34 ok" in result.stdout
