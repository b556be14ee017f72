"""`policyminer review OUT_DIR`: a local Flask app where analysts check and correct tagged passages.

Pages: `/` (the filtered passage list with label counts and progress) and `/p/<doc_id>/<index>` (one passage in
its document; the page's script fetches `/api/passage/...` and renders with textContent). Writes go to the
`corrections` table of OUT_DIR/run.sqlite through JSON POSTs guarded by a CSRF token (see security.py)."""
from __future__ import annotations

import getpass
import json
import logging
import mimetypes
import secrets
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, render_template, request, send_file, url_for

from pipeline.records import ENTITY_TYPES, LABELS
from pipeline.review import data
from pipeline.review.ledger import Ledger
from pipeline.review.security import UnsafeBindError, check_bind, csrf_token, install, is_loopback, static_file

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LIST_LIMIT = 500
CONTEXT = 2  # neighbouring passages shown on each side


class ReviewState:
    """The run's documents (read once) and its ledger (read on every request, so several tabs stay in step)."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.docs = data.load_documents(self.out_dir)
        self.by_id = {d["doc_id"]: d for d in self.docs}
        self.ledger = Ledger(self.out_dir / "run.sqlite")

    def rows(self) -> list[data.Row]:
        return data.rows(self.docs, data.states_by_doc(self.docs, self.ledger.rows()))

    def doc_and_passage(self, doc_id: str, index: int) -> tuple[dict, dict]:
        doc = self.by_id.get(doc_id)
        if doc is None or not 0 <= index < len(doc.get("passages") or []):
            abort(404)
        return doc, doc["passages"][index]

    def state(self, doc_id: str, index: int):
        return data.replay(self.by_id[doc_id], self.ledger.rows(doc_id=doc_id))[index]


def _filters() -> dict:
    return {k: request.args.get(k, "") for k in data.FILTER_KEYS if request.args.get(k)}


def create_app(out_dir: Path, *, token: Optional[str] = None, reviewer: Optional[str] = None,
               loopback_only: bool = True) -> Flask:
    state = ReviewState(Path(out_dir))
    who = reviewer or _default_reviewer()
    app = Flask(__name__, static_folder=None, template_folder=str(HERE / "templates"))
    install(app, token=token, loopback_only=loopback_only)
    app.config["REVIEW_STATE"] = state

    @app.get("/static/<path:name>")
    def static(name: str):
        path = static_file(STATIC_DIR, name)
        return send_file(path, mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                         max_age=0)

    @app.get("/")
    def index():
        all_rows = state.rows()
        chosen = data.select(all_rows, request.args)
        filters = _filters()
        docs = [{"doc_id": d["doc_id"], "title": d.get("title") or d["doc_id"]} for d in state.docs]
        return render_template("index.html", rows=chosen[:LIST_LIMIT], n_matching=len(chosen),
                               counts=data.counts(all_rows), filters=filters, docs=docs, labels=LABELS,
                               query=urlencode(filters), csrf=csrf_token(), reviewer=who, limit=LIST_LIMIT)

    @app.get("/p/<doc_id>/<int:index>")
    def passage_page(doc_id: str, index: int):
        doc, _ = state.doc_and_passage(doc_id, index)
        return render_template("passage.html", doc=doc, index=index, filters=_filters(),
                               query=urlencode(_filters()), csrf=csrf_token(), reviewer=who, labels=LABELS,
                               entity_types=ENTITY_TYPES)

    @app.get("/api/passage/<doc_id>/<int:index>")
    def api_passage(doc_id: str, index: int):
        return jsonify(_passage_json(state, doc_id, index, _filters()))

    @app.post("/api/label")
    def api_label():
        doc_id, index, body = _target(state)
        label = body.get("label")
        if label not in LABELS:
            abort(400, description=f"label must be one of {LABELS}")
        _, p = state.doc_and_passage(doc_id, index)
        state.ledger.record(doc_id, index, "label", value=label, machine_value=p["label"], reviewer=who)
        return jsonify(_passage_json(state, doc_id, index, body.get("filters") or {}))

    @app.post("/api/accept")
    def api_accept():
        doc_id, index, body = _target(state)
        _, p = state.doc_and_passage(doc_id, index)
        current = state.state(doc_id, index).reviewed_label or p["label"]
        state.ledger.record(doc_id, index, "accept", value=current, machine_value=p["label"], reviewer=who)
        return jsonify(_passage_json(state, doc_id, index, body.get("filters") or {}))

    @app.post("/api/entity/add")
    def api_entity_add():
        doc_id, index, body = _target(state)
        _, p = state.doc_and_passage(doc_id, index)
        try:
            start, end = int(body.get("start")), int(body.get("end"))
        except (TypeError, ValueError):
            abort(400, description="start and end must be integers")
        etype = body.get("type")
        if etype not in ENTITY_TYPES or not 0 <= start < end <= len(p["text"]):
            abort(400, description="bad entity span or type")
        if any(start < e["end"] and e["start"] < end for e in state.state(doc_id, index).entities.values()):
            abort(409, description="the selection overlaps an entity; change or delete that one first")
        key = "r" + secrets.token_hex(6)
        value = {"key": key, "text": p["text"][start:end], "type": etype, "start": start, "end": end}
        state.ledger.record(doc_id, index, "entity_add", value=json.dumps(value, ensure_ascii=False),
                            machine_value=None, reviewer=who)
        return jsonify(_passage_json(state, doc_id, index, body.get("filters") or {}))

    @app.post("/api/entity/update")
    def api_entity_update():
        doc_id, index, body = _target(state)
        ent = _entity(state, doc_id, index, body)
        etype = body.get("type")
        if etype not in ENTITY_TYPES:
            abort(400, description="bad entity type")
        if etype != ent["type"]:
            state.ledger.record(doc_id, index, "entity_type", value=json.dumps({"key": ent["key"], "type": etype}),
                                machine_value=ent["type"], reviewer=who)
        return jsonify(_passage_json(state, doc_id, index, body.get("filters") or {}))

    @app.post("/api/entity/delete")
    def api_entity_delete():
        doc_id, index, body = _target(state)
        ent = _entity(state, doc_id, index, body)
        state.ledger.record(doc_id, index, "entity_delete", value=json.dumps({"key": ent["key"]}),
                            machine_value=json.dumps(ent, ensure_ascii=False), reviewer=who)
        return jsonify(_passage_json(state, doc_id, index, body.get("filters") or {}))

    @app.post("/api/undo")
    def api_undo():
        body = request.get_json(silent=True) or {}
        undone = state.ledger.undo_last(who)
        if undone is None:
            return jsonify({"undone": None})
        return jsonify({"undone": {"doc_id": undone.doc_id, "index": undone.passage, "kind": undone.kind},
                        "passage": _passage_json(state, undone.doc_id, undone.passage, body.get("filters") or {})})

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(409)
    @app.errorhandler(415)
    def _error(exc):
        return jsonify({"error": getattr(exc, "description", str(exc))}), exc.code

    return app


def _target(state: ReviewState) -> tuple[str, int, dict]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="JSON object expected")
    try:
        doc_id, index = str(body["doc_id"]), int(body["index"])
    except (KeyError, TypeError, ValueError):
        abort(400, description="doc_id and index are required")
    state.doc_and_passage(doc_id, index)
    if not isinstance(body.get("filters", {}), dict):
        abort(400, description="filters must be an object")
    return doc_id, index, body


def _entity(state: ReviewState, doc_id: str, index: int, body: dict) -> dict:
    ent = state.state(doc_id, index).entities.get(str(body.get("key")))
    if ent is None:
        abort(404, description="no such entity in this passage")
    return ent


def _passage_json(state: ReviewState, doc_id: str, index: int, filters: dict) -> dict:
    doc, p = state.doc_and_passage(doc_id, index)
    all_rows = state.rows()
    keys = [(r.doc_id, r.index) for r in data.select(all_rows, filters, keep=(doc_id, index))]
    pos = keys.index((doc_id, index))
    prev_key = keys[pos - 1] if pos > 0 else None
    next_key = keys[pos + 1] if pos + 1 < len(keys) else None
    st = state.state(doc_id, index)
    passages = doc["passages"]
    query = urlencode({k: v for k, v in filters.items() if k in data.FILTER_KEYS and v})

    def link(key):
        return None if key is None else url_for("passage_page", doc_id=key[0], index=key[1]) + (f"?{query}" if query else "")

    src = doc.get("source") or {}
    return {
        "doc": {"doc_id": doc_id, "title": doc.get("title"), "published_at": doc.get("published_at"),
                "site": src.get("site"), "url": src.get("url"), "path": src.get("path"),
                "publisher": doc.get("publisher"), "n_passages": len(passages)},
        "passage": {"index": index, "text": p["text"], "heading": p.get("heading"), "kind": p.get("kind"),
                    "machine_label": p["label"], "secondary": p.get("secondary"), "scores": p.get("scores") or {},
                    "reviewed_label": st.reviewed_label, "label": st.reviewed_label or p["label"],
                    "entities": sorted(({k: e.get(k) for k in ("key", "text", "type", "start", "end", "canonical",
                                                                 "source")} for e in st.entities.values()),
                                       key=lambda e: e["start"])},
        "context": [{"index": q["index"], "text": q["text"], "label": q["label"], "current": q["index"] == index}
                    for q in passages[max(0, index - CONTEXT): index + CONTEXT + 1]],
        "nav": {"prev": link(prev_key), "next": link(next_key), "position": pos + 1,
                "matching": len(keys), "list": url_for("index") + (f"?{query}" if query else "")},
        "progress": {"reviewed": sum(r.reviewed for r in all_rows), "total": len(all_rows)},
    }


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def serve(out_dir, *, host: str = "127.0.0.1", port: int = 8765, token: Optional[str] = None,
          reviewer: Optional[str] = None) -> int:
    """Run the review server until interrupted. Returns a process exit code."""
    from werkzeug.serving import make_server

    try:
        check_bind(host, token)
        app = create_app(Path(out_dir), token=token, reviewer=reviewer, loopback_only=is_loopback(host))
    except UnsafeBindError as exc:  # how the command was called: a usage error
        print(f"error: review: {exc}", file=sys.stderr)
        return 2
    except data.RunFolderError as exc:  # a missing or incomplete run folder, as for the other commands
        print(f"error: {exc}", file=sys.stderr)
        return 1
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    log.warning("review: http://%s:%d/%s (Ctrl-C to stop)", shown, server.server_port, "?token=…" if token else "")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
