"""Options shared by the commands that run an agent or a model."""
from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import UsageError

INTROSPECT = ("off", "plan", "full")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=os.environ.get("PONDER_MODEL", "default"),
                   help="a .gguf path, hf:OWNER/REPO/FILE.gguf, or 'default' (embedded SmolLM2); "
                        "with --base-url, the server's model name [env PONDER_MODEL]")
    g.add_argument("--base-url", default=os.environ.get("PONDER_BASE_URL"),
                   help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 [env PONDER_BASE_URL]")
    g.add_argument("--gpu-layers", type=int, default=None,
                   help="layers to offload to the GPU (default: all, when the build has a GPU)")
    g.add_argument("--ctx", type=positive_int, default=None, help="context window in tokens")


def add_tool_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("tools")
    g.add_argument("--store", default=os.environ.get("PONDER_STORE"),
                   help="vector store directory (or http://host:port for a Chroma server)")
    g.add_argument("--collection", default="ponder", help="vector store collection")
    g.add_argument("--search-backend", choices=("ddg", "local"), default=None,
                   help="web search backend (default: local when --corpus is given, else ddg)")
    g.add_argument("--corpus", default=None, help="folder of files for --search-backend local")


def add_agent_options(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    add_tool_options(p)
    g = p.add_argument_group("agent")
    g.add_argument("--tools", default=None,
                   help="comma-separated: search,retrieve,vm (default: all that are usable)")
    g.add_argument("--introspect", choices=INTROSPECT, default="full")
    g.add_argument("--max-steps", type=positive_int, default=None)
    g.add_argument("--max-tokens", type=positive_int, default=None,
                   help="completion tokens the whole run may generate")
    g.add_argument("--timeout", type=positive_float, default=None, help="wall-clock seconds per run")
    g.add_argument("--trace", default=None, metavar="FILE", help="write every event as JSON lines")


def parse_tools(text: str | None) -> list[str] | None:
    """``--tools a,b`` -> names, checked here so a typo fails before a model loads."""
    from ..tools import BUILTIN

    if text is None:
        return None
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--tools needs at least one tool name: search, retrieve, vm")
    for name in names:
        if name not in BUILTIN:
            raise UsageError(f"unknown tool {name!r} in --tools: choose from {', '.join(BUILTIN)}")
    return names


def load_model_from_args(args: argparse.Namespace):
    """The Model for ``--model``/``--base-url``, loaded once per command.

    Testing hook: ``--model scripted:PATH.json`` uses scripted outputs instead
    of a real model (see ponder/cli/scripted.py).
    """
    spec = args.model
    if isinstance(spec, str) and spec.startswith("scripted:"):
        from .scripted import scripted_model

        return scripted_model(spec[len("scripted:"):])
    from ..agent.models import load_model

    return load_model(spec, base_url=args.base_url, gpu_layers=args.gpu_layers, n_ctx=args.ctx)


def model_is_concurrent(args: argparse.Namespace, model) -> bool:
    """Whether several tasks may share ``model`` at once: a server backend
    (``--base-url``), or a model that says so (``concurrent = True``)."""
    return bool(args.base_url) or bool(getattr(model, "concurrent", False))


def agent_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Agent(...) keyword arguments from parsed command-line options."""
    kw: dict[str, Any] = {
        "model": args.model,
        "base_url": args.base_url,
        "gpu_layers": args.gpu_layers,
        "n_ctx": args.ctx,
        "tools": parse_tools(getattr(args, "tools", None)),
        "introspect": getattr(args, "introspect", "full"),
        "max_steps": getattr(args, "max_steps", None),
        "max_tokens": getattr(args, "max_tokens", None),
        "timeout": getattr(args, "timeout", None),
        "store": getattr(args, "store", None),
        "collection": getattr(args, "collection", "ponder"),
        "search_backend": getattr(args, "search_backend", None),
        "corpus": getattr(args, "corpus", None),
        "trace": getattr(args, "trace", None),
    }
    return {k: v for k, v in kw.items() if v is not None}


def make_agent(args: argparse.Namespace, **overrides: Any):
    """An Agent from the options; pass ``model=`` (a loaded Model) to share one."""
    from ..agent.loop import Agent

    kw = agent_kwargs(args)
    kw.update(overrides)
    if "model" in overrides and not isinstance(overrides["model"], str):
        for k in ("base_url", "gpu_layers", "n_ctx"):
            kw.pop(k, None)
    elif isinstance(kw.get("model"), str) and kw["model"].startswith("scripted:"):
        kw["model"] = load_model_from_args(args)
    hook = telemetry_hook()
    if hook is not None:
        own = kw.get("on_event")
        kw["on_event"] = hook if own is None else (lambda ev: (own(ev), hook(ev)))
    return Agent(**kw)


_TELEMETRY: list = []  # [hook or None], computed once per process


def telemetry_hook():
    """OpenTelemetry spans when PONDER_OTEL=1 and the otel extra is installed.

    Off (the default) costs one environment lookup: opentelemetry is never imported."""
    if os.environ.get("PONDER_OTEL", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    if not _TELEMETRY:
        try:
            from ..integrations.otel import cli_subscriber
        except ImportError:
            import sys

            print("ponder: PONDER_OTEL is set but OpenTelemetry is not installed "
                  "(pip install 'ponder[otel]'); running without spans", file=sys.stderr)
            _TELEMETRY.append(None)
        else:
            _TELEMETRY.append(cli_subscriber())
    return _TELEMETRY[0]
