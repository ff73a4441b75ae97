"""``ponder ask``, ``ponder run`` and ``ponder eval``: scripted, non-interactive runs.

The model is loaded once per command and shared by one Agent per task (each
task gets its own tools and ``max_steps``). Choices where the spec is silent:

- ``ask`` prints the answer on stdout (progress goes to stderr on a
  terminal only); exit 1 when there is no answer or the run failed.
- ``run``/``eval`` write one JSON result line per task, flushed as each task
  ends (``--out FILE``, else stdout). ``--resume`` keeps the lines already in
  ``--out`` (dropping a torn last line left by a killed run) and skips every
  task whose id is there, so ids are never duplicated.
- ``--workers N`` needs a backend that serves requests concurrently
  (``--base-url``): one in-process llama.cpp context cannot run two
  generations at once, so there it says so on stderr and runs one at a time.
- Exit status of ``run``/``eval``: 0 when every task ran without an error
  (wrong answers are data, not failures); 1 when some task ended in an error.
- ``--trace FILE`` is truncated at the start (appended to with ``--resume``).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TextIO

from ..errors import UsageError
from ..taskfile import Task, load_tasks, score
from .common import (add_agent_options, load_model_from_args, make_agent, model_is_concurrent,
                     parse_tools, positive_int)


def register(sub) -> None:
    a = sub.add_parser("ask", help="one task: print the answer")
    a.add_argument("question", help="the task, in words")
    a.add_argument("--json", action="store_true",
                   help="print answer, ok, steps, tokens, seconds, stop_reason and trace as JSON")
    add_agent_options(a)
    a.set_defaults(func=ask)
    for name, helptext in (("run", "every task in a task file; one JSON line per task"),
                           ("eval", "run a task file and score the answers against 'expected'")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("tasks", metavar="TASKS", help="task file: YAML (.yaml) or JSON lines (.jsonl)")
        p.add_argument("--out", default=None, metavar="FILE",
                       help="write result lines here (default: stdout" + (", for run)" if name == "run" else "; eval prints only the summary)"))
        p.add_argument("--workers", type=positive_int, default=1,
                       help="tasks at once (needs --base-url; an in-process model runs one at a time)")
        p.add_argument("--resume", action="store_true", help="skip tasks whose id is already in --out")
        if name == "eval":
            p.add_argument("--json", action="store_true",
                           help='print {"summary": {...}, "results": [...]} as JSON')
        add_agent_options(p)
        p.set_defaults(func=run if name == "run" else evaluate)


# -- ask ---------------------------------------------------------------------
def ask(args: argparse.Namespace) -> int:
    from ..render import make_renderer, use_rich

    if not args.question.strip():
        raise UsageError("the question is empty: ponder ask \"What is 48271 * 9973?\"")
    parse_tools(args.tools)
    _reset_trace(args.trace)
    agent = make_agent(args, model=load_model_from_args(args))
    live = not args.json and use_rich(sys.stderr)
    renderer = make_renderer(sys.stderr, rich=True) if live else None
    events = []
    try:
        for ev in agent.stream(args.question):
            events.append(ev)
            if renderer:
                renderer.event(ev)
    finally:
        if renderer:
            renderer.close()
    r = agent.last_result
    if args.json:
        d = {"answer": r.answer, "ok": r.ok, "steps": r.steps,
             "tokens": r.usage.prompt_tokens + r.usage.completion_tokens,
             "prompt_tokens": r.usage.prompt_tokens, "completion_tokens": r.usage.completion_tokens,
             "usage": r.usage.as_dict(), "seconds": round(r.seconds, 3), "stop_reason": r.stop_reason,
             "error": r.error, "plan": r.plan, "trace": [e.to_dict() for e in events]}
        print(json.dumps(d, ensure_ascii=False, default=str))
    elif r.answer is not None:
        print(r.answer)
    if r.answer is None or r.error:
        why = r.error or f"no answer ({r.stop_reason})"
        print(f"ponder: the task failed: {why}", file=sys.stderr)
        return 1
    return 0


# -- run / eval ----------------------------------------------------------------
def result_line(task: Task, r: Any = None, error: str | None = None) -> dict[str, Any]:
    """cli.md's result line (plus stop_reason and format_failures)."""
    answer = getattr(r, "answer", None)
    usage = getattr(r, "usage", None)
    err = error or getattr(r, "error", None)
    return {
        "id": task.id, "question": task.question, "answer": answer,
        "ok": score(answer, task.expected) if task.expected is not None else None,
        "steps": getattr(r, "steps", 0),
        "prompt_tokens": getattr(usage, "prompt_tokens", 0),
        "completion_tokens": getattr(usage, "completion_tokens", 0),
        "seconds": round(getattr(r, "seconds", 0.0), 3),
        "error": err,
        "stop_reason": getattr(r, "stop_reason", "error"),
        "format_failures": getattr(r, "format_failures", 0),
    }


def run_tasks(args: argparse.Namespace, emit: Callable[[dict], None]) -> list[dict]:
    """Run every (not yet done) task; ``emit`` gets each result line as it is ready."""
    tasks = load_tasks(args.tasks)
    default_tools = parse_tools(args.tools)
    if args.resume and not args.out:
        raise UsageError("--resume needs --out FILE (the results of the earlier run)")
    done = read_done(args.out) if args.resume else {}
    todo = [t for t in tasks if t.id not in done]
    if not args.resume:
        _reset_trace(args.trace)
    model = load_model_from_args(args)
    workers = args.workers
    if workers > 1 and not model_is_concurrent(args, model):
        print(f"ponder: --workers {workers}: the in-process model runs one task at a time "
              "(one llama.cpp context is not thread-safe); use --base-url with a server for "
              "concurrent tasks", file=sys.stderr)
        workers = 1
    tool_cache: dict[tuple, list] = {}
    tool_lock = threading.Lock()

    def tools_for(task: Task) -> list:
        names = task.tools if task.tools is not None else default_tools
        key = tuple(names) if names is not None else ("*",)
        with tool_lock:
            if key not in tool_cache:
                from ..tools import resolve_tools

                tool_cache[key] = resolve_tools(names, store=args.store, collection=args.collection,
                                                search_backend=args.search_backend, corpus=args.corpus)
            return tool_cache[key]

    def one(task: Task) -> dict:
        try:
            over: dict[str, Any] = {"model": model, "tools": tools_for(task)}
            if task.max_steps is not None:
                over["max_steps"] = task.max_steps
            agent = make_agent(args, **over)
            r = agent.run(task.question)
            line = result_line(task, r)
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001 - one failed task must not end the run
            line = result_line(task, error=f"{type(e).__name__}: {e}")
        emit(line)
        return line

    lines = list(done.values())
    if workers == 1:
        lines += [one(t) for t in todo]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ponder-task") as pool:
            lines += list(pool.map(one, todo))
    order = {t.id: i for i, t in enumerate(tasks)}
    return sorted(lines, key=lambda d: order.get(str(d.get("id")), len(order)))


def read_done(path: str) -> dict[str, dict]:
    """Result lines already in ``path`` by id; a torn last line (a killed run) is cut off."""
    p = Path(path)
    if not p.exists():
        return {}
    data = p.read_bytes()
    done: dict[str, dict] = {}
    keep = 0
    for raw in data.splitlines(keepends=True):
        try:
            line = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if not raw.endswith(b"\n"):
                break  # the torn tail of a killed run
            raise UsageError(f"--resume: {path} has a line that is not JSON ({raw[:60]!r}); "
                             "is it a ponder run output?") from None
        if not raw.endswith(b"\n"):
            raw += b"\n"
        if isinstance(line, dict) and "id" in line:
            done[str(line["id"])] = line
        keep += len(raw)
    if keep != len(data):
        with open(p, "r+b") as f:
            f.truncate(min(keep, len(data)))
            if keep > len(data):
                f.seek(0, 2)
                f.write(b"\n")
    return done


class _Sink:
    """Writes result lines (one flush per line), thread-safe."""

    def __init__(self, stream: TextIO | None):
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, line: dict) -> None:
        if self.stream is None:
            return
        with self.lock:
            self.stream.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            self.stream.flush()


def _open_out(args: argparse.Namespace, default: TextIO | None) -> TextIO | None:
    if not args.out:
        return default
    try:
        return open(args.out, "a" if args.resume else "w", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write --out {args.out!r}: {e.strerror}") from None


def _reset_trace(path: str | None) -> None:
    if path:
        try:
            open(path, "w", encoding="utf-8").close()
        except OSError as e:
            raise UsageError(f"cannot write --trace {path!r}: {e.strerror}") from None


def _checked_inputs(args: argparse.Namespace) -> None:
    load_tasks(args.tasks)  # bad task files fail before the --out file is touched


def run(args: argparse.Namespace) -> int:
    _checked_inputs(args)
    if args.resume and not args.out:
        raise UsageError("--resume needs --out FILE (the results of the earlier run)")
    if args.resume:
        read_done(args.out)  # cut a torn line before appending
    out = _open_out(args, sys.stdout)
    try:
        lines = run_tasks(args, _Sink(out))
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    return 1 if any(line.get("error") for line in lines) else 0


def summarize(lines: list[dict]) -> dict[str, Any]:
    scored = [d for d in lines if d.get("ok") is not None]
    correct = sum(1 for d in scored if d["ok"])
    n = len(lines)
    return {
        "total": n,
        "correct": correct,
        "accuracy": round(correct / len(scored), 4) if scored else None,
        "mean_steps": round(sum(d.get("steps") or 0 for d in lines) / n, 3) if n else 0.0,
        "prompt_tokens": sum(d.get("prompt_tokens") or 0 for d in lines),
        "completion_tokens": sum(d.get("completion_tokens") or 0 for d in lines),
        "seconds": round(sum(d.get("seconds") or 0.0 for d in lines), 3),
        "format_failures": sum(d.get("format_failures") or 0 for d in lines),
        "errors": sum(1 for d in lines if d.get("error")),
        "scored": len(scored),
    }


def evaluate(args: argparse.Namespace) -> int:
    _checked_inputs(args)
    if args.resume and not args.out:
        raise UsageError("--resume needs --out FILE (the results of the earlier run)")
    if args.resume:
        read_done(args.out)
    out = _open_out(args, None)
    try:
        lines = run_tasks(args, _Sink(out))
    finally:
        if out is not None:
            out.close()
    summary = summarize(lines)
    if args.json:
        print(json.dumps({"summary": summary, "results": lines}, ensure_ascii=False, default=str))
    else:
        print_table(summary, lines)
    return 1 if summary["errors"] else 0


def print_table(summary: dict, lines: list[dict]) -> None:
    from ..render import use_rich

    acc = summary["accuracy"]
    acc_text = "n/a (no expected)" if acc is None else f"{acc:.1%} ({summary['correct']}/{summary['scored']})"
    rows = [("tasks", str(summary["total"])), ("accuracy", acc_text),
            ("mean steps", f"{summary['mean_steps']:.2f}"),
            ("tokens", f"{summary['prompt_tokens']} prompt + {summary['completion_tokens']} completion"),
            ("seconds", f"{summary['seconds']:.1f}"), ("format failures", str(summary["format_failures"])),
            ("errors", str(summary["errors"]))]
    if use_rich(sys.stdout):
        from rich.console import Console
        from rich.table import Table

        per = Table(title="results")
        for col in ("id", "ok", "steps", "tokens", "seconds", "answer"):
            per.add_column(col, overflow="ellipsis", no_wrap=col != "answer")
        for d in lines:
            ok = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[d.get("ok")]
            per.add_row(str(d["id"]), ok, str(d.get("steps")),
                        str((d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)),
                        f"{d.get('seconds') or 0:.1f}", str(d.get("answer") if not d.get("error") else d["error"])[:80])
        table = Table(title="summary", show_header=False)
        table.add_column("metric", style="bold")
        table.add_column("value")
        for k, v in rows:
            table.add_row(k, v)
        console = Console(highlight=False)
        console.print(per)
        console.print(table)
        return
    for d in lines:
        ok = {True: "ok", False: "WRONG", None: "-"}[d.get("ok")]
        print(f"{d['id']:<16} {ok:<6} steps={d.get('steps')} "
              f"tokens={(d.get('prompt_tokens') or 0) + (d.get('completion_tokens') or 0)} "
              f"seconds={d.get('seconds') or 0:.1f}" + (f" error={d['error']}" if d.get("error") else ""))
    print()
    for k, v in rows:
        print(f"{k:<16} {v}")
