"""Chat sessions in SQLite: a crash loses no finished turn.

Tables: ``sessions`` (id, created, title), ``turns`` (one per task or
feedback: kind, input, answer, ok, stop_reason, steps, tokens, seconds, the
plan as JSON) and ``events`` (every event of a turn, JSON). Each turn and its
events are written in ONE transaction when the turn ends, so a turn is either
fully there or absent. WAL mode keeps writes cheap and readers unblocked.

The database lives in ``ponder_home() / "sessions.db"``; ``ponder_home()`` is
``$PONDER_HOME`` or ``~/.local/share/ponder`` (``$XDG_DATA_HOME/ponder`` when
that is set).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, created REAL NOT NULL, title TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id),
    created REAL NOT NULL, kind TEXT NOT NULL, input TEXT NOT NULL, answer TEXT,
    ok INTEGER, stop_reason TEXT, steps INTEGER, prompt_tokens INTEGER,
    completion_tokens INTEGER, seconds REAL, plan TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS events (
    turn_id INTEGER NOT NULL REFERENCES turns(id), seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (turn_id, seq));
CREATE INDEX IF NOT EXISTS turns_by_session ON turns(session_id, id);
"""


def ponder_home() -> Path:
    env = os.environ.get("PONDER_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(base) / "ponder"
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass
class Turn:
    id: int
    kind: str  # "task" | "feedback"
    input: str
    answer: str | None
    ok: bool | None
    stop_reason: str | None
    steps: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    plan: list[dict]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SessionStore:
    """One SQLite file holding every session."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else ponder_home() / "sessions.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def new_session(self, title: str = "") -> int:
        cur = self.db.execute("INSERT INTO sessions (created, title) VALUES (?, ?)", (time.time(), title))
        return int(cur.lastrowid)

    def last_session(self) -> int | None:
        row = self.db.execute("SELECT id FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def sessions(self) -> list[tuple[int, float, str, int]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT s.id, s.created, s.title, COUNT(t.id) FROM sessions s "
            "LEFT JOIN turns t ON t.session_id = s.id GROUP BY s.id ORDER BY s.id")]

    def add_turn(self, session_id: int, kind: str, text: str, result: Any,
                 events: Iterable[Any] = ()) -> int:
        """Store a finished turn and its events in one transaction (committed at once)."""
        usage = getattr(result, "usage", None)
        with self.db:  # BEGIN ... COMMIT
            self.db.execute("BEGIN")
            cur = self.db.execute(
                "INSERT INTO turns (session_id, created, kind, input, answer, ok, stop_reason, steps, "
                "prompt_tokens, completion_tokens, seconds, plan, error) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (session_id, time.time(), kind, text, getattr(result, "answer", None),
                 None if result is None else int(bool(getattr(result, "ok", False))),
                 getattr(result, "stop_reason", None), getattr(result, "steps", 0),
                 getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0),
                 float(getattr(result, "seconds", 0.0)),
                 json.dumps(getattr(result, "plan", []) or []), getattr(result, "error", None)))
            turn_id = int(cur.lastrowid)
            self.db.executemany(
                "INSERT INTO events (turn_id, seq, event) VALUES (?, ?, ?)",
                [(turn_id, i, e.to_json() if hasattr(e, "to_json") else json.dumps(e, default=str))
                 for i, e in enumerate(events)])
            if kind == "task":
                self.db.execute("UPDATE sessions SET title = ? WHERE id = ? AND title = ''",
                                (text[:80], session_id))
        return turn_id

    def turns(self, session_id: int) -> list[Turn]:
        rows = self.db.execute(
            "SELECT id, kind, input, answer, ok, stop_reason, steps, prompt_tokens, completion_tokens, "
            "seconds, plan, error FROM turns WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        return [Turn(id=r[0], kind=r[1], input=r[2], answer=r[3], ok=None if r[4] is None else bool(r[4]),
                     stop_reason=r[5], steps=r[6] or 0, prompt_tokens=r[7] or 0,
                     completion_tokens=r[8] or 0, seconds=r[9] or 0.0, plan=json.loads(r[10] or "[]"),
                     error=r[11]) for r in rows]

    def events(self, turn_id: int) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT event FROM events WHERE turn_id = ? ORDER BY seq", (turn_id,))]

    def export(self, session_id: int) -> dict[str, Any]:
        return {"session": session_id,
                "turns": [{**t.to_dict(), "events": self.events(t.id)} for t in self.turns(session_id)]}
