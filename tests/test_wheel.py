"""The wheel carries the grammar, the standard library and the model zoo: build it, install it apart, check an
example, and run the zoo by name from a folder that has no examples/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import EXAMPLES, ROOT


def test_wheel_installs_and_checks_from_outside(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True)
    wheel = next((tmp_path / "dist").glob("resdsl-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("resdsl/examples/")}
    assert shipped == {f"resdsl/examples/{path.name}" for path in EXAMPLES}  # the specs only, no diagrams
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
    zoo = subprocess.run([sys.executable, "-c", "import sys; from resdsl import cli, zoo; print(zoo.folder()); "
                          "sys.exit(cli.main(['stats', 'resnet50']) or cli.main(['list']))"],
                         cwd=work, env=env, capture_output=True, text=True)
    assert zoo.returncode == 0, zoo.stderr
    folder, *table = zoo.stdout.splitlines()
    assert folder == str(tmp_path / "site" / "resdsl" / "examples")
    assert table[0] == "resnet50: 3x224x224 → 1000, batch 1"
    assert any(line.startswith("total    25.56M") for line in table)
    assert sum(line.startswith("resnet") for line in table) >= 7  # list: resnet18 ... resnetv2_50
