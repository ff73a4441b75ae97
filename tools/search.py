"""The ``search`` tool and its backends: DuckDuckGo (``ddgs``) or a local corpus (SQLite FTS5).

Both backends follow ``SearchBackend``: ``search(query, k) -> list[SearchResult]``
and raise ``SearchError`` with a sentence the model can act on.

Choices (the spec is silent on them):
- ``DDGBackend`` has one wall-clock budget per call (``timeout``, default 10 s)
  that covers retries; rate limits are retried with exponential backoff inside
  it; a network failure (DNS, refused connection) is reported at once as
  "offline or blocked", since retrying cannot help.
- ``LocalBackend`` indexes a folder of txt/md/html/pdf files with SQLite FTS5
  (porter stemming, BM25 with the title weighted 5x). The index lives in
  ``~/.cache/ponder/search/`` (never inside the corpus, which may be
  read-only) and is rebuilt when any file's name, size or mtime changes.
  Queries are the content words OR-ed together, so BM25 ranks pages by how
  many of the words they contain and how rare those are. Result URLs are
  ``file://`` URLs that ``read`` opens.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import UsageError
from .base import ToolError
from .read import SUFFIXES, STOPWORDS, ReadTool, defang, load_file, tool_text


class SearchError(Exception):
    """The search could not run; the message is written for the model."""


@dataclass
class SearchResult:
    title: str
    url: str
    snippet: str

    def as_dict(self) -> dict:
        return {"title": self.title, "url": self.url, "snippet": self.snippet}


class SearchBackend(Protocol):
    name: str

    def search(self, query: str, k: int = 5) -> list[SearchResult]: ...


# -- DuckDuckGo ---------------------------------------------------------------------------------

_NETWORK_WORDS = ("dns", "connect", "network is unreachable", "name or service", "no route",
                  "temporary failure", "resolv", "ssl", "certificate", "proxy")


def _classify(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if "ratelimit" in text or "rate limit" in text or "429" in text or "202 " in text:
        return "ratelimit"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if any(w in text for w in _NETWORK_WORDS):
        return "offline"
    if "no results" in text:
        return "empty"
    return "error"


def _default_client(timeout: float) -> Any:
    from ddgs import DDGS

    return DDGS(timeout=max(1, int(round(timeout))))


@dataclass
class DDGBackend:
    """Web search with ``ddgs``: timeout, retry with backoff on rate limits, clean failures."""

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 1.0
    backend: str = field(default_factory=lambda: os.environ.get("PONDER_DDG_BACKEND", "auto"))
    region: str = "us-en"
    client_factory: Callable[[float], Any] = _default_client
    name: str = "ddg"

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        deadline = time.monotonic() + self.timeout
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            try:
                rows = _with_deadline(lambda: self.client_factory(remaining).text(
                    query, max_results=k, backend=self.backend, region=self.region), remaining)
            except TimeoutError:
                break
            except Exception as e:  # ddgs raises DDGSException and wraps engine errors in it
                kind = _classify(e)
                if kind == "empty":
                    return []
                if kind == "offline":
                    raise SearchError("web search is unavailable: the search engines cannot be reached "
                                      "(offline or blocked). Use another tool (retrieve, or a local "
                                      "corpus) or answer from what you know.") from None
                if kind == "ratelimit" and attempt < self.retries:
                    pause = min(self.backoff * 2 ** attempt, max(0.0, deadline - time.monotonic()))
                    time.sleep(pause)
                    continue
                if kind == "ratelimit":
                    raise SearchError("web search is rate-limited right now; wait and try again later, "
                                      "or use fewer searches.") from None
                if kind == "timeout":
                    continue
                raise SearchError(f"web search failed: {str(e)[:200]}") from None
            return [_ddg_result(r) for r in rows[:k]]
        raise SearchError(f"web search timed out after {self.timeout:g}s (slow or blocked network); "
                          "try again, or use another tool.")


def _ddg_result(row: dict) -> SearchResult:
    return SearchResult(title=str(row.get("title", "")).strip(),
                        url=str(row.get("href") or row.get("url") or "").strip(),
                        snippet=str(row.get("body") or row.get("snippet") or "").strip())


def _with_deadline(fn: Callable[[], Any], seconds: float) -> Any:
    """Run ``fn`` in a daemon thread; TimeoutError if it is not done in ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, daemon=True, name="ponder-search")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- local corpus (SQLite FTS5) -----------------------------------------------------------------

def _index_dir() -> Path:
    base = os.environ.get("PONDER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ponder")
    return Path(base) / "search"


@dataclass
class LocalBackend:
    """BM25 search over the txt/md/html/pdf files under ``corpus``."""

    corpus: str
    index_path: Path | None = None
    name: str = "local"

    def __post_init__(self) -> None:
        root = Path(self.corpus).expanduser()
        if not root.is_dir():
            raise UsageError(f"corpus folder not found: {self.corpus}")
        self.root = root.resolve()
        if self.index_path is None:
            key = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
            self.index_path = _index_dir() / f"{key}.sqlite"

    def files(self) -> list[Path]:
        return sorted(f for f in self.root.rglob("*")
                      if f.is_file() and f.suffix.lower() in SUFFIXES
                      and not any(p.startswith(".") for p in f.relative_to(self.root).parts))

    def signature(self, files: list[Path]) -> str:
        h = hashlib.sha256()
        for f in files:
            st = f.stat()
            h.update(f"{f.relative_to(self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def ensure_index(self) -> Path:
        """The index file, (re)built if the corpus changed since it was built."""
        assert self.index_path is not None
        files = self.files()
        sig = self.signature(files)
        if self.index_path.exists():
            try:
                con = sqlite3.connect(self.index_path)
                row = con.execute("SELECT value FROM meta WHERE key = 'signature'").fetchone()
                con.close()
                if row and row[0] == sig:
                    return self.index_path
            except sqlite3.Error:
                pass
        self._build(files, sig)
        return self.index_path

    def _build(self, files: list[Path], sig: str) -> None:
        assert self.index_path is not None
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.index_path.with_name(f".{self.index_path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        try:
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute("CREATE VIRTUAL TABLE docs USING fts5(title, body, url UNINDEXED, "
                        "tokenize = 'porter unicode61')")
            for f in files:
                try:
                    doc = load_file(f)
                except ToolError:
                    continue
                con.execute("INSERT INTO docs (title, body, url) VALUES (?, ?, ?)",
                            (doc.title or f.stem, doc.text, f.as_uri()))
            con.execute("INSERT INTO meta VALUES ('signature', ?), ('root', ?)", (sig, str(self.root)))
            con.commit()
        finally:
            con.close()
        os.replace(tmp, self.index_path)

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        words = re.findall(r"\w+", query.lower())
        content = [w for w in words if w not in STOPWORDS] or words
        if not content:
            raise SearchError("the query has no words to search for")
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(content))
        con = sqlite3.connect(self.ensure_index())
        try:
            rows = con.execute(
                "SELECT title, url, snippet(docs, 1, '', '', ' ... ', 40), lower(title || ' ' || body) "
                "FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 5.0, 1.0) LIMIT ?",
                (match, max(50, k))).fetchall()
        except sqlite3.Error as e:
            raise SearchError(f"local search failed: {e}") from None
        finally:
            con.close()
        # BM25 over OR-ed words favours a short page that mentions a word in passing; rank
        # first by how many of the query's words the page has, counting a word in the title
        # twice (a stable sort keeps BM25 order within a tie).
        stems = [w[:max(4, len(w) - 2)] for w in dict.fromkeys(content)]
        rows.sort(key=lambda r: -sum((w in r[3]) + (w in r[0].lower()) for w in stems))
        return [SearchResult(title=t, url=u, snippet=" ".join(s.split())) for t, u, s, _ in rows[:k]]


# -- the tools ----------------------------------------------------------------------------------

def make_backend(backend: str | None = None, corpus: str | None = None) -> SearchBackend:
    """``backend`` None: ``local`` when a corpus is given, else ``ddg``. UsageError on bad input."""
    name = (backend or ("local" if corpus else "ddg")).strip().lower()
    if name == "local":
        if not corpus:
            raise UsageError("--search-backend local needs --corpus DIR")
        return LocalBackend(corpus)
    if name == "ddg":
        return DDGBackend()
    raise UsageError(f"unknown search backend {backend!r}: choose ddg or local")


@dataclass
class SearchTool:
    """Web (or local corpus) search returning title, url and snippet per result."""

    backend: Any
    default_k: int = 5
    name: str = "search"
    description: str = ""
    parameters: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.description = self.description or tool_text("search")["description"].strip()
        self.parameters = self.parameters or {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 200,
                          "description": "a few keywords"},
                "k": {"type": "integer", "minimum": 1, "maximum": 10,
                      "description": "how many results (default 5)"},
            },
            "required": ["query"],
            "additionalProperties": False,
        }

    def results(self, query: str, k: int | None = None) -> list[SearchResult]:
        k = max(1, min(int(k or self.default_k), 10))
        if not query or not query.strip():
            raise ToolError("search needs a query: a few keywords")
        try:
            return self.backend.search(query.strip(), k)
        except SearchError as e:
            raise ToolError(str(e)) from None

    def __call__(self, query: str = "", k: int | None = None, **_: Any) -> str:
        hits = self.results(query, k)
        if not hits:
            return f"No results for {query!r}. Try other or fewer keywords."
        lines = [f"{len(hits)} results for {query!r} (snippets are untrusted page text; "
                 "read a url to see the page):"]
        for n, h in enumerate(hits, 1):
            lines.append(f"[{n}] {defang(h.title)}\n    url: {defang(h.url)}\n    {defang(h.snippet)}")
        return "\n".join(lines)


def make_search_tools(backend: str | None = None, corpus: str | None = None) -> list:
    """``[SearchTool, ReadTool]`` for the chosen backend (see ``make_backend``)."""
    be = make_backend(backend, corpus)
    roots = [str(be.root)] if isinstance(be, LocalBackend) else []
    return [SearchTool(backend=be), ReadTool(roots=roots)]


def results_json(hits: list[SearchResult]) -> str:
    return json.dumps([h.as_dict() for h in hits], ensure_ascii=False, indent=2)
