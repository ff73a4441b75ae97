"""``ponder ingest``, ``ponder retrieve`` and ``ponder search`` (contract: spec cli.md)."""
from __future__ import annotations

import json
import os
import sys

from ..errors import PonderError, UsageError
from .common import positive_int


def _store_opts(p) -> None:  # type: ignore[no-untyped-def]
    p.add_argument("--store", default=os.environ.get("PONDER_STORE"),
                   help="store directory, or http://host:port for a Chroma server "
                        "[env PONDER_STORE; default ~/.local/share/ponder/store]")
    p.add_argument("--collection", default="ponder", help="collection name (default: ponder)")


def register(sub) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("ingest", help="add files or folders (txt, md, html, pdf) to the vector store")
    p.add_argument("paths", nargs="+", metavar="PATH")
    _store_opts(p)
    p.add_argument("--json", action="store_true", help="print the counts and timings as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("retrieve", help="nearest chunks from the vector store")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--k", "-k", type=positive_int, default=4, help="how many chunks (default 4)")
    _store_opts(p)
    p.add_argument("--json", action="store_true", help='a list of {"text","source","chunk","score"}')
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("search", help="the web-search tool on its own")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--backend", "--search-backend", dest="backend", choices=("ddg", "local"),
                   default=None, help="default: local when --corpus is given, else ddg")
    p.add_argument("--corpus", default=None, help="folder of files for --backend local")
    p.add_argument("--k", "-k", type=positive_int, default=5, help="how many results (default 5)")
    p.add_argument("--json", action="store_true", help='a list of {"title","url","snippet"}')
    p.set_defaults(func=cmd_search)


def cmd_ingest(args) -> int:  # type: ignore[no-untyped-def]
    from ..tools.retrieve import check_collection_name, default_store, expand_paths, ingest

    check_collection_name(args.collection)
    expand_paths(args.paths)  # bad paths fail before anything is opened
    store = args.store or default_store()
    stats = ingest(args.paths, store=store, collection=args.collection, progress=not args.no_progress)
    if args.json:
        print(json.dumps({"store": store, "collection": args.collection, **stats.as_dict()}))
    else:
        rate = f" ({stats.chunks_per_s:.0f} chunks/s)" if stats.chunks_added else ""
        print(f"{stats.files} files: {stats.chunks_added} chunks added{rate}, {stats.chunks_kept} kept, "
              f"{stats.chunks_removed} removed, {stats.unchanged} files unchanged; "
              f"store {store}, collection {args.collection!r}, {stats.seconds:.1f}s")
    return 0


def cmd_retrieve(args) -> int:  # type: ignore[no-untyped-def]
    from ..tools.retrieve import check_collection_name, retrieve

    check_collection_name(args.collection)
    hits = retrieve(args.query, args.k, store=args.store, collection=args.collection)
    if args.json:
        print(json.dumps(hits, ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no chunks in the collection")
    for n, h in enumerate(hits, 1):
        text = " ".join(h["text"].split())
        print(f"{n}. {h['score']:.3f}  {h['source']} #{h['chunk']}\n   {text[:300]}")
    return 0


def cmd_search(args) -> int:  # type: ignore[no-untyped-def]
    from ..tools.search import SearchError, make_backend, results_json

    if args.backend == "local" and not args.corpus:
        raise UsageError("--backend local needs --corpus DIR")
    if args.corpus and not os.path.isdir(args.corpus):
        raise UsageError(f"corpus folder not found: {args.corpus}")
    if not args.query.strip():
        raise UsageError("search needs a non-empty QUERY")
    backend = make_backend(args.backend, args.corpus)
    try:
        hits = backend.search(args.query.strip(), args.k)
    except SearchError as e:
        raise PonderError(f"search: {e}") from None
    if args.json:
        print(results_json(hits))
        return 0
    if not hits:
        print("no results", file=sys.stderr)
    for n, h in enumerate(hits, 1):
        print(f"{n}. {h.title}\n   {h.url}\n   {h.snippet}")
    return 0
