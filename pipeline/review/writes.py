"""The review app's JSON API: a passage's state, and the corrections (label, accept, entity add / retype /
delete, undo). Each write is checked and stored in one ledger transaction taken before the check reads anything
(BEGIN IMMEDIATE): of two overlapping entity adds sent at once, the second sees the first and is refused (409).
A write carries the `state` hash of what its page showed; when the passage changed since (another reviewer, a
re-run) it is refused (409, code "stale") with the passage as it is now."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Optional

from flask import Flask, abort, jsonify, request

from pipeline.records import ENTITY_TYPES, LABELS
from pipeline.review import queries
from pipeline.review.ledger import Ledger, PassageState, state_hash
from pipeline.review.web import ReviewState, passage_json, reviewer_or_refuse


@dataclass
class Change:
    """One correction to store (None from an action: nothing to change)."""
    kind: str
    value: Optional[str]
    machine_value: Optional[str]
    mention: Optional[tuple[str, int, int]] = None


class Stale(Exception):
    def __init__(self, who: Optional[str]):
        super().__init__(who)
        self.who = who


def _target() -> tuple[str, int, dict]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="JSON object expected")
    try:
        doc_id, index = str(body["doc_id"]), int(body["index"])
    except (KeyError, TypeError, ValueError):
        abort(400, description="doc_id and index are required")
    if not isinstance(body.get("filters", {}), dict):
        abort(400, description="filters must be an object")
    return doc_id, index, body


def _write(state: ReviewState, action: Callable[[PassageState, dict, dict], Optional[Change]]):
    """Check and store one correction on the passage the body names; answer with the passage as it is now."""
    doc_id, index, body = _target()
    who = reviewer_or_refuse()
    with state.index.read() as db:
        row = queries.passage(db, doc_id, index)
    if row is None:
        abort(404, description="no such passage in this run")
    try:
        with state.index.lock:
            with state.ledger.write() as ldb:
                st, sha = state.index.passage_state(doc_id, index, state.ledger.rows(doc_id=doc_id, db=ldb))
                expect = body.get("expect")
                if expect and expect != state_hash(sha, st.reviewed_label, st.entities.values()):
                    raise Stale(st.reviewer)
                change = action(st, row, body)
                if change is not None:
                    Ledger.insert(ldb, doc_id, index, change.kind, value=change.value,
                                  machine_value=change.machine_value, reviewer=who, passage_sha=sha,
                                  mention=change.mention)
            state.index.refresh_doc(doc_id)
    except Stale as exc:
        by = f" (by {exc.who})" if exc.who and exc.who != who else ""
        resp = jsonify({"error": f"this passage changed since the page showed it{by}; it now shows the passage as it "
                                 f"is: do it again if it still needs doing", "code": "stale",
                        "passage": passage_json(state, doc_id, index, body.get("filters") or {})})
        return resp, 409
    return jsonify(passage_json(state, doc_id, index, body.get("filters") or {}))


def _label(st: PassageState, row: dict, body: dict) -> Change:
    label = body.get("label")
    if label not in LABELS:
        abort(400, description=f"label must be one of {LABELS}")
    return Change("label", label, row["machine_label"])


def _accept(st: PassageState, row: dict, body: dict) -> Change:
    return Change("accept", st.reviewed_label or row["machine_label"], row["machine_label"])


def _add(st: PassageState, row: dict, body: dict) -> Change:
    try:
        start, end = int(body.get("start")), int(body.get("end"))
    except (TypeError, ValueError):
        abort(400, description="start and end must be integers")
    etype = body.get("type")
    if etype not in ENTITY_TYPES or not 0 <= start < end <= len(row["text"]):
        abort(400, description="bad entity span or type")
    if any(start < e["end"] and e["start"] < end for e in st.entities.values()):
        abort(409, description="the selection overlaps an entity; change or delete that one first")
    text = row["text"][start:end]
    value = {"text": text, "type": etype, "start": start, "end": end}
    return Change("entity_add", json.dumps(value, ensure_ascii=False), None, (text, start, end))


def _entity(st: PassageState, body: dict) -> dict:
    ent = st.entities.get(str(body.get("key")))
    if ent is None:
        abort(404, description="no such entity in this passage")
    return ent


def _retype(st: PassageState, row: dict, body: dict) -> Optional[Change]:
    ent = _entity(st, body)
    etype = body.get("type")
    if etype not in ENTITY_TYPES:
        abort(400, description="bad entity type")
    if etype == ent["type"]:
        return None
    return Change("entity_type", json.dumps({"type": etype}), ent["type"], (ent["text"], ent["start"], ent["end"]))


def _delete(st: PassageState, row: dict, body: dict) -> Change:
    ent = _entity(st, body)
    return Change("entity_delete", "{}", json.dumps(ent, ensure_ascii=False), (ent["text"], ent["start"], ent["end"]))


def _undo(state: ReviewState):
    body = request.get_json(silent=True) or {}
    who = reviewer_or_refuse()
    with state.index.lock:
        undone = state.ledger.undo_last(who)
        if undone is None:
            return jsonify({"undone": None})
        state.index.refresh_doc(undone.doc_id)
    with state.index.read() as db:  # where the passage is in this run (re-attached after a re-run)
        at = db.execute("SELECT idx FROM passages WHERE doc_id=? AND sha=? ORDER BY abs(idx - ?) LIMIT 1",
                        (undone.doc_id, undone.passage_sha, undone.passage)).fetchone()
    index = at[0] if at else undone.passage
    filters = body.get("filters") if isinstance(body.get("filters"), dict) else {}
    return jsonify({"undone": {"doc_id": undone.doc_id, "index": index, "kind": undone.kind},
                    "passage": passage_json(state, undone.doc_id, index, filters)})


def register(app: Flask, state: ReviewState) -> None:
    @app.get("/api/passage/<doc_id>/<int:index>")
    def api_passage(doc_id: str, index: int):
        return jsonify(passage_json(state, doc_id, index, queries.clean(request.args)))

    for url, action in (("/api/label", _label), ("/api/accept", _accept), ("/api/entity/add", _add),
                        ("/api/entity/update", _retype), ("/api/entity/delete", _delete)):
        app.add_url_rule(url, "write_" + action.__name__.strip("_"),
                         (lambda a: lambda: _write(state, a))(action), methods=["POST"])
    app.add_url_rule("/api/undo", "api_undo", lambda: _undo(state), methods=["POST"])
