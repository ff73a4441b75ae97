"""Grammar-constrained decoding at free-decoding speed, for llama-cpp-python.

llama-cpp-python's own grammar path (GBNF) checks the grammar against the whole
vocabulary at every token and runs at 0.12x-0.37x free speed. Here instead:

- llguidance computes the allowed-token bitmask (about 1 ms per token, from a
  token trie) with the tokenizer built from the GGUF's own vocabulary;
- we drive decoding ourselves, and OVERLAP: while llama.cpp evaluates token t
  in the main thread (ctypes releases the GIL), a worker thread computes the
  mask for the position after t (llguidance's fill releases the GIL too), so
  the mask is usually ready when the logits are;
- sampling checks the sampled token against the mask first and only masks the
  full logits vector when that token is not allowed.

``decode(...)`` runs one generation; with ``matcher=None`` it is free decoding
through the very same loop, so free vs constrained timings compare like with
like. Schemas compile to compact JSON (``COMPACT_JSON``): no free whitespace.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...errors import FormatError, UsageError
from .schema_bounds import COMPACT_JSON


def lltokenizer_for(llama: Any):
    """An llguidance tokenizer from a loaded llama_cpp.Llama's vocabulary.

    Like ``llguidance.llamacpp.lltokenizer_from_vocab`` (control tokens get the
    0xFF special prefix, tokenization goes through llama.cpp's own
    ``llama_tokenize``) but with the non-deprecated attribute call. One entry
    per token, about 0.3 s for a 50k vocabulary: cache it. End-of-sequence
    tokens: the model's EOS and EOT (chat models end a turn with either).
    """
    import ctypes

    from .native import import_llama_cpp

    llama_cpp = import_llama_cpp()
    from llguidance import LLTokenizer

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
    user = llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    size = 1024
    buf = ctypes.create_string_buffer(size)
    pieces: list[bytes] = []
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, True)
        if n < 0:
            raise ValueError(f"token {token} is longer than {size} bytes")
        piece = buf.raw[:n]
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        if attr & special or (attr & user and piece.startswith(b"<") and piece.endswith(b">")):
            piece = b"\xff" + piece
        pieces.append(piece)
    pieces += [b""] * (llama.n_vocab() - len(pieces))
    fptr = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    return LLTokenizer.from_llamacpp(tokens=pieces, vocab_ptr=vocab, tokenize_fptr=fptr,
                                     eos_token=sorted(stop_tokens(llama)), slices=None)


def stop_tokens(llama: Any) -> set[int]:
    """Token ids that end the assistant's turn."""
    ids = {llama.token_eos(), llama._model.token_eot()}
    return {i for i in ids if i is not None and i >= 0}


def compile_schema(schema: dict) -> str:
    """An llguidance grammar for ``schema`` as compact JSON; UsageError if unsupported."""
    from llguidance import LLMatcher

    try:
        grammar = LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=COMPACT_JSON)
    except (ValueError, TypeError) as e:
        raise UsageError(f"invalid JSON schema: {e}") from None
    error = LLMatcher.validate_grammar(grammar)
    if error and not error.startswith("WARNING"):
        raise UsageError(f"unsupported JSON schema: {error.splitlines()[0]}")
    return grammar


class Constraint:
    """One generation's grammar state: an llguidance matcher and its mask buffer."""

    def __init__(self, tokenizer: Any, grammar: str, n_vocab: int):
        from llguidance import LLMatcher

        self.matcher = LLMatcher(tokenizer, grammar, log_level=0)
        if self.matcher.is_error():
            raise UsageError(f"unsupported JSON schema: {self.matcher.get_error()}")
        self.n_vocab = n_vocab
        self.words = np.zeros((n_vocab + 31) // 32, dtype=np.int32)
        self._bits: np.ndarray | None = None

    def fill(self) -> None:
        """Compute the mask for the next position (drops the GIL)."""
        self.matcher.unsafe_compute_mask_ptr(self.words.ctypes.data, self.words.nbytes)
        self._bits = None

    def allows(self, token: int) -> bool:
        return bool((int(self.words[token >> 5]) >> (token & 31)) & 1)

    def allowed(self) -> np.ndarray:
        """The mask as a bool vector over the vocabulary."""
        if self._bits is None:
            bits = np.unpackbits(self.words.view(np.uint8), bitorder="little")
            self._bits = bits[: self.n_vocab].astype(bool)
        return self._bits

    def consume(self, token: int) -> None:
        if not self.matcher.consume_token(token):
            raise FormatError(f"the grammar rejected token {token}: {self.matcher.get_error()}")

    @property
    def done(self) -> bool:
        return self.matcher.is_stopped()

    @property
    def accepting(self) -> bool:
        return self.matcher.is_accepting()


@dataclass
class Sampler:
    """Greedy at temperature 0; else top-k, then temperature, then top-p."""

    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __call__(self, logits: np.ndarray, constraint: Constraint | None,
                 banned: np.ndarray | None = None) -> int:
        if self.temperature <= 0:
            token = int(np.argmax(logits))
            if (constraint is None or constraint.allows(token)) and (
                    banned is None or token not in banned):
                return token  # the common case: the model already obeys the grammar
            return int(np.argmax(self._masked(logits, constraint, banned)))
        if constraint is not None or banned is not None:
            logits = self._masked(logits, constraint, banned)
        k = min(self.top_k, logits.shape[0])
        top = np.argpartition(logits, -k)[-k:]
        vals = logits[top].astype(np.float64)
        keep = np.isfinite(vals)
        top, vals = top[keep], vals[keep]
        order = np.argsort(-vals)
        top, vals = top[order], vals[order]
        probs = np.exp((vals - vals[0]) / self.temperature)
        probs /= probs.sum()
        cut = int(np.searchsorted(np.cumsum(probs), self.top_p)) + 1
        probs = probs[:cut] / probs[:cut].sum()
        return int(top[self.rng.choice(len(probs), p=probs)])

    @staticmethod
    def _masked(logits: np.ndarray, constraint: Constraint | None,
                banned: np.ndarray | None) -> np.ndarray:
        out = logits.copy()
        if constraint is not None:
            out[~constraint.allowed()] = -np.inf
        if banned is not None:
            out[banned] = -np.inf
        return out


@dataclass
class DecodeResult:
    tokens: list[int]
    finish_reason: str  # "stop" | "length"
    seconds: float  # from the first sampled token to the last (decode only)
    mask_wait_seconds: float = 0.0  # main thread time spent waiting for (or computing) masks


class _Worker:
    """One background thread for mask computation, shared by all generations."""

    _pool: ThreadPoolExecutor | None = None
    _lock = threading.Lock()

    @classmethod
    def pool(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._pool is None:
                cls._pool = ThreadPoolExecutor(1, thread_name_prefix="ponder-mask")
            return cls._pool


def decode(
    llama: Any,
    prompt_suffix: list[int],
    *,
    constraint: Constraint | None,
    sampler: Sampler,
    max_tokens: int,
    stop: set[int],
    on_token: Callable[[int], None] | None = None,
    ignore_eos: bool = False,
    overlap: bool = True,
) -> DecodeResult:
    """Evaluate ``prompt_suffix`` after the tokens already in ``llama``'s context
    and generate up to ``max_tokens`` tokens.

    The context keeps every evaluated token, so the next call can reuse it.
    The last sampled token is evaluated only if generation goes on, which keeps
    the context equal to ``prompt + tokens[:-1]`` or ``prompt + tokens``.
    ``ignore_eos`` (free decoding only) bans the stop tokens, for benchmarks
    that need a fixed number of tokens.
    """
    from .native import import_llama_cpp
    llama_cpp = import_llama_cpp()

    n_vocab = llama.n_vocab()
    pool = _Worker.pool() if (overlap and constraint is not None) else None
    banned = np.array(sorted(stop), dtype=np.int64) if ignore_eos and stop else None
    pending = None
    if constraint is not None:
        if pool is not None:
            pending = pool.submit(constraint.fill)
        else:
            constraint.fill()
    if prompt_suffix:
        llama.eval(prompt_suffix)
    tokens: list[int] = []
    waited = 0.0
    finish = "length"
    start = time.perf_counter()
    while len(tokens) < max_tokens:
        if pending is not None:
            t0 = time.perf_counter()
            pending.result()
            waited += time.perf_counter() - t0
            pending = None
        if constraint is not None and constraint.done:
            if constraint.matcher.is_error():
                raise FormatError(f"the grammar matcher failed: {constraint.matcher.get_error()}")
            finish = "stop"
            break
        ptr = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
        token = sampler(logits, constraint, banned)
        if token in stop and not ignore_eos:
            finish = "stop"
            break
        tokens.append(token)
        if on_token is not None:
            on_token(token)
        if constraint is not None:
            constraint.consume(token)
            if constraint.done:  # e.g. the closing brace: nothing left to generate
                finish = "stop"
                break
        if len(tokens) >= max_tokens:
            break
        if constraint is not None:
            if pool is not None:
                pending = pool.submit(constraint.fill)
            else:
                t0 = time.perf_counter()
                constraint.fill()
                waited += time.perf_counter() - t0
        if llama.n_tokens >= llama.n_ctx():
            break  # the context is full: stop with "length"
        llama.eval([token])
    return DecodeResult(tokens, finish, time.perf_counter() - start, waited)
