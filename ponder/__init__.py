"""ponder: introspective plan-act-observe agents on local models.

    from ponder import Agent, tool
    agent = Agent(model="default", tools=["vm"])
    print(agent.run("What is 48271 * 9973?").answer)

The public surface is ``Agent``, ``tool``, ``Result``, ``Event`` and
``ponder.testing.ScriptedModel``; see the library spec in the README.
Importing ponder is cheap: model backends, chromadb and torch load only when
first used.
"""
from .agent.events import Event
from .errors import FormatError, ModelError, PonderError, UsageError
from .tools.base import Tool, ToolError, tool

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: keep `import ponder` light
    if name in ("Agent", "Result"):
        from .agent import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ponder' has no attribute {name!r}")


__all__ = [
    "Agent", "Result", "Event", "tool", "Tool", "ToolError",
    "PonderError", "UsageError", "ModelError", "FormatError", "__version__",
]
