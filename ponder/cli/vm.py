"""Placeholder commands: replaced by their real implementation."""
from ..errors import UsageError


def _todo(args):
    raise UsageError(f"ponder {args.command}: not implemented yet")


def register(sub):
    sub.add_parser("vm", help="(placeholder)").set_defaults(func=_todo)
