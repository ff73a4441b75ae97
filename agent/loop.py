"""The agent: plan -> critique -> act -> observe -> reflect -> answer -> verify.

The whole loop is ``Agent._loop``; each phase is one function in phases.py,
its schema in schemas.py, its instruction in prompts/phases.yaml. Course
changes are exceptions (control.py). ``introspect`` switches the
introspective phases: "off" (none), "plan" (critique + reflect), "full"
(critique + reflect + verify).

Choices where the spec is silent:
- A run executes in a worker thread and ``stream()`` yields its events from a
  queue as they happen; Ctrl-C while consuming calls ``stop()`` and the run
  ends at the next phase boundary with stop_reason "interrupted".
- When ``max_steps`` tool calls are spent, the model is asked once more, with
  an answer-only schema, for its best answer; stop_reason stays "max_steps".
- The answer option is withheld while no tool has run and the current plan
  step names a tool, so a plan that says "compute on vm" is followed.
- A tool call identical to an earlier one in the run is not executed; it
  forces a replan. Once replans are spent it forces an answer instead.
- A FormatError (a backend that could not enforce the schema) is an "error"
  event, counted in ``format_failures``; the phase is retried once.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import FormatError, ModelError, UsageError
from . import phases
from .control import Budget, BudgetExhausted, Interrupted, Replan, run_streaming
from .events import Event
from .models.base import Model, Usage
from .prompting import instruction, observation_block, system_prompt
from . import schemas
from .schemas import ANSWER
from .transcript import Transcript

INTROSPECT = ("off", "plan", "full")
DEFAULTS: dict[str, Any] = dict(
    base_url=None, tools=None, introspect="full", max_steps=12, max_tokens=None, timeout=None,
    gpu_layers=None, n_ctx=None, store=None, collection="ponder", search_backend=None,
    corpus=None, trace=None, temperature=0.0, on_event=None, tool_timeout=60.0,
    observation_chars=1500, critique_rounds=2, verify_rounds=2, max_replans=3)


@dataclass
class Result:
    """The outcome of one run (one task, or one retry after feedback)."""

    task: str
    answer: str | None = None
    ok: bool = False  # an answer was produced (and, with introspect="full", verified)
    steps: int = 0  # tool calls made
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    events: list[Event] = field(default_factory=list)
    stop_reason: str = "answered"  # answered|max_steps|max_tokens|timeout|interrupted|error
    error: str | None = None
    plan: list[dict] = field(default_factory=list)  # [{"do", "tool", "done"}]
    format_failures: int = 0
    cites: list[int] = field(default_factory=list)
    verified: bool = False
    transcript_tokens: int = 0  # final transcript length, in model tokens

    @property
    def kv_ratio(self) -> float | None:
        """Prompt tokens evaluated / final transcript length (<= 1.2 is the goal)."""
        t = self.transcript_tokens
        return round(self.usage.prompt_eval_tokens / t, 3) if t else None

    def to_dict(self, events: bool = True) -> dict[str, Any]:
        d = {"task": self.task, "answer": self.answer, "ok": self.ok, "steps": self.steps,
             "stop_reason": self.stop_reason, "error": self.error, "seconds": round(self.seconds, 3),
             **self.usage.as_dict(), "format_failures": self.format_failures,
             "transcript_tokens": self.transcript_tokens, "kv_ratio": self.kv_ratio,
             "cites": self.cites, "verified": self.verified, "plan": self.plan}
        if events:
            d["events"] = [e.to_dict() for e in self.events]
        return d


class Agent:
    """An introspective tool-using agent on a local model.

    Agent(model="default" | path.gguf | "hf:OWNER/REPO/FILE.gguf" | Model instance,
          *, base_url=None, tools=None (names, Tool objects, @tool functions,
          LangChain tools; None = all usable built-ins), introspect="full"
          ("off" | "plan" | "full"), max_steps=12, max_tokens=None (completion
          tokens per run), timeout=None (wall seconds per run), gpu_layers=None,
          n_ctx=None, store=None, collection="ponder", search_backend=None,
          corpus=None, trace=None (path: JSON lines of every event),
          temperature=0.0, on_event=None (callback per event))
    Also: tool_timeout=60 (s per tool call), observation_chars=1500,
    critique_rounds=2, verify_rounds=2, max_replans=3.
    """

    def __init__(self, model: Any = "default", **options: Any) -> None:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"Agent() got unknown options: {', '.join(sorted(unknown))}")
        o = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        if o["introspect"] not in INTROSPECT:
            raise UsageError(f"introspect must be one of {', '.join(INTROSPECT)}, not {o['introspect']!r}")
        self.options = o
        if not callable(getattr(model, "complete", None)):
            from .models import load_model

            model = load_model(model, base_url=o["base_url"], gpu_layers=o["gpu_layers"], n_ctx=o["n_ctx"])
        self.model: Model = model
        from ..tools import resolve_tools

        self.tools = resolve_tools(o["tools"], store=o["store"], collection=o["collection"],
                                   search_backend=o["search_backend"], corpus=o["corpus"])
        self._by_name = {t.name: t for t in self.tools}
        self.introspect: str = o["introspect"]
        self.system = system_prompt(self.tools)  # the stable prefix
        self.history: list[Result] = []
        self.lessons: list[str] = []
        self.last_result: Result | None = None
        self.transcript: Transcript | None = None
        self._plan: phases.Plan | None = None
        self._stop = threading.Event()
        self._busy = threading.Lock()

    # -- public API ------------------------------------------------------------
    @property
    def plan(self) -> list[dict]:
        return self._plan.as_dicts() if self._plan else []

    def run(self, task: str) -> Result:
        """Run a task to its end; returns the Result (never raises for tool/model failures)."""
        for _ in self.stream(task):
            pass
        return self.last_result  # type: ignore[return-value]

    def stream(self, task: str) -> Iterator[Event]:
        """Run a task, yielding typed events as they happen; the last is type 'final'.
        The Result is then available as ``agent.last_result``."""
        if not isinstance(task, str) or not task.strip():
            raise UsageError("the task is empty")
        return self._stream(task.strip(), None)

    def feedback(self, text: str) -> Result:
        """Tell the agent its last answer was wrong (or how): it reflects (a 'lesson'
        event), keeps the lesson for the session, and retries the last task."""
        for _ in self.stream_feedback(text):
            pass
        return self.last_result  # type: ignore[return-value]

    def stream_feedback(self, text: str) -> Iterator[Event]:
        """Like feedback(), yielding events as they happen."""
        if not self.history or self.transcript is None:
            raise UsageError("there is no answer to give feedback on yet: run a task first")
        if not text.strip():
            raise UsageError("the feedback is empty")
        return self._stream(self.history[-1].task, text.strip())

    def stop(self) -> None:
        """Ask the current run to stop (thread-safe); it ends with stop_reason 'interrupted'."""
        self._stop.set()

    def reset(self) -> None:
        """Forget this session's tasks, results and lessons."""
        self.history, self.lessons, self.last_result = [], [], None
        self.transcript, self._plan = None, None

    # -- running: a worker thread feeds a queue that stream() yields from ------
    def _stream(self, task: str, feedback: str | None) -> Iterator[Event]:
        def gen() -> Iterator[Event]:
            if not self._busy.acquire(blocking=False):
                raise UsageError("this agent is already running a task")
            self._stop.clear()
            try:
                yield from run_streaming(lambda emit: self._session(task, feedback, emit), self.stop)
            finally:
                self._busy.release()
        return gen()

    def _session(self, task: str, feedback: str | None, put: Callable[[Event], None]) -> None:
        r = self._r = Result(task=task)
        self._put, self._budget = put, Budget(self.options["max_steps"], self.options["max_tokens"],
                                              self.options["timeout"], stop_flag=self._stop)
        self._seen: dict[str, int] = {}
        self._replans, self._no_tools, self._repeated = 0, "", False
        start = time.monotonic()
        try:
            if feedback is not None:
                self._emit("feedback", text=feedback)
                learned = phases.lesson(self._ask, feedback)
                self.lessons.append(learned.text())
                self._emit("lesson", what_went_wrong=learned.what_went_wrong,
                           do_differently=learned.do_differently)
                self.transcript.say(instruction("retry", task=task))  # type: ignore[union-attr]
                self._evidence.append(feedback)
            else:
                self.transcript = Transcript(self.system)
                self._evidence = [task]  # what an answer's numbers and acronyms must come from
                if self.lessons:
                    self.transcript.say(instruction("lessons", lessons="\n".join(f"- {x}" for x in self.lessons)))
                self.transcript.say(instruction("task", task=task))
            self._emit("task", task=task, retry=feedback is not None)
            self._loop()
        except BudgetExhausted as e:
            r.stop_reason = e.reason
            self._emit("budget", reason=e.reason, message=e.message)
        except Interrupted:
            r.stop_reason = "interrupted"
        except ModelError as e:
            r.stop_reason, r.error = "error", str(e)
            self._emit("error", kind=type(e).__name__, message=str(e))
        r.seconds = time.monotonic() - start
        r.plan = self.plan
        r.transcript_tokens = self.transcript.tokens if self.transcript else 0
        r.ok = (r.answer is not None and r.stop_reason == "answered"
                and (r.verified or self.introspect != "full"))
        self.history.append(r)
        self.last_result = r
        self._emit("final", **r.to_dict(events=False))

    # -- the loop ----------------------------------------------------------------
    def _loop(self) -> None:
        self._make_plan(instruction("plan"))
        verify_rounds = 0
        while True:
            steps_left = self._budget.steps_left(self._r.steps)
            reason = self._no_tools or ("" if steps_left else f"No tool calls are left ({self._r.steps} made).")
            step = self._plan.current() if self._plan else None
            if not reason and self._r.steps and step is not None and step.tool == ANSWER:
                # the plan drives the grammar: once its next step is the answer, only an
                # answer can be generated (more tool calls need a replan, via reflection)
                reason = "The plan's next step is the answer."
            follow_plan = self._r.steps == 0 and step is not None and step.tool in self._by_name
            act = phases.act(self._ask, self.tools, step, allow_answer=not follow_plan or bool(reason),
                             allow_tools=not reason, reason=reason,
                             observations=self._observations(),
                             urls=schemas.URL.findall("\n".join(self._evidence)))
            if act.answer is None:
                try:
                    self._call_tool(act)
                except Replan as e:
                    self._replan(e.reason)
                continue
            self._r.answer, self._r.cites = act.answer, act.cites
            for s in self._plan.steps if self._plan else []:
                s.done = s.done or s.tool == "answer"
            self._emit("answer", answer=act.answer, cites=act.cites)
            if not steps_left:
                raise BudgetExhausted("max_steps", f"the {self._budget.max_steps} tool calls were used")
            if self.introspect != "full":
                return
            check = phases.verify(self._ask, act, self._observations(), "\n".join(self._evidence))
            self._emit("verification", problem=check.problem, verdict=check.verdict,
                       checked_by=check.checked_by)
            self._r.verified = check.accepted
            if check.accepted or verify_rounds >= self.options["verify_rounds"]:
                return
            verify_rounds += 1
            self.transcript.say(instruction("revise_answer", problem=check.problem))  # type: ignore[union-attr]

    def _make_plan(self, text: str) -> None:
        names = list(self._by_name)
        self._plan = phases.plan(self._ask, names, text)
        self._emit("plan", goal=self._plan.goal, steps=self.plan)
        for rounds in range(self.options["critique_rounds"] if self.introspect != "off" else 0):
            verdict = phases.critique(self._ask)
            self._emit("critique", issues=verdict.issues, verdict=verdict.verdict, round=rounds + 1)
            if verdict.accepted:
                return
            self._plan = phases.plan(self._ask, names, instruction("revise"))
            self._emit("plan", goal=self._plan.goal, steps=self.plan, revision=rounds + 1)

    def _replan(self, reason: str) -> None:
        self._emit("replan", reason=reason, replans=self._replans + 1)
        if self._replans >= self.options["max_replans"]:
            self._no_tools = "The plan keeps failing; stop calling tools."
            return
        self._replans += 1
        self._make_plan(instruction("replan", reason=reason))

    def _call_tool(self, act: phases.Action) -> None:
        if act.key in self._seen:
            note = instruction("repeat", tool=act.tool, n=self._seen[act.key])
            if not self._repeated:  # the first repeat forces a replan, a second one an answer
                self._repeated = True
                raise Replan(note)
            self._emit("replan", reason=note, replans=self._replans)
            self._no_tools = f"{note} Stop calling tools."
            return
        self._r.steps += 1
        self._emit("tool_call", tool=act.tool, args=act.args)
        timeout = self.options["tool_timeout"]
        left = self._budget.remaining_seconds()
        obs = phases.observe(self._by_name[act.tool], act.args, self._observations() + 1,
                             timeout=timeout if left is None else min(timeout, max(left, 0.1)),
                             limit=self.options["observation_chars"])
        self._seen[act.key] = obs.n
        self.transcript.observations = obs.n  # type: ignore[union-attr]
        self.transcript.say(observation_block(obs.n, obs.tool, obs.text))  # type: ignore[union-attr]
        self._evidence.append(obs.text)
        self._emit("observation", n=obs.n, tool=obs.tool, text=obs.text, ok=obs.ok,
                   truncated=obs.truncated, seconds=round(obs.seconds, 3))
        step = self._plan.current() if self._plan else None
        if step is not None and step.tool == ANSWER:
            step = None  # a tool call never completes the answer step: the answer does
        if self.introspect == "off":
            if step and obs.ok:
                step.done = True
            return
        ref = phases.reflect(self._ask)
        if step and ref.step_ok:
            step.done = True
        self._emit("reflection", step_ok=ref.step_ok, note=ref.note, plan_ok=ref.plan_ok, plan=self.plan)
        if not ref.plan_ok:
            raise Replan(f"The plan no longer fits: {ref.note}".strip())

    # -- model calls and events ------------------------------------------------
    def _ask(self, phase: str, text: str, schema: dict) -> Any:
        """Append ``text``, call the model under ``schema``, append its reply."""
        t = self.transcript
        assert t is not None
        self._budget.check(self._r.usage.completion_tokens)  # before the instruction is added
        t.say(text)
        for attempt in (1, 2):
            if attempt == 2:
                self._budget.check(self._r.usage.completion_tokens)
            messages = t.request()
            try:
                c = self.model.complete(messages, schema=schema, max_tokens=None,
                                        temperature=self.options["temperature"])
            except FormatError as e:
                self._r.format_failures += 1
                self._emit("error", kind="FormatError", phase=phase, message=str(e), attempt=attempt)
                if attempt == 2:
                    raise
                continue
            self._r.usage += c.usage
            t.reply(c.text, c.usage)
            return c.data if c.data is not None else json.loads(c.text)

    def _observations(self) -> int:
        return self.transcript.observations if self.transcript else 0

    def _emit(self, kind: str, /, **content: Any) -> Event:
        event = Event(kind, self._r.steps, content)
        self._r.events.append(event)
        if self.options["trace"]:
            with open(self.options["trace"], "a", encoding="utf-8") as f:
                f.write(event.to_json() + "\n")
        if self.options["on_event"]:
            self.options["on_event"](event)
        self._put(event)
        return event

