"""Reviewed passages as training data in the corpora/ formats.

`export_corrections(OUT_DIR)` writes OUT_DIR/corrections/classifier/review.jsonl (every passage with a reviewed
label: relabelled or accepted) and OUT_DIR/corrections/ner/review.jsonl (every passage whose entities were
edited, with its full reviewed entity list). `load_corrections(dirs)` reads either run folders or such exports.

A run folder knows nothing of genre or sector, which the corpus format requires: records get DEFAULT_GENRE and
DEFAULT_SECTOR and say so in their note."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, Optional, Sequence

from pipeline.config import CONFIG_DIR
from pipeline.corpora import check_classifier_record, check_ner_record, read_jsonl
from pipeline.nlp.figures import FigureFinder
from pipeline.review.data import load_documents, states_by_doc
from pipeline.review.ledger import Ledger

log = logging.getLogger(__name__)
DEFAULT_GENRE = "news"
DEFAULT_SECTOR = "economy"
FILE_NAME = "review.jsonl"


def _figure_fields(ent: dict, passage_text: str, finder) -> dict:
    """value/unit/approx/bound for a FIGURE: the machine's when it had them, else parsed from the span by
    `finder` (a FigureFinder)."""
    if isinstance(ent.get("value"), (int, float)) and ent.get("unit"):
        return {k: ent.get(k) for k in ("value", "unit", "approx", "bound")}
    for f in finder.figures(ent["text"]):
        return {"value": f.value, "unit": f.unit, "approx": f.approx, "bound": f.bound}
    return {}


def records_from_run(out_dir: Path) -> tuple[list[dict], list[dict]]:
    """(classifier_records, ner_records) for the reviewed passages of one run folder. Corrections are replayed by
    content (see ledger.py): after a re-run they land on the passage with their text, or nowhere."""
    finder = FigureFinder(CONFIG_DIR / "entities.toml")  # the default entity rules: the export has no --config
    out_dir = Path(out_dir)
    docs = load_documents(out_dir)
    ledger = Ledger(out_dir / "run.sqlite")
    corrections = ledger.rows()
    touched = {c.doc_id for c in corrections}
    orphans: list = []
    states = states_by_doc([d for d in docs if d["doc_id"] in touched], corrections, orphans)
    if orphans:
        log.warning("%s: %d corrections found no place in this run and are left out (see the review app's "
                    "orphaned corrections)", out_dir, len(orphans))
    cls, ner = [], []
    for d in docs:
        st = states.get(d["doc_id"])
        if not st:
            continue
        n = len(d["passages"])
        for p in d["passages"]:
            ps = st.get(int(p["index"]))
            if ps is None or not (ps.reviewed_label or ps.entity_edits):
                continue
            rid = f"review-{d['doc_id']}-{p['index']}"
            if ps.reviewed_label:
                changed = ps.reviewed_label != p["label"]
                rec = {"id": rid, "doc": f"review-{d['doc_id']}", "index": int(p["index"]), "n_passages": n,
                       "genre": DEFAULT_GENRE, "sector": DEFAULT_SECTOR, "heading": p.get("heading"),
                       "text": p["text"], "label": ps.reviewed_label, "secondary": None,
                       # One sentence = the whole passage: the reviewer judged the passage, not its sentences.
                       "sentences": [{"text": p["text"], "label": ps.reviewed_label}],
                       "note": (f"review correction: machine said {p['label']}" if changed else
                                "review correction: machine label accepted")
                               + f"; reviewer {ps.reviewer}; genre/sector are defaults",
                       "machine_label": p["label"]}
                problems = check_classifier_record(rec)
                if problems:
                    log.warning("%s: passage %s left out of the export: %s", d["doc_id"], p["index"], problems[0])
                else:
                    cls.append(rec)
            if ps.entity_edits:
                ents = []
                for e in sorted(ps.entities.values(), key=lambda e: e["start"]):
                    item = {"text": e["text"], "type": e["type"], "start": int(e["start"]), "end": int(e["end"]),
                            "canonical": e.get("canonical") or e["text"]}
                    if e["type"] == "FIGURE":
                        item.update(_figure_fields(e, p["text"], finder))
                    ents.append(item)
                rec = {"id": rid, "genre": DEFAULT_GENRE, "sector": DEFAULT_SECTOR, "text": p["text"],
                       "entities": ents, "note": f"review correction; reviewer {ps.reviewer}"}
                problems = check_ner_record(rec)
                if problems:
                    log.warning("%s: passage %s entities left out of the export: %s", d["doc_id"], p["index"],
                                problems[0])
                else:
                    ner.append(rec)
    return cls, ner


def _write_jsonl(path: Path, records: Sequence[dict]) -> Path:
    from pipeline.export import atomic_write

    atomic_write(path, lambda fh: fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def export_corrections(out_dir: Path, dest: Optional[Path] = None) -> list[Path]:
    """Write the run's reviewed passages as training JSONL; returns the files written."""
    out_dir = Path(out_dir)
    dest = Path(dest) if dest else out_dir / "corrections"
    cls, ner = records_from_run(out_dir)
    return [_write_jsonl(dest / "classifier" / FILE_NAME, cls), _write_jsonl(dest / "ner" / FILE_NAME, ner)]


def load_corrections(dirs: Iterable) -> tuple[list[dict], list[dict]]:
    """Corrections from run folders (with run.sqlite) or from export folders (classifier/*.jsonl, ner/*.jsonl).
    A passage found twice keeps its last record."""
    cls: dict[str, dict] = {}
    ner: dict[str, dict] = {}
    for d in dirs:
        d = Path(d)
        if (d / "run.sqlite").is_file() and (d / "documents.jsonl").is_file():
            c, n = records_from_run(d)
        elif (d / "classifier").is_dir() or (d / "ner").is_dir():
            c = [r for p in sorted((d / "classifier").glob("*.jsonl")) for _, r in read_jsonl(p)]
            n = [r for p in sorted((d / "ner").glob("*.jsonl")) for _, r in read_jsonl(p)]
        else:
            raise FileNotFoundError(f"{d}: neither a run folder (run.sqlite + documents.jsonl) nor an export of "
                                    f"corrections (classifier/, ner/)")
        cls.update((r["id"], r) for r in c)
        ner.update((r["id"], r) for r in n)
    return list(cls.values()), list(ner.values())
