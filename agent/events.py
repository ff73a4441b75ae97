"""Typed events, emitted as the agent works.

Every event has a ``type`` (one of ``EVENT_TYPES``), the ``step`` number it
belongs to and its ``content`` (a dict, JSON-serialisable). ``--trace FILE``
writes ``event.to_json()`` one per line; ``agent.stream()`` yields them live.

Types (cli.md's required ones first):
  plan, critique, tool_call, observation, reflection, answer, verification,
  error, plus: task (a run starts), feedback (user feedback received),
  lesson (what the agent will do differently), replan (why the plan changed),
  budget (a budget ended the run), final (the run's result).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

EVENT_TYPES = (
    "task", "plan", "critique", "tool_call", "observation", "reflection",
    "replan", "answer", "verification", "feedback", "lesson", "budget", "error", "final",
)


@dataclass
class Event:
    type: str
    step: int
    content: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "step": self.step, "time": round(self.time, 3), **self.content}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)

    def __getattr__(self, name: str) -> Any:  # event.answer, event.tool, ...
        content = self.__dict__.get("content", {})
        if name in content:
            return content[name]
        raise AttributeError(name)
