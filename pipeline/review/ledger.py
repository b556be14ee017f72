"""Reviewer corrections in the run store (run.sqlite, table `corrections`), and their replay into the reviewed
state of each passage. The machine's output (documents.jsonl) is never changed: a reviewed label or entity list
is the machine's value with the corrections applied in order, undone ones skipped.

Kinds and their values (value and machine_value are text; entity ones are JSON):
  label          value = the reviewer's label, machine_value = the machine's label
  accept         value = the label confirmed, machine_value = the machine's label
  entity_add     value = {"key", "text", "type", "start", "end"}, machine_value = null
  entity_type    value = {"key", "type"}, machine_value = the entity's type before the change
  entity_delete  value = {"key"}, machine_value = the deleted entity as JSON
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from pipeline.store import RunStore

KINDS = ("label", "accept", "entity_add", "entity_type", "entity_delete")
_EXTRA_SCHEMA = "CREATE INDEX IF NOT EXISTS corrections_passage ON corrections(doc_id, passage);"


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


@dataclass
class PassageState:
    """A passage after review: the reviewed label (None when not reviewed) and the current entities by key."""
    reviewed_label: Optional[str] = None
    entities: dict[str, dict] = field(default_factory=dict)
    entity_edits: int = 0
    reviewer: Optional[str] = None
    at: Optional[float] = None


class Ledger:
    """Append-only corrections with undo. One short-lived connection per call, so the ledger can be shared by
    the threads of the review server."""

    def __init__(self, path: Path):
        self.path = Path(path)
        store = RunStore(self.path)  # creates the tables when missing; keeps RunStore's schema the authority
        store.db.executescript(_EXTRA_SCHEMA)
        store.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=30, isolation_level=None)

    def record(self, doc_id: str, passage: int, kind: str, *, value: Optional[str], machine_value: Optional[str],
               reviewer: Optional[str]) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown correction kind {kind!r}")
        db = self._connect()
        try:
            cur = db.execute("INSERT INTO corrections (doc_id, passage, kind, machine_value, value, reviewer, at) "
                             "VALUES (?,?,?,?,?,?,?)", (doc_id, int(passage), kind, machine_value, value, reviewer,
                                                         time.time()))
            return int(cur.lastrowid)
        finally:
            db.close()

    def undo_last(self, reviewer: Optional[str]) -> Optional[Correction]:
        """Mark the reviewer's latest live correction undone and return it (None when there is nothing to undo)."""
        db = self._connect()
        try:
            row = db.execute("SELECT id FROM corrections WHERE undone=0 AND reviewer IS ? ORDER BY id DESC LIMIT 1",
                             (reviewer,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE corrections SET undone=1 WHERE id=?", (row[0],))
        finally:
            db.close()
        return next(iter(self.rows(ids=[row[0]], include_undone=True)), None)

    def rows(self, *, doc_id: Optional[str] = None, ids: Optional[Iterable[int]] = None,
             include_undone: bool = False) -> list[Correction]:
        sql = "SELECT id, doc_id, passage, kind, machine_value, value, reviewer, at, undone FROM corrections WHERE 1=1"
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
        db = self._connect()
        try:
            return [Correction(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))
                    for r in db.execute(sql + " ORDER BY id", args)]
        finally:
            db.close()


def machine_entities(doc: dict) -> dict[int, dict[str, dict]]:
    """The machine's entities of a document by passage, keyed "m<position in doc['entities']>"."""
    out: dict[int, dict[str, dict]] = {}
    for i, e in enumerate(doc.get("entities") or []):
        out.setdefault(int(e["passage"]), {})[f"m{i}"] = dict(e, key=f"m{i}")
    return out


def replay(doc: dict, corrections: Iterable[Correction]) -> dict[int, PassageState]:
    """Each passage's reviewed state: the machine entities with the document's live corrections applied."""
    ents = machine_entities(doc)
    states = {int(p["index"]): PassageState(entities=dict(ents.get(int(p["index"]), {})))
              for p in doc.get("passages") or []}
    for c in corrections:
        st = states.get(c.passage)
        if st is None or c.undone:
            continue
        st.reviewer, st.at = c.reviewer, c.at
        if c.kind in ("label", "accept"):
            st.reviewed_label = c.value
            continue
        v = json.loads(c.value or "{}")
        key = v.get("key")
        if c.kind == "entity_add":
            st.entities[key] = {"key": key, "text": v["text"], "type": v["type"], "start": v["start"],
                                "end": v["end"], "passage": c.passage, "canonical": v["text"], "source": "review"}
        elif c.kind == "entity_type" and key in st.entities:
            st.entities[key] = dict(st.entities[key], type=v["type"])
        elif c.kind == "entity_delete":
            st.entities.pop(key, None)
        st.entity_edits += 1
    return states
