"""OpenAIServerModel: the Model protocol over any OpenAI-compatible server.

Talks to ``POST {base_url}/chat/completions`` with httpx (no openai SDK):
llama.cpp's ``llama-server``, vLLM, Ollama, ``python -m llama_cpp.server``.

Structured output. With a schema the request carries the server's grammar
constraint as ``response_format``. Two forms exist in the wild:
- ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``
  (OpenAI's form; llama-server, vLLM, Ollama >= 0.5);
- ``{"type": "json_object", "schema": {...}}`` (llama-cpp-python's server,
  which refuses the first form with a validation error sent as status 500;
  llama-server takes both).
The first form is tried first; an error response that names
``response_format``/``json_schema`` switches to the second, and the choice is
remembered per base URL for the life of the process (no extra probe request).
Whatever comes back is parsed and validated with ``jsonschema``: a server
that ignores the constraint yields ``FormatError`` (with the text), never
unvalidated data.

Choices where the protocol is silent:
- ``max_tokens`` with a schema and none given: the schema's token bound
  (``schema_bounds.token_bound``) doubled plus a margin, because server
  grammars allow whitespace that the compact bound does not count
  (llama-cpp-python: at most one space per structural character). For an
  unbounded schema, or when a server refuses the bound as longer than its
  context (vLLM), ``max_tokens`` is left out: the server's default is the rest
  of the context.
- Usage: ``usage.prompt_tokens``/``completion_tokens``; ``prompt_eval_tokens``
  from llama-server's ``timings.prompt_n``, else ``prompt_tokens`` minus
  ``usage.prompt_tokens_details.cached_tokens``, else ``prompt_tokens``. A
  stream without usage (llama-cpp-python ignores ``stream_options``) counts
  one completion token per content delta (llama.cpp servers send one token
  per chunk) and estimates the prompt with a crude word/punctuation count.
- Retries (``retries`` after the first attempt, exponential ``backoff``,
  ``Retry-After`` honoured up to 30 s) on connection errors, connect timeouts,
  429 and 5xx. Read timeouts are not retried (the generation would be paid
  for again): ``ModelError`` after ``timeout`` seconds of silence. A stream is
  never retried once text has been passed to ``on_text``.
- ``model="default"`` asks ``GET /models`` once and uses the first model the
  server lists (vLLM needs the exact name; llama.cpp servers take anything).
"""
from __future__ import annotations

import email.utils
import json
import os
import re
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import jsonschema

from ...errors import FormatError, ModelError
from .base import Completion, Message, OnText, Usage

_FORMATS = ("json_schema", "json_object")
_format_by_server: dict[str, str] = {}  # base URL -> the response_format form it takes
_format_lock = threading.Lock()
_RETRY_STATUS = {429, 500, 502, 503, 504}
_MAX_RETRY_AFTER = 30.0
_START_HINT = "start one with `python -m llama_cpp.server --model MODEL.gguf` or `llama-server -m MODEL.gguf`"


def normalize_base_url(url: str) -> str:
    """``http://host:8080`` and ``http://host:8080/v1/`` both give ``http://host:8080/v1``.

    A path that already ends in a version segment (``/v1``, ``/v2``) is kept."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not re.search(r"/v\d+$", urlsplit(url).path):
        url += "/v1"
    return url


def server_max_tokens(schema: dict) -> int | None:
    """A ``max_tokens`` that lets any value of ``schema`` finish on a server
    grammar, or None when the schema is unbounded (see the module doc)."""
    from .schema_bounds import token_bound

    bound = token_bound(schema)
    return None if bound is None else 2 * bound + 16


class OpenAIServerModel:
    """A model behind an OpenAI-compatible HTTP server; see the module doc."""

    def __init__(self, model: str = "default", base_url: str = "http://127.0.0.1:8080/v1", *,
                 api_key: str | None = None, timeout: float = 120.0, retries: int = 3,
                 backoff: float = 0.5):
        self.base_url = normalize_base_url(base_url)
        self.model = model or "default"
        self.api_key = api_key or os.environ.get("PONDER_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)))
        self._resolved = self.model != "default"

    @property
    def name(self) -> str:
        return self.model

    def __repr__(self) -> str:
        return f"OpenAIServerModel(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def response_format_type(self) -> str | None:
        """The ``response_format`` form this server took, once known."""
        return _format_by_server.get(self.base_url)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIServerModel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------
    def list_models(self) -> list[str]:
        """The model ids the server lists (``GET /models``)."""
        try:
            return self._model_ids()
        except _Rejected as e:
            raise ModelError(e.describe(self.base_url)) from None

    def _model_ids(self) -> list[str]:
        data = list(self._call("GET", "/models"))[0]
        return [str(m.get("id", "")) for m in data.get("data") or data.get("models") or []
                if isinstance(m, dict)]

    def _resolve_model(self) -> None:
        if self._resolved:
            return
        try:  # an unreachable server raises here, once, with the usual message
            ids = self._model_ids()
        except _Rejected:
            ids = []  # a server without /models takes whatever name we send
        self._resolved = True
        if ids and ids[0]:
            self.model = ids[0]

    # -- the Model protocol ----------------------------------------------------
    def complete(self, messages: list[Message], *, schema: dict | None = None,
                 max_tokens: int | None = None, temperature: float = 0.0,
                 on_text: OnText | None = None, seed: int | None = None) -> Completion:
        """See ``Model.complete``. ``seed`` is passed to servers that take one."""
        self._resolve_model()
        body: dict[str, Any] = {"model": self.model, "messages": list(messages),
                                "temperature": temperature}
        auto_limit = False
        if schema is not None:
            bound = server_max_tokens(schema)
            if bound is not None and (max_tokens is None or bound > max_tokens):
                max_tokens, auto_limit = bound, True
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if seed is not None:
            body["seed"] = seed
        if on_text is not None:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}

        start = time.perf_counter()
        tried: set[str] = set()
        while True:
            fmt = None
            if schema is not None:
                fmt = _format_by_server.get(self.base_url, _FORMATS[0])
                tried.add(fmt)
                body["response_format"] = _response_format(fmt, schema)
            try:
                text, finish, raw_usage, timings, deltas = self._send(body, on_text)
                break
            except _Rejected as e:
                if fmt is not None and e.about_format:
                    untried = [f for f in _FORMATS if f not in tried]
                    if untried:
                        with _format_lock:
                            _format_by_server[self.base_url] = untried[0]
                        continue
                    raise ModelError(f"the model server at {self.base_url} accepts no JSON-schema "
                                     f"response_format ({e.status}): {e.message}") from None
                if auto_limit and e.about_context and "max_tokens" in body:
                    del body["max_tokens"]  # our bound is longer than its context
                    auto_limit = False
                    continue
                raise ModelError(e.describe(self.base_url)) from None
        if fmt is not None:
            with _format_lock:
                _format_by_server.setdefault(self.base_url, fmt)
        usage = _usage(raw_usage, timings, messages, deltas)
        usage.model_seconds = time.perf_counter() - start
        data = None
        if schema is not None:
            data = _validate(text, schema, finish, body.get("max_tokens"))
        return Completion(text=text, data=data, usage=usage, finish_reason=finish)

    # -- HTTP ------------------------------------------------------------------
    def _send(self, body: dict, on_text: OnText | None):
        """One completion: ``(text, finish_reason, usage, timings, n_deltas)``."""
        pieces: list[str] = []
        finish, usage, timings, deltas, answered = "stop", None, None, 0, False
        for event in self._call("POST", "/chat/completions", body):
            if event.get("error"):
                raise ModelError(f"the model server at {self.base_url} failed: "
                                 f"{_error_text(event)}")
            usage = event.get("usage") or usage
            timings = event.get("timings") or timings
            for choice in (event.get("choices") or [])[:1]:
                answered = True
                # a stream chunk has a delta; a whole answer (no stream) a message
                part = choice.get("delta") or choice.get("message") or {}
                piece = part.get("content") or ""
                if piece:
                    deltas += 1
                    pieces.append(piece)
                    if on_text:
                        on_text(piece)
                if choice.get("finish_reason"):
                    finish = _finish(choice["finish_reason"])
        if not answered:
            raise ModelError(f"the model server at {self.base_url} sent no choices")
        return "".join(pieces), finish, usage, timings, (deltas if body.get("stream") else None)

    def _call(self, method: str, path: str, body: dict | None = None) -> Iterator[dict]:
        """JSON objects from the server: one for a JSON answer, each ``data:``
        payload for an event stream. Retries (see the module doc); an error
        status that is not retried raises ``_Rejected``."""
        url = self.base_url + path
        sent_any = False
        for attempt in range(self.retries + 1):
            try:
                with self._client.stream(method, url, json=body) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        err = _Rejected.from_response(resp)
                        if resp.status_code in _RETRY_STATUS and not err.about_format \
                                and attempt < self.retries:
                            self._sleep(attempt, resp)
                            continue
                        raise err
                    if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                        resp.read()
                        sent_any = True
                        yield _json(resp)
                        return
                    for line in resp.iter_lines():
                        payload = line[5:].strip() if line.startswith("data:") else ""
                        if payload == "[DONE]":
                            return
                        if payload:
                            try:
                                event = json.loads(payload)
                            except json.JSONDecodeError:
                                raise ModelError(f"the model server at {url} sent a malformed "
                                                 f"stream event: {payload[:200]}") from None
                            sent_any = True
                            yield event
                    return
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as e:
                if sent_any and isinstance(e, httpx.RemoteProtocolError):
                    raise ModelError(f"the model server at {url} broke off: {e}") from None
                if attempt < self.retries:
                    self._sleep(attempt, None)
                    continue
                raise ModelError(self._unreachable(e)) from None
            except httpx.TimeoutException:
                raise ModelError(self._timed_out()) from None
            except httpx.HTTPError as e:
                raise ModelError(f"the model server at {url} broke off: {e}") from None

    def _sleep(self, attempt: int, resp: httpx.Response | None) -> None:
        delay = self.backoff * (2 ** attempt)
        after = _retry_after(resp) if resp is not None else None
        if after is not None:
            delay = max(delay, min(after, _MAX_RETRY_AFTER))
        time.sleep(delay)

    def _unreachable(self, e: Exception) -> str:
        return (f"cannot reach the model server at {self.base_url}: {e or type(e).__name__} "
                f"(after {self.retries + 1} attempts) — is it running? {_START_HINT}")

    def _timed_out(self) -> str:
        return (f"the model server at {self.base_url} sent nothing for {self.timeout:g} s "
                f"(raise the timeout, or lower max_tokens)")


class _Rejected(ModelError):
    """An error status from the server, with its own message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message
        low = message.lower()
        self.about_format = status in (400, 422, 500) and (
            "response_format" in low or "json_schema" in low)
        self.about_context = status == 400 and "context" in low

    @classmethod
    def from_response(cls, resp: httpx.Response) -> "_Rejected":
        try:
            message = _error_text(resp.json())
        except ValueError:
            message = resp.text.strip()[:500] or resp.reason_phrase
        return cls(resp.status_code, message)

    def describe(self, base_url: str) -> str:
        if self.status in (401, 403):
            return (f"the model server at {base_url} refused the credentials ({self.status}): "
                    f"{self.message} — set PONDER_API_KEY")
        if self.status == 404:
            return (f"the model server at {base_url} answered 404: {self.message} — check the "
                    f"base URL and the model name")
        kind = "rejected the request" if self.status < 500 else "failed"
        return f"the model server at {base_url} {kind} ({self.status}): {self.message}"


def _response_format(form: str, schema: dict) -> dict:
    if form == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": schema}


def _json(resp: httpx.Response) -> dict:
    try:
        data = resp.json()
    except ValueError:
        raise ModelError(f"the model server at {resp.request.url} did not answer with JSON: "
                         f"{resp.text[:200]!r}") from None
    if not isinstance(data, dict):
        raise ModelError(f"the model server at {resp.request.url} sent unexpected JSON: "
                         f"{str(data)[:200]}")
    return data


def _error_text(data: Any) -> str:
    """The message of an OpenAI-style (or FastAPI-style) error body."""
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            return str(err.get("message") or err)
        if err is not None:
            return str(err) if not isinstance(err, list) else json.dumps(err)[:500]
    return str(data)[:500]


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _usage(raw: Any, timings: Any, messages: list[Message], deltas: int | None) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    if prompt is None:
        from .scripted import crude_tokens, render_chat

        prompt = len(crude_tokens(render_chat(messages)))
    if completion is None:
        completion = deltas or 0
    evaluated = prompt
    cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens")
    if isinstance(timings, dict) and isinstance(timings.get("prompt_n"), int):
        evaluated = timings["prompt_n"]
    elif isinstance(cached, int):
        evaluated = prompt - cached
    return Usage(prompt_tokens=int(prompt), prompt_eval_tokens=max(0, int(evaluated)),
                 completion_tokens=int(completion), calls=1)


def _validate(text: str, schema: dict, finish: str, limit: int | None) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if finish == "length":
            raise FormatError(f"the server's output was cut off (max_tokens={limit}) before the "
                              f"JSON was complete", text) from None
        raise FormatError(f"the server's output is not JSON ({e}); does it enforce "
                          f"response_format?", text) from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        raise FormatError(f"the server's output does not match the schema: {e.message}", text) \
            from None
    return data
