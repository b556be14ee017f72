"""Load and validate the labelled corpora this project writes (corpora/classifier, corpora/ner).

Run ``python -m pipeline.corpora check FILE...`` to validate files while writing them.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

LABELS = ("achievement", "challenge", "recommendation", "background")
ENTITY_TYPES = ("INSTITUTION", "PROGRAMME", "FIGURE", "DATE", "PERSON", "GPE")
GENRES = ("work_report", "five_year_plan", "policy_document", "notice", "think_tank", "news", "interpretation")
SECTORS = ("science", "economy", "environment", "health", "agriculture", "education", "energy", "industry", "digital")
FIGURE_UNITS_RE = re.compile(r"^(CNY|USD|EUR|GBP|JPY|%|百分点|[\u4e00-\u9fff]{1,4}|[A-Za-z]{1,6})$")


class CorpusError(ValueError):
    """A corpus record breaks the format; the message names file, line and reason."""


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for no, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if raw.strip():
            rows.append((no, json.loads(raw)))
    return rows


def check_classifier_record(rec: dict) -> list[str]:
    """Reasons why a classifier record is malformed (empty list when fine)."""
    bad = []
    for key in ("id", "doc", "genre", "sector", "text", "label", "sentences"):
        if key not in rec:
            bad.append(f"missing key {key!r}")
    if bad:
        return bad
    if rec["label"] not in LABELS:
        bad.append(f"label {rec['label']!r} not in {LABELS}")
    if rec.get("secondary") not in (None, *LABELS) or rec.get("secondary") == rec["label"]:
        bad.append(f"bad secondary {rec.get('secondary')!r}")
    if rec["genre"] not in GENRES:
        bad.append(f"genre {rec['genre']!r} not in {GENRES}")
    if rec["sector"] not in SECTORS:
        bad.append(f"sector {rec['sector']!r} not in {SECTORS}")
    sents = rec["sentences"]
    if not sents or not all(isinstance(s, dict) and s.get("label") in LABELS and s.get("text") for s in sents):
        bad.append("sentences must be a non-empty list of {text, label} with valid labels")
    elif "".join(s["text"] for s in sents) != rec["text"]:
        bad.append("text must equal the concatenation of the sentence texts")
    return bad


def check_ner_record(rec: dict) -> list[str]:
    """Reasons why an NER record is malformed. Entities are listed in order of appearance; offsets are
    optional and are computed by :func:`locate_entities` when absent."""
    bad = []
    for key in ("id", "genre", "sector", "text", "entities"):
        if key not in rec:
            bad.append(f"missing key {key!r}")
    if bad:
        return bad
    try:
        spans = locate_entities(rec)
    except CorpusError as exc:
        return [str(exc)]
    for ent, (start, end) in zip(rec["entities"], spans):
        if ent.get("type") not in ENTITY_TYPES:
            bad.append(f"entity {ent.get('text')!r}: type {ent.get('type')!r} not in {ENTITY_TYPES}")
        if ent.get("type") == "FIGURE":
            if not isinstance(ent.get("value"), (int, float)):
                bad.append(f"figure {ent['text']!r}: value must be a number")
            if not isinstance(ent.get("unit"), str) or not FIGURE_UNITS_RE.match(ent["unit"]):
                bad.append(f"figure {ent['text']!r}: bad unit {ent.get('unit')!r}")
            if ent.get("bound") not in (None, "min", "max"):
                bad.append(f"figure {ent['text']!r}: bound must be min, max or null")
    ordered = sorted(spans)
    for (s1, e1), (s2, e2) in zip(ordered, ordered[1:]):
        if s2 < e1:
            bad.append(f"overlapping entities at {s1}-{e1} and {s2}-{e2}")
    return bad


def locate_entities(rec: dict) -> list[tuple[int, int]]:
    """Character offsets of each entity: given ones are checked, missing ones are found by searching forward
    from the previous entity's end (entities are listed in order of appearance)."""
    text, cursor, spans = rec["text"], 0, []
    for ent in rec["entities"]:
        surface = ent.get("text") or ""
        if "start" in ent and "end" in ent:
            start, end = int(ent["start"]), int(ent["end"])
            if text[start:end] != surface:
                raise CorpusError(f"entity {surface!r} does not match text at {start}-{end}")
        else:
            start = text.find(surface, cursor)
            if not surface or start < 0:
                raise CorpusError(f"entity {surface!r} not found in order after offset {cursor}")
            end = start + len(surface)
        spans.append((start, end))
        cursor = end
    return spans


def check_file(path: Path) -> list[Problem]:
    kind = "ner" if "ner" in Path(path).parts else "classifier"
    checker = check_ner_record if kind == "ner" else check_classifier_record
    problems, seen = [], set()
    try:
        rows = read_jsonl(path)
    except json.JSONDecodeError as exc:
        return [Problem(str(path), exc.lineno, f"invalid JSON: {exc.msg}")]
    for no, rec in rows:
        problems += [Problem(str(path), no, r) for r in checker(rec)]
        if rec.get("id") in seen:
            problems.append(Problem(str(path), no, f"duplicate id {rec.get('id')!r}"))
        seen.add(rec.get("id"))
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "check":
        print("usage: python -m pipeline.corpora check FILE...", file=sys.stderr)
        return 2
    total = 0
    for name in argv[1:]:
        problems = check_file(Path(name))
        for p in problems:
            print(p)
        total += len(problems)
        print(f"{name}: {len(read_jsonl(Path(name)))} records, {len(problems)} problems")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
