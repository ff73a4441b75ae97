"""ScriptedModel: a model that returns the outputs you give it, in order.

Public as ``ponder.testing.ScriptedModel`` so users can test their own agents
with no real model, the way pydantic-ai's TestModel/FunctionModel work.

Each scripted output is one of:
- a ``dict`` or ``list``: returned as JSON (``data`` is the object);
- a ``str``: returned as text (parsed as JSON when a schema is given);
- an ``Exception`` instance: raised, to simulate a backend failure;
- a callable ``f(messages, schema) -> any of the above``, for outputs that
  depend on the prompt.

With a schema, every output is validated against it and a mismatch raises
``FormatError``: a bad script fails loudly instead of passing by accident.

It also simulates a KV cache over a crude tokenization of the rendered chat,
so ``Usage.prompt_eval_tokens`` shows whether a caller keeps its prompt
append-only (a stable prefix is reused, anything else is re-evaluated).
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

import jsonschema

from ...errors import FormatError, ModelError
from .base import Completion, Message, OnText, Usage

_TOKEN = re.compile(r"\w+|[^\w\s]|\s+")


def render_chat(messages: list[Message]) -> str:
    """A ChatML-like rendering, used only to count tokens deterministically."""
    return "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages)


def crude_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


class ScriptedModel:
    """Returns scripted outputs in order; see the module docstring."""

    def __init__(self, outputs: Iterable[Any], name: str = "scripted"):
        self.outputs = list(outputs)
        self.name = name
        self.calls: list[dict[str, Any]] = []  # every call's messages and schema
        self._cache: list[str] = []  # tokens of the last prompt + completion

    @property
    def remaining(self) -> int:
        return len(self.outputs) - len(self.calls)

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_text: OnText | None = None,
    ) -> Completion:
        index = len(self.calls)
        self.calls.append({"messages": [dict(m) for m in messages], "schema": schema})
        if index >= len(self.outputs):
            raise ModelError(f"ScriptedModel ran out of outputs after {len(self.outputs)} calls")
        out = self.outputs[index]
        if callable(out) and not isinstance(out, (dict, list, str)):
            out = out(messages, schema)
        if isinstance(out, BaseException):
            raise out
        if isinstance(out, (dict, list)):
            text, data = json.dumps(out), out
        else:
            text, data = str(out), None
        if schema is not None:
            if data is None:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as e:
                    raise FormatError(f"scripted output #{index} is not JSON: {e}", text) from e
            try:
                jsonschema.validate(data, schema)
            except jsonschema.ValidationError as e:
                raise FormatError(
                    f"scripted output #{index} does not match the schema: {e.message}", text
                ) from e
        if on_text:
            on_text(text)
        return Completion(text=text, data=data, usage=self._usage(messages, text))

    def _usage(self, messages: list[Message], text: str) -> Usage:
        prompt = crude_tokens(render_chat(messages) + "<|assistant|>\n")
        common = 0
        for a, b in zip(prompt, self._cache):
            if a != b:
                break
            common += 1
        completion = crude_tokens(text)
        self._cache = prompt + completion
        return Usage(
            prompt_tokens=len(prompt),
            prompt_eval_tokens=len(prompt) - common,
            completion_tokens=len(completion),
            model_seconds=0.0,
            calls=1,
        )


def scripted(outputs: Iterable[Any]) -> ScriptedModel:
    return ScriptedModel(outputs)


FunctionModel = Callable[[list[Message], "dict | None"], Any]
