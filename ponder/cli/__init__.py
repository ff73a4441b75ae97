"""The ``ponder`` command line (contract: shared spec cli.md).

Each command lives in its own module with ``register(subparsers)``, which adds
its parser and sets ``func`` to a function ``(args) -> int`` (the exit status).
Bad input anywhere raises ``UsageError``: one line on stderr, exit status 2,
no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import PonderError, UsageError

# module name -> the commands it registers (for --help's order)
COMMAND_MODULES = ["chat", "tasks", "knowledge", "vm", "bench"]
# commands that may load llama.cpp in-process (the others never do, so they skip the
# native runtime check: see ponder.agent.models.native)
MODEL_COMMANDS = {"chat", "ask", "run", "eval", "bench"}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

    def _parse_optional(self, arg_string):  # type: ignore[override]
        # Text with whitespace in it is never an option, even when it starts with "-"
        # (argparse only knows that for spaces): a vm program like "-5\n2 add".
        head = arg_string.split(None, 1)[0] if arg_string.strip() else arg_string
        if head != arg_string and "=" not in head and head not in self._option_string_actions:
            return None
        return super()._parse_optional(arg_string)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ponder",
        description="Introspective plan-act-observe agents on local models.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ponder {version('ponder')}"
    except PackageNotFoundError:
        return "ponder (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in MODEL_COMMANDS:
            _pin_native_runtime(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130
    except PonderError as e:
        print(f"ponder: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _pin_native_runtime(argv: list[str]) -> None:
    """Pin llama.cpp's C++ runtime first (see ponder.agent.models.native); if something
    loaded another one already, re-execute once with the right LD_PRELOAD."""
    from ..agent.models.native import LlamaRuntimeMismatch, ensure_llama_runtime

    try:
        ensure_llama_runtime()
    except LlamaRuntimeMismatch as e:
        if os.environ.get("PONDER_REEXEC") or __name__ != "ponder.cli":
            raise
        env = dict(os.environ, PONDER_REEXEC="1",
                   LD_PRELOAD=":".join(filter(None, [e.preload, os.environ.get("LD_PRELOAD")])))
        os.execve(sys.executable, [sys.executable, "-m", "ponder", *argv], env)


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
