"""ingest / retrieve on a real chromadb store with the real embedder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ponder.cli import main
from ponder.tools import retrieve as rt
from ponder.tools.base import ToolError
from ponder.tools.embeddings import get_embedder

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
LABELS = json.loads((Path(__file__).parent / "retrieval_labels.json").read_text())


@pytest.fixture(scope="module")
def embedder():
    return get_embedder()


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder):
    """The example corpus ingested once (as 'corpus/', relative to a work dir)."""
    work = tmp_path_factory.mktemp("work")
    shutil.copytree(CORPUS, work / "corpus")
    path = str(work / "store")
    stats = rt.ingest([str(work / "corpus")], store=path, progress=False, embedder=embedder)
    assert stats.files == 9 and stats.chunks_added > 9
    return path, work, stats


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reingest_is_idempotent(store, embedder):
    path, work, first = store
    again = rt.ingest([str(work / "corpus")], store=path, progress=False, embedder=embedder)
    assert (again.unchanged, again.chunks_added, again.chunks_removed) == (9, 0, 0)
    col = rt._collection(rt.open_client(path), "ponder", create=False)
    assert col.count() == first.chunks_added


def test_retrieve_json_shape_and_top1(store, capsys, monkeypatch):
    path, work, _ = store
    monkeypatch.chdir(work)
    hits = 0
    for item in LABELS:
        code, out, _ = run_cli(capsys, "retrieve", item["query"], "--store", path, "--k", "3", "--json")
        assert code == 0
        rows = json.loads(out)
        assert len(rows) == 3
        for row in rows:
            assert set(row) == {"text", "source", "chunk", "score"}
            assert isinstance(row["chunk"], int) and isinstance(row["score"], float)
            assert row["source"].startswith(str(work / "corpus"))  # the path as given to ingest
        assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
        assert len({(r["source"], r["chunk"]) for r in rows}) == 3
        hits += Path(rows[0]["source"]).name == item["doc"]
    print(f"top-1 hit rate via ponder retrieve --json: {hits}/{len(LABELS)}")
    assert hits >= len(LABELS) - 2


def test_source_is_the_path_as_given(tmp_path, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("The launch code word is marmalade.\n")
    rt.ingest(["docs"], store="st", progress=False, embedder=embedder)
    assert rt.retrieve("launch code word", 1, store="st", embedder=embedder)[0]["source"] == "docs/note.txt"
    # the same file given another way is recognised (same chunks, no re-embedding)
    stats = rt.ingest(["./docs/note.txt"], store="st", progress=False, embedder=embedder)
    assert (stats.chunks_added, stats.chunks_kept) == (0, 1)
    assert rt.retrieve("launch code word", 5, store="st", embedder=embedder)[0]["source"] == "./docs/note.txt"


def test_changed_file_replaces_its_old_chunks(tmp_path, embedder):
    doc = tmp_path / "facts.md"
    keep = "# Facts\n\nThe capital of France is Paris, a city on the Seine.\n\n"
    doc.write_text(keep + "Zebras have black and white stripes that confuse biting flies.\n")
    store = str(tmp_path / "st")
    rt.ingest([str(doc)], store=store, progress=False, embedder=embedder)
    doc.write_text(keep + "Octopuses have three hearts and blue blood.\n")
    stats = rt.ingest([str(doc)], store=store, progress=False, embedder=embedder)
    assert stats.chunks_removed >= 1 and stats.chunks_added >= 1
    texts = " ".join(h["text"] for h in rt.retrieve("animals", 10, store=store, embedder=embedder))
    assert "Octopuses" in texts and "Zebras" not in texts


class Crash(Exception):
    pass


class CrashingEmbedder:
    """The real embedder that dies (like a killed process) after ``calls`` batches."""

    def __init__(self, inner, calls: int):
        self.inner, self.calls, self.name, self.dim = inner, calls, "crashing", inner.dim

    def embed(self, texts):
        if self.calls == 0:
            raise Crash()
        self.calls -= 1
        return self.inner.embed(texts)


def test_killed_ingest_keeps_committed_files_and_rerun_finishes(tmp_path, embedder, monkeypatch):
    monkeypatch.setattr(rt, "EMBED_GROUP", 2)  # commit every file or two
    store = str(tmp_path / "st")
    with pytest.raises(Crash):
        rt.ingest([str(CORPUS)], store=store, progress=False, embedder=CrashingEmbedder(embedder, 3))
    col = rt._collection(rt.open_client(store), "ponder", create=False)
    committed = col.count()
    assert committed > 0
    rest = rt.ingest([str(CORPUS)], store=store, progress=False, embedder=embedder)
    assert rest.unchanged >= 1
    full = rt.ingest([str(CORPUS)], store=str(tmp_path / "fresh"), progress=False, embedder=embedder)
    assert committed + rest.chunks_added == full.chunks_added == col.count()


def test_store_has_collection_creates_nothing(tmp_path, store):
    missing = tmp_path / "nowhere"
    assert rt.store_has_collection(str(missing), "ponder") is False
    assert not missing.exists()
    assert rt.store_has_collection(store[0], "ponder") is True
    assert rt.store_has_collection(store[0], "other") is False


def test_retrieve_tool_observation(store):
    tool = rt.RetrieveTool(store=store[0])
    assert tool.name == "retrieve"
    props = tool.parameters["properties"]
    assert props["query"]["maxLength"] and props["k"]["minimum"] == 1 and props["k"]["maximum"]
    text = tool(query="Lisa Su education MIT", k=2)
    assert "lisa-su-biography.md" in text and "score" in text
    with pytest.raises(ToolError, match="no collection"):
        rt.RetrieveTool(store=store[0], collection="missing")(query="x")


@pytest.mark.parametrize("argv", [
    ["ingest", "no/such/path"],
    ["ingest", "pyproject.toml"],
    ["retrieve", "q", "--k", "0"],
    ["retrieve", "q", "--k", "x"],
    ["retrieve", "q", "--collection", "a"],
])
def test_bad_input_exits_2(argv, capsys, tmp_path):
    code, out, err = run_cli(capsys, *argv, "--store", str(tmp_path / "st"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "st").exists()


def test_retrieve_empty_store_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "retrieve", "q", "--store", str(tmp_path / "st"))
    assert code == 2 and "ponder ingest" in err


def test_chroma_server_store(tmp_path, embedder):
    """--store http://host:port works against a real `chroma run` server."""
    import socket
    import subprocess
    import sys
    import time

    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.skip("no chroma server binary")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path / "srv"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not rt.store_has_collection(url, "ponder") and time.monotonic() < deadline:
            try:
                rt.open_client(url)
                break
            except Exception:
                time.sleep(0.3)
        assert rt.store_has_collection(url, "ponder") is False
        first = rt.ingest([str(CORPUS / "lisa-su-biography.md")], store=url, progress=False, embedder=embedder)
        again = rt.ingest([str(CORPUS / "lisa-su-biography.md")], store=url, progress=False, embedder=embedder)
        assert first.chunks_added > 0 and again.unchanged == 1
        assert rt.store_has_collection(url, "ponder") is True
        hits = rt.retrieve("Where did Lisa Su study?", 2, store=url, embedder=embedder)
        assert hits[0]["source"].endswith("lisa-su-biography.md")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unreachable_server_is_a_clean_failure(capsys):
    code, out, err = run_cli(capsys, "retrieve", "q", "--store", "http://127.0.0.1:9")
    assert code == 1 and out == "" and "Chroma server" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ToolError, match="Chroma server"):
        rt.RetrieveTool(store="http://127.0.0.1:9")(query="x")
