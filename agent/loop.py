"""The agent: plan -> critique -> act -> observe -> reflect -> answer -> verify.

INTERFACE STUB: the public API below is fixed (other modules code against it);
the bodies are being written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .events import Event
from .models.base import Model, Usage


@dataclass
class Result:
    """The outcome of one run (one task, or one retry after feedback)."""

    task: str
    answer: str | None = None
    ok: bool = False  # an answer was produced (and, with introspect="full", verified)
    steps: int = 0  # tool calls made
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    events: list[Event] = field(default_factory=list)
    stop_reason: str = "answered"  # answered|max_steps|max_tokens|timeout|interrupted|error
    error: str | None = None
    plan: list[dict] = field(default_factory=list)  # [{"do", "tool", "done"}]

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class Agent:
    """An introspective tool-using agent on a local model.

    Agent(model="default" | path.gguf | "hf:OWNER/REPO/FILE.gguf" | Model instance,
          *, base_url=None, tools=None (names, Tool objects, @tool functions,
          LangChain tools; None = all usable built-ins), introspect="full"
          ("off" | "plan" | "full"), max_steps=12, max_tokens=None (completion
          tokens per run), timeout=None (wall seconds per run), gpu_layers=None,
          n_ctx=None, store=None, collection="ponder", search_backend=None,
          corpus=None, trace=None (path: JSON lines of every event),
          temperature=0.0, on_event=None (callback per event))
    """

    def __init__(self, model: Any = "default", **options: Any) -> None:
        raise NotImplementedError

    def run(self, task: str) -> Result:
        """Run a task to its end; returns the Result (never raises for tool/model failures)."""
        raise NotImplementedError

    def stream(self, task: str) -> Iterator[Event]:
        """Run a task, yielding typed events as they happen; the last is type 'final'.
        The Result is then available as ``agent.last_result``."""
        raise NotImplementedError

    def feedback(self, text: str) -> Result:
        """Tell the agent its last answer was wrong (or how): it reflects (a 'lesson'
        event), keeps the lesson for the session, and retries the last task."""
        raise NotImplementedError

    def stream_feedback(self, text: str) -> Iterator[Event]:
        """Like feedback(), yielding events as they happen."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the current run to stop (thread-safe); it ends with stop_reason 'interrupted'."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget this session's tasks, results and lessons."""
        raise NotImplementedError

    # attributes: model (Model), tools (list[Tool]), introspect, last_result
    # (Result | None), history (list[Result]), lessons (list[str]), plan
    # (list[dict] of the current/last run: {"do", "tool", "done"})
