"""Bad input anywhere: exit status 2, ONE line on stderr that says what is wrong
(and how to fix it), no traceback. Runs the real ``ponder`` executable."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PONDER = str(Path(sys.executable).with_name("ponder"))


def ponder(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PONDER, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "bad.yaml").write_text("- question: fine\n- id: broken\n  tools: [vm]\n")
    (d / "bad.jsonl").write_text('{"question": "fine"}\n{"question": "oops",\n')
    (d / "tool.yaml").write_text("- question: fine\n  tools: [calculator]\n")
    (d / "good.yaml").write_text("- question: fine\n")
    return d


CASES = {
    "missing task file": (["run", "nope.yaml"], ["nope.yaml", "does not exist"]),
    "missing task file (eval)": (["eval", "nope.jsonl", "--json"], ["nope.jsonl", "does not exist"]),
    "malformed YAML task": (["run", "bad.yaml"], ["bad.yaml", "task 2 (id 'broken')", "'question' is required"]),
    "malformed JSONL line": (["eval", "bad.jsonl"], ["bad.jsonl", "line 2", "not valid JSON"]),
    "unknown tool in --tools": (["ask", "hi", "--tools", "vm,calculator"], ["unknown tool 'calculator'", "choose from"]),
    "unknown tool in a task file": (["run", "tool.yaml"], ["task 1", "unknown tool 'calculator'"]),
    "bad --k": (["retrieve", "x", "--k", "0"], []),
    "missing model file": (["ask", "hi", "--tools", "vm", "--model", "missing/model.gguf"], ["missing/model.gguf"]),
    "missing model file (chat)": (["chat", "--tools", "vm", "--model", "nothere.gguf"], ["nothere.gguf"]),
    "unknown command": (["frobnicate"], ["frobnicate"]),
    "unknown option": (["ask", "hi", "--frobnicate"], ["--frobnicate"]),
    "bad --workers": (["run", "good.yaml", "--workers", "0"], ["--workers", "positive whole number"]),
    "--resume without --out": (["run", "good.yaml", "--resume"], ["--resume needs --out"]),
    "bad --introspect": (["ask", "hi", "--introspect", "sometimes"], ["--introspect"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line(name, files):
    args, needles = CASES[name]
    p = ponder(*args, cwd=files)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("ponder")
    for needle in needles:
        assert needle in lines[0]
    assert p.stdout == ""
