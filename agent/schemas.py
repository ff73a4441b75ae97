"""The JSON schema of every phase's output.

Each phase is generated under its schema's grammar, so its output always
parses and validates. Every string has a ``maxLength`` and every array a
``maxItems``: generation is bounded (the backend sizes ``max_tokens`` from the
schema) and a small model cannot ramble. Schemas stay small and flat, with
``required`` for every property so the key order is fixed (reasoning fields
come before the decision they justify).

The action schema is ``anyOf`` over the tools, each
``{"tool": {"const": NAME}, "args": <the tool's parameters>}``, plus an
answer option ``{"answer": str, "cites": [observation numbers]}``: arguments
are valid by construction. Tools whose parameters use ``$defs`` (pydantic
models) have them hoisted to the root, where their ``#/$defs/...`` refs point.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Sequence

from ..tools.base import bound_strings

GOAL_CHARS = 120
STEP_CHARS = 80
MAX_STEPS_IN_PLAN = 4
NOTE_CHARS = 120
ANSWER_CHARS = 400
MAX_CITES = 4
MAX_ISSUES = 2
ANSWER = "answer"  # the plan-step "tool" for the final answer step


def _str(n: int) -> dict:
    return {"type": "string", "maxLength": n}


def _obj(**props: Any) -> dict:
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def plan_schema(tool_names: Sequence[str]) -> dict:
    step = _obj(do=_str(STEP_CHARS), tool={"enum": [*tool_names, ANSWER]})
    return _obj(goal=_str(GOAL_CHARS),
                steps={"type": "array", "items": step, "minItems": 1, "maxItems": MAX_STEPS_IN_PLAN})


CRITIQUE = _obj(
    issues={"type": "array", "items": _str(STEP_CHARS), "maxItems": MAX_ISSUES},
    verdict={"enum": ["accept", "revise"]},
)

REFLECT = _obj(
    step_ok={"type": "boolean"},
    note=_str(NOTE_CHARS),
    plan_ok={"type": "boolean"},
)

VERIFY = _obj(
    problem=_str(NOTE_CHARS),
    verdict={"enum": ["accept", "revise"]},
)

LESSON = _obj(what_went_wrong=_str(NOTE_CHARS), do_differently=_str(NOTE_CHARS))

MAX_URLS = 24
URL = re.compile(r"(?:https?|file)://[^\s<>\"')\]]+")


def answer_option(observations: int = 99) -> dict:
    """The answer, citing observations by number: only numbers that exist can be
    generated (none before the first observation)."""
    cites = {"type": "array", "items": {"type": "integer", "minimum": 1,
                                        "maximum": max(observations, 1)},
             "maxItems": MAX_CITES if observations > 0 else 0}
    return _obj(answer=_str(ANSWER_CHARS), cites=cites)


ANSWER_OPTION = answer_option()


def action_schema(tools: Sequence[Any], *, allow_answer: bool = True,
                  allow_tools: bool = True, observations: int = 99,
                  urls: Sequence[str] = ()) -> dict:
    """anyOf over ``tools`` (objects with ``name`` and ``parameters``) and the answer.

    ``urls``: the addresses seen so far (task and observations). When there are
    any, a tool's ``url`` argument can only be one of them, so a model cannot read
    an address it made up."""
    options: list[dict] = []
    defs: dict[str, Any] = {}
    if allow_tools:
        for t in tools:
            params = bound_strings(copy.deepcopy(t.parameters or {"type": "object", "properties": {}}))
            if urls and params.get("properties", {}).get("url", {}).get("type") == "string":
                seen = dict.fromkeys(u.rstrip(".,;:") for u in urls)
                params["properties"]["url"] = {"enum": list(seen)[-MAX_URLS:]}
            defs.update(params.pop("$defs", {}))
            options.append(_obj(tool={"const": t.name}, args=params))
    if allow_answer or not options:
        options.append(answer_option(observations))
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema
