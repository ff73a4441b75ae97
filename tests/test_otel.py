"""OpenTelemetry spans per run and per phase, checked with the SDK's in-memory exporter;
and zero cost when off (opentelemetry is never imported)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from ponder import Agent  # noqa: E402
from ponder.integrations import otel  # noqa: E402
from ponder.testing import ScriptedModel  # noqa: E402

SCRIPT = [
    {"goal": "multiply", "steps": [{"do": "multiply on the vm", "tool": "vm"}, {"do": "answer", "tool": "answer"}]},
    {"issues": [], "verdict": "accept"},
    {"tool": "vm", "args": {"program": "48271 9973 mul", "trace": False}},
    {"step_ok": True, "note": "got the product", "plan_ok": True},
    {"answer": "481406683", "cites": [1]},
    {"problem": "", "verdict": "accept"},
]


@pytest.fixture
def exporter():
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    return provider, exp


def test_spans_per_run_and_phase(exporter):
    provider, exp = exporter
    agent = Agent(model=ScriptedModel(SCRIPT), tools=["vm"], on_event=otel.subscriber(provider))
    r = agent.run("What is 48271 * 9973?")
    assert r.answer == "481406683"
    spans = exp.get_finished_spans()
    run = [s for s in spans if s.name == "ponder.run"]
    assert len(run) == 1
    run = run[0]
    children = [s for s in spans if s is not run]
    assert [s.name for s in children] == ["ponder.plan", "ponder.critique", "ponder.act",
                                          "ponder.tool vm", "ponder.reflect", "ponder.answer",
                                          "ponder.verify"]
    for s in children:
        assert s.parent is not None and s.parent.span_id == run.context.span_id
        assert s.context.trace_id == run.context.trace_id
        assert run.start_time <= s.start_time <= s.end_time <= run.end_time
    for a, b in zip(children, children[1:]):  # phases tile the run, in order
        assert a.end_time == b.start_time
    assert run.attributes["ponder.task"] == "What is 48271 * 9973?"
    assert run.attributes["ponder.steps"] == 1 and run.attributes["ponder.stop_reason"] == "answered"
    assert run.attributes["ponder.prompt_tokens"] == r.usage.prompt_tokens
    tool = [s for s in children if s.name == "ponder.tool vm"][0]
    assert tool.attributes["ponder.observation.ok"] is True


def test_instrument_keeps_the_agents_own_callback(exporter):
    provider, exp = exporter
    seen = []
    agent = Agent(model=ScriptedModel(SCRIPT), tools=["vm"], on_event=seen.append)
    otel.instrument(agent, provider)
    agent.run("What is 48271 * 9973?")
    assert seen[0].type == "task" and seen[-1].type == "final"
    assert sum(s.name == "ponder.run" for s in exp.get_finished_spans()) == 1


CODE = ("import json, sys; from ponder.cli import main; "
        "rc = main(['ask', 'q', '--model', sys.argv[1], '--tools', 'vm']); "
        "print(json.dumps({'rc': rc, 'otel': 'opentelemetry' in sys.modules}))")


def test_off_by_default_and_zero_cost(tmp_path):
    spec = tmp_path / "auto.json"
    spec.write_text(json.dumps({"answers": {}, "default": "42"}))
    env = {k: v for k, v in os.environ.items() if k != "PONDER_OTEL"}

    def ask(extra: dict):
        p = subprocess.run([sys.executable, "-c", CODE, f"scripted:{spec}"], capture_output=True,
                           text=True, env={**env, **extra}, timeout=120)
        return json.loads(p.stdout.splitlines()[-1]), p.stderr

    out, _ = ask({})
    assert out == {"rc": 0, "otel": False}  # off: opentelemetry never imported
    out, err = ask({"PONDER_OTEL": "1"})
    assert out == {"rc": 0, "otel": True}
    assert '"name": "ponder.run"' in err and '"name": "ponder.plan"' in err  # console exporter
