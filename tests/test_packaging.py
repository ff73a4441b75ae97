"""The layout maps into ONE namespace, `ponder`, in a real built wheel."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (path,) = out.glob("ponder-*.whl")
    return path


def test_wheel_installs_only_the_ponder_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"ponder", next(t for t in tops if t.endswith(".dist-info"))}
    # the top-level folders land inside the namespace, prompts as package data
    for expected in ("ponder/agent/loop.py", "ponder/agent/models/base.py",
                     "ponder/tools/base.py", "ponder/tools/stackvm.py",
                     "ponder/prompts/vm_tool.yaml", "ponder/cli/__init__.py"):
        assert expected in names, expected


def test_import_from_installed_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info")) in (
        ["ponder"], ["bin", "ponder"])
    code = ("import ponder, ponder.tools.stackvm, importlib.resources as r;"
            "print(ponder.__file__);"
            "print((r.files('ponder.prompts') / 'vm_tool.yaml').is_file())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split()
    assert first.startswith(str(target)) and second == "True"


def test_import_ponder_is_light():
    """`import ponder` must not drag in llama_cpp, numpy, torch or chromadb."""
    code = ("import sys, ponder; from ponder import tool, Agent;"
            "print(sorted(m for m in ('llama_cpp','numpy','torch','chromadb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_lists_the_spec_commands():
    out = subprocess.run([sys.executable, "-m", "ponder", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("chat", "ask", "run", "eval", "ingest", "retrieve", "search", "vm", "bench"):
        assert f"    {command}" in out.stdout
