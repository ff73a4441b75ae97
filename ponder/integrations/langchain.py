"""LangChain interop, both ways (needs the ``langchain`` extra: langchain-core).

- ``from_langchain_tool(lc_tool) -> Tool``: any LangChain tool (``@tool``
  functions, ``StructuredTool``, ``BaseTool`` subclasses, simple ``Tool``) as a
  ponder tool. Its argument schema is LangChain's own function-calling schema
  (``convert_to_openai_tool``, i.e. ``tool_call_schema``), with every string
  bounded (``bound_strings``) so the action grammar stays finite. Calling it
  runs ``lc_tool.invoke(args)``; non-text results become JSON text, and a
  ``ToolException`` (or any error) becomes a ``ToolError`` the model is told
  about. ``resolve_tools`` routes LangChain tools here, so
  ``Agent(tools=[lc_tool, "vm"])`` just works.
- ``AgentRunnable`` / ``as_runnable(agent)``: a ponder Agent where LangChain
  expects a ``Runnable``. ``invoke("question")`` returns the answer text;
  ``invoke({"input": "question"})`` returns a dict with ``output`` (the
  answer) plus ``ok``, ``steps``, ``stop_reason`` and ``error``, like
  LangChain's AgentExecutor. ``batch`` runs one input at a time (an Agent runs
  one task at a time). ``stream`` yields the answer once, at the end.

langchain is imported only here (and only when this module is imported).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..tools.base import ToolError, bound_strings


@dataclass
class LangChainTool:
    """A ponder Tool wrapping a LangChain tool."""

    lc_tool: Any
    name: str
    description: str
    parameters: dict

    def __call__(self, **kwargs: Any) -> str:
        try:
            out = self.lc_tool.invoke(kwargs)
        except Exception as e:  # noqa: BLE001 - the model is told, the agent goes on
            raise ToolError(f"{self.name} failed: {e}") from e
        if hasattr(out, "content") and not isinstance(out, (str, dict, list)):  # a ToolMessage
            out = out.content
        if isinstance(out, str):
            return out
        try:
            return json.dumps(out, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(out)


def tool_parameters(lc_tool: Any) -> dict:
    """The JSON schema of a LangChain tool's arguments, strings bounded."""
    fn = convert_to_openai_tool(lc_tool)["function"]
    params = dict(fn.get("parameters") or {})
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    params.setdefault("required", list(params["properties"]))
    params.pop("title", None)
    params.pop("description", None)
    return bound_strings(params)


def from_langchain_tool(lc_tool: Any) -> LangChainTool:
    description = " ".join(str(getattr(lc_tool, "description", "") or lc_tool.name).split())
    return LangChainTool(lc_tool=lc_tool, name=str(lc_tool.name), description=description,
                         parameters=tool_parameters(lc_tool))


class AgentRunnable(Runnable):
    """A ponder Agent as a LangChain Runnable (see the module docstring)."""

    def __init__(self, agent: Any):
        self.agent = agent

    @property
    def InputType(self) -> Any:  # noqa: N802 - LangChain's name
        return str | dict

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return str | dict

    def invoke(self, input: Any, config: Optional[RunnableConfig] = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, run_type="chain", **kwargs)

    def _run(self, input: Any) -> Any:
        if isinstance(input, str):
            return self._result(input).answer or ""
        if isinstance(input, dict):
            question = input.get("input", input.get("question"))
            if not isinstance(question, str):
                raise ValueError('AgentRunnable needs a string or {"input": "..."}')
            r = self._result(question)
            return {"input": question, "output": r.answer, "ok": r.ok, "steps": r.steps,
                    "stop_reason": r.stop_reason, "error": r.error}
        if hasattr(input, "to_string"):  # a PromptValue
            return self._result(input.to_string()).answer or ""
        raise ValueError(f"AgentRunnable takes a string or a dict, not {type(input).__name__}")

    def _result(self, question: str):
        return self.agent.run(question)

    def batch(self, inputs: list, config: Any = None, *, return_exceptions: bool = False,
              **kwargs: Any) -> list:
        configs = config if isinstance(config, list) else [config] * len(inputs)
        out = []
        for item, cfg in zip(inputs, configs):
            try:
                out.append(self.invoke(item, cfg, **kwargs))
            except Exception as e:  # noqa: BLE001
                if not return_exceptions:
                    raise
                out.append(e)
        return out


def as_runnable(agent: Any) -> AgentRunnable:
    return AgentRunnable(agent)


__all__ = ["LangChainTool", "from_langchain_tool", "tool_parameters", "AgentRunnable", "as_runnable"]
