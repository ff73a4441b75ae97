"""Exceptions shared across ponder.

Two families matter to users:
- ``UsageError``: bad input from the user (missing file, malformed task file,
  unknown tool name, bad option). The CLI prints its message on one line and
  exits with status 2. Library callers can catch it.
- ``ModelError``: the model backend failed (unreachable server, missing model
  file, generation error). ``FormatError`` is the special case where a backend
  returned text that is not valid JSON for the requested schema; with grammar
  enforcement it should never happen, and ``ponder eval`` counts it as a
  ``format_failure`` if it does.
"""


class PonderError(Exception):
    """Base class of every error ponder raises on purpose."""


class UsageError(PonderError):
    """Bad user input: the CLI prints the message and exits 2."""


class ModelError(PonderError):
    """A model backend could not produce a completion."""


class ModelNotFound(ModelError, UsageError):
    """A model spec points at nothing we can load (missing file, offline hf: spec)."""


class FormatError(ModelError):
    """A backend returned output that does not match the requested JSON schema."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text
