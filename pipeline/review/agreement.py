"""Agreement between reviewers: for every two reviewers who labelled the same passages, Cohen's kappa (computed
by pipeline.pool.agreement, the function the pool's double annotation uses) and the passages where they
disagree, to settle. A reviewer's label of a passage is their latest live label or accept on its text."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Iterable

from pipeline.pool import PassageLabel, PoolDocument, agreement
from pipeline.review import queries
from pipeline.review.index import ReviewIndex
from pipeline.review.ledger import LABEL_KINDS, Correction

GROUP = "review"  # the one "genre" the pool's agreement function groups these passages under


def labels_by_reviewer(corrections: Iterable[Correction]) -> dict[str, dict[tuple, str]]:
    """{reviewer: {(doc_id, passage_sha or index): label}} from each reviewer's latest live label of a passage."""
    out: dict[str, dict[tuple, str]] = {}
    for c in corrections:
        if c.undone or c.kind not in LABEL_KINDS or not c.reviewer:
            continue
        out.setdefault(c.reviewer, {})[(c.doc_id, c.passage_sha or c.passage)] = c.value
    return out


def kappa(a: dict[tuple, str], b: dict[tuple, str]) -> dict:
    """Observed agreement and Cohen's kappa over the passages both labelled."""
    common = sorted(set(a) & set(b), key=str)
    rows = []
    for line, key in enumerate(common):
        rows += [PassageLabel(key[0], line, str(key[1]), a[key], None, "a"),
                 PassageLabel(key[0], line, str(key[1]), b[key], None, "b")]
    docs = {key[0]: PoolDocument(key[0], GROUP, "", Path()) for key in common}
    scores = agreement(rows, docs, {})["all"]
    return {"n": len(common), "agreement": scores["agreement"], "kappa": scores["kappa"]}


def reviewer_pairs(corrections: list[Correction], index: ReviewIndex) -> list[dict]:
    """Every pair of reviewers with passages in common: their kappa and their disagreements with where each
    passage is now and its current label."""
    labels = labels_by_reviewer(corrections)
    out = []
    for a, b in combinations(sorted(labels), 2):
        common = set(labels[a]) & set(labels[b])
        if not common:
            continue
        pair = {"a": a, "b": b, **kappa(labels[a], labels[b]), "disagreements": []}
        with index.read() as db:
            for key in sorted(common, key=str):
                if labels[a][key] != labels[b][key]:
                    pair["disagreements"].append({"a_label": labels[a][key], "b_label": labels[b][key],
                                                  **_where(db, key)})
        out.append(pair)
    return out


def _where(db, key: tuple) -> dict:
    doc_id, anchor = key
    row = db.execute("SELECT p.idx, t.text, p.label, p.reviewer, d.display FROM passages p JOIN docs d "
                     "ON d.ord = p.doc_ord JOIN texts t ON t.id = p.id WHERE p.doc_id=? AND (p.sha=? OR p.idx=?) LIMIT 1",
                     (doc_id, str(anchor), anchor if isinstance(anchor, int) else -1)).fetchone()
    if row is None:
        return {"doc_id": doc_id, "index": None, "snippet": "", "label": None, "by": None, "title": doc_id}
    return {"doc_id": doc_id, "index": row[0], "snippet": queries.snippet(row[1], [])[0][0], "label": row[2],
            "by": row[3], "title": row[4]}
