"""Reads of the review index: the filtered, sorted and paged passage list, full-text search with snippets, a
passage's neighbours in the list, and the counts. Filters come from the query string; only names from the fixed
tables below ever reach SQL, values always go as parameters."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Mapping, Optional

from pipeline.records import LABELS

FILTER_KEYS = ("q", "label", "reviewed", "kind", "min_len", "max_len", "min_score", "max_score", "doc", "site",
               "date_from", "date_to", "entity", "sort")
# kind: "" is the default queue (paragraphs of at least [review] min_passage_chars characters).
KIND_CHOICES = ("", "all", "paragraph", "heading", "short")
# sort name -> ((column, ascending?), ...); the last column makes the order total.
# One direction per sort, so that "after this row" is one row-value comparison an index can answer.
SORTS = {"confidence": ("(p.top_score, p.id)", True),
         "document": ("(p.id)", True),
         "length": ("(p.length, p.id)", False)}
TRIGRAM = 3  # FTS5's trigram tokenizer matches terms of at least 3 characters; shorter ones are scanned with LIKE
ROW_SQL = ("SELECT p.id, p.doc_id, p.idx, t.text, p.label, p.machine_label, p.reviewed_label, p.top_score, "
           "p.length, p.kind, d.display, d.site, d.published_at, p.reviewer FROM passages p "
           "JOIN docs d ON d.ord = p.doc_ord JOIN texts t ON t.id = p.id")


@dataclass
class Filter:
    """A WHERE clause over passages p (joined with docs d), its parameters, the search terms and the sort."""
    where: str = "1=1"
    args: list = field(default_factory=list)
    terms: list = field(default_factory=list)
    sort: str = "confidence"
    needs_docs: bool = False

    @property
    def order(self) -> str:
        columns, up = SORTS[self.sort]
        return ", ".join(f"{c} {'ASC' if up else 'DESC'}" for c in columns.strip("()").split(", "))

    @property
    def source(self) -> str:
        """FROM clause: docs joined only when a condition needs them."""
        return "passages p JOIN docs d ON d.ord = p.doc_ord" if self.needs_docs else "passages p"


def clean(params: Mapping) -> dict:
    """The list filters of a query string (or a page's JSON), blank ones left out."""
    out = {}
    for k in FILTER_KEYS:
        v = params.get(k)
        if isinstance(v, (str, int, float)) and str(v).strip():
            out[k] = str(v).strip()[:200]
    return out


def _number(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def build_filter(params: Mapping, min_chars: int) -> Filter:
    p = clean(params)
    conds, args = [], []

    def add(sql: str, *values) -> None:
        conds.append(sql)
        args.extend(values)

    kind = p.get("kind", "")
    if kind == "":
        add("p.kind != 'heading' AND p.length >= ?", min_chars)
    elif kind in ("paragraph", "heading"):
        add("p.kind = ?", kind)
    elif kind == "short":
        add("p.length < ?", min_chars)
    if p.get("label") in LABELS:
        add("p.label = ?", p["label"])
    if p.get("reviewed") == "yes":
        add("p.reviewed_label IS NOT NULL")
    elif p.get("reviewed") == "no":
        add("p.reviewed_label IS NULL")
    for key, sql in (("min_score", "p.top_score >= ?"), ("max_score", "p.top_score <= ?"),
                     ("min_len", "p.length >= ?"), ("max_len", "p.length <= ?")):
        if _number(p.get(key)) is not None:
            add(sql, _number(p[key]))
    if p.get("doc"):
        add("(p.doc_id = ? OR d.display LIKE ? ESCAPE '\\')", p["doc"], _like(p["doc"]))
    if p.get("site"):
        add("(d.site LIKE ? ESCAPE '\\' OR d.url LIKE ? ESCAPE '\\')", _like(p["site"]), _like(p["site"]))
    if p.get("date_from"):
        add("substr(d.published_at, 1, 10) >= ?", p["date_from"])
    if p.get("date_to"):
        add("substr(d.published_at, 1, 10) <= ?", p["date_to"])
    if p.get("entity"):
        add("p.id IN (SELECT pid FROM entities WHERE text LIKE ? ESCAPE '\\' OR canonical LIKE ? ESCAPE '\\')",
            _like(p["entity"]), _like(p["entity"]))
    terms = p.get("q", "").split()
    for term in terms:
        if len(term) >= TRIGRAM:
            add("(p.id IN (SELECT rowid FROM fts WHERE fts MATCH ?) OR d.title LIKE ? ESCAPE '\\')",
                '"' + term.replace('"', '""') + '"', _like(term))
        else:
            add("(p.id IN (SELECT id FROM texts WHERE text LIKE ? ESCAPE '\\') OR d.title LIKE ? ESCAPE '\\')",
                _like(term), _like(term))
    sort = p.get("sort") if p.get("sort") in SORTS else "confidence"
    needs_docs = bool(terms or p.get("doc") or p.get("site") or p.get("date_from") or p.get("date_to"))
    return Filter(" AND ".join(conds) or "1=1", args, terms, sort, needs_docs)


def snippet(text: str, terms: list[str], width: int = 120) -> list[tuple[str, bool]]:
    """The text around the first search hit as (piece, is_hit) parts, every hit in the window marked; the start of
    the text when there are no terms. The template escapes the pieces."""
    low = text.lower()
    hits = sorted((i, i + len(t)) for t in terms for i in _find_all(low, t.lower()))
    if not hits:
        return [(text[:width] + ("…" if len(text) > width else ""), False)]
    start = max(0, hits[0][0] - width // 3)
    end = min(len(text), start + width)
    parts, pos = [("…" if start else "", False)], start
    for a, b in hits:
        if a < pos or a >= end:
            continue
        parts += [(text[pos:a], False), (text[a:b], True)]
        pos = b
    parts += [(text[pos:end], False), ("…" if end < len(text) else "", False)]
    return [x for x in parts if x[0]]


def _find_all(text: str, term: str) -> list[int]:
    out, at = [], text.find(term)
    while at >= 0 and term:
        out.append(at)
        at = text.find(term, at + len(term))
    return out


def page_of_rows(db: sqlite3.Connection, f: Filter, page: int, size: int) -> tuple[list[dict], int]:
    """One page of matching rows and the number of all matching rows. The page's ids are chosen first over the
    narrow table; texts and titles are read for those rows only."""
    total = db.execute(f"SELECT COUNT(*) FROM {f.source} WHERE {f.where}", f.args).fetchone()[0]
    ids = [r[0] for r in db.execute(f"SELECT p.id FROM {f.source} WHERE {f.where} ORDER BY {f.order} LIMIT ? OFFSET ?",
                                    f.args + [size, (page - 1) * size])]
    rows = {r[0]: r for r in db.execute(f"{ROW_SQL} WHERE p.id IN ({','.join(map(str, ids)) or 'NULL'})")}
    return [_row(rows[i], f.terms) for i in ids], total


def _row(r, terms: list[str]) -> dict:
    return {"pid": r[0], "doc_id": r[1], "index": r[2], "snippet": snippet(r[3], terms), "label": r[4],
            "machine_label": r[5], "reviewed_label": r[6], "reviewed": r[6] is not None, "top_score": r[7],
            "length": r[8], "kind": r[9], "title": r[10], "site": r[11], "published_at": r[12], "reviewer": r[13]}


def neighbours(db: sqlite3.Connection, f: Filter, pid: int) -> dict:
    """The rows before and after passage `pid` in the filtered order (it need not match the filters itself: a
    passage relabelled out of the list still has neighbours), its position and the number matching."""
    columns, up = SORTS[f.sort]
    current = list(db.execute(f"SELECT {columns.strip('()')} FROM passages p WHERE p.id=?", (pid,)).fetchone())
    marks = "(" + ", ".join("?" * len(current)) + ")"
    before = f"{columns} {'<' if up else '>'} {marks}"
    after = f"{columns} {'>' if up else '<'} {marks}"
    reverse = f.order.replace("ASC", "X").replace("DESC", "ASC").replace("X", "DESC")
    base = f"FROM {f.source} WHERE {f.where}"
    prev = db.execute(f"SELECT p.doc_id, p.idx {base} AND {before} ORDER BY {reverse} LIMIT 1",
                      f.args + current).fetchone()
    nxt = db.execute(f"SELECT p.doc_id, p.idx {base} AND {after} ORDER BY {f.order} LIMIT 1",
                     f.args + current).fetchone()
    n_before = db.execute(f"SELECT COUNT(*) {base} AND {before}", f.args + current).fetchone()[0]
    matching = db.execute(f"SELECT COUNT(*) {base}", f.args).fetchone()[0]
    return {"prev": prev and tuple(prev), "next": nxt and tuple(nxt), "position": n_before + 1,
            "matching": matching}


def counts(db: sqlite3.Connection) -> dict:
    total, reviewed, changed = db.execute(
        "SELECT COUNT(*), COUNT(reviewed_label), SUM(reviewed_label IS NOT NULL AND reviewed_label != machine_label) "
        "FROM passages").fetchone()
    machine = dict(db.execute("SELECT machine_label, COUNT(*) FROM passages GROUP BY machine_label").fetchall())
    current = dict(db.execute("SELECT label, COUNT(*) FROM passages GROUP BY label").fetchall())
    return {"total": total, "reviewed": reviewed, "changed": changed or 0,
            "labels": [{"label": l, "machine": machine.get(l, 0), "current": current.get(l, 0)} for l in LABELS]}


def progress(db: sqlite3.Connection) -> dict:
    total, reviewed = db.execute("SELECT COUNT(*), COUNT(reviewed_label) FROM passages").fetchone()
    return {"reviewed": reviewed, "total": total}


def documents_menu(db: sqlite3.Connection, limit: int) -> Optional[list[dict]]:
    """The documents for the filter's menu, or None when there are more than `limit` (the filter is a text box)."""
    rows = db.execute("SELECT doc_id, display, site FROM docs ORDER BY ord LIMIT ?", (limit + 1,)).fetchall()
    if len(rows) > limit:
        return None
    return [{"doc_id": r[0], "title": r[1] + (f" — {r[2]}" if r[2] else "")} for r in rows]


def passage(db: sqlite3.Connection, doc_id: str, index: int) -> Optional[dict]:
    r = db.execute("SELECT p.id, t.text, p.sha, p.kind, t.heading, p.machine_label, p.secondary, t.scores, "
                   "p.label, p.reviewed_label, p.reviewer, d.doc_id, d.title, d.display, d.published_at, d.site, "
                   "d.url, d.path, d.publisher, d.n_passages FROM passages p JOIN docs d ON d.ord = p.doc_ord "
                   "JOIN texts t ON t.id = p.id WHERE p.doc_id=? AND p.idx=?", (doc_id, index)).fetchone()
    if r is None:
        return None
    ents = [dict(zip(("key", "start", "end", "text", "type", "canonical", "source"), e)) for e in db.execute(
        "SELECT key, start, end, text, type, canonical, source FROM entities WHERE pid=? ORDER BY start", (r[0],))]
    return {"pid": r[0], "text": r[1], "sha": r[2], "kind": r[3], "heading": r[4], "machine_label": r[5],
            "secondary": r[6], "scores": json.loads(r[7] or "{}"), "label": r[8], "reviewed_label": r[9],
            "reviewer": r[10], "entities": ents,
            "doc": {"doc_id": r[11], "title": r[12] or r[13], "published_at": r[14], "site": r[15], "url": r[16],
                    "path": r[17], "publisher": r[18], "n_passages": r[19]}}


def context(db: sqlite3.Connection, doc_id: str, index: int, around: int) -> list[dict]:
    return [{"index": r[0], "text": r[1], "label": r[2], "current": r[0] == index} for r in db.execute(
        "SELECT p.idx, t.text, p.label FROM passages p JOIN texts t ON t.id = p.id WHERE p.doc_id=? "
        "AND p.idx BETWEEN ? AND ? ORDER BY p.idx", (doc_id, index - around, index + around))]
