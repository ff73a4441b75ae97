"""The one interface every model backend implements.

A backend turns chat ``messages`` into a ``Completion``. With ``schema`` set,
the output is generated under that JSON schema's grammar and ``Completion.data``
holds the parsed, validated object: a format failure is impossible by
construction (a backend that cannot guarantee it raises ``FormatError``).

Backends: ``LlamaCppModel`` (in-process llama-cpp-python),
``OpenAIServerModel`` (any OpenAI-compatible server) and
``ponder.testing.ScriptedModel`` (scripted outputs for tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}
OnText = Callable[[str], None]  # called with each new piece of text as it is generated


@dataclass
class Usage:
    """Token and time accounting for one or more completions.

    ``prompt_tokens`` is the length of the prompts sent; ``prompt_eval_tokens``
    is how many of those tokens the backend actually had to evaluate (the rest
    came from its KV cache). Backends that cannot tell report them equal.
    """

    prompt_tokens: int = 0
    prompt_eval_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    calls: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.prompt_eval_tokens + other.prompt_eval_tokens,
            self.completion_tokens + other.completion_tokens,
            self.model_seconds + other.model_seconds,
            self.calls + other.calls,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_eval_tokens": self.prompt_eval_tokens,
            "completion_tokens": self.completion_tokens,
            "model_seconds": round(self.model_seconds, 4),
            "calls": self.calls,
        }


@dataclass
class Completion:
    text: str
    data: Any = None  # the parsed JSON object when a schema was given
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"  # "stop" | "length"


@runtime_checkable
class Model(Protocol):
    """What the agent needs from a model. Keep it this small."""

    name: str

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_text: OnText | None = None,
    ) -> Completion:
        """Generate the assistant's next message.

        With ``schema``, the text is JSON constrained to the schema and
        ``data`` is the parsed object. ``on_text`` streams text as it arrives.
        """
        ...
