"""The run folder as the review app, the report and the corrections export read it: the documents of
documents.jsonl (near-duplicate copies left out) and their reviewed state. Pure functions over plain dicts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Optional
from urllib.parse import urlsplit

from pipeline.review.ledger import Correction, Orphan, PassageState, replay


class RunFolderError(ValueError):
    """The folder is not a run folder the review app can open; the message names the file and the reason."""


def documents_path(out_dir: Path) -> Path:
    path = Path(out_dir) / "documents.jsonl"
    if not path.is_file():
        raise RunFolderError(f"{path}: not found; is {out_dir} a `policyminer run` output folder?")
    return path


def iter_documents(out_dir: Path, digest=None) -> Iterator[dict]:
    """The run's documents in file order, near-duplicate copies left out (they repeat the first copy's passages).
    `digest` (a hashlib object), when given, is fed every byte of the file (the index's fingerprint of what it was built from)."""
    path = documents_path(out_dir)
    seen = set()
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, 1):
            if digest is not None:
                digest.update(raw)
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RunFolderError(f"{path}:{no}: invalid JSON ({getattr(exc, 'msg', exc)})") from None
            if doc.get("duplicate_of") or doc.get("doc_id") in seen:
                continue
            seen.add(doc["doc_id"])
            yield doc


def load_documents(out_dir: Path) -> list[dict]:
    return list(iter_documents(out_dir))


def site_of(doc: dict) -> str:
    """Where a document comes from, for people: its site, else publisher, else the URL's host, else its folder."""
    src = doc.get("source") or {}
    host = urlsplit(src.get("url") or "").hostname
    return src.get("site") or doc.get("publisher") or host or Path(src.get("path") or "").parent.name or ""


def display_title(doc: dict) -> str:
    """A document's name in lists: its title, else its file name or URL, so untitled documents can be told apart."""
    src = doc.get("source") or {}
    return (doc.get("title") or Path(src.get("path") or "").name or src.get("url") or doc["doc_id"]).strip()


def states_by_doc(docs: list[dict], corrections: Iterable[Correction],
                  orphans: Optional[list[Orphan]] = None) -> dict[str, dict[int, PassageState]]:
    """Reviewed states of every document's passages; corrections that found no place go to `orphans`."""
    by_doc: dict[str, list[Correction]] = {}
    for c in corrections:
        by_doc.setdefault(c.doc_id, []).append(c)
    known = {d["doc_id"] for d in docs}
    out = {}
    for d in docs:
        out[d["doc_id"]], lost = replay(d, by_doc.get(d["doc_id"], []))
        if orphans is not None:
            orphans += lost
    if orphans is not None:
        orphans += [Orphan(c, "its document is no longer in this run") for doc_id, cs in by_doc.items()
                    if doc_id not in known for c in cs if not c.undone]
    return out
