"""The run store: one SQLite file in the output folder recording every input's fingerprint, status and
result. It makes runs idempotent (unchanged inputs are not redone) and resumable: the runner commits results
in input order, a few units per transaction, so after a kill -9 the store holds the results of a prefix of the
inputs and nothing else."""
from __future__ import annotations

import functools
import json
import sqlite3
import time
from contextlib import contextmanager
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
  updated REAL,
  truncated TEXT                   -- what a limit cut from the input (documents.jsonl's `truncated`)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, started REAL, finished REAL, argv TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS corrections (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL, passage INTEGER NOT NULL,
  kind TEXT NOT NULL,              -- label | entity_add | entity_delete | entity_type | accept
  machine_value TEXT, value TEXT, reviewer TEXT, at REAL, undone INTEGER DEFAULT 0
);
"""


class StoreError(OSError):
    """The run store could not be read or written (disk full, read-only folder, corrupt file). `damaged` says the
    file itself is corrupt (then `--force` rebuilds it)."""

    def __init__(self, message: str, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


def _is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """One line naming the store and the reason; a damaged file also says what to do."""
    if _is_damage(exc):
        return StoreError(f"{path}: the run store is damaged ({exc}); re-run with --force to rebuild it (the "
                          f"damaged file is kept as {path.name}.damaged)", damaged=True)
    return StoreError(f"{path}: cannot {doing} the run store: {exc}")


def _named_errors(doing: str):
    """Turn an sqlite3 error in a RunStore method into a StoreError naming the file (see store_error)."""
    def wrap(method):
        @functools.wraps(method)
        def wrapped(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc, doing) from None
        return wrapped
    return wrap


class RunStore:
    def __init__(self, path: Path, check: bool = False):
        """Open (or create) the store; with `check`, read it all once to find damage (PRAGMA quick_check)."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self._add_missing_columns()
            problem = self.db.execute("PRAGMA quick_check").fetchone()[0] if check else "ok"
        except sqlite3.Error as exc:
            self._close_quietly()
            raise store_error(self.path, exc, "open") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the run store: {exc.strerror or exc}") from None
        if problem != "ok":
            self._close_quietly()
            raise StoreError(f"{self.path}: the run store is damaged ({problem})", damaged=True)

    def _add_missing_columns(self) -> None:
        """Columns added since a store was created (truncated: 1.4.0)."""
        have = {row[1] for row in self.db.execute("PRAGMA table_info(units)")}
        if "truncated" not in have:
            self.db.execute("ALTER TABLE units ADD COLUMN truncated TEXT")

    def _close_quietly(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self):
        """Group writes: all of them are committed, or (on an exception or a kill) none."""
        try:
            self.db.execute("BEGIN")
            yield self
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback_quietly()
            raise store_error(self.path, exc, "write to") from None
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        """Undo the open transaction; a failure here (the disk that is full) must not hide the first error."""
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @_named_errors("read")
    def get(self, key: str) -> Optional[sqlite3.Row]:
        cur = self.db.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute("SELECT key, fingerprint, status, reason, run_id FROM units WHERE key=?", (key,)).fetchone()

    @_named_errors("read")
    def output_of(self, key: str) -> tuple:
        """(status, duplicate_of, doc) of a unit: what its documents.jsonl line is made of."""
        return self.db.execute("SELECT status, duplicate_of, doc FROM units WHERE key=?", (key,)).fetchone()

    @_named_errors("write to")
    def mark_seen(self, key: str, run_id: str, seq: int) -> None:
        self.db.execute("UPDATE units SET run_id=?, seq=? WHERE key=?", (run_id, seq, key))

    @_named_errors("write to")
    def put(self, key: str, *, fingerprint: str, status: str, run_id: str, seq: int, reason: Optional[str] = None,
            content_hash: Optional[str] = None, doc_id: Optional[str] = None, duplicate_of: Optional[str] = None,
            doc: Optional[dict | str] = None, minhash: Optional[bytes] = None, seconds_ingest: float = 0.0,
            seconds_analyse: float = 0.0, chars: int = 0, truncated: Optional[str] = None) -> None:
        """Record one unit. `doc` is a dict or its JSON text."""
        if isinstance(doc, dict):
            doc = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        self.db.execute(
            "INSERT OR REPLACE INTO units (key, fingerprint, content_hash, status, reason, doc_id, duplicate_of, "
            "seconds_ingest, seconds_analyse, chars, doc, minhash, run_id, seq, updated, truncated) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, fingerprint, content_hash, status, reason, doc_id, duplicate_of, seconds_ingest, seconds_analyse,
             chars, doc, minhash, run_id, seq, time.time(), truncated))

    @_named_errors("write to")
    def use_signature_scheme(self, scheme: str) -> int:
        """Record the near-duplicate signature scheme; signatures stored under another one (an older PolicyMiner)
        cannot be compared with new ones and are dropped. Returns how many were dropped."""
        row = self.db.execute("SELECT value FROM meta WHERE name='minhash_scheme'").fetchone()
        if row is not None and row[0] == scheme:
            return 0
        with self.transaction():
            dropped = self.db.execute("UPDATE units SET minhash=NULL WHERE minhash IS NOT NULL").rowcount
            self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('minhash_scheme', ?)", (scheme,))
        return dropped

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """MinHash signatures in input order: every unit that entered the duplicate index (processed, or failed in
        analysis after passing the duplicate check)."""
        yield from self._rows("SELECT key, minhash FROM units WHERE minhash IS NOT NULL ORDER BY run_id, seq")

    def _rows(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of a query, streamed; an sqlite3 error while reading them becomes a StoreError."""
        try:
            cur = self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, "read") from None
        while True:
            try:
                row = next(cur, None)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc, "read") from None
            if row is None:
                return
            yield row

    def rows_for_run(self, run_id: str) -> Iterator[tuple]:
        yield from self._rows("SELECT key, status, reason, doc_id, duplicate_of, doc, content_hash, seconds_ingest, "
                              "seconds_analyse, chars, truncated FROM units WHERE run_id=? ORDER BY seq", (run_id,))

    @_named_errors("read")
    def count_for_run(self, run_id: str) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM units WHERE run_id=? GROUP BY status", (run_id,))
        return dict(rows.fetchall())

    @_named_errors("read")
    def doc_id_of(self, key: str) -> Optional[str]:
        """The doc_id of a processed unit that has its document (what doc_of(key)["doc_id"] gives), else None."""
        row = self.db.execute("SELECT doc_id FROM units WHERE key=? AND status='processed' AND doc IS NOT NULL "
                              "AND doc != ''", (key,)).fetchone()
        return row[0] if row else None

    @_named_errors("read")
    def doc_of(self, key: str) -> Optional[dict]:
        row = self.db.execute("SELECT doc FROM units WHERE key=? AND status='processed'", (key,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    @_named_errors("write to")
    def start_run(self, run_id: str, argv: list[str]) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs (run_id, started, argv) VALUES (?,?,?)",
                        (run_id, time.time(), json.dumps(argv, ensure_ascii=False)))

    @_named_errors("write to")
    def finish_run(self, run_id: str, summary: dict) -> None:
        self.db.execute("UPDATE runs SET finished=?, summary=? WHERE run_id=?",
                        (time.time(), json.dumps(summary, ensure_ascii=False), run_id))
