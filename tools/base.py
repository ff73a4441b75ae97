"""The tool protocol and the ``@tool`` decorator.

A tool is anything with a ``name``, a ``description``, a JSON schema of its
arguments (``parameters``, an object schema) and ``__call__(**args) -> str``.
The agent builds its action grammar from ``parameters``, so a model can only
ever produce arguments that validate.

Tools report failure by raising ``ToolError`` (or any exception): the agent
turns it into an observation the model can act on, never a crash.

String arguments without a ``maxLength`` get one (``DEFAULT_MAX_LENGTH``) so
the grammar, and therefore the number of tokens a call can take, is bounded.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, get_type_hints, runtime_checkable

DEFAULT_MAX_LENGTH = 400


class ToolError(Exception):
    """A tool failed in a way the model should be told about."""


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str
    parameters: dict  # JSON schema, {"type": "object", "properties": ..., "required": [...]}

    def __call__(self, **kwargs: Any) -> str: ...


@dataclass
class FunctionTool:
    """A tool made from a typed Python function (see ``tool``)."""

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: dict = field(default_factory=dict)

    def __call__(self, **kwargs: Any) -> str:
        out = self.fn(**kwargs)
        return out if isinstance(out, str) else _to_text(out)


def _to_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def bound_strings(schema: dict, max_length: int = DEFAULT_MAX_LENGTH) -> dict:
    """Return a copy of ``schema`` where every string has a maxLength."""
    if isinstance(schema, dict):
        out = {k: bound_strings(v, max_length) for k, v in schema.items()}
        if out.get("type") == "string" and "maxLength" not in out and "enum" not in out:
            out["maxLength"] = max_length
        return out
    if isinstance(schema, list):
        return [bound_strings(v, max_length) for v in schema]
    return schema


def schema_from_signature(fn: Callable[..., Any]) -> dict:
    """JSON schema of a function's parameters, from its type hints (via pydantic)."""
    import pydantic

    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"@tool {fn.__name__}: *args/**kwargs are not supported")
        annotation = hints.get(pname, str)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    model = pydantic.create_model(f"{fn.__name__}_args", **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("required", [])
    schema["additionalProperties"] = False
    return bound_strings(schema)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Make a tool from a typed function: ``@tool`` or ``@tool(name=...)``.

    The name is the function's name, the description its docstring, and the
    argument schema comes from the signature's type hints.
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        doc = inspect.getdoc(f) or ""
        return FunctionTool(
            fn=f,
            name=name or f.__name__,
            description=description or doc or f.__name__,
            parameters=schema_from_signature(f),
        )

    return wrap(fn) if fn is not None else wrap
