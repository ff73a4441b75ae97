"""Test helpers for ponder users: run the whole agent loop with no real model.

    from ponder.testing import ScriptedModel
    model = ScriptedModel([{"goal": ..., "steps": [...]}, ...])
    agent = Agent(model=model, tools=["vm"])
"""
from .agent.models.scripted import ScriptedModel, crude_tokens, render_chat

__all__ = ["ScriptedModel", "crude_tokens", "render_chat"]
