"""Tools the agent can call, and how names on the command line become tools.

Built-in names:
- ``search``: web search (``ddg`` via ddgs, or ``local`` over a folder of files)
  plus ``read``, which turns a result's URL into readable text;
- ``retrieve``: nearest chunks from the chromadb vector store;
- ``vm``: the deterministic stack machine.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..errors import UsageError
from .base import FunctionTool, Tool, ToolError, tool

BUILTIN = ("search", "retrieve", "vm")


def resolve_tools(
    spec: Iterable[Any] | None = None,
    *,
    store: str | None = None,
    collection: str = "ponder",
    search_backend: str | None = None,
    corpus: str | None = None,
) -> list[Tool]:
    """Turn names, ``Tool`` objects and LangChain tools into a list of tools.

    ``spec=None`` means every built-in tool that is usable here: ``vm`` always;
    ``search`` always (offline, the ddg backend reports that as an observation);
    ``retrieve`` when the store holds the collection.
    """
    out: list[Tool] = []
    explicit = spec is not None
    names = list(spec) if explicit else list(BUILTIN)
    for item in names:
        if isinstance(item, str):
            out.extend(_builtin(item, explicit, store=store, collection=collection,
                                search_backend=search_backend, corpus=corpus))
        elif _is_langchain_tool(item):
            from ..integrations.langchain import from_langchain_tool

            out.append(from_langchain_tool(item))
        elif isinstance(item, Tool):
            out.append(item)
        elif callable(item):
            out.append(tool(item))
        else:
            raise UsageError(f"not a tool: {item!r}")
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise UsageError(f"two tools are named {t.name!r}")
        seen.add(t.name)
    return out


def _builtin(name: str, explicit: bool, **kw: Any) -> list[Tool]:
    name = name.strip().lower()
    if name == "vm":
        from .stackvm import VMTool

        return [VMTool()]
    if name == "search":
        from .search import make_search_tools

        return make_search_tools(backend=kw["search_backend"], corpus=kw["corpus"])
    if name == "retrieve":
        from .retrieve import RetrieveTool, store_has_collection

        if not explicit and not store_has_collection(kw["store"], kw["collection"]):
            return []
        return [RetrieveTool(store=kw["store"], collection=kw["collection"])]
    raise UsageError(f"unknown tool {name!r}: choose from {', '.join(BUILTIN)}")


def _is_langchain_tool(obj: Any) -> bool:
    return any(c.__module__.startswith("langchain") for c in type(obj).__mro__) and hasattr(obj, "invoke")


__all__ = ["Tool", "ToolError", "FunctionTool", "tool", "resolve_tools", "BUILTIN"]
