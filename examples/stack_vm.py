"""Compute on the stack machine, get told the operand order was wrong, reflect, fix.

    python examples/stack_vm.py                      # embedded SmolLM2 (answers may be weak)
    python examples/stack_vm.py --model path/to/better.gguf      # or PONDER_MODEL=...
    python examples/stack_vm.py --scripted           # the whole cycle with a scripted model

The seed: the model pushes "17 100 sub" (17 - 100 = -83) for "subtract 17 from 100";
the user says "The subtraction order was wrong: a - b, not b - a."; the agent
states what went wrong (a lesson kept for the session) and retries with "100 17 sub".
"""
from __future__ import annotations

import argparse
import os

from ponder import Agent

TASK = "Subtract 17 from 100."
FEEDBACK = "The subtraction order was wrong: a - b, not b - a."


def scripted_model():
    """A model that makes the seed mistake, then learns from the feedback."""
    from ponder.testing import ScriptedModel

    plan = {"goal": "compute 100 - 17", "steps": [{"do": "subtract on vm", "tool": "vm"},
                                                  {"do": "give the result", "tool": "answer"}]}
    ok, accept = {"issues": [], "verdict": "accept"}, {"problem": "", "verdict": "accept"}
    return ScriptedModel([
        plan, ok, {"tool": "vm", "args": {"program": "17 100 sub"}},
        {"step_ok": True, "note": "the stack holds -83", "plan_ok": True},
        {"answer": "100 - 17 = -83", "cites": [1]}, accept,
        {"what_went_wrong": "I pushed 17 first: 17 100 sub computes 17 - 100, not 100 - 17",
         "do_differently": "for a - b push a first, then b: 100 17 sub"},
        plan, ok, {"tool": "vm", "args": {"program": "100 17 sub"}},
        {"step_ok": True, "note": "a b sub gave 100 - 17 = 83", "plan_ok": True},
        {"answer": "100 - 17 = 83. Before, I had pushed the operands in reverse order.",
         "cites": [2]}, accept,
    ])


def show(event) -> None:
    c = event.content
    lines = {
        "plan": lambda: "plan: " + "; ".join(f"{s['do']} [{s['tool']}]" for s in c["steps"]),
        "critique": lambda: f"critique: {c['verdict']} {c['issues'] or ''}",
        "tool_call": lambda: f"call {c['tool']} {c['args']}",
        "observation": lambda: f"observation {c['n']}: {c['text']}",
        "reflection": lambda: f"reflect: ok={c['step_ok']} {c['note']}",
        "answer": lambda: f"ANSWER: {c['answer']} (cites {c['cites']})",
        "verification": lambda: f"verify: {c['verdict']} {c['problem']}",
        "feedback": lambda: f"user feedback: {c['text']}",
        "lesson": lambda: f"lesson: {c['what_went_wrong']} -> {c['do_differently']}",
        "replan": lambda: f"replan: {c['reason']}",
        "budget": lambda: f"budget: {c['message']}",
        "error": lambda: f"error: {c['message']}",
    }
    if event.type in lines:
        print(f"  [{event.step}] {lines[event.type]()}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.environ.get("PONDER_MODEL", "default"))
    p.add_argument("--scripted", action="store_true", help="use a scripted model (no LLM)")
    p.add_argument("--always-feedback", action="store_true",
                   help="give the seed feedback even when the first answer is right")
    p.add_argument("--max-steps", type=int, default=4)
    args = p.parse_args()
    model = scripted_model() if args.scripted else args.model
    agent = Agent(model=model, tools=["vm"], max_steps=args.max_steps)

    print(f"TASK: {TASK}")
    for event in agent.stream(TASK):
        show(event)
    first = agent.last_result
    right = first.answer is not None and "83" in first.answer and "-83" not in first.answer
    if right and not (args.scripted or args.always_feedback):
        print("The first answer is right; no feedback needed (--always-feedback to send it).")
        return 0
    print(f"\nFEEDBACK: {FEEDBACK}")
    for event in agent.stream_feedback(FEEDBACK):
        show(event)
    second = agent.last_result
    print(f"\nbefore: {first.answer!r}\nafter:  {second.answer!r}\nlessons: {agent.lessons}")
    print(f"stop: {second.stop_reason}, steps {first.steps}+{second.steps}, "
          f"{first.seconds + second.seconds:.1f} s, kv ratio {second.kv_ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
