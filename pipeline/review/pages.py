"""The review app's HTML pages: the passage list, the passage page, orphaned corrections and agreement."""
from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import Flask, abort, render_template, request

from pipeline.records import ENTITY_TYPES, LABELS
from pipeline.review import agreement, queries
from pipeline.review.security import csrf_token
from pipeline.review.web import ReviewState, current_reviewer, need_reviewer, page_numbers

KIND_NAMES = {"": "text (no headings, no fragments)", "all": "everything", "paragraph": "paragraphs",
              "heading": "headings", "short": "fragments"}
SORT_NAMES = {"confidence": "least confident first", "document": "document order", "length": "longest first"}


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def register(app: Flask, state: ReviewState) -> None:
    @app.get("/")
    def index():
        asked = need_reviewer()
        if asked:
            return asked
        filters = queries.clean(request.args)
        size = state.config["page_size"]
        page = _page_number(request.args.get("page"))
        with state.index.read() as db:
            rows, total = queries.page_of_rows(db, state.filter(filters), page, size)
            pages = max(1, math.ceil(total / size))
            if page > pages:  # past the end (the list shrank): show the last page
                page = pages
                rows, total = queries.page_of_rows(db, state.filter(filters), page, size)
            counts = state.index.cached("counts", queries.counts)
            docs = queries.documents_menu(db, state.config["doc_menu_max"])
            n_orphans = db.execute("SELECT COUNT(*) FROM orphans").fetchone()[0]
        return render_template(
            "index.html", rows=rows, n_matching=total, page=page, pages=pages, page_links=page_numbers(page, pages),
            first=(page - 1) * size + 1, counts=counts, filters=filters, docs=docs, labels=LABELS,
            query=urlencode(filters), csrf=csrf_token(), reviewer=current_reviewer(), kinds=KIND_NAMES,
            sorts=SORT_NAMES, min_chars=state.config["min_passage_chars"], n_orphans=n_orphans)

    @app.get("/p/<doc_id>/<int:index>")
    def passage_page(doc_id: str, index: int):
        asked = need_reviewer()
        if asked:
            return asked
        with state.index.read() as db:
            p = queries.passage(db, doc_id, index)
        if p is None:
            abort(404, description="no such passage in this run")
        filters = queries.clean(request.args)
        return render_template("passage.html", doc=p["doc"], index=index, filters=filters,
                               query=urlencode(filters), csrf=csrf_token(), reviewer=current_reviewer(),
                               labels=LABELS, entity_types=ENTITY_TYPES)

    @app.get("/orphans")
    def orphans_page():
        asked = need_reviewer()
        if asked:
            return asked
        with state.index.read() as db:
            rows = db.execute("SELECT o.correction_id, o.doc_id, o.passage, o.kind, o.reviewer, o.value, o.mention, "
                              "o.reason, d.display FROM orphans o LEFT JOIN docs d ON d.doc_id = o.doc_id "
                              "ORDER BY o.correction_id").fetchall()
        return render_template("orphans.html", rows=rows, csrf=csrf_token(), reviewer=current_reviewer())

    @app.get("/agreement")
    def agreement_page():
        asked = need_reviewer()
        if asked:
            return asked
        pairs = agreement.reviewer_pairs(state.ledger.rows(), state.index)
        return render_template("agreement.html", pairs=pairs, csrf=csrf_token(), reviewer=current_reviewer())
