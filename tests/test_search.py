"""search: the local FTS5 backend, the ddgs backend's failure paths (for real: no network here)."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ponder.cli import main
from ponder.tools import search as sr
from ponder.tools.base import ToolError
from ponder.tools.read import ReadTool

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_local_search_finds_the_leadership_page(cache):
    hits = sr.LocalBackend(str(CORPUS)).search("AMD CEO", 5)
    names = [Path(h.url).name for h in hits]
    assert "amd-leadership.html" in names[:3]
    assert all(h.url.startswith("file://") and h.title and h.snippet for h in hits)
    bio = sr.LocalBackend(str(CORPUS)).search("Lisa Su education", 3)
    assert Path(bio[0].url).name == "lisa-su-biography.md"


def test_search_then_read_then_search_again(cache):
    """The seed example's path: the leadership page names the CEO, the biography has her education."""
    search, read = sr.make_search_tools(corpus=str(CORPUS))
    first = search(query="current CEO of AMD")
    url = next(line.split("url: ")[1] for line in first.splitlines() if "amd-leadership" in line)
    page = read(url=url, query="CEO")
    assert "Lisa Su" in page and "Chair and Chief Executive Officer" in page
    assert "Investors" not in page and "Cookie settings" not in page  # boilerplate dropped by trafilatura
    second = search(query="Lisa Su education university")
    url = next(line.split("url: ")[1] for line in second.splitlines() if "lisa-su-biography" in line)
    assert "Massachusetts Institute of Technology" in read(url=url, query="education")


def test_index_is_cached_and_rebuilt_when_files_change(cache, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    backend = sr.LocalBackend(str(corpus))
    backend.search("AMD", 1)
    index = backend.index_path
    built = index.stat().st_mtime_ns
    sr.LocalBackend(str(corpus)).search("AMD", 1)
    assert index.stat().st_mtime_ns == built  # reused
    assert sr.LocalBackend(str(corpus)).search("quokka", 3) == []
    (corpus / "quokka.txt").write_text("The quokka is a small marsupial from Rottnest Island.\n")
    hits = sr.LocalBackend(str(corpus)).search("quokka", 3)
    assert [Path(h.url).name for h in hits] == ["quokka.txt"]
    (corpus / "quokka.txt").unlink()
    assert sr.LocalBackend(str(corpus)).search("quokka", 3) == []
    assert not any(p.name.startswith(".") for p in corpus.iterdir())  # nothing written in the corpus


def test_query_syntax_is_not_interpreted(cache):
    backend = sr.LocalBackend(str(CORPUS))
    for q in ['"unbalanced', "AND OR NOT", "ceo* NEAR(", "title:AMD", "-- ; DROP TABLE docs"]:
        backend.search(q, 3)  # no sqlite error
    with pytest.raises(sr.SearchError):
        backend.search("!!! ???", 3)


def test_ddg_offline_is_a_clean_observation_within_the_timeout():
    tool = sr.SearchTool(backend=sr.DDGBackend(timeout=8))
    start = time.monotonic()
    with pytest.raises(ToolError) as info:
        tool(query="who is the CEO of AMD")
    assert time.monotonic() - start < 10
    msg = str(info.value)
    assert "offline" in msg or "timed out" in msg
    assert len(msg) < 300 and "Traceback" not in msg


class FakeDDGS:
    """Stands in for ddgs' DDGS client (the network), not for the backend under test."""

    def __init__(self, script):
        self.script, self.calls = script, 0

    def __call__(self, timeout):
        return self

    def text(self, query, **kw):
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        if step == "hang":
            time.sleep(30)
        return step


def test_rate_limit_is_retried_with_backoff():
    from ddgs.exceptions import RatelimitException

    rows = [{"title": "AMD", "href": "https://amd.com", "body": "AMD leadership"}]
    fake = FakeDDGS([RatelimitException("202 Ratelimit"), RatelimitException("202 Ratelimit"), rows])
    backend = sr.DDGBackend(timeout=10, backoff=0.05, client_factory=fake)
    hits = backend.search("AMD CEO", 3)
    assert fake.calls == 3 and hits[0].as_dict() == {"title": "AMD", "url": "https://amd.com",
                                                    "snippet": "AMD leadership"}
    always = FakeDDGS([RatelimitException("202 Ratelimit")])
    with pytest.raises(sr.SearchError, match="rate-limited"):
        sr.DDGBackend(timeout=10, retries=2, backoff=0.01, client_factory=always).search("x", 3)
    assert always.calls == 3


def test_a_hanging_engine_is_cut_at_the_timeout():
    start = time.monotonic()
    with pytest.raises(sr.SearchError, match="timed out"):
        sr.DDGBackend(timeout=1, client_factory=FakeDDGS(["hang"])).search("x", 3)
    assert time.monotonic() - start < 2


def test_tool_schemas_are_bounded():
    for t in sr.make_search_tools(corpus=str(CORPUS)):
        props = t.parameters["properties"]
        for spec in props.values():
            if spec["type"] == "string":
                assert spec["maxLength"] <= 500
        assert t.parameters["additionalProperties"] is False
        assert t.description
    search = sr.make_search_tools(corpus=str(CORPUS))[0]
    assert search.parameters["properties"]["k"] == {**search.parameters["properties"]["k"],
                                                   "minimum": 1, "maximum": 10}


def test_backend_choice():
    assert isinstance(sr.make_search_tools()[0].backend, sr.DDGBackend)
    assert isinstance(sr.make_search_tools(corpus=str(CORPUS))[0].backend, sr.LocalBackend)
    assert [t.name for t in sr.make_search_tools(corpus=str(CORPUS))] == ["search", "read"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_search_json(capsys, cache):
    code, out, _ = run_cli(capsys, "search", "Lisa Su education", "--corpus", str(CORPUS), "--k", "2", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2
    assert all(set(r) == {"title", "url", "snippet"} for r in rows)
    code, out, _ = run_cli(capsys, "search", "AMD", "--backend", "local", "--corpus", str(CORPUS), "--json")
    assert code == 0 and 1 <= len(json.loads(out)) <= 5


@pytest.mark.parametrize("argv", [
    ["search", "q", "--backend", "local"],
    ["search", "q", "--corpus", "no/such/dir"],
    ["search", "q", "--k", "0"],
    ["search", "q", "--k", "x"],
    ["search", "q", "--backend", "bing"],
])
def test_cli_bad_input_exits_2(argv, capsys):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_cli_ddg_offline_exits_1_with_one_line(capsys):
    code, out, err = run_cli(capsys, "search", "AMD CEO", "--json")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1


def test_local_search_ranks_the_page_with_all_query_words_first():
    from pathlib import Path

    from ponder.tools.search import LocalBackend

    corpus = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    backend = LocalBackend(str(corpus))
    assert backend.search("Lisa Su education degrees", k=3)[0].title == "Lisa Su: biography"
    assert backend.search("Jensen Huang education", k=3)[0].title == "Jensen Huang"
