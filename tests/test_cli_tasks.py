"""ponder ask / run / eval through the real CLI entry point, on scripted models
(``--model scripted:PATH``, the CLI's testing hook): the whole agent loop runs,
only the model is scripted."""
from __future__ import annotations

import json

import pytest

from ponder.cli import main

RESULT_KEYS = {"id", "question", "answer", "ok", "steps", "prompt_tokens", "completion_tokens",
               "seconds", "error"}
SUMMARY_KEYS = {"total", "correct", "accuracy", "mean_steps", "prompt_tokens", "completion_tokens",
                "seconds", "format_failures"}


@pytest.fixture
def auto(tmp_path):
    path = tmp_path / "auto.json"
    path.write_text(json.dumps({
        "answers": {"48271": "The product is 481,406,683.", "capital of France": "Paris",
                    "capital of Italy": "Milan", "boom": {"error": "backend exploded"}},
        "default": "no idea"}))
    return f"scripted:{path}"


@pytest.fixture
def tasks(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "- id: mul\n  question: What is 48271 multiplied by 9973?\n  expected: 481406683\n  tools: [vm]\n"
        "- question: What is the capital of France?\n  expected: paris\n  max_steps: 3\n"
        "- id: italy\n  question: What is the capital of Italy?\n  expected: [Rome]\n"
        "- id: open\n  question: Say something about the capital of France.\n")
    return path


def test_ask_prints_the_answer(auto, capsys):
    assert main(["ask", "What is 48271 * 9973?", "--model", auto, "--tools", "vm"]) == 0
    assert capsys.readouterr().out.strip() == "The product is 481,406,683."


def test_ask_json(auto, capsys, tmp_path):
    trace = tmp_path / "trace.jsonl"
    assert main(["ask", "What is 48271 * 9973?", "--model", auto, "--tools", "vm", "--json",
                 "--trace", str(trace)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"answer", "steps", "tokens", "seconds", "trace", "ok", "stop_reason"} <= set(d)
    assert d["answer"] == "The product is 481,406,683."
    # the auto model answers without running the vm: a number no observation holds is
    # not verified, so the run is not ok (the answer is still printed)
    checks = [e for e in d["trace"] if e["type"] == "verification"]
    assert d["ok"] is False and checks and checks[0]["checked_by"] == "evidence"
    assert d["tokens"] == d["prompt_tokens"] + d["completion_tokens"] > 0
    types = [e["type"] for e in d["trace"]]
    assert types[0] == "task" and "plan" in types and "answer" in types and types[-1] == "final"
    written = [json.loads(line)["type"] for line in trace.read_text().splitlines()]
    assert written == types


def test_ask_failure_exits_1(auto, capsys):
    assert main(["ask", "boom", "--model", auto, "--tools", "vm"]) == 1
    err = capsys.readouterr().err
    assert "the task failed" in err and "Traceback" not in err


def test_run_writes_result_lines(auto, tasks, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["run", str(tasks), "--model", auto, "--out", str(out), "--tools", "vm"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["id"] for d in lines] == ["mul", "2", "italy", "open"]
    for d in lines:
        assert RESULT_KEYS <= set(d)
        assert d["error"] is None and d["prompt_tokens"] > 0
    assert [d["ok"] for d in lines] == [True, True, False, None]
    assert lines[1]["question"] == "What is the capital of France?"


def test_run_to_stdout(auto, tasks, capsys):
    assert main(["run", str(tasks), "--model", auto, "--tools", "vm"]) == 0
    ids = [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()]
    assert ids == ["mul", "2", "italy", "open"]


def test_eval_json_and_table(auto, tasks, capsys):
    assert main(["eval", str(tasks), "--model", auto, "--tools", "vm", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    s = d["summary"]
    assert SUMMARY_KEYS <= set(s)
    assert (s["total"], s["correct"], s["format_failures"]) == (4, 2, 0)
    assert s["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert s["mean_steps"] == 0 and s["prompt_tokens"] == sum(r["prompt_tokens"] for r in d["results"])
    assert len(d["results"]) == 4
    assert main(["eval", str(tasks), "--model", auto, "--tools", "vm"]) == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "66.7%" in table and "mean steps" in table


def test_a_failing_task_does_not_stop_the_run(auto, tmp_path, capsys):
    t = tmp_path / "t.jsonl"
    t.write_text('{"question": "boom"}\n{"question": "What is the capital of France?", "expected": "Paris"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["run", str(t), "--model", auto, "--out", str(out), "--tools", "vm"]) == 1
    a, b = [json.loads(x) for x in out.read_text().splitlines()]
    assert a["id"] == "1" and a["error"] and a["answer"] is None
    assert b["id"] == "2" and b["ok"] is True and b["error"] is None


def test_workers_on_an_in_process_model_run_one_at_a_time(tmp_path, tasks, capsys):
    # a list-mode ScriptedModel is stateful, like one llama.cpp context: not concurrent
    per_task = [{"goal": "g", "steps": [{"do": "answer", "tool": "answer"}]},
                {"issues": [], "verdict": "accept"},
                {"answer": "Paris", "cites": []},
                {"problem": "", "verdict": "accept"}]
    script = tmp_path / "list.json"
    script.write_text(json.dumps(per_task * 4))
    out = tmp_path / "out.jsonl"
    assert main(["run", str(tasks), "--model", f"scripted:{script}", "--workers", "3",
                 "--out", str(out), "--tools", "vm"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one task at a time" in err and "--base-url" in err
    assert [json.loads(x)["answer"] for x in out.read_text().splitlines()] == ["Paris"] * 4


def test_workers_run_concurrently_on_a_concurrent_backend(tmp_path, capsys):
    spec = tmp_path / "auto.json"
    spec.write_text(json.dumps({"answers": {}, "default": "ok", "delay": 0.05}))
    t = tmp_path / "t.jsonl"
    t.write_text("".join(json.dumps({"id": f"t{i}", "question": f"task {i}"}) + "\n" for i in range(6)))
    out = tmp_path / "out.jsonl"
    assert main(["run", str(t), "--model", f"scripted:{spec}", "--workers", "3", "--out", str(out),
                 "--tools", "vm"]) == 0
    assert capsys.readouterr().err == ""
    ids = sorted(json.loads(x)["id"] for x in out.read_text().splitlines())
    assert ids == [f"t{i}" for i in range(6)]


def test_resume_skips_done_tasks_and_cuts_a_torn_line(auto, tasks, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "mul", "answer": "from before", "ok": True, "steps": 0,
                               "prompt_tokens": 1, "completion_tokens": 1, "seconds": 0,
                               "error": None}) + "\n" + '{"id": "2", "ques')
    assert main(["run", str(tasks), "--model", auto, "--out", str(out), "--resume", "--tools", "vm"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [d["id"] for d in lines] == ["mul", "2", "italy", "open"]
    assert lines[0]["answer"] == "from before"


def test_resume_needs_out(auto, tasks, capsys):
    assert main(["run", str(tasks), "--model", auto, "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
