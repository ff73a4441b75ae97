"""``ponder run --resume`` after a killed run: a real ``ponder run`` process is
SIGKILLed once its first result line is in --out, and a --resume run finishes
the rest with no task run twice. The model is the CLI's scripted testing hook
(``--model scripted:PATH``) with a delay per call, so the kill lands mid-run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PONDER = str(Path(sys.executable).with_name("ponder"))


def read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_resume_after_sigkill(tmp_path):
    spec = tmp_path / "auto.json"
    spec.write_text(json.dumps({"answers": {f"task {i}": f"answer {i}" for i in range(6)},
                                "default": "?", "delay": 0.15}))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "question": f"Do task {i}.",
                                         "expected": f"answer {i}"}) + "\n" for i in range(6)))
    out = tmp_path / "out.jsonl"
    args = [PONDER, "run", str(tasks), "--model", f"scripted:{spec}", "--tools", "vm", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = read_lines(out)
    assert 1 <= len(before) < 6  # killed mid-way, every finished task already flushed
    assert [d["id"] for d in before] == [f"t{i}" for i in range(len(before))]

    p = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    after = read_lines(out)
    ids = [d["id"] for d in after]
    assert sorted(ids) == [f"t{i}" for i in range(6)] and len(ids) == len(set(ids))  # no duplicates
    assert after[: len(before)] == before  # finished tasks kept as they were, not run again
    assert all(d["ok"] is True and d["error"] is None for d in after)

    # resuming a complete run does nothing
    p = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and read_lines(out) == after
