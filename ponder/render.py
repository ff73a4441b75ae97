"""Showing agent events as they happen: rich on a terminal, plain lines otherwise.

``make_renderer(stream)`` picks ``RichRenderer`` when ``stream`` is a terminal
(and ``NO_COLOR``/``TERM=dumb`` do not say otherwise), else ``PlainRenderer``.
Both show: the plan as a checklist that ticks off as steps are done;
critiques, reflections and verifications dimmed; each tool call and each
observation collapsed to one line; the answer prominent; tokens and seconds
at the end of a run. The rich one keeps the live checklist at the bottom of
the screen while the run goes on (``rich.live.Live``) and prints the rest
above it.

``describe(event)`` is the one-line text of an event (used by ``/trace``).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Protocol, TextIO

from .agent.events import Event

LINE = 110  # characters a collapsed tool call / observation line keeps


class Renderer(Protocol):
    def event(self, ev: Event) -> None: ...
    def close(self) -> None: ...


def one_line(text: Any, width: int = LINE) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def args_text(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return str(args)


def checklist(steps: list[dict]) -> list[str]:
    return [f"[{'x' if s.get('done') else ' '}] {i}. {s.get('do', '')} ({s.get('tool', '')})"
            for i, s in enumerate(steps, 1)]


def stats(c: dict) -> str:
    tokens = c.get("prompt_tokens", 0) + c.get("completion_tokens", 0)
    parts = [f"{tokens} tokens ({c.get('prompt_eval_tokens', c.get('prompt_tokens', 0))} evaluated, "
             f"{c.get('completion_tokens', 0)} generated)", f"{c.get('seconds', 0):.1f} s",
             f"{c.get('steps', 0)} tool call{'s' if c.get('steps', 0) != 1 else ''}",
             str(c.get("stop_reason", ""))]
    if c.get("error"):
        parts.append(f"error: {c['error']}")
    return ", ".join(p for p in parts if p)


def describe(ev: Event) -> str:
    """One line per event (its kind, step and the gist of its content)."""
    c, t = ev.content, ev.type
    if t == "task":
        body = ("retry: " if c.get("retry") else "") + str(c.get("task", ""))
    elif t == "plan":
        body = f"{c.get('goal', '')} | " + "; ".join(
            f"{s.get('do')} ({s.get('tool')})" for s in c.get("steps", []))
    elif t == "critique":
        body = c.get("verdict", "") + (": " + "; ".join(c["issues"]) if c.get("issues") else "")
    elif t == "tool_call":
        body = f"{c.get('tool')}({args_text(c.get('args', {}))})"
    elif t == "observation":
        body = f"#{c.get('n')} {c.get('tool')}{'' if c.get('ok', True) else ' FAILED'}: {c.get('text', '')}"
    elif t == "reflection":
        body = f"{'ok' if c.get('step_ok') else 'not ok'}: {c.get('note', '')}"
    elif t == "verification":
        body = c.get("verdict", "") + (f": {c['problem']}" if c.get("problem") else "")
    elif t == "answer":
        body = str(c.get("answer", ""))
    elif t == "lesson":
        body = f"{c.get('what_went_wrong', '')}; next time: {c.get('do_differently', '')}"
    elif t in ("feedback",):
        body = str(c.get("text", ""))
    elif t in ("replan",):
        body = str(c.get("reason", ""))
    elif t in ("budget", "error"):
        body = str(c.get("message", ""))
    elif t == "final":
        body = stats(c)
    else:
        body = json.dumps(c, ensure_ascii=False, default=str)
    return one_line(f"{ev.step:>2} {t:<12} {body}", 200)


class PlainRenderer:
    """Plain text lines, for pipes, logs and dumb terminals."""

    def __init__(self, stream: TextIO | None = None, show_final: bool = True):
        self.out = stream or sys.stdout
        self.show_final = show_final

    def _p(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def event(self, ev: Event) -> None:
        c, t = ev.content, ev.type
        if t == "plan":
            self._p(f"plan{' (revised)' if c.get('revision') else ''}: {c.get('goal', '')}")
            for line in checklist(c.get("steps", [])):
                self._p("  " + line)
        elif t == "reflection":
            self._p(f"  reflection: {'ok' if c.get('step_ok') else 'not ok'} - {one_line(c.get('note', ''))}")
            done = [s for s in c.get("plan", []) if s.get("done")]
            if done:
                self._p(f"  plan: {len(done)}/{len(c.get('plan', []))} done")
        elif t == "critique":
            issues = "; ".join(c.get("issues", []))
            self._p(f"  critique: {c.get('verdict')}" + (f" - {one_line(issues)}" if issues else ""))
        elif t == "tool_call":
            self._p(one_line(f"-> {c.get('tool')}({args_text(c.get('args', {}))})"))
        elif t == "observation":
            self._p(one_line(f"<- #{c.get('n')} {c.get('tool')}: {c.get('text', '')}"))
        elif t == "verification":
            self._p(f"  verification: {c.get('verdict')}" + (f" - {one_line(c['problem'])}" if c.get("problem") else ""))
        elif t == "answer":
            self._p(f"answer: {c.get('answer', '')}")
        elif t == "final":
            plan = c.get("plan") or []
            if plan:
                self._p(f"plan: {sum(1 for s in plan if s.get('done'))}/{len(plan)} done")
                for line in checklist(plan):
                    self._p("  " + line)
            if self.show_final:
                self._p(f"-- {stats(c)}")
        elif t != "task":
            self._p(describe(ev).strip())

    def close(self) -> None:
        pass


class RichRenderer:
    """rich output with a live plan checklist at the bottom while a run goes on."""

    def __init__(self, stream: TextIO | None = None, show_final: bool = True):
        from rich.console import Console

        self.console = Console(file=stream or sys.stdout, highlight=False)
        self.show_final = show_final
        self.plan: list[dict] = []
        self.goal = ""
        self.status = "planning"
        self.live = None

    def _panel(self):
        from rich.text import Text

        t = Text()
        if self.goal:
            t.append(f"plan: {self.goal}\n", style="bold")
        for s, line in zip(self.plan, checklist(self.plan)):
            t.append("  " + line + "\n", style="green" if s.get("done") else "")
        t.append(f"  … {self.status}", style="dim italic")
        return t

    def _refresh(self) -> None:
        if self.live is None:
            from rich.live import Live

            self.live = Live(self._panel(), console=self.console, auto_refresh=False, transient=True)
            self.live.start()
        self.live.update(self._panel(), refresh=True)

    def _print(self, *objs: Any, **kw: Any) -> None:
        self.console.print(*objs, **kw)

    def event(self, ev: Event) -> None:
        from rich.markup import escape

        c, t = ev.content, ev.type
        if t == "plan":
            self.goal, self.plan = c.get("goal", ""), list(c.get("steps", []))
            self.status = "critiquing the plan" if not c.get("revision") else "revised plan"
        elif t == "reflection":
            self.plan = list(c.get("plan", self.plan))
            self._print(f"  [dim]reflection: {'ok' if c.get('step_ok') else 'not ok'} - "
                        f"{escape(one_line(c.get('note', '')))}[/dim]")
            self.status = "next step"
        elif t == "critique":
            issues = "; ".join(c.get("issues", []))
            self._print(f"  [dim]critique: {escape(str(c.get('verdict')))}"
                        + (f" - {escape(one_line(issues))}" if issues else "") + "[/dim]")
            self.status = "acting"
        elif t == "tool_call":
            self._print(f"[cyan]→ {escape(one_line(c.get('tool', '') + '(' + args_text(c.get('args', {})) + ')'))}[/cyan]")
            self.status = f"running {c.get('tool')}"
        elif t == "observation":
            style = "cyan" if c.get("ok", True) else "red"
            self._print(f"[{style}]← #{c.get('n')} {escape(one_line(str(c.get('tool')) + ': ' + str(c.get('text', ''))))}[/{style}]")
            self.status = "reflecting"
        elif t == "verification":
            self._print(f"  [dim]verification: {escape(str(c.get('verdict')))}"
                        + (f" - {escape(one_line(c['problem']))}" if c.get("problem") else "") + "[/dim]")
        elif t == "answer":
            from rich.panel import Panel

            self._print(Panel(escape(str(c.get("answer", ""))), title="answer", border_style="bold green",
                              expand=False))
            self.status = "verifying"
        elif t == "final":
            self.plan = list(c.get("plan", self.plan))
            self.close()
            if self.plan:
                self._print(f"[bold]plan:[/bold] {escape(self.goal)}")
                for s, line in zip(self.plan, checklist(self.plan)):
                    self._print("  " + escape(line), style="green" if s.get("done") else "dim")
            if self.show_final:
                self._print(f"[dim]{escape(stats(c))}[/dim]")
            return
        elif t in ("lesson", "feedback", "replan", "budget", "error"):
            style = "red" if t == "error" else "yellow" if t in ("budget", "replan") else "magenta"
            self._print(f"[{style}]{t}: {escape(describe(ev).split(None, 2)[-1])}[/{style}]")
        if t != "task" or self.live is not None:
            self._refresh()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def use_rich(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def make_renderer(stream: TextIO | None = None, *, rich: bool | None = None,
                  show_final: bool = True) -> Renderer:
    stream = stream or sys.stdout
    if rich is None:
        rich = use_rich(stream)
    return RichRenderer(stream, show_final) if rich else PlainRenderer(stream, show_final)
