"""Embedding ponder in an application: a custom @tool, live events, feedback.

    python examples/embed_in_app.py              # embedded SmolLM2
    python examples/embed_in_app.py --model path/to/better.gguf
    python examples/embed_in_app.py --scripted   # deterministic, no LLM

The app owns a tiny inventory; the agent looks items up with the app's own
tool and does the arithmetic on the stack machine. The app renders events as
they stream, gives feedback when the answer misses the expected number, and
stops the agent if it runs too long (Agent.stop() is thread-safe).
"""
from __future__ import annotations

import argparse
import os
import threading

from ponder import Agent, Event, tool

INVENTORY = {"bolts": 1250, "nuts": 980, "washers": 2100}


@tool
def stock(item: str) -> str:
    """How many units of an item are in stock (items: bolts, nuts, washers)."""
    key = item.strip().lower()
    if key not in INVENTORY:
        raise ValueError(f"unknown item {item!r}; known: {', '.join(INVENTORY)}")
    return f"{key}: {INVENTORY[key]} units"


TASK = "How many bolts and nuts are in stock together?"
EXPECTED = str(INVENTORY["bolts"] + INVENTORY["nuts"])  # 2230


def scripted_model():
    from ponder.testing import ScriptedModel

    ok = {"step_ok": True, "note": "got it", "plan_ok": True}
    plan = {"goal": "add bolts and nuts in stock", "steps": [
        {"do": "look up bolts", "tool": "stock"}, {"do": "look up nuts", "tool": "stock"},
        {"do": "add them on vm", "tool": "vm"}, {"do": "answer", "tool": "answer"}]}
    return ScriptedModel([
        plan, {"issues": [], "verdict": "accept"},
        {"tool": "stock", "args": {"item": "bolts"}}, ok,
        {"tool": "stock", "args": {"item": "nuts"}}, ok,
        {"tool": "vm", "args": {"program": "1250 980 add"}}, ok,
        {"answer": "2230 bolts and nuts are in stock (1250 + 980).", "cites": [1, 2, 3]},
        {"problem": "", "verdict": "accept"},
    ])


class App:
    """Stands for any host application: it renders events and keeps a log."""

    def __init__(self, agent: Agent):
        self.agent, self.log = agent, []

    def on_event(self, event: Event) -> None:  # called for every event, in the agent's thread
        self.log.append(event.type)

    def ask(self, task: str, limit_s: float = 600) -> None:
        timer = threading.Timer(limit_s, self.agent.stop)  # a watchdog, from another thread
        timer.start()
        try:
            for event in self.agent.stream(task):
                self.render(event)
        finally:
            timer.cancel()

    @staticmethod
    def render(event: Event) -> None:
        if event.type == "tool_call":
            print(f"  -> {event.tool}({event.args})")
        elif event.type == "observation":
            print(f"  <- {event.text[:120]}")
        elif event.type in ("plan", "critique", "reflection", "verification", "lesson", "replan"):
            print(f"  {event.type}: {event.content}")
        elif event.type == "answer":
            print(f"  ANSWER: {event.answer}")
        elif event.type == "final":
            print(f"  done: {event.stop_reason}, {event.steps} tool calls, {event.seconds} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.environ.get("PONDER_MODEL", "default"))
    p.add_argument("--scripted", action="store_true")
    args = p.parse_args()
    app = App(None)  # type: ignore[arg-type]
    app.agent = Agent(model=scripted_model() if args.scripted else args.model,
                      tools=[stock, "vm"], max_steps=6, on_event=app.on_event)
    print(f"tools: {[t.name for t in app.agent.tools]}\nTASK: {TASK}")
    app.ask(TASK)
    result = app.agent.last_result
    if result.answer is None or EXPECTED not in result.answer:
        print(f"\nFEEDBACK: the answer should be the sum of both stock counts ({EXPECTED}).")
        for event in app.agent.stream_feedback(
                "Look up both items with stock, then add the two counts on vm."):
            app.render(event)
        result = app.agent.last_result
    print(f"\nfinal answer: {result.answer}\nevents seen by the app: {len(app.log)}; "
          f"lessons: {app.agent.lessons}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
