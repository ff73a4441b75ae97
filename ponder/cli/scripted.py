"""Testing hook: ``--model scripted:PATH.json`` runs the CLI on scripted outputs.

Meant for tests and demos of the command line with no real model (the
library equivalent is ``ponder.testing.ScriptedModel``). ``PATH`` holds JSON:

- a list, or ``{"outputs": [...]}``: the model's outputs in order, exactly as
  ``ScriptedModel(outputs)`` takes them (objects are returned as JSON);
- ``{"answers": {"SUBSTRING": ANSWER, ...}, "default": ANSWER, "delay": S}``:
  an "auto" model that answers every phase by the shape of its schema (a
  one-step plan that goes straight to the answer, critiques and verifications
  that accept, reflections that say the step worked, lessons) and, for the
  answer, looks for the SUBSTRING that occurs last in the conversation (so
  the task's text picks the answer). An ANSWER of ``{"error": "msg"}`` makes
  that call fail with ``ModelError("msg")``. ``delay`` sleeps before every
  call (to have time to kill a run mid-way). The auto model is stateless, so
  ``--workers`` runs it concurrently, like a server backend.

Every output is still validated against the schema (by ScriptedModel), so a
script that the real loop could not accept fails loudly.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..errors import ModelError, UsageError

PREFIX = "scripted:"


def scripted_model(path: str):
    from ..testing import ScriptedModel

    p = Path(path)
    try:
        spec = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"scripted model file {path!r} does not exist") from None
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"scripted model file {path!r} is not valid JSON: {e}") from None
    if isinstance(spec, list):
        return ScriptedModel(spec, name=f"scripted:{p.name}")
    if not isinstance(spec, dict) or not ({"outputs", "answers"} & set(spec)):
        raise UsageError(f"scripted model file {path!r}: expected a list of outputs, "
                         "{\"outputs\": [...]} or {\"answers\": {...}}")
    if "outputs" in spec:
        return ScriptedModel(spec["outputs"], name=f"scripted:{p.name}")
    auto = AutoResponder(spec.get("answers") or {}, spec.get("default", "I do not know."),
                         float(spec.get("delay", 0.0)))
    model = ScriptedModel([auto] * 100_000, name=f"scripted-auto:{p.name}")
    model.concurrent = True  # type: ignore[attr-defined]  # stateless: safe to share across threads
    return model


class AutoResponder:
    """``f(messages, schema)`` for ScriptedModel: a valid output for any phase."""

    def __init__(self, answers: dict[str, Any], default: Any, delay: float = 0.0):
        self.answers, self.default, self.delay = answers, default, delay

    def __call__(self, messages: list[dict], schema: dict | None) -> Any:
        if self.delay:
            time.sleep(self.delay)
        props = (schema or {}).get("properties", {})
        if "goal" in props:
            return {"goal": "answer the question", "steps": [{"do": "give the answer", "tool": "answer"}]}
        if "issues" in props:
            return {"issues": [], "verdict": "accept"}
        if "step_ok" in props:
            return {"step_ok": True, "note": "the step worked", "plan_ok": True}
        if "problem" in props:
            return {"problem": "", "verdict": "accept"}
        if "what_went_wrong" in props:
            return {"what_went_wrong": "the answer was wrong", "do_differently": "check the feedback"}
        answer = self._answer(messages)
        if isinstance(answer, dict) and "error" in answer:
            raise ModelError(str(answer["error"]))
        return {"answer": str(answer), "cites": []}

    def _answer(self, messages: list[dict]) -> Any:
        text = "\n".join(m["content"] for m in messages if m.get("role") != "system")
        best, where = self.default, -1
        for key, value in self.answers.items():
            pos = text.rfind(key)
            if pos > where:
                best, where = value, pos
        return best
