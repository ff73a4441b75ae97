"""LlamaCppModel: a GGUF model in-process with llama-cpp-python.

- All layers go to the GPU when the build supports offload (``gpu_layers`` to
  limit); llama.cpp's own logging is off unless ``verbose=True``.
- The prompt is the GGUF's chat template rendered to text and tokenized; the
  tokens are compared with those already in the context and only the rest is
  evaluated, so an append-only transcript costs only its new tokens
  (``Usage.prompt_eval_tokens``).
- ``schema`` is enforced token by token by llguidance (``constrained.py``),
  with the mask computed in a worker thread while llama.cpp evaluates, so
  constrained decoding runs at about free-decoding speed. ``max_tokens`` is
  raised to the schema's length bound (``schema_bounds.py``) so a valid object
  is never cut off.

``llama_cpp`` is imported only here, and only when a model is created.
"""
from __future__ import annotations

import atexit
import codecs
import json
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import jsonschema

from ...errors import FormatError, ModelError
from .base import Completion, Message, OnText, Usage
from .schema_bounds import effective_max_tokens

DEFAULT_CTX = 8192
# Used only when a GGUF has no chat template: ChatML, the most common format.
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def default_threads() -> int:
    """All cores on small machines (2 threads decode ~1.6x faster than 1 on a
    2-core box); half of them (llama.cpp's physical-core guess) on larger ones."""
    n = os.cpu_count() or 1
    return n if n <= 4 else n // 2


def train_ctx(path: Path) -> int | None:
    """The model's training context length, read with a vocab-only load."""
    from .native import import_llama_cpp
    llama_cpp = import_llama_cpp()

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        return None
    try:
        return int(llama_cpp.llama_model_n_ctx_train(model)) or None
    finally:
        llama_cpp.llama_model_free(model)


class LlamaCppModel:
    """The Model protocol over llama-cpp-python; see the module docstring."""

    def __init__(self, path: str | os.PathLike, *, gpu_layers: int | None = None,
                 n_ctx: int | None = None, n_threads: int | None = None, seed: int = 0,
                 verbose: bool = False, name: str | None = None):
        from .native import import_llama_cpp
        llama_cpp = import_llama_cpp()
        from llama_cpp import llama_chat_format

        from . import constrained

        self.path = Path(path)
        self.name = name or self.path.name
        from llama_cpp._logger import set_verbose

        set_verbose(verbose)
        self.gpu = bool(llama_cpp.llama_supports_gpu_offload())
        n_gpu_layers = (-1 if self.gpu else 0) if gpu_layers is None else gpu_layers
        if n_ctx is None:
            n_ctx = min(DEFAULT_CTX, train_ctx(self.path) or DEFAULT_CTX)
        threads = n_threads or default_threads()
        try:
            self.llama = llama_cpp.Llama(
                str(self.path), n_gpu_layers=n_gpu_layers, n_ctx=n_ctx, n_threads=threads,
                n_threads_batch=max(threads, os.cpu_count() or 1), seed=seed, verbose=verbose)
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(f"cannot load {self.path}: {e}") from None
        # free the model before interpreter teardown, when llama_cpp's globals are gone
        # (otherwise Llama.__del__ prints "'NoneType' object is not callable" at exit)
        atexit.register(_close_at_exit, weakref.ref(self))
        meta = self.llama.metadata
        template = meta.get("tokenizer.chat_template") or CHATML
        self._bos_text = self._token_text(self.llama.token_bos())
        self._format = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=self._token_text(self.llama.token_eos()),
            bos_token=self._bos_text)
        self._add_bos = bool(self.llama._model.add_bos_token())
        self.stop = constrained.stop_tokens(self.llama)
        self.n_ctx = self.llama.n_ctx()
        self.seed = seed
        self._tokenizer = None  # llguidance tokenizer, built on first constrained call
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()  # one generation at a time per loaded model
        self._vocab = llama_cpp.llama_model_get_vocab(self.llama.model)
        self._pieces: dict[int, bytes] = {}
        self._known: list[tuple[str, list[int]]] = []  # last call's (text, tokens) checkpoints

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens as empty), cached."""
        out = self._pieces.get(token)
        if out is None:
            import ctypes

            from .native import import_llama_cpp

            llama_cpp = import_llama_cpp()

            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 256, 0, False)
            if n < 0:  # a longer piece: retry with the size llama.cpp asked for
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
            out = self._pieces[token] = bytes(buf[:max(n, 0)])
        return out

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def _token_text(self, token: int) -> str:
        return self.llama._model.token_get_text(token) if token >= 0 else ""

    # -- prompt and KV cache -------------------------------------------------
    def render(self, messages: list[Message]) -> str:
        return self._format(messages=messages).prompt

    def tokenize_prompt(self, messages: list[Message]) -> list[int]:
        """The rendered chat as tokens.

        When the text extends the previous call's prompt + generated text (an
        append-only transcript), that part keeps its tokens, including the
        model's own, possibly non-canonical, tokenization of its output, so
        the KV cache matches it; only the new text is tokenized.
        """
        text = self.render(messages)
        for known_text, known_tokens in self._known:  # longest first
            if known_text and text.startswith(known_text):
                rest = text[len(known_text):].encode("utf-8")
                return known_tokens + (self.llama.tokenize(rest, add_bos=False, special=True)
                                       if rest else [])
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _remember(self, messages: list[Message], prompt: list[int], tokens: list[int]) -> None:
        """Checkpoints (text, tokens) for the next call: the prompt, and the
        prompt followed by the output (unless that ends inside a character)."""
        text = self.render(messages)
        self._known = [(text, prompt)]
        try:
            generated = b"".join(self.piece(t) for t in tokens).decode("utf-8")
        except UnicodeDecodeError:
            return
        self._known.insert(0, (text + generated, prompt + tokens))

    def _reuse_prefix(self, prompt: list[int]) -> list[int]:
        """Keep the longest common prefix of the context and ``prompt``; return
        the tokens still to evaluate (at least one, for fresh logits)."""
        llama = self.llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        common = 0
        for a, b in zip(cached, prompt):
            if a != b:
                break
            common += 1
        common = max(min(common, len(prompt) - 1), 0)
        if common > 0 and llama._ctx.kv_cache_seq_rm(-1, common, -1):
            llama.n_tokens = common
        else:
            llama.reset()
            common = 0
        return prompt[common:]

    # -- constrained decoding ------------------------------------------------
    def lltokenizer(self):
        if self._tokenizer is None:
            from .constrained import lltokenizer_for

            self._tokenizer = lltokenizer_for(self.llama)
        return self._tokenizer

    def constraint(self, schema: dict):
        from .constrained import Constraint, compile_schema

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = compile_schema(schema)
        return Constraint(self.lltokenizer(), self._grammars[key], self.llama.n_vocab())

    # -- generation ----------------------------------------------------------
    def generate(self, messages: list[Message], *, schema: dict | None = None,
                 max_tokens: int | None = None, temperature: float = 0.0,
                 on_text: OnText | None = None, seed: int | None = None,
                 ignore_eos: bool = False, overlap: bool = True) -> tuple[Any, Usage]:
        """Low-level generation: exactly ``max_tokens`` at most (no schema bound),
        returns ``(DecodeResult, Usage)``. Benchmarks use it; callers use ``complete``."""
        import numpy as np

        from .constrained import Sampler, decode

        with self._lock:
            start = time.perf_counter()
            prompt = self.tokenize_prompt(messages)
            if len(prompt) >= self.n_ctx:
                raise ModelError(f"the prompt ({len(prompt)} tokens) does not fit the "
                                 f"context window ({self.n_ctx}); use a larger --ctx")
            room = self.n_ctx - len(prompt)
            constraint = self.constraint(schema) if schema is not None else None
            suffix = self._reuse_prefix(prompt)
            rng = np.random.default_rng(self.seed if seed is None else seed)
            if seed is None:
                self.seed += 1
            result = decode(self.llama, suffix, constraint=constraint,
                            sampler=Sampler(temperature, rng=rng),
                            max_tokens=min(max_tokens or room, room), stop=self.stop,
                            on_token=_Stream(self.piece, on_text) if on_text else None,
                            ignore_eos=ignore_eos, overlap=overlap)
            self._remember(messages, prompt, result.tokens)
            usage = Usage(prompt_tokens=len(prompt), prompt_eval_tokens=len(suffix),
                          completion_tokens=len(result.tokens),
                          model_seconds=time.perf_counter() - start, calls=1)
        return result, usage

    # -- the Model protocol --------------------------------------------------
    def close(self) -> None:
        """Free the model's memory now (also done at interpreter exit)."""
        with self._lock:
            llama = self.__dict__.pop("llama", None)
            if llama is not None:
                llama.close()

    def complete(self, messages: list[Message], *, schema: dict | None = None,
                 max_tokens: int | None = None, temperature: float = 0.0,
                 on_text: OnText | None = None, seed: int | None = None) -> Completion:
        """See ``Model.complete``. With ``schema``, ``max_tokens`` is raised to
        the schema's token bound when lower, so valid JSON is never cut off.
        ``seed`` makes sampling at temperature > 0 reproducible (default: the
        model's seed, advanced by one per call)."""
        limit = effective_max_tokens(schema, max_tokens, default=self.n_ctx)
        result, usage = self.generate(messages, schema=schema, max_tokens=limit,
                                      temperature=temperature, on_text=on_text, seed=seed)
        text = self.detokenize(result.tokens)
        data = None
        if schema is not None:
            data = _parse(text, schema, result.finish_reason, limit, len(result.tokens))
        return Completion(text=text, data=data, usage=usage, finish_reason=result.finish_reason)


def _close_at_exit(ref: "weakref.ref[LlamaCppModel]") -> None:
    model = ref()
    if model is not None:
        model.close()


def _parse(text: str, schema: dict, finish: str, limit: int, produced: int) -> Any:
    if finish == "length":
        why = f"max_tokens={limit} was reached" if produced >= limit else "the context is full"
        raise FormatError(f"constrained output was cut off ({why}) before the JSON was complete",
                          text)
    try:
        data = json.loads(text)
        jsonschema.validate(data, schema)
    except (json.JSONDecodeError, jsonschema.ValidationError) as e:
        raise FormatError(f"constrained output does not match the schema: {e}", text) from e
    return data


class _Stream:
    """Token ids -> text pieces for ``on_text``, holding back split UTF-8."""

    def __init__(self, piece: Any, on_text: OnText | None):
        self.piece = piece
        self.on_text = on_text
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def __call__(self, token: int) -> None:
        piece = self.decoder.decode(self.piece(token))
        if piece and self.on_text:
            self.on_text(piece)
