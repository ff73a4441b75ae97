"""The message list, laid out for the KV cache, and its token accounting.

Layout: ``[system (stable: role, rules, tool catalog, few-shot examples),
user (lessons + task + first phase instruction), assistant (JSON), user
(observation + next phase instruction), assistant, ...]``.

The list is strictly append-only: each model call sends the previous call's
messages, its reply, and new turns, never an edited earlier message, so a
backend with a KV cache evaluates only the new tokens. Text queued with
``say`` is joined into ONE user message at the next ``request``, so roles
alternate (some chat templates insist) and a message, once sent, never
changes. Feedback retries in a session keep appending to the same transcript.

Accounting: ``tokens`` is the transcript's length in the model's tokens, as
the backend measured it on the last call (its prompt plus its reply).
Compare a run's summed ``Usage.prompt_eval_tokens`` with it: an append-only
transcript evaluates each token about once (ratio <= 1.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .models.base import Message, Usage


@dataclass
class Transcript:
    system: str
    messages: list[Message] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    tokens: int = 0  # prompt + reply tokens of the last call
    observations: int = 0  # OBSERVATION blocks so far (numbered from 1)

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages.append({"role": "system", "content": self.system})

    def say(self, text: str) -> None:
        """Queue user-side text (task, observation, phase instruction)."""
        self.pending.append(text.strip())

    def request(self) -> list[Message]:
        """The messages for the next call: everything so far plus queued text."""
        if self.pending:
            self.messages.append({"role": "user", "content": "\n\n".join(self.pending)})
            self.pending.clear()
        return list(self.messages)

    def reply(self, text: str, usage: Usage) -> None:
        """Append the model's reply (exactly its text, so the cache matches)."""
        self.messages.append({"role": "assistant", "content": text})
        self.tokens = usage.prompt_tokens + usage.completion_tokens

    def render(self) -> str:
        """Plain text of the transcript (for /save and debugging)."""
        parts = [f"[{m['role']}]\n{m['content']}" for m in self.messages]
        parts += [f"[user, not sent yet]\n{p}" for p in self.pending]
        return "\n\n".join(parts)
