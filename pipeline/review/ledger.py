"""Reviewer corrections in the run store (run.sqlite, table `corrections`), and their replay into the reviewed
state of each passage. The machine's output (documents.jsonl) is never changed: a reviewed label or entity list
is the machine's value with the live corrections applied in order, undone ones skipped.

Corrections are anchored to content, not to positions: each keeps the hash of its passage's text
(`passage_sha`) and, for entity edits, the mention's text and offsets in that passage. After a re-run a
correction re-attaches to the passage of the same document whose text has that hash (the nearest one to its old
index) and acts only on the mention at the same offsets with the same text; when the text is gone or the
mention is not there it is listed as orphaned, never applied elsewhere.

Kinds and their values (value and machine_value are text; entity ones are JSON):
  label          value = the reviewer's label, machine_value = the machine's label
  accept         value = the label confirmed, machine_value = the machine's label
  entity_add     value = {"text", "type", "start", "end"}, machine_value = null
  entity_type    value = {"type"}, machine_value = the entity's type before the change
  entity_delete  value = {}, machine_value = the deleted entity as JSON
Rows written before anchoring existed (no passage_sha; entity keys "m<i>"/"r<hex>") are read as anchored to
the documents of the run they are first replayed against (`anchor_legacy`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import queue
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from pipeline.store import RunStore

KINDS = ("label", "accept", "entity_add", "entity_type", "entity_delete")
LABEL_KINDS = ("label", "accept")
ANCHOR_COLUMNS = (("passage_sha", "TEXT"), ("mention_text", "TEXT"), ("mention_start", "INTEGER"),
                  ("mention_end", "INTEGER"))
_EXTRA_SCHEMA = "CREATE INDEX IF NOT EXISTS corrections_passage ON corrections(doc_id, passage);"
_COLUMNS = ("id, doc_id, passage, kind, machine_value, value, reviewer, at, undone, passage_sha, mention_text, "
            "mention_start, mention_end")


def passage_sha(text: str) -> str:
    """The content anchor of a passage: SHA-256 of its text, first 16 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def entity_key(start: int, end: int) -> str:
    """An entity's key inside its passage: its span (two mentions of a passage never share one)."""
    return f"e{int(start)}-{int(end)}"


@dataclass(frozen=True)
class Correction:
    id: int
    doc_id: str
    passage: int
    kind: str
    machine_value: Optional[str]
    value: Optional[str]
    reviewer: Optional[str]
    at: float
    undone: bool = False
    passage_sha: Optional[str] = None
    mention_text: Optional[str] = None
    mention_start: Optional[int] = None
    mention_end: Optional[int] = None

    @property
    def key(self) -> Optional[str]:
        return None if self.mention_start is None else entity_key(self.mention_start, self.mention_end)


@dataclass
class PassageState:
    """A passage after review: the reviewed label (None when not reviewed) and the current entities by key."""
    reviewed_label: Optional[str] = None
    entities: dict[str, dict] = field(default_factory=dict)
    entity_edits: int = 0
    reviewer: Optional[str] = None
    at: Optional[float] = None


@dataclass(frozen=True)
class Orphan:
    """A live correction that could not be applied to this run, and why."""
    correction: Correction
    reason: str


class Ledger:
    """Append-only corrections with undo. Each call (or `write()` transaction) takes a connection of its own from a
    small pool, so the ledger can be shared by the threads of the review server. (Pooled, not opened per call:
    closing the last connection of a WAL database checkpoints it, which cost more than the query.)"""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._pool: "queue.SimpleQueue[sqlite3.Connection]" = queue.SimpleQueue()
        store = RunStore(self.path)  # creates the tables when missing; keeps RunStore's schema the authority
        have = {r[1] for r in store.db.execute("PRAGMA table_info(corrections)")}
        for name, sql_type in ANCHOR_COLUMNS:
            if name not in have:
                store.db.execute(f"ALTER TABLE corrections ADD COLUMN {name} {sql_type}")
        store.db.executescript(_EXTRA_SCHEMA)
        store.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            yield db
        finally:
            self._pool.put(db)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (BEGIN IMMEDIATE): checks made inside it see every
        earlier write, and a concurrent writer waits until it commits. An exception rolls it back."""
        with self._connection() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @staticmethod
    def insert(db: sqlite3.Connection, doc_id: str, passage: int, kind: str, *, value: Optional[str],
               machine_value: Optional[str], reviewer: Optional[str], passage_sha: Optional[str] = None,
               mention: Optional[tuple[str, int, int]] = None) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown correction kind {kind!r}")
        text, start, end = mention or (None, None, None)
        cur = db.execute("INSERT INTO corrections (doc_id, passage, kind, machine_value, value, reviewer, at, "
                         "passage_sha, mention_text, mention_start, mention_end) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (doc_id, int(passage), kind, machine_value, value, reviewer, time.time(), passage_sha,
                          text, start, end))
        return int(cur.lastrowid)

    def record(self, doc_id: str, passage: int, kind: str, *, value: Optional[str], machine_value: Optional[str],
               reviewer: Optional[str], passage_sha: Optional[str] = None,
               mention: Optional[tuple[str, int, int]] = None) -> int:
        with self.write() as db:
            return self.insert(db, doc_id, passage, kind, value=value, machine_value=machine_value,
                               reviewer=reviewer, passage_sha=passage_sha, mention=mention)

    def undo_last(self, reviewer: Optional[str], db: Optional[sqlite3.Connection] = None) -> Optional[Correction]:
        """Mark this reviewer's latest live correction undone and return it (None when there is nothing to undo).
        Another reviewer's corrections are never touched."""
        if db is None:
            with self.write() as own:
                return self.undo_last(reviewer, own)
        row = db.execute("SELECT id FROM corrections WHERE undone=0 AND reviewer IS ? ORDER BY id DESC LIMIT 1",
                         (reviewer,)).fetchone()
        if row is None:
            return None
        db.execute("UPDATE corrections SET undone=1 WHERE id=?", (row[0],))
        return next(iter(self.rows(ids=[row[0]], include_undone=True, db=db)), None)

    def rows(self, *, doc_id: Optional[str] = None, ids: Optional[Iterable[int]] = None,
             include_undone: bool = False, db: Optional[sqlite3.Connection] = None) -> list[Correction]:
        sql = f"SELECT {_COLUMNS} FROM corrections WHERE 1=1"
        args: list = []
        if not include_undone:
            sql += " AND undone=0"
        if doc_id is not None:
            sql += " AND doc_id=?"
            args.append(doc_id)
        if ids is not None:
            ids = list(ids)
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            args += ids
        if db is None:
            with self._connection() as own:
                return self.rows(doc_id=doc_id, ids=ids, include_undone=include_undone, db=own)
        return [Correction(*r[:8], bool(r[8]), *r[9:]) for r in db.execute(sql + " ORDER BY id", args)]

    def fingerprint(self) -> tuple:
        """Changes whenever a correction is added or undone (by this process or another)."""
        with self._connection() as db:
            return tuple(db.execute("SELECT COUNT(*), MAX(id), SUM(undone) FROM corrections").fetchone())

    def set_anchors(self, corrections: Iterable[Correction]) -> None:
        """Store the anchors `anchor_legacy` gave to rows written before anchoring existed."""
        rows = [(c.passage_sha, c.mention_text, c.mention_start, c.mention_end, c.id) for c in corrections]
        if rows:
            with self.write() as db:
                db.executemany("UPDATE corrections SET passage_sha=?, mention_text=?, mention_start=?, mention_end=? "
                               "WHERE id=? AND passage_sha IS NULL", rows)


def machine_entities(doc: dict) -> dict[int, dict[str, dict]]:
    """The machine's entities of a document by passage, keyed by span (the first of two with one span wins)."""
    out: dict[int, dict[str, dict]] = {}
    for e in doc.get("entities") or []:
        by_key = out.setdefault(int(e["passage"]), {})
        by_key.setdefault(entity_key(e["start"], e["end"]), dict(e, key=entity_key(e["start"], e["end"])))
    return out


def anchor_legacy(doc: dict, corrections: Iterable[Correction]) -> list[Correction]:
    """Rows without an anchor, anchored to this document as it is (their keys were positions in it)."""
    passages = {int(p["index"]): p["text"] for p in doc.get("passages") or []}
    ents = doc.get("entities") or []
    added: dict[str, tuple[str, int, int]] = {}
    out = []
    for c in corrections:
        if c.passage_sha is not None or c.passage not in passages:
            continue
        v = json.loads(c.value or "{}") if c.kind.startswith("entity") else {}
        mention = None
        if c.kind == "entity_add":
            mention = added[v.get("key", "")] = (v["text"], int(v["start"]), int(v["end"]))
        elif c.kind in ("entity_type", "entity_delete"):
            key = str(v.get("key", ""))
            if key.startswith("m") and key[1:].isdigit() and int(key[1:]) < len(ents):
                e = ents[int(key[1:])]
                mention = (e["text"], int(e["start"]), int(e["end"]))
            else:
                mention = added.get(key)
        text, start, end = mention or (None, None, None)
        out.append(dataclasses.replace(c, passage_sha=passage_sha(passages[c.passage]), mention_text=text,
                                       mention_start=start, mention_end=end))
    return out


def attach(shas: dict[int, str], corrections: Iterable[Correction]) -> tuple[dict[int, list[Correction]],
                                                                            list[Orphan]]:
    """Each live correction's passage in this run: its old index when the text there is unchanged, else the
    nearest passage of the document with the same text, else none (an orphan)."""
    by_sha: dict[str, list[int]] = {}
    for index, sha in shas.items():
        by_sha.setdefault(sha, []).append(index)
    attached: dict[int, list[Correction]] = {}
    orphans = []
    for c in corrections:
        if c.undone:
            continue
        if c.passage_sha is None or shas.get(c.passage) == c.passage_sha:
            target = c.passage if c.passage in shas else None
        else:
            near = sorted(by_sha.get(c.passage_sha, []), key=lambda i: (abs(i - c.passage), i))
            target = near[0] if near else None
        if target is None:
            orphans.append(Orphan(c, "the passage's text is no longer in this run"))
        else:
            attached.setdefault(target, []).append(c)
    return attached, orphans


def apply(state: PassageState, c: Correction) -> Optional[str]:
    """Apply one correction to a passage's state; returns why it could not be applied (None when it was)."""
    if c.kind in LABEL_KINDS:
        state.reviewed_label = c.value
        state.reviewer, state.at = c.reviewer, c.at
        return None
    if c.key is None:
        return "the mention it edits is unknown"
    v = json.loads(c.value or "{}")
    ent = state.entities.get(c.key)
    if ent is not None and ent.get("text") != c.mention_text:
        ent = None
    if c.kind == "entity_add":
        if ent is None and any(c.mention_start < e["end"] and e["start"] < c.mention_end
                               for e in state.entities.values()):
            return "it overlaps a mention found in this run"
        state.entities[c.key] = (dict(ent, type=v["type"]) if ent else
                                 {"key": c.key, "text": c.mention_text, "type": v["type"], "start": c.mention_start,
                                  "end": c.mention_end, "canonical": c.mention_text, "source": "review"})
    elif ent is None:
        return "the mention it edits is not in this run"
    elif c.kind == "entity_type":
        state.entities[c.key] = dict(ent, type=v["type"])
    else:
        del state.entities[c.key]
    state.entity_edits += 1
    state.reviewer, state.at = c.reviewer, c.at
    return None


def replay_passage(machine: dict[str, dict], corrections: Iterable[Correction]) -> tuple[PassageState, list[Orphan]]:
    """One passage's reviewed state from its machine entities and its attached corrections (in id order)."""
    state = PassageState(entities={k: dict(e) for k, e in machine.items()})
    orphans = []
    for c in corrections:
        reason = apply(state, c)
        if reason:
            orphans.append(Orphan(c, reason))
    return state, orphans


def replay(doc: dict, corrections: Iterable[Correction]) -> tuple[dict[int, PassageState], list[Orphan]]:
    """Each passage's reviewed state (the machine entities with the document's live corrections applied) and the
    corrections that found no place in this document."""
    corrections = [c for c in corrections if not c.undone]
    legacy = {c.id: c for c in anchor_legacy(doc, corrections)}
    corrections = [legacy.get(c.id, c) for c in corrections]
    shas = {int(p["index"]): passage_sha(p["text"]) for p in doc.get("passages") or []}
    attached, orphans = attach(shas, corrections)
    ents = machine_entities(doc)
    states = {}
    for index in shas:
        states[index], lost = replay_passage(ents.get(index, {}), attached.get(index, []))
        orphans += lost
    return states, orphans


def state_hash(sha: str, reviewed_label: Optional[str], entities: Iterable[dict]) -> str:
    """What a page shows of a passage, hashed: a page sends it back with a write, and a write on a passage that
    changed since (another reviewer, a re-run) is refused so the page can show the change first."""
    spans = sorted((int(e["start"]), int(e["end"]), e["type"]) for e in entities)
    blob = json.dumps([sha, reviewed_label, spans], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
