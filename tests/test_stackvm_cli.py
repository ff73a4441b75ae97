"""`ponder vm` (spec: stackvm.md "Command line") and the agent's vm tool."""
import json
import subprocess
import sys

import pytest

from ponder.cli import main
from ponder.tools import Tool, resolve_tools
from ponder.tools.stackvm import VMTool


def vm(capsys, *argv):
    code = main(["vm", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plain_prints_output_lines_then_the_stack(capsys):
    assert vm(capsys, '"hi" print 1 2 3 div') == (0, "hi\n1\n2/3\n", "")
    assert vm(capsys, "3", "4", "add") == (0, "7\n", "")  # words are joined
    assert vm(capsys, "-5\n-2\nsub") == (0, "-3\n", "")  # not an option, though it starts with -


def test_json_shape_is_exactly_the_spec(capsys):
    code, out, _ = vm(capsys, "--json", "13 4 div print 5 -1 8 div")
    assert code == 0
    assert json.loads(out) == {"stack": ["5", "-0.125"], "output": ["3.25"], "steps": 8, "error": None}
    code, out, _ = vm(capsys, "--json", "push 1\nsub")
    assert code == 1
    assert json.loads(out) == {"stack": ["1"], "output": [], "steps": 1, "error": {
        "type": "StackUnderflow", "message": "sub needs 2 values, the stack has 1 (line 2)",
        "line": 2, "instruction": "sub", "stack": ["1"]}}
    assert out.count("\n") == 1  # one JSON object on one line


def test_program_error_exits_1_and_is_printed(capsys):
    code, out, err = vm(capsys, "1 print 5 0 div")
    assert (code, out) == (1, "1\n5\n0\n")
    assert err == "error: DivisionByZero: div needs a nonzero divisor, found 0 (line 1)\n"
    code, out, _ = vm(capsys, "--json", "foo\njmp x")
    d = json.loads(out)
    assert code == 1 and d["error"]["type"] == "UnknownInstruction" and d["steps"] == 0


def test_file_and_stdin(capsys, tmp_path, monkeypatch):
    f = tmp_path / "p.vm"
    f.write_text("# squares\n3 dup mul\n")
    assert vm(capsys, "-f", str(f)) == (0, "9\n", "")
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("2 10 pow"))
    assert vm(capsys, "-") == (0, "1024\n", "")


@pytest.mark.parametrize("argv", [[], ["-f", "/no/such/file.vm"], ["-f", "x", "1 2"], ["--bogus"]])
def test_bad_usage_exits_2_with_one_line(capsys, argv):
    code, out, err = vm(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("ponder: error:")


def test_trace_option(capsys):
    code, out, _ = vm(capsys, "--trace", "5 2 sub")
    assert code == 0
    assert out.splitlines() == ["step 1  line 1  push 5  -> [5]", "step 2  line 1  push 2  -> [5, 2]",
                                "step 3  line 1  sub  -> [3]", "3"]
    code, out, _ = vm(capsys, "--json", "--trace", "5 2 sub")
    d = json.loads(out)
    assert d["stack"] == ["3"] and d["trace"][2] == {"step": 3, "line": 1, "instruction": "sub",
                                                     "stack": ["3"], "depth": 1}


def test_real_command_exit_codes():
    exe = [sys.executable, "-m", "ponder"]
    r = subprocess.run([*exe, "vm", "--json", "-5 -2 sub"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["stack"] == ["-3"]
    r = subprocess.run([*exe, "vm", "x: jmp x"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "StepLimitExceeded" in r.stderr
    r = subprocess.run([*exe, "vm"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- tool

def test_tool_protocol_schema_and_description():
    t = VMTool()
    assert isinstance(t, Tool) and t.name == "vm"
    assert t.parameters == {"type": "object", "properties": {
        "program": {"type": "string", "maxLength": 1200}, "trace": {"type": "boolean"}},
        "required": ["program"], "additionalProperties": False}
    assert "a b sub" in t.description and "1234 5678 mul" in t.description
    assert len(t.description) < 1500
    assert [x.name for x in resolve_tools(["vm"])] == ["vm"]


def test_tool_observations():
    t = VMTool()
    assert t(program="1234 5678 mul") == "stack: [7006652]  (3 steps)"
    assert t(program='"total" print 1 3 div') == 'output: total\nstack: [1/3]  (5 steps)'
    obs = t(program="5\n2 swap sub")
    assert obs == "stack: [-3]  (4 steps)"
    obs = t(program="1 sub")
    assert obs.splitlines() == ["error StackUnderflow: sub needs 2 values, the stack has 1 (line 1)",
                                "stack at the error: [1]",
                                "(run again with trace=true to see the stack after each step)"]
    obs = t(program="5 2 swap sub", trace=True)
    assert "step 3  line 1  swap  -> [2, 5]" in obs and obs.startswith("stack: [-3]")
    assert 'stack: ["a b"]' in t(program='"a b"')


def test_tool_output_stays_bounded():
    t = VMTool()
    assert len(t(program="l: 1 jmp l")) < 3000
    assert len(t(program="1 l: dup 1 add dup print jmp l", trace=True)) < 6000
    assert len(t(program="7 11000 pow dup")) < 3000
    assert "problems found before running" in t(program="foo bar baz")
