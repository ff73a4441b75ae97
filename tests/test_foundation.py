"""The small shared pieces: ScriptedModel, @tool, resolve_tools, events, CLI errors."""
import json
import subprocess
import sys

import pytest

from ponder import ModelError, UsageError, tool
from ponder.agent.events import Event
from ponder.errors import FormatError
from ponder.testing import ScriptedModel
from ponder.tools import resolve_tools

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_scripted_model_returns_outputs_in_order_and_validates():
    model = ScriptedModel([{"n": 1}, '{"n": 2}', lambda messages, schema: {"n": len(messages)},
                           ModelError("boom"), {"n": "x"}])
    msgs = [{"role": "user", "content": "hi"}]
    assert model.complete(msgs, schema=SCHEMA).data == {"n": 1}
    assert model.complete(msgs, schema=SCHEMA).data == {"n": 2}
    assert model.complete(msgs, schema=SCHEMA).data == {"n": 1}
    with pytest.raises(ModelError, match="boom"):
        model.complete(msgs)
    with pytest.raises(FormatError, match="does not match the schema"):
        model.complete(msgs, schema=SCHEMA)
    with pytest.raises(ModelError, match="ran out of outputs after 5 calls"):
        model.complete(msgs)
    assert [c["schema"] for c in model.calls[:2]] == [SCHEMA, SCHEMA]


def test_scripted_model_simulates_kv_cache_reuse():
    model = ScriptedModel(["first answer", "second answer", "third"])
    msgs = [{"role": "system", "content": "stable prefix " * 20}, {"role": "user", "content": "task"}]
    u1 = model.complete(msgs).usage
    assert u1.prompt_eval_tokens == u1.prompt_tokens  # cold cache
    msgs += [{"role": "assistant", "content": "first answer"}, {"role": "user", "content": "more"}]
    u2 = model.complete(msgs).usage
    assert 0 < u2.prompt_eval_tokens < 30 < 100 < u2.prompt_tokens  # only the appended turns
    rewritten = [{"role": "system", "content": "changed " + msgs[0]["content"]}] + msgs[1:]
    u3 = model.complete(rewritten).usage
    assert u3.prompt_eval_tokens > u3.prompt_tokens - 10  # all after the edit is evaluated again


def test_tool_from_typed_function():
    @tool
    def weather(city: str, days: int = 1, metric: bool = True) -> str:
        """Current weather for a city."""
        return f"{city}:{days}:{metric}"

    assert weather.name == "weather"
    assert weather.description == "Current weather for a city."
    p = weather.parameters
    assert p["required"] == ["city"]
    assert p["properties"]["city"] == {"type": "string", "maxLength": 400}
    assert p["properties"]["days"]["type"] == "integer"
    assert p["additionalProperties"] is False
    assert weather(city="Oslo", days=2) == "Oslo:2:True"


def test_tool_with_structured_return_and_options():
    @tool(name="lookup", description="Look a key up.")
    def f(key: str) -> dict:
        return {"key": key, "n": 1}

    assert (f.name, f.description) == ("lookup", "Look a key up.")
    assert json.loads(f(key="a")) == {"key": "a", "n": 1}


def test_resolve_tools_rejects_unknown_names_and_duplicates():
    with pytest.raises(UsageError, match="unknown tool 'calculator'"):
        resolve_tools(["calculator"])

    @tool
    def vm(program: str) -> str:
        """A fake."""
        return program

    with pytest.raises(UsageError, match="two tools are named 'vm'"):
        resolve_tools([vm, vm])


def test_event_serialises_with_type_and_step():
    e = Event("tool_call", 3, {"tool": "vm", "args": {"program": "1 2 add"}})
    d = json.loads(e.to_json())
    assert (d["type"], d["step"], d["tool"]) == ("tool_call", 3, "vm")
    assert e.tool == "vm"
    with pytest.raises(ValueError):
        Event("nonsense", 0)


@pytest.mark.parametrize("argv", [["frobnicate"], ["vm", "--no-such-option", "1"], ["ask"]])
def test_cli_usage_errors_are_one_line_exit_2(argv):
    out = subprocess.run([sys.executable, "-m", "ponder", *argv], capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
