"""The ``ponder chat`` REPL: tasks in, live-rendered agent runs out.

Input: prompt_toolkit with persistent history (``ponder_home()/history``),
bracketed paste (a pasted block of several lines is ONE task) and
Esc-Enter / Alt-Enter for a newline. When stdin or stdout is not a terminal,
or prompt_toolkit cannot attach, it falls back to ``input()`` (a line ending
in ``\\`` continues on the next line), so pipes and pseudo-terminals work.

Runs: ``agent.stream()`` events are rendered as they come (ponder.render).
Ctrl-C during a run calls ``agent.stop()``: the run ends at the next phase
boundary and the session goes on. Ctrl-C at the prompt clears the line;
Ctrl-D (or /quit) quits. Every finished turn is committed to the session
store (agent/session.py) before the next prompt.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from .agent.session import SessionStore, ponder_home
from .errors import UsageError
from .render import checklist, describe, make_renderer, use_rich

HELP = """\
Type a task and press Enter; the agent plans, acts and answers as you watch.
  /help            this help
  /plan            the current plan, as a checklist
  /trace           every step of the last run, one line each
  /tools           the tools the agent can use
  /feedback TEXT   tell the agent its last answer was wrong (or how); it reflects and retries
  /reset           forget this session's tasks and lessons (starts a new saved session)
  /save FILE       write this session to FILE (.md: markdown; otherwise JSON)
  /quit            leave (Ctrl-D too)
Ctrl-C stops the current run and keeps the session. Esc-Enter inserts a newline."""

COMMANDS = ("/help", "/plan", "/trace", "/tools", "/feedback", "/reset", "/save", "/quit", "/exit")


class Repl:
    def __init__(self, agent: Any, store: SessionStore, session_id: int, *,
                 out: TextIO | None = None, rich: bool | None = None,
                 read: Callable[[str], str] | None = None):
        self.agent, self.store, self.session_id = agent, store, session_id
        self.out = out or sys.stdout
        self.rich = use_rich(self.out) if rich is None else rich
        self.read = read or make_reader()
        self.last_events: list = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    # -- main loop -----------------------------------------------------------------
    def loop(self) -> int:
        while True:
            try:
                line = self.read("ponder> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                self.say("bye")
                return 0
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if self.command(line) == "quit":
                        self.say("bye")
                        return 0
                else:
                    self.run_turn("task", line, lambda: self.agent.stream(line))
            except UsageError as e:
                self.say(f"error: {e}")

    def command(self, line: str) -> str | None:
        name, _, rest = line.partition(" ")
        name, rest = name.lower(), rest.strip()
        if name in ("/quit", "/exit", "/q"):
            return "quit"
        if name in ("/help", "/?"):
            self.say(HELP)
        elif name == "/plan":
            plan = self.agent.plan
            if not plan:
                self.say("no plan yet: type a task first")
            else:
                goal = next((e.content.get("goal") for e in reversed(self.last_events) if e.type == "plan"), "")
                self.say(f"plan: {goal}" if goal else "plan:")
                for item in checklist(plan):
                    self.say("  " + item)
        elif name == "/trace":
            if not self.last_events:
                self.say("no run yet: type a task first")
            for ev in self.last_events:
                self.say(describe(ev))
        elif name == "/tools":
            for t in self.agent.tools:
                self.say(f"  {t.name:<10} {' '.join(str(t.description).split())[:100]}")
        elif name == "/feedback":
            if not rest:
                raise UsageError("/feedback needs text, e.g. /feedback the subtraction order was wrong")
            self.run_turn("feedback", rest, lambda: self.agent.stream_feedback(rest))
        elif name == "/reset":
            self.agent.reset()
            self.last_events = []
            self.session_id = self.store.new_session()
            self.say("session reset: tasks and lessons forgotten")
        elif name == "/save":
            if not rest:
                raise UsageError("/save needs a file name, e.g. /save session.md")
            self.save(Path(rest).expanduser())
        else:
            raise UsageError(f"unknown command {name}; /help lists the commands")
        return None

    # -- a run -----------------------------------------------------------------------
    def run_turn(self, kind: str, text: str, start: Callable[[], Any]) -> None:
        gen = start()  # raises UsageError before anything runs (e.g. no task yet)
        renderer = make_renderer(self.out, rich=self.rich)
        events: list = []
        interrupted = False
        it = iter(gen)
        try:
            while True:
                try:
                    ev = next(it)
                except StopIteration:
                    break
                except KeyboardInterrupt:
                    interrupted = True
                    self.agent.stop()
                    continue
                events.append(ev)
                try:
                    renderer.event(ev)
                except KeyboardInterrupt:
                    interrupted = True
                    self.agent.stop()
        finally:
            renderer.close()
        self.last_events = events
        result = self.agent.last_result
        if interrupted or getattr(result, "stop_reason", "") == "interrupted":
            self.say("(stopped: the session goes on)")
        self.store.add_turn(self.session_id, kind, text, result, events)

    # -- saving ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        data = self.store.export(self.session_id)
        try:
            if path.suffix.lower() in (".md", ".markdown"):
                path.write_text(to_markdown(data), encoding="utf-8")
            else:
                path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror}") from None
        self.say(f"saved {len(data['turns'])} turn(s) to {path}")


def to_markdown(data: dict) -> str:
    lines = [f"# ponder session {data['session']}", ""]
    for t in data["turns"]:
        head = "Task" if t["kind"] == "task" else "Feedback"
        lines += [f"## {head}: {t['input']}", ""]
        if t["plan"]:
            lines += [f"- {item}" for item in checklist(t["plan"])] + [""]
        for e in t["events"]:
            if e["type"] in ("tool_call", "observation", "critique", "reflection", "lesson"):
                body = {k: v for k, v in e.items() if k not in ("type", "step", "time")}
                lines.append(f"- *{e['type']}*: `{json.dumps(body, ensure_ascii=False)[:300]}`")
        lines += ["", f"**Answer:** {t['answer']}" if t["answer"] is not None else "**No answer**",
                  "", f"_{t['prompt_tokens'] + t['completion_tokens']} tokens, {t['seconds']:.1f} s, "
                      f"{t['stop_reason']}_", ""]
    return "\n".join(lines)


def make_reader() -> Callable[[str], str]:
    """prompt_toolkit on a terminal, else ``input()`` (see the module docstring)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            return _prompt_toolkit_reader()
        except Exception:  # noqa: BLE001 - any failure to attach: plain input
            pass
    return _plain_reader


def _plain_reader(prompt: str) -> str:
    lines = [input(prompt)]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(input("... "))
    return "\n".join(lines)


def _prompt_toolkit_reader() -> Callable[[str], str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("escape", "enter")
    def _newline(event) -> None:  # Esc-Enter / Alt-Enter: a newline inside the task
        event.current_buffer.insert_text("\n")

    session: PromptSession = PromptSession(
        history=FileHistory(str(ponder_home() / "history")), key_bindings=kb,
        completer=WordCompleter(list(COMMANDS), sentence=True), complete_while_typing=False,
        enable_history_search=True)

    def read(prompt: str) -> str:
        return session.prompt(prompt)

    return read
