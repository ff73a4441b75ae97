"""One function per phase: build its short instruction, ask the model under the
phase's schema, return a typed record. ``observe`` runs a tool (no model).

``ask(phase, instruction, schema) -> dict`` is supplied by the Agent: it
appends the instruction to the transcript, checks budgets, calls the model and
appends the reply. The phases know nothing about budgets, events or caches.
"""
from __future__ import annotations

import re

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from . import schemas
from .prompting import instruction

Ask = Callable[[str, str, dict], Any]


# -- records -----------------------------------------------------------------
@dataclass
class Step:
    do: str
    tool: str
    done: bool = False


@dataclass
class Plan:
    goal: str
    steps: list[Step] = field(default_factory=list)

    def current(self) -> Step | None:
        return next((s for s in self.steps if not s.done), None)

    def as_dicts(self) -> list[dict]:
        return [asdict(s) for s in self.steps]


@dataclass
class Critique:
    issues: list[str]
    verdict: str

    @property
    def accepted(self) -> bool:
        return self.verdict == "accept"


@dataclass
class Action:
    tool: str | None = None
    args: dict = field(default_factory=dict)
    answer: str | None = None
    cites: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:  # identity of a tool call, for loop detection
        import json

        return json.dumps([self.tool, self.args], sort_keys=True, ensure_ascii=False)


@dataclass
class Observation:
    n: int
    tool: str
    args: dict
    text: str
    ok: bool
    truncated: int = 0  # characters cut off
    seconds: float = 0.0


@dataclass
class Reflection:
    step_ok: bool
    note: str
    plan_ok: bool


@dataclass
class Verification:
    problem: str
    verdict: str
    checked_by: str = "model"  # "model" | "cites" | "evidence" (deterministic checks)

    @property
    def accepted(self) -> bool:
        return self.verdict == "accept"


@dataclass
class Lesson:
    what_went_wrong: str
    do_differently: str

    def text(self) -> str:
        return f"{self.what_went_wrong.rstrip('.')}; next time: {self.do_differently}"


# -- phases --------------------------------------------------------------------
def plan(ask: Ask, tool_names: Sequence[str], text: str) -> Plan:
    """Phase 1: ``text`` is the plan/replan/revise instruction."""
    data = ask("plan", text, schemas.plan_schema(tool_names))
    return Plan(goal=data["goal"], steps=[Step(s["do"], s["tool"]) for s in data["steps"]])


def critique(ask: Ask) -> Critique:
    """Phase 2 (introspection): accept the plan or ask for a revision."""
    data = ask("critique", instruction("critique"), schemas.CRITIQUE)
    return Critique(issues=list(data["issues"]), verdict=data["verdict"])


def act(ask: Ask, tools: Sequence[Any], current: Step | None, *,
        allow_answer: bool = True, allow_tools: bool = True, reason: str = "",
        observations: int = 99, urls: Sequence[str] = ()) -> Action:
    """Phase 3: the next tool call (args valid by construction) or the answer.
    Without tools allowed (a budget or repeated calls), only an answer."""
    if not allow_tools:
        text = instruction("act_answer", reason=reason)
    else:
        step = f"{current.do} ({current.tool})." if current else "all planned steps are done."
        text = instruction("act", step=step)
    data = ask("act", text, schemas.action_schema(tools, allow_answer=allow_answer,
                                                  allow_tools=allow_tools, observations=observations,
                                                  urls=urls))
    if "answer" in data:
        return Action(answer=data["answer"], cites=list(data["cites"]))
    return Action(tool=data["tool"], args=dict(data["args"]))


def observe(tool: Any, args: dict, n: int, *, timeout: float | None, limit: int) -> Observation:
    """Phase 4: run the tool; failures, timeouts and odd outputs become text.

    The tool runs in a daemon thread so a hung tool cannot hang the agent
    (the thread is abandoned after ``timeout``; Python cannot kill it)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = tool(**args)
        except BaseException as e:  # noqa: BLE001 - every failure is an observation
            box["err"] = e

    start = time.monotonic()
    worker = threading.Thread(target=target, name=f"ponder-tool-{tool.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = time.monotonic() - start
    if worker.is_alive():
        text, ok = f"ERROR: {tool.name} did not finish within {timeout:g} s (timed out)", False
    elif "err" in box:
        e = box["err"]
        kind = "" if type(e).__name__ == "ToolError" else f"{type(e).__name__}: "
        text, ok = f"ERROR: {kind}{e}", False
    else:
        out = box.get("out")
        text, ok = (out if isinstance(out, str) else str(out)), True
        text = text.strip() or "(no output)"
    cut = max(len(text) - limit, 0)
    if cut:
        text = text[:limit].rstrip() + f"\n[truncated: {cut} more characters]"
    return Observation(n=n, tool=tool.name, args=args, text=text, ok=ok, truncated=cut,
                       seconds=seconds)


def reflect(ask: Ask) -> Reflection:
    """Phase 5 (introspection): did the step work, does the plan still fit?"""
    data = ask("reflect", instruction("reflect"), schemas.REFLECT)
    return Reflection(step_ok=data["step_ok"], note=data["note"], plan_ok=data["plan_ok"])


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ACRONYM = re.compile(r"\b[A-Z][A-Za-z]{0,4}[A-Z]\b")


def unsupported_terms(answer: str, evidence: str) -> list[str]:
    """Numbers (2+ digits) and acronyms (MIT, PhD) in the answer that appear in no
    evidence (the task, observations, feedback): a small model's usual inventions."""
    flat = evidence.replace(",", "")
    words = set(re.findall(r"\w+", evidence.lower()))
    out = [n for n in _NUMBER.findall(answer) if sum(c.isdigit() for c in n) >= 2
           and n.replace(",", "").lstrip("-").rstrip(".") not in flat]
    out += [a for a in _ACRONYM.findall(answer) if a.lower() not in words]
    return list(dict.fromkeys(out))


def verify(ask: Ask, answer: Action, observations: int, evidence: str | None = None) -> Verification:
    """Phase 7 (introspection): is every claim supported? Two deterministic checks
    come before the model's own: citations of observations that do not exist, and
    numbers or acronyms that appear nowhere in the evidence (``unsupported_terms``)."""
    missing = [c for c in answer.cites if not 1 <= c <= observations]
    if missing:
        return Verification(f"cites observation(s) {missing}, which do not exist", "revise", "cites")
    invented = unsupported_terms(answer.answer or "", evidence) if evidence is not None else []
    if invented:
        return Verification(f"{', '.join(invented)} appear(s) in no observation: look it up or "
                            "compute it with a tool, or leave it out", "revise", "evidence")
    data = ask("verify", instruction("verify"), schemas.VERIFY)
    return Verification(problem=data["problem"], verdict=data["verdict"])


def lesson(ask: Ask, feedback: str) -> Lesson:
    """Phase 8: turn user feedback into a lesson kept for the session."""
    text = instruction("feedback", text=feedback) + "\n\n" + instruction("lesson")
    data = ask("lesson", text, schemas.LESSON)
    return Lesson(data["what_went_wrong"], data["do_differently"])
