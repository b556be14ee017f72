"""What the review app's pages and API share: the served state, the reviewer of the request, the passage JSON."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlencode

from flask import abort, redirect, request, url_for

from pipeline.review import queries, settings as review_settings
from pipeline.review.data import documents_path
from pipeline.review.index import ReviewIndex
from pipeline.review.ledger import Ledger, state_hash
from pipeline.review.security import refuse

REVIEWER_COOKIE = "pm_reviewer"
REVIEWER_NAME = re.compile(r"^[^\x00-\x1f\x7f<>\"'&;,\\]{1,40}$")  # printable, no markup or cookie separators
PAGE_LINKS = 2  # page numbers shown on each side of the current one


class ReviewState:
    """What the app serves from: the run folder's settings, its ledger (the authority) and its index."""

    def __init__(self, out_dir: Path, config: Optional[dict] = None):
        self.out_dir = Path(out_dir)
        documents_path(self.out_dir)  # a folder that is no run is refused before anything is created in it
        self.config = config or review_settings.load()
        self.ledger = Ledger(self.out_dir / "run.sqlite")
        self.index = ReviewIndex(self.out_dir, self.ledger)

    def filter(self, params) -> queries.Filter:
        return queries.build_filter(params, self.config["min_passage_chars"])


def current_reviewer() -> Optional[str]:
    name = unquote(request.cookies.get(REVIEWER_COOKIE, "")).strip()
    return name if REVIEWER_NAME.match(name) else None


def local_path(path: str) -> bool:
    """A path on this server (no scheme, no host, no `//`): safe to redirect to."""
    return path.startswith("/") and not path.startswith("//") and "\\" not in path


def need_reviewer():
    """For pages: None when the browser has said who it is, else the redirect to the name form."""
    if current_reviewer():
        return None
    return redirect(url_for("who_page", next=request.full_path.rstrip("?")))


def reviewer_or_refuse() -> str:
    who = current_reviewer()
    if not who:
        refuse(403, "say who you are first (the name form opens)", "who")
    return who


def passage_json(state: ReviewState, doc_id: str, index: int, filters: dict) -> dict:
    """Everything the passage page shows, with `state`: the hash a write sends back to prove the page is current."""
    f = state.filter(filters)
    with state.index.read() as db:
        p = queries.passage(db, doc_id, index)
        if p is None:
            abort(404, description="no such passage in this run")
        nav = queries.neighbours(db, f, p["pid"])
        ctx = queries.context(db, doc_id, index, state.config["context_passages"])
        progress = state.index.cached("progress", queries.progress)
    query = urlencode(queries.clean(filters))

    def link(key):
        if key is None:
            return None
        return url_for("passage_page", doc_id=key[0], index=key[1]) + (f"?{query}" if query else "")

    doc = p.pop("doc")
    p.update(index=index, state=state_hash(p["sha"], p["reviewed_label"], p["entities"]))
    return {"doc": doc, "passage": p, "context": ctx, "progress": progress,
            "nav": {"prev": link(nav["prev"]), "next": link(nav["next"]), "position": nav["position"],
                    "matching": nav["matching"], "list": url_for("index") + (f"?{query}" if query else "")}}


def page_numbers(page: int, pages: int) -> list[Optional[int]]:
    """Page links: the first, the last and PAGE_LINKS around the current one, None where some are left out."""
    keep = {1, pages, *range(page - PAGE_LINKS, page + PAGE_LINKS + 1)}
    out: list[Optional[int]] = []
    for n in range(1, pages + 1):
        if n in keep:
            out.append(n)
        elif out and out[-1] is not None:
            out.append(None)
    return out
