"""The review index: OUT_DIR/review-index.sqlite, a cache of the run's documents, passages and entities with an
FTS5 (trigram) full-text index, and each passage's reviewed state. The review app reads lists, searches and
passages from it instead of re-reading documents.jsonl and replaying every correction on each request.

It is built once per run: at start-up when it is missing, of another schema, or was built from other bytes of
documents.jsonl (the file's size/mtime/inode are checked on every request and its SHA-256 when those change, so
a documents.jsonl replaced under a running server is re-indexed before anything is served from it). The
corrections in run.sqlite stay the authority: after each write the index re-derives the touched document's
state from them, and when the ledger changed behind its back (another process) it re-derives every reviewed
document. Deleting the file is always safe; it is rebuilt."""
from __future__ import annotations

import hashlib
import json
import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from pipeline.modelio import sha256_of
from pipeline.review.data import RunFolderError, display_title, documents_path, iter_documents, site_of
from pipeline.review.ledger import Correction, Ledger, Orphan, PassageState, anchor_legacy, passage_sha, \
    replay

INDEX_NAME = "review-index.sqlite"
SCHEMA_VERSION = "review-index-3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS docs (ord INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, title TEXT, display TEXT,
  published_at TEXT, site TEXT, url TEXT, path TEXT, publisher TEXT, n_passages INTEGER);
-- passages holds the short columns lists filter and sort on (a scan of 20,000 rows reads about 2 MB); the text,
-- heading and scores a page shows are in texts, read for the rows shown.
CREATE TABLE IF NOT EXISTS passages (id INTEGER PRIMARY KEY, doc_ord INTEGER NOT NULL, doc_id TEXT NOT NULL,
  idx INTEGER NOT NULL, sha TEXT NOT NULL, kind TEXT, length INTEGER, machine_label TEXT, secondary TEXT,
  top_score REAL, label TEXT, reviewed_label TEXT, reviewer TEXT, edited INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL, heading TEXT, scores TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS passages_key ON passages(doc_id, idx);
-- the sorts' indexes carry the columns of the default filters, so a page or a count is read from the index alone
CREATE INDEX IF NOT EXISTS passages_score ON passages(top_score, id, kind, length, label, reviewed_label);
CREATE INDEX IF NOT EXISTS passages_length ON passages(length, id, kind, label, reviewed_label);
CREATE INDEX IF NOT EXISTS passages_reviewed ON passages(reviewed_label);
CREATE TABLE IF NOT EXISTS machine_entities (pid INTEGER NOT NULL, pos INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS machine_entities_pid ON machine_entities(pid);
CREATE TABLE IF NOT EXISTS entities (pid INTEGER NOT NULL, key TEXT NOT NULL, start INTEGER, end INTEGER,
  text TEXT, type TEXT, canonical TEXT, source TEXT);
CREATE INDEX IF NOT EXISTS entities_pid ON entities(pid);
CREATE TABLE IF NOT EXISTS orphans (correction_id INTEGER PRIMARY KEY, doc_id TEXT, passage INTEGER, kind TEXT,
  reviewer TEXT, value TEXT, mention TEXT, reason TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, content='texts', content_rowid='id',
  tokenize='trigram');
"""


class IndexUnavailable(RuntimeError):
    """documents.jsonl cannot be indexed right now (missing, or invalid): nothing is served from the old index."""


def _file_stat(path: Path) -> tuple:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


class ReviewIndex:
    """The index of one run folder, shared by the threads of the review server."""

    def __init__(self, out_dir: Path, ledger: Optional[Ledger] = None):
        self.out_dir = Path(out_dir)
        self.docs_path = documents_path(self.out_dir)
        self.path = self.out_dir / INDEX_NAME
        self.ledger = ledger or Ledger(self.out_dir / "run.sqlite")
        self.lock = threading.RLock()  # rebuilds and writes; reads run beside them on their own connections
        self._pool: "queue.SimpleQueue[sqlite3.Connection]" = queue.SimpleQueue()
        self._stat: Optional[tuple] = None
        self._ledger_fp: Optional[tuple] = None
        self.build_seconds: Optional[float] = None
        self.generation = 0  # counts every change of what the index holds (for the caches of what it shows)
        self._cache: dict = {}
        self._open_or_reset()
        self.ensure_fresh()

    # -- connections ---------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-32000")
        return db

    def _open_or_reset(self) -> None:
        """Open the index file, starting afresh when it is of another schema version or unreadable."""
        try:
            db = self._connect()
            try:
                if _meta(db).get("schema", SCHEMA_VERSION) == SCHEMA_VERSION:
                    return
            finally:
                db.close()
        except sqlite3.DatabaseError:
            pass
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def cached(self, name: str, compute):
        """compute(db) once per state of the index (label counts: a full scan, the same until a write)."""
        key = (name, self.generation)
        if key not in self._cache:
            with self.read() as db:
                value = compute(db)
            self._cache = {k: v for k, v in self._cache.items() if k[1] == self.generation}
            self._cache[key] = value
        return self._cache[key]

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = self._connect()
        try:
            yield db
        finally:
            self._pool.put(db)

    # -- freshness -----------------------------------------------------------------------------------------
    def ensure_fresh(self) -> None:
        """Re-index when documents.jsonl changed, re-derive reviewed states when the ledger changed."""
        try:
            stat = _file_stat(self.docs_path)
        except OSError as exc:
            raise IndexUnavailable(f"{self.docs_path}: {exc.strerror or exc}") from None
        if stat == self._stat and self.ledger.fingerprint() == self._ledger_fp:
            return
        with self.lock:
            stat = _file_stat(self.docs_path)
            if stat != self._stat:
                self._check_documents(stat)
            ledger_fp = self.ledger.fingerprint()
            if ledger_fp != self._ledger_fp:
                self.refresh_all()

    def _check_documents(self, stat: tuple) -> None:
        with self.read() as db:
            meta = _meta(db)
        if meta.get("docs_stat") == json.dumps(stat):
            self._stat = stat
            return
        if meta.get("docs_sha") and meta["docs_sha"] == sha256_of(self.docs_path):
            with self.read() as db:  # the same bytes (copied, touched): remember the new stat
                db.execute("UPDATE meta SET value=? WHERE name='docs_stat'", (json.dumps(stat),))
            self._stat = stat
            return
        self.rebuild()

    def rebuild(self) -> None:
        """Index documents.jsonl again, in one transaction: readers see the old index or the new one."""
        started = time.perf_counter()
        with self.lock, self.read() as db:
            stat = _file_stat(self.docs_path)
            db.executescript(SCHEMA)
            corrections = self.ledger.rows()
            try:
                db.execute("BEGIN IMMEDIATE")
                for table in ("docs", "passages", "texts", "machine_entities", "entities", "orphans", "meta"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("INSERT INTO fts(fts) VALUES('delete-all')")
                digest, legacy = self._insert_documents(db, corrections)
                db.execute("INSERT INTO fts(fts) VALUES('rebuild')")
                meta = {"schema": SCHEMA_VERSION, "docs_sha": digest, "docs_stat": json.dumps(stat),
                        "built_at": str(time.time())}
                db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.execute("COMMIT")
            except BaseException as exc:
                db.execute("ROLLBACK")
                if isinstance(exc, RunFolderError):
                    raise IndexUnavailable(str(exc)) from None
                raise
            self.ledger.set_anchors(legacy)
            self._stat, self._ledger_fp = stat, self.ledger.fingerprint()
            self.generation += 1
        self.build_seconds = time.perf_counter() - started

    def _insert_documents(self, db: sqlite3.Connection, corrections: list[Correction]) -> tuple[str, list]:
        by_doc: dict[str, list[Correction]] = {}
        for c in corrections:
            by_doc.setdefault(c.doc_id, []).append(c)
        digest = hashlib.sha256()
        legacy: list[Correction] = []
        next_pid = 1
        seen = set()
        for ord_, doc in enumerate(iter_documents(self.out_dir, digest)):
            mine = by_doc.get(doc["doc_id"], [])
            legacy += anchor_legacy(doc, mine)
            states, orphans = replay(doc, mine)
            self._insert_document(db, ord_, next_pid, doc, states, orphans)
            next_pid += len(doc.get("passages") or [])
            seen.add(doc["doc_id"])
        gone = [Orphan(c, "its document is no longer in this run") for doc_id, cs in by_doc.items()
                if doc_id not in seen for c in cs]
        self._insert_orphans(db, gone)
        return digest.hexdigest(), legacy

    def _insert_document(self, db, ord_: int, first_pid: int, doc: dict, states: dict[int, PassageState],
                         orphans: list[Orphan]) -> None:
        src = doc.get("source") or {}
        passages = doc.get("passages") or []
        db.execute("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (ord_, doc["doc_id"], doc.get("title"), display_title(doc), doc.get("published_at"),
                    site_of(doc), src.get("url"), src.get("path"), doc.get("publisher"), len(passages)))
        pids = {int(p["index"]): first_pid + i for i, p in enumerate(passages)}
        rows, texts, ents = [], [], []
        for p in passages:
            index, scores = int(p["index"]), p.get("scores") or {}
            st = states.get(index) or PassageState()
            rows.append((pids[index], ord_, doc["doc_id"], index, passage_sha(p["text"]), p.get("kind"),
                         len(p["text"]), p["label"], p.get("secondary"), max(scores.values(), default=0.0),
                         st.reviewed_label or p["label"], st.reviewed_label, st.reviewer, int(st.entity_edits > 0)))
            texts.append((pids[index], p["text"], p.get("heading"), json.dumps(scores)))
            ents += _entity_rows(pids[index], st)
        db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO texts VALUES (?,?,?,?)", texts)
        db.executemany("INSERT INTO machine_entities VALUES (?,?,?)",
                       [(pids[int(e["passage"])], pos, json.dumps(e, ensure_ascii=False))
                        for pos, e in enumerate(doc.get("entities") or []) if int(e["passage"]) in pids])
        db.executemany("INSERT INTO entities VALUES (?,?,?,?,?,?,?,?)", ents)
        self._insert_orphans(db, orphans)

    @staticmethod
    def _insert_orphans(db, orphans: list[Orphan]) -> None:
        db.executemany("INSERT OR REPLACE INTO orphans VALUES (?,?,?,?,?,?,?,?)",
                       [(o.correction.id, o.correction.doc_id, o.correction.passage, o.correction.kind,
                         o.correction.reviewer, o.correction.value, o.correction.mention_text, o.reason)
                        for o in orphans])

    # -- reviewed state ------------------------------------------------------------------------------------
    def document(self, db: sqlite3.Connection, doc_id: str) -> Optional[dict]:
        """The document as replay needs it (passages' index and text, the machine's entities in file order)."""
        rows = db.execute("SELECT p.id, p.idx, t.text FROM passages p JOIN texts t ON t.id = p.id WHERE p.doc_id=? "
                          "ORDER BY p.idx", (doc_id,)).fetchall()
        if not rows:
            return None
        pids = ",".join(str(r[0]) for r in rows)
        ents = [json.loads(r[0]) for r in db.execute(
            f"SELECT data FROM machine_entities WHERE pid IN ({pids}) ORDER BY pos")]
        return {"doc_id": doc_id, "passages": [{"index": r[1], "text": r[2]} for r in rows], "entities": ents}

    def refresh_doc(self, doc_id: str) -> None:
        """Re-derive one document's reviewed state from the ledger (after a write or an undo)."""
        with self.lock, self.read() as db:
            doc = self.document(db, doc_id)
            corrections = self.ledger.rows(doc_id=doc_id)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM orphans WHERE doc_id=?", (doc_id,))
                if doc is None:
                    self._insert_orphans(db, [Orphan(c, "its document is no longer in this run") for c in corrections])
                else:
                    self._store_states(db, doc, corrections)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._ledger_fp = self.ledger.fingerprint()
            self.generation += 1

    def _store_states(self, db, doc: dict, corrections: list[Correction]) -> None:
        states, orphans = replay(doc, corrections)
        legacy = anchor_legacy(doc, corrections)
        rows = db.execute("SELECT id, idx, machine_label, label, reviewed_label, reviewer, edited FROM passages "
                          "WHERE doc_id=?", (doc["doc_id"],)).fetchall()
        for pid, index, machine_label, *was in rows:
            st = states[index]
            now = [st.reviewed_label or machine_label, st.reviewed_label, st.reviewer, int(st.entity_edits > 0)]
            if now != was:  # only passages whose state changed are written
                db.execute("UPDATE passages SET label=?, reviewed_label=?, reviewer=?, edited=? WHERE id=?",
                           (*now, pid))
            if st.entity_edits or was[3]:
                db.execute("DELETE FROM entities WHERE pid=?", (pid,))
                db.executemany("INSERT INTO entities VALUES (?,?,?,?,?,?,?,?)", _entity_rows(pid, st))
        self._insert_orphans(db, orphans)
        self.ledger.set_anchors(legacy)

    def refresh_all(self) -> None:
        """Re-derive every document the ledger touches (the ledger changed outside this process)."""
        with self.lock:
            with self.read() as db:
                touched = {r[0] for r in db.execute("SELECT DISTINCT doc_id FROM passages WHERE "
                                                    "reviewed_label IS NOT NULL OR edited=1")}
                touched |= {r[0] for r in db.execute("SELECT DISTINCT doc_id FROM orphans")}
            touched |= {c.doc_id for c in self.ledger.rows(include_undone=True)}
            for doc_id in sorted(touched):
                self.refresh_doc(doc_id)
            self._ledger_fp = self.ledger.fingerprint()

    def passage_state(self, doc_id: str, index: int, corrections: list[Correction]) -> tuple[PassageState, str]:
        """A passage's state replayed from `corrections` (read inside a write transaction) and its text's hash."""
        with self.read() as db:
            doc = self.document(db, doc_id)
        states, _ = replay(doc or {}, corrections)
        if index not in states:
            raise KeyError((doc_id, index))
        text = next(p["text"] for p in doc["passages"] if p["index"] == index)
        return states[index], passage_sha(text)


def _entity_rows(pid: int, st: PassageState) -> list[tuple]:
    return [(pid, e["key"], int(e["start"]), int(e["end"]), e.get("text"), e.get("type"),
             e.get("canonical") or e.get("text"), e.get("source")) for e in st.entities.values()]


def _meta(db: sqlite3.Connection) -> dict:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
        return {}
    return dict(db.execute("SELECT name, value FROM meta").fetchall())
