"""Stand-off labels over the real document pool (../shared/corpus/policy).

The pool's text never enters this repository: corpora/labels/ keeps, for each labelled line, the document slug,
the line number, a hash of the line's text and the label. This module finds the pool, joins the records with
its text, and refuses any record whose hash no longer matches its line (the pool changed under the labels).
The record format is described in corpora/GUIDE.md.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from pipeline.config import PROJECT_DIR
from pipeline.records import LABELS

PASSAGE_KINDS = LABELS + ("heading", "other")
ADJUDICATED = "adjudicated"
PASSAGE_COLUMNS = ("slug", "line", "sha", "label", "secondary", "annotator")
LABELS_DIR = PROJECT_DIR / "corpora" / "labels"


class PoolError(ValueError):
    """The pool is missing, or a stand-off record does not match it; the message names file, line and reason."""


def line_hash(text: str) -> str:
    """The hash a stand-off record keeps of its line: SHA-256 of the stripped text, first 16 hex digits."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def find_pool(explicit: Optional[str] = None) -> Path:
    """The pool folder: an explicit path, else $POLICYMINER_POOL, else ../shared/corpus/policy beside the project
    or the current folder. Raises PoolError with what to do when none exists."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit and os.environ.get("POLICYMINER_POOL"):
        candidates.append(Path(os.environ["POLICYMINER_POOL"]))
    if not candidates:
        candidates = [PROJECT_DIR.parent / "shared" / "corpus" / "policy", Path.cwd().parent / "shared" / "corpus" / "policy"]
    for path in candidates:
        if (path / "manifest.tsv").is_file():
            return path
    raise PoolError(f"document pool not found (looked in {', '.join(str(c) for c in candidates)}): "
                    "pass --pool DIR, the folder with manifest.tsv and the documents' .txt files")


@dataclass
class PoolDocument:
    slug: str
    doc_type: str
    title: str
    path: Path
    _lines: Optional[list[str]] = field(default=None, repr=False)

    @property
    def lines(self) -> list[str]:
        """The file's lines (index 0 is line 1)."""
        if self._lines is None:
            self._lines = self.path.read_text(encoding="utf-8").splitlines()
        return self._lines

    def line(self, number: int) -> str:
        if not 1 <= number <= len(self.lines):
            raise PoolError(f"{self.path}: no line {number} (the file has {len(self.lines)})")
        return self.lines[number - 1].strip()


def read_manifest(pool: Path) -> dict[str, PoolDocument]:
    with open(pool / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {r["slug"]: PoolDocument(r["slug"], r["doc_type"], r.get("title", ""), pool / f"{r['slug']}.txt")
            for r in rows}


@dataclass(frozen=True)
class PassageLabel:
    slug: str
    line: int
    sha: str
    label: str
    secondary: Optional[str]
    annotator: str


def read_passage_labels(paths: Iterable[Path]) -> list[PassageLabel]:
    """Rows of the stand-off TSV files (header row first), format-checked."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows or tuple(rows[0]) != PASSAGE_COLUMNS:
            raise PoolError(f"{path}:1: header must be {' '.join(PASSAGE_COLUMNS)}")
        for no, row in enumerate(rows[1:], 2):
            if len(row) != len(PASSAGE_COLUMNS):
                raise PoolError(f"{path}:{no}: want {len(PASSAGE_COLUMNS)} columns, got {len(row)}")
            slug, line, sha, label, secondary, annotator = row
            if label not in PASSAGE_KINDS or (secondary and (secondary not in LABELS or secondary == label)):
                raise PoolError(f"{path}:{no}: bad label {label!r} / secondary {secondary!r}")
            out.append(PassageLabel(slug, int(line), sha, label, secondary or None, annotator))
    return out


def write_passage_labels(path: Path, labels: Sequence[PassageLabel]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(PASSAGE_COLUMNS)
        for r in sorted(labels, key=lambda r: (r.slug, r.line, r.annotator)):
            w.writerow([r.slug, r.line, r.sha, r.label, r.secondary or "", r.annotator])


def verify(labels: Iterable[PassageLabel], docs: dict[str, PoolDocument]) -> None:
    """Refuse any record whose document is unknown or whose line's hash differs."""
    for r in labels:
        doc = docs.get(r.slug)
        if doc is None:
            raise PoolError(f"label {r.slug}:{r.line}: document {r.slug!r} is not in the pool's manifest")
        if line_hash(doc.line(r.line)) != r.sha:
            raise PoolError(f"label {r.slug}:{r.line}: the line's text no longer matches its hash {r.sha} "
                            "(the pool changed; re-annotate this line)")


def resolved(labels: Sequence[PassageLabel]) -> dict[tuple[str, int], PassageLabel]:
    """One label per line: the adjudicated row where there is one, else the annotators' row when they agree or
    only one annotated. Lines where annotators disagree and no adjudication exists are left out."""
    by_line: dict[tuple[str, int], list[PassageLabel]] = {}
    for r in labels:
        by_line.setdefault((r.slug, r.line), []).append(r)
    out = {}
    for key, rows in by_line.items():
        final = [r for r in rows if r.annotator == ADJUDICATED]
        if final:
            out[key] = final[0]
        elif len({r.label for r in rows}) == 1:
            out[key] = rows[0]
    return out


def passage_label_files(labels_dir: Path = LABELS_DIR) -> list[Path]:
    return sorted((labels_dir / "passages").glob("*.tsv"))


def load_labelled_documents(pool: Path, labels_dir: Path = LABELS_DIR) -> tuple[dict[str, PoolDocument], dict]:
    """The pool's manifest and the verified, resolved labels {(slug, line): PassageLabel}."""
    docs = read_manifest(pool)
    labels = read_passage_labels(passage_label_files(labels_dir))
    verify(labels, docs)
    return docs, resolved(labels)


def summary(docs: dict[str, PoolDocument], labels: dict, genres: dict[str, str]) -> dict:
    """Counts of labelled passages (the four labels only) and documents, per genre."""
    per_genre: dict[str, Counter] = {}
    doc_sets: dict[str, set] = {}
    for (slug, _), r in labels.items():
        if r.label not in LABELS:
            continue
        g = genres.get(docs[slug].doc_type, docs[slug].doc_type)
        per_genre.setdefault(g, Counter())[r.label] += 1
        doc_sets.setdefault(g, set()).add(slug)
    return {g: {"passages": sum(c.values()), "documents": len(doc_sets[g]), "labels": dict(c)}
            for g, c in sorted(per_genre.items())}


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def double_annotated(labels: Sequence[PassageLabel]) -> dict[tuple[str, int], tuple[PassageLabel, PassageLabel]]:
    """Lines that two different annotators (adjudication aside) labelled: {(slug, line): (first, second)}."""
    by_line: dict[tuple[str, int], list[PassageLabel]] = {}
    for r in labels:
        if r.annotator != ADJUDICATED:
            by_line.setdefault((r.slug, r.line), []).append(r)
    return {k: (rows[0], rows[1]) for k, rows in by_line.items() if len({r.annotator for r in rows}) >= 2}


def agreement(labels: Sequence[PassageLabel], docs: dict[str, PoolDocument], genres: dict[str, str]) -> dict:
    """Cohen's kappa between the two annotators of each doubly annotated line, per genre and overall, over the
    six kinds (four labels, heading, other) and over the four labels where both chose one."""
    from sklearn.metrics import cohen_kappa_score

    pairs = double_annotated(labels)
    groups: dict[str, list] = {}
    for (slug, _), pair in pairs.items():
        groups.setdefault(genres.get(docs[slug].doc_type, docs[slug].doc_type), []).append(pair)
    groups["all"] = list(pairs.values())
    out = {}
    for g, rows in sorted(groups.items()):
        a, b = [r[0].label for r in rows], [r[1].label for r in rows]
        four = [(x, y) for x, y in zip(a, b) if x in LABELS and y in LABELS]
        out[g] = {"documents": len({r[0].slug for r in rows}), "lines": len(rows),
                  "agreement": round(sum(x == y for x, y in zip(a, b)) / max(len(rows), 1), 4),
                  "kappa": round(float(cohen_kappa_score(a, b)), 4) if len(set(a + b)) > 1 else None,
                  "kappa_labels": round(float(cohen_kappa_score(*zip(*four))), 4) if len(four) > 1 else None}
    return out


@dataclass(frozen=True)
class EntityLabels:
    """One annotator's mentions in one pool paragraph (offsets into the stripped line)."""
    slug: str
    line: int
    sha: str
    annotator: str
    spans: tuple[dict, ...]


def entity_label_files(labels_dir: Path = LABELS_DIR) -> list[Path]:
    return sorted((labels_dir / "entities").glob("*.jsonl"))


def read_entity_labels(paths: Iterable[Path]) -> list[EntityLabels]:
    """Records of the stand-off entity JSONL files, format-checked (types, offsets, figure fields)."""
    from pipeline.corpora import ENTITY_TYPES

    out = []
    for path in paths:
        for no, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                spans = tuple(rec["spans"])
                for s in spans:
                    if s["type"] not in ENTITY_TYPES or not 0 <= s["start"] < s["end"]:
                        raise ValueError(f"bad span {s}")
                    if s["type"] == "FIGURE" and not s.get("optional") and not isinstance(s.get("unit"), str):
                        raise ValueError(f"figure without a unit {s}")
                out.append(EntityLabels(rec["slug"], int(rec["line"]), rec["sha"], rec["annotator"], spans))
            except (ValueError, KeyError, TypeError) as exc:
                raise PoolError(f"{path}:{no}: {exc}") from None
    return out


def resolved_entities(labels: Sequence[EntityLabels], docs: dict[str, PoolDocument]) -> list[dict]:
    """One record per paragraph ({slug, line, doc_type, text, entities}), verified against the pool: the
    adjudicated annotation where there is one, else the first annotator's."""
    chosen: dict[tuple[str, int], EntityLabels] = {}
    for r in labels:
        key = (r.slug, r.line)
        if key not in chosen or r.annotator == ADJUDICATED:
            chosen[key] = r
    out = []
    for (slug, line), r in sorted(chosen.items()):
        doc = docs.get(slug)
        if doc is None:
            raise PoolError(f"entities {slug}:{line}: document not in the pool's manifest")
        text = doc.line(line)
        if line_hash(text) != r.sha:
            raise PoolError(f"entities {slug}:{line}: the line's text no longer matches its hash {r.sha}")
        ents = [{**s, "text": text[s["start"]:s["end"]]} for s in r.spans]
        out.append({"slug": slug, "line": line, "doc_type": doc.doc_type, "text": text, "entities": ents})
    return out


def span_agreement(labels: Sequence[EntityLabels]) -> dict:
    """Exact span-and-type F1 between the two annotators of each doubly annotated paragraph, per type (optional
    mentions of either annotator, and mentions overlapping them, left out as in scoring)."""
    by_par: dict[tuple[str, int], list[EntityLabels]] = {}
    for r in labels:
        if r.annotator != ADJUDICATED:
            by_par.setdefault((r.slug, r.line), []).append(r)
    counts: dict[str, Counter] = {}
    pairs = [rows[:2] for rows in by_par.values() if len({r.annotator for r in rows}) >= 2]
    for a, b in pairs:
        optional = [(s["start"], s["end"]) for s in a.spans + b.spans if s.get("optional")]
        keep = lambda s: not any(s["start"] < e and st < s["end"] for st, e in optional)  # noqa: E731
        sa = {(s["start"], s["end"], s["type"]) for s in a.spans if keep(s)}
        sb = {(s["start"], s["end"], s["type"]) for s in b.spans if keep(s)}
        for t in {x[2] for x in sa | sb}:
            c = counts.setdefault(t, Counter())
            c["both"] += len({x for x in sa & sb if x[2] == t})
            c["a"] += len({x for x in sa if x[2] == t})
            c["b"] += len({x for x in sb if x[2] == t})
    out = {"paragraphs": len(pairs)}
    for t, c in sorted(counts.items()):
        out[t] = {"f1": round(2 * c["both"] / max(c["a"] + c["b"], 1), 4), "mentions": c["a"] + c["b"]}
    tot = sum((c for c in counts.values()), Counter())
    out["all"] = {"f1": round(2 * tot["both"] / max(tot["a"] + tot["b"], 1), 4), "mentions": tot["a"] + tot["b"]}
    return out
