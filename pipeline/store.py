"""The run store: one SQLite file in the output folder recording every input's fingerprint, status and
result. It makes runs idempotent (unchanged inputs are not redone) and resumable (a killed run keeps every
document it committed; each unit is committed in its own transaction)."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
  key TEXT PRIMARY KEY,
  fingerprint TEXT,
  content_hash TEXT,
  status TEXT NOT NULL,            -- processed | skipped | failed
  reason TEXT,
  doc_id TEXT,
  duplicate_of TEXT,               -- key of the unit this one duplicates
  seconds_ingest REAL DEFAULT 0,
  seconds_analyse REAL DEFAULT 0,
  chars INTEGER DEFAULT 0,
  doc TEXT,                        -- the document JSON (processed) or its ingest-only part (skipped duplicates)
  minhash BLOB,
  run_id TEXT,
  seq INTEGER,
  updated REAL
);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, started REAL, finished REAL, argv TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS corrections (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL, passage INTEGER NOT NULL,
  kind TEXT NOT NULL,              -- label | entity_add | entity_delete | entity_type | accept
  machine_value TEXT, value TEXT, reviewer TEXT, at REAL, undone INTEGER DEFAULT 0
);
"""


class RunStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, key: str) -> Optional[sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        return self.db.execute("SELECT * FROM units WHERE key=?", (key,)).fetchone()

    def mark_seen(self, key: str, run_id: str, seq: int) -> None:
        self.db.execute("UPDATE units SET run_id=?, seq=? WHERE key=?", (run_id, seq, key))

    def put(self, key: str, *, fingerprint: str, status: str, run_id: str, seq: int, reason: Optional[str] = None,
            content_hash: Optional[str] = None, doc_id: Optional[str] = None, duplicate_of: Optional[str] = None,
            doc: Optional[dict] = None, minhash: Optional[bytes] = None, seconds_ingest: float = 0.0,
            seconds_analyse: float = 0.0, chars: int = 0) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO units (key, fingerprint, content_hash, status, reason, doc_id, duplicate_of, "
            "seconds_ingest, seconds_analyse, chars, doc, minhash, run_id, seq, updated) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, fingerprint, content_hash, status, reason, doc_id, duplicate_of, seconds_ingest, seconds_analyse,
             chars, json.dumps(doc, ensure_ascii=False) if doc is not None else None, minhash, run_id, seq,
             time.time()))

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        yield from self.db.execute("SELECT key, minhash FROM units WHERE status='processed' AND minhash IS NOT NULL ORDER BY seq")

    def rows_for_run(self, run_id: str) -> Iterator[tuple]:
        cur = self.db.execute("SELECT key, status, reason, doc_id, duplicate_of, doc, content_hash, seconds_ingest, "
                              "seconds_analyse, chars FROM units WHERE run_id=? ORDER BY seq", (run_id,))
        yield from cur

    def doc_of(self, key: str) -> Optional[dict]:
        row = self.db.execute("SELECT doc FROM units WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def start_run(self, run_id: str, argv: list[str]) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs (run_id, started, argv) VALUES (?,?,?)",
                        (run_id, time.time(), json.dumps(argv, ensure_ascii=False)))

    def finish_run(self, run_id: str, summary: dict) -> None:
        self.db.execute("UPDATE runs SET finished=?, summary=? WHERE run_id=?",
                        (time.time(), json.dumps(summary, ensure_ascii=False), run_id))
