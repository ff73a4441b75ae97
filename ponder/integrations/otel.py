"""OpenTelemetry spans per agent run and per phase (the ``otel`` extra).

Off by default and zero-cost when off: nothing imports this module (so
nothing imports ``opentelemetry``) unless you opt in:

- command line: ``PONDER_OTEL=1 ponder ask ...`` (``ponder.cli.common``
  checks the variable with a string compare and only then imports this);
  with no tracer provider configured, spans go to the OTLP exporter when
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the exporter is installed, else
  to stderr (``ConsoleSpanExporter``);
- library: ``Agent(..., on_event=otel.subscriber())`` or
  ``otel.instrument(agent)`` (keeps any ``on_event`` already there).

How: a subscriber on the agent's events (the Agent's ``on_event`` callback),
so the loop needs no hooks. The ``task`` event opens a ``ponder.run`` span;
every later event closes a child span for the phase that just ended, from the
previous event's time to its own (``ponder.plan``, ``ponder.critique``,
``ponder.act`` + ``ponder.tool`` for a tool call and its observation,
``ponder.reflect``, ``ponder.answer``, ``ponder.verify``, ``ponder.lesson``);
``final`` ends the run span with usage, steps and the stop reason. State is
per thread: each run executes in its own worker thread, so one subscriber
can serve several agents.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

PHASE_SPANS = {"plan": "ponder.plan", "critique": "ponder.critique", "tool_call": "ponder.act",
               "observation": "ponder.tool", "reflection": "ponder.reflect", "answer": "ponder.answer",
               "verification": "ponder.verify", "lesson": "ponder.lesson", "replan": "ponder.replan",
               "error": "ponder.error", "budget": "ponder.budget"}


def _ns(t: float) -> int:
    return int(t * 1e9)


def _attrs(prefix: str, content: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in content.items():
        if isinstance(v, (bool, int, float)):
            out[f"{prefix}.{k}"] = v
        elif isinstance(v, str):
            out[f"{prefix}.{k}"] = v[:500]
    return out


class Subscriber:
    """``on_event`` callback that turns a run's events into spans."""

    def __init__(self, tracer_provider: Any = None):
        self.tracer = trace.get_tracer("ponder", tracer_provider=tracer_provider)
        self._local = threading.local()

    def __call__(self, event: Any) -> None:
        st = self._local
        t, c, when = event.type, event.content, getattr(event, "time", time.time())
        if t == "task":
            st.run = self.tracer.start_span(
                "ponder.run", start_time=_ns(when),
                attributes={"ponder.task": str(c.get("task", ""))[:500], "ponder.retry": bool(c.get("retry"))})
            st.ctx = trace.set_span_in_context(st.run)
            st.last = when
            return
        run = getattr(st, "run", None)
        if run is None:
            return
        if t == "final":
            run.set_attributes({k: v for k, v in _attrs("ponder", c).items()
                                if k not in ("ponder.task", "ponder.answer")})
            if c.get("error"):
                run.set_status(Status(StatusCode.ERROR, str(c["error"])[:200]))
            run.end(end_time=_ns(when))
            st.run = None
            return
        if t == "feedback":  # the feedback turn's lesson span starts here
            st.last = when
            return
        name = PHASE_SPANS.get(t, f"ponder.{t}")
        if t == "observation":
            name = f"ponder.tool {c.get('tool', '')}".strip()
        span = self.tracer.start_span(name, context=st.ctx, start_time=_ns(st.last),
                                      attributes={"ponder.step": event.step, **_attrs(f"ponder.{t}", c)})
        if t == "error" or (t == "observation" and c.get("ok") is False):
            span.set_status(Status(StatusCode.ERROR, str(c.get("message") or c.get("text", ""))[:200]))
        span.end(end_time=_ns(when))
        st.last = when


def subscriber(tracer_provider: Any = None) -> Subscriber:
    return Subscriber(tracer_provider)


def chain(*callbacks: Callable[[Any], None] | None) -> Callable[[Any], None]:
    live = [cb for cb in callbacks if cb]

    def call(event: Any) -> None:
        for cb in live:
            cb(event)
    return call


def instrument(agent: Any, tracer_provider: Any = None) -> Any:
    """Add spans to an existing Agent (keeps its own on_event callback)."""
    agent.options["on_event"] = chain(agent.options.get("on_event"), subscriber(tracer_provider))
    return agent


def configure_default_provider() -> None:
    """For the CLI: make sure spans go somewhere when no provider is configured."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (BatchSpanProcessor, ConsoleSpanExporter,
                                                SimpleSpanProcessor)

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider()
    exporter = None
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        except ImportError:
            exporter = None
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    trace.set_tracer_provider(provider)


def cli_subscriber() -> Callable[[Any], None] | None:
    """The CLI's hook, called only when PONDER_OTEL is set."""
    configure_default_provider()
    return subscriber()
