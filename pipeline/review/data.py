"""What the review app shows: a run folder's documents (documents.jsonl) joined with their reviewed state, and
the list filters. Pure functions over plain dicts; the app owns the I/O."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pipeline.records import LABELS
from pipeline.review.ledger import Correction, PassageState, replay


class RunFolderError(ValueError):
    """The folder is not a run folder the review app can open; the message names the file and the reason."""


@dataclass
class Row:
    """One passage in the review list."""
    doc_id: str
    index: int
    text: str
    machine_label: str
    reviewed_label: Optional[str]
    top_score: float
    title: str
    published_at: Optional[str]
    site: str
    entity_texts: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.reviewed_label or self.machine_label

    @property
    def reviewed(self) -> bool:
        return self.reviewed_label is not None


def load_documents(out_dir: Path) -> list[dict]:
    """The run's documents, near-duplicate copies left out (they repeat the first copy's passages)."""
    path = Path(out_dir) / "documents.jsonl"
    if not path.is_file():
        raise RunFolderError(f"{path}: not found; is {out_dir} a `policyminer run` output folder?")
    docs, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunFolderError(f"{path}:{no}: invalid JSON ({exc.msg})") from None
            if doc.get("duplicate_of") or doc.get("doc_id") in seen:
                continue
            seen.add(doc["doc_id"])
            docs.append(doc)
    return docs


def site_of(doc: dict) -> str:
    src = doc.get("source") or {}
    return src.get("site") or doc.get("publisher") or Path(src.get("path") or "").parent.name or ""


def states_by_doc(docs: list[dict], corrections: list[Correction]) -> dict[str, dict[int, PassageState]]:
    by_doc: dict[str, list[Correction]] = {}
    for c in corrections:
        by_doc.setdefault(c.doc_id, []).append(c)
    return {d["doc_id"]: replay(d, by_doc.get(d["doc_id"], [])) for d in docs}


def rows(docs: list[dict], states: dict[str, dict[int, PassageState]]) -> list[Row]:
    out = []
    for d in docs:
        st = states.get(d["doc_id"], {})
        for p in d.get("passages") or []:
            ps = st.get(int(p["index"])) or PassageState()
            ents = tuple(t for e in ps.entities.values() for t in (e.get("text") or "", e.get("canonical") or ""))
            out.append(Row(d["doc_id"], int(p["index"]), p["text"], p["label"], ps.reviewed_label,
                           max((p.get("scores") or {}).values(), default=0.0), d.get("title") or "",
                           d.get("published_at"), site_of(d), ents))
    return out


def _float(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


FILTER_KEYS = ("label", "reviewed", "min_score", "max_score", "doc", "site", "date_from", "date_to", "entity", "q",
               "sort")


def select(all_rows: list[Row], params: dict, *, keep: Optional[tuple[str, int]] = None) -> list[Row]:
    """Rows matching the list filters, least confident first unless sort=document. The row `keep` (doc_id, index)
    stays in whatever the filters say, so a passage relabelled out of the list still has neighbours."""
    p = {k: (params.get(k) or "").strip() for k in FILTER_KEYS}
    lo, hi = _float(p["min_score"]), _float(p["max_score"])
    q, ent, site = p["q"].lower(), p["entity"].lower(), p["site"].lower()
    out = []
    for r in all_rows:
        if keep is not None and (r.doc_id, r.index) == keep:
            out.append(r)
            continue
        if p["label"] and r.label != p["label"]:
            continue
        if p["reviewed"] == "yes" and not r.reviewed or p["reviewed"] == "no" and r.reviewed:
            continue
        if lo is not None and r.top_score < lo or hi is not None and r.top_score > hi:
            continue
        if p["doc"] and r.doc_id != p["doc"]:
            continue
        if site and site not in r.site.lower():
            continue
        day = (r.published_at or "")[:10]
        if p["date_from"] and (not day or day < p["date_from"]) or p["date_to"] and (not day or day > p["date_to"]):
            continue
        if ent and not any(ent in t.lower() for t in r.entity_texts):
            continue
        if q and q not in r.text.lower() and q not in r.title.lower():
            continue
        out.append(r)
    if p["sort"] != "document":
        out.sort(key=lambda r: (r.top_score, r.doc_id, r.index))
    return out


def counts(all_rows: list[Row]) -> dict:
    machine = Counter(r.machine_label for r in all_rows)
    current = Counter(r.label for r in all_rows)
    return {"total": len(all_rows), "reviewed": sum(r.reviewed for r in all_rows),
            "changed": sum(r.reviewed and r.reviewed_label != r.machine_label for r in all_rows),
            "labels": [{"label": l, "machine": machine.get(l, 0), "current": current.get(l, 0)} for l in LABELS]}
