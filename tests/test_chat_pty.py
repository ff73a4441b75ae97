"""``ponder chat`` driven as a person would: the real command in a pseudo-terminal.

The first test runs on the embedded SmolLM2 (help -> a task -> /plan ->
/feedback -> /quit), kept short with ``--introspect off --max-steps 1``. The
others use the scripted testing hook (``--model scripted:PATH``) where the
real model is not the point: Ctrl-C stopping a run, and sessions surviving.
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

PONDER = str(Path(sys.executable).with_name("ponder"))
PROMPT = "ponder>"  # prompt_toolkit draws the trailing space as a cursor move
STATS = r"\d+ tokens \(\d+ evaluated, \d+ generated\), [\d.]+ s"


def spawn(args: list[str], home: Path, timeout: float = 60):
    env = {**os.environ, "PONDER_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm",
           "COLUMNS": "160", "LINES": "50"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(PONDER, ["chat", *args], env=env, encoding="utf-8", timeout=timeout,
                          dimensions=(50, 160))
    return child


def send(child, text: str) -> None:
    child.send(text + "\r")


def turns(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "sessions.db") as db:
        return db.execute("SELECT kind, input FROM turns ORDER BY id").fetchall()


@pytest.mark.slow
def test_chat_on_the_embedded_model(tmp_path):
    home = tmp_path / "home"
    # --max-tokens 1: each run makes ONE model call (the plan; the lesson for /feedback), then
    # ends on its budget: the embedded model takes about a minute a call on 2 busy cores.
    child = spawn(["--tools", "vm", "--introspect", "off", "--max-tokens", "1"], home, timeout=900)
    try:
        child.expect("ponder chat: model")
        child.expect_exact(PROMPT)
        send(child, "/help")
        child.expect_exact("/feedback TEXT")
        child.expect_exact(PROMPT)
        send(child, "What is 12 plus 30?")
        child.expect("plan: ")  # the plan appears while the run goes on
        child.expect(STATS)  # the run ended: tokens and seconds
        child.expect_exact(PROMPT)
        send(child, "/plan")
        child.expect(r"\[[ x]\] 1\. ")
        child.expect_exact(PROMPT)
        send(child, "/feedback The answer must be a number computed on the vm.")
        child.expect("lesson")
        child.expect(STATS)
        child.expect_exact(PROMPT)
        send(child, "/quit")
        child.expect("bye")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert turns(home) == [("task", "What is 12 plus 30?"),
                           ("feedback", "The answer must be a number computed on the vm.")]
    assert "/plan" in (home / "history").read_text()


@pytest.fixture
def slow_script(tmp_path):
    path = tmp_path / "auto.json"
    path.write_text(json.dumps({"answers": {"France": "Paris"}, "default": "no idea", "delay": 0.4}))
    return f"scripted:{path}"


def test_ctrl_c_stops_the_run_and_keeps_the_session(tmp_path, slow_script):
    home = tmp_path / "home"
    child = spawn(["--model", slow_script, "--tools", "vm"], home)
    try:
        child.expect_exact(PROMPT)
        send(child, "What is the capital of France?")
        child.expect("plan: ")
        child.sendintr()  # Ctrl-C during the run
        child.expect_exact("(stopped: the session goes on)")
        child.expect_exact(PROMPT)
        send(child, "/trace")
        child.expect("final .*interrupted")
        child.expect_exact(PROMPT)
        send(child, "Capital of France, again?")
        child.expect(STATS)
        child.expect_exact(PROMPT)
        child.sendeof()  # Ctrl-D quits
        child.expect("bye")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert [k for k, _ in turns(home)] == ["task", "task"]


def test_piped_input_and_continue(tmp_path, slow_script):
    """No terminal: plain input(); --continue appends to the last session."""
    import subprocess

    home = tmp_path / "home"
    env = {**os.environ, "PONDER_HOME": str(home)}
    script = "What is the capital of France?\n/feedback wrong\n/save {}\n/quit\n".format(tmp_path / "s.json")
    p = subprocess.run([PONDER, "chat", "--model", slow_script, "--tools", "vm"],
                       input=script, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "answer: Paris" in p.stdout and "lesson" in p.stdout and "\x1b[" not in p.stdout
    saved = json.loads((tmp_path / "s.json").read_text())
    assert [t["kind"] for t in saved["turns"]] == ["task", "feedback"]
    assert any(e["type"] == "lesson" for e in saved["turns"][1]["events"])
    p = subprocess.run([PONDER, "chat", "--continue", "--model", slow_script, "--tools", "vm"],
                       input="/quit\n", capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and "continued, 1 lesson(s)" in p.stdout


def test_a_crash_loses_no_finished_turn(tmp_path):
    """SIGKILL the REPL during its second task: the first turn is in the database."""
    import signal
    import subprocess
    import time

    spec = tmp_path / "auto.json"
    spec.write_text(json.dumps({"answers": {"France": "Paris"}, "default": "no idea", "delay": 0.5}))
    home = tmp_path / "home"
    p = subprocess.Popen([PONDER, "chat", "--model", f"scripted:{spec}", "--tools", "vm"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PONDER_HOME": str(home)})
    try:
        p.stdin.write("What is the capital of France?\nAnd of Spain?\n")
        p.stdin.flush()
        seen = ""
        while "tokens" not in seen:  # the first turn has ended
            seen += p.stdout.readline()
        time.sleep(0.7)  # the second turn is under way
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(timeout=30)
    assert turns(home) == [("task", "What is the capital of France?")]
