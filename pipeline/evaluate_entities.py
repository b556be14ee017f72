"""`policyminer evaluate entities GOLD`: entity P/R/F1 per type on exact span and type, and the accuracy of
figure normalisation (value and unit; approx and bound reported too).

Definitions follow the reference scorer (shared eval/scoring/score_entities.py): gold mentions marked
``"optional": true`` count neither way, and predictions overlapping an optional gold span are ignored.

Gold formats (``--format``, default ``auto``):
- ``policyminer``: JSONL records {"text", "entities": [{"text", "type", "start", "end", "optional", "value",
  "unit", ...}]} (offsets optional: found in order, as in corpora/ner);
- ``msra``: SIGHAN 2006 MSRA NER, lines of ``chunk/TAG`` (nr, ns, nt, o);
- ``peoples_daily``: character-level BIO, ``char TAG`` per line, blank line between sentences;
- ``cluener``: CLUENER2020 JSON lines, ``{"text", "label": {type: {surface: [[start, end_inclusive]]}}}``.
Public NER sets are mapped ORG→INSTITUTION, PER→PERSON, LOC/GPE→GPE and scored on those types only; their other
types (CLUENER's book, movie, game, scene, position) become optional spans. They annotate LOC more broadly than
our GPE (rivers, mountains, regions), so read their GPE column as a rough guide.

Columns: ``merged`` (what the pipeline outputs), ``rules`` and ``model`` (each part alone, with --parts or
always when a model is loaded), and ``jieba`` (a baseline from jieba's POS tags: nt→INSTITUTION, nr→PERSON,
ns→GPE).
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger(__name__)
TYPES = ("INSTITUTION", "PROGRAMME", "FIGURE", "DATE", "PERSON", "GPE")
PUBLIC_TYPES = ("INSTITUTION", "PERSON", "GPE")
_MAP = {"ORG": "INSTITUTION", "NT": "INSTITUTION", "PER": "PERSON", "NR": "PERSON", "LOC": "GPE", "NS": "GPE",
        "GPE": "GPE", "ORGANIZATION": "INSTITUTION", "GOVERNMENT": "INSTITUTION", "COMPANY": "INSTITUTION",
        "NAME": "PERSON", "ADDRESS": "GPE"}
JIEBA_TAGS = {"nt": "INSTITUTION", "nr": "PERSON", "ns": "GPE"}


# -- gold readers -------------------------------------------------------------------------------------------
def _gold_ent(start: int, end: int, type_: str, text: str, optional: bool = False, **extra) -> dict:
    return {"start": start, "end": end, "type": type_, "text": text[start:end], "optional": optional, **extra}


def read_policyminer(path: Path) -> list[dict]:
    from pipeline.corpora import locate_entities

    out = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        rec = json.loads(raw)
        spans = locate_entities(rec)
        ents = [_gold_ent(s, e, ent["type"], rec["text"], bool(ent.get("optional")),
                          **{k: ent.get(k) for k in ("value", "unit", "approx", "bound")})
                for ent, (s, e) in zip(rec["entities"], spans)]
        out.append({"text": rec["text"], "entities": ents})
    return out


def read_msra(path: Path) -> list[dict]:
    out = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        raw = raw.strip()
        if not raw:
            continue
        text, ents = "", []
        for chunk in raw.split(" "):
            if not chunk:
                continue
            word, _, tag = chunk.rpartition("/")
            if not _:
                word, tag = chunk, "o"
            start = len(text)
            text += word
            mapped = _MAP.get(tag.upper())
            if mapped and word:
                ents.append(_gold_ent(start, len(text), mapped, text))
        out.append({"text": text, "entities": ents})
    return out


def _bio_record(chars: list[str], tags: list[str]) -> dict:
    text = "".join(chars)
    ents, start, cur = [], None, None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, kind = tag.partition("-")
        if start is not None and (prefix in ("B", "O", "S") or kind != cur):
            mapped = _MAP.get((cur or "").upper())
            if mapped:
                ents.append(_gold_ent(start, i, mapped, text))
            start, cur = None, None
        if prefix in ("B", "S") or (prefix in ("I", "M", "E") and start is None and kind):
            start, cur = i, kind
    return {"text": text, "entities": ents}


def read_bio(path: Path) -> list[dict]:
    out, chars, tags = [], [], []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        parts = raw.split()
        if not parts:
            if chars:
                out.append(_bio_record(chars, tags))
            chars, tags = [], []
            continue
        if len(parts) == 1:  # a space character with its tag
            chars.append(" ")
            tags.append(parts[0])
            continue
        chars.append(parts[0])
        tags.append(parts[-1])
    if chars:
        out.append(_bio_record(chars, tags))
    return out


def read_cluener(path: Path) -> list[dict]:
    out = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        rec = json.loads(raw)
        text, ents = rec["text"], []
        for kind, surfaces in (rec.get("label") or {}).items():
            mapped = _MAP.get(kind.upper())
            for spans in surfaces.values():
                for s, e in spans:
                    ents.append(_gold_ent(s, e + 1, mapped or kind, text, optional=mapped is None))
        out.append({"text": text, "entities": sorted(ents, key=lambda x: x["start"])})
    return out


READERS = {"policyminer": read_policyminer, "msra": read_msra, "peoples_daily": read_bio, "cluener": read_cluener}


def detect_format(path: Path) -> str:
    name = Path(path).name.lower()
    head = Path(path).read_text(encoding="utf-8", errors="replace")[:2000]
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if first.startswith("{"):
        try:
            rec = json.loads(first)
        except json.JSONDecodeError:
            rec = {}
        if isinstance(rec.get("label"), dict):
            return "cluener"
        return "policyminer"
    if "/nt" in head or "/nr" in head or "/ns" in head or "/o " in head or name.startswith("testright"):
        return "msra"
    if any(line.split()[-1:] and line.split()[-1] in ("O", "B-PER", "B-LOC", "B-ORG") for line in head.splitlines()):
        return "peoples_daily"
    raise ValueError(f"{path}: cannot tell the gold format; pass --format")


def read_gold(path: Path, fmt: str = "auto", limit: Optional[int] = None) -> tuple[str, list[dict]]:
    fmt = detect_format(path) if fmt in (None, "auto") else fmt
    if fmt not in READERS:
        raise ValueError(f"unknown gold format {fmt!r}; choose from {sorted(READERS)}")
    records = READERS[fmt](Path(path))
    return fmt, records[:limit] if limit else records


# -- predictions --------------------------------------------------------------------------------------------
def jieba_baseline(texts: Iterable[str]) -> list[list[dict]]:
    """Entities from jieba's POS tags (own Tokenizer instance, default dictionary)."""
    import jieba
    import jieba.posseg

    logging.getLogger("jieba").setLevel(logging.WARNING)
    pos = jieba.posseg.POSTokenizer(jieba.Tokenizer())
    out = []
    for text in texts:
        ents, cursor = [], 0
        for pair in pos.lcut(text):
            start = cursor
            cursor += len(pair.word)
            kind = JIEBA_TAGS.get(pair.flag)
            if kind:
                ents.append({"start": start, "end": cursor, "type": kind, "text": pair.word})
        out.append(ents)
    return out


def entity_dicts(entity_lists) -> list[list[dict]]:
    return [[{"start": e.start, "end": e.end, "type": e.type, "text": e.text, "value": e.value, "unit": e.unit,
              "approx": e.approx, "bound": e.bound} for e in ents] for ents in entity_lists]


def predict_parts(texts: list[str], *, config, parts: bool = True) -> dict[str, list[list[dict]]]:
    from pipeline.nlp.linking import link_document
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(config)
    by_part = stage.entity_parts(texts)
    merged = [link_document(ents, stage.alias_to_canonical) for ents in by_part["merged"]]
    out = {"merged": entity_dicts(merged)}
    if parts:
        out["rules"] = entity_dicts(by_part["rules"])
        if stage.model_info.get("ner"):
            out["model"] = entity_dicts(by_part["model"])
    return out


# -- scoring ------------------------------------------------------------------------------------------------
def score(gold: list[dict], predicted: list[list[dict]], types: Iterable[str] = TYPES) -> dict:
    """Per-type tp/fp/fn, P/R/F1 and figure normalisation accuracy, plus the error list."""
    types = tuple(types)
    tp = dict.fromkeys(types, 0)
    fp = dict.fromkeys(types, 0)
    fn = dict.fromkeys(types, 0)
    fig = {"n": 0, "value_unit": 0, "approx": 0, "bound": 0}
    errors = []
    for rec, preds in zip(gold, predicted):
        G = {(e["start"], e["end"], e["type"]): e for e in rec["entities"]}
        P = {(e["start"], e["end"], e["type"]): e for e in preds if e["type"] in types}
        optional = [(s, e) for (s, e, _), g in G.items() if g.get("optional")]
        for key, g in G.items():
            if g.get("optional") or key[2] not in types:
                continue
            if key in P:
                tp[key[2]] += 1
                if key[2] == "FIGURE" and g.get("value") is not None:
                    p = P[key]
                    fig["n"] += 1
                    try:
                        vok = abs(float(p["value"]) - float(g["value"])) <= 1e-6 * max(1.0, abs(float(g["value"])))
                    except (TypeError, ValueError):
                        vok = False
                    ok = vok and str(p.get("unit")) == str(g.get("unit"))
                    fig["value_unit"] += ok
                    fig["approx"] += bool(p.get("approx")) == bool(g.get("approx"))
                    fig["bound"] += p.get("bound") == g.get("bound")
                    if not ok:
                        errors.append(f"NORM {g['text']}: {p.get('value')} {p.get('unit')} ≠ {g['value']} {g['unit']}")
            else:
                fn[key[2]] += 1
                errors.append(f"FN {key[2]} {g['text']}")
        for key, p in P.items():
            if key in G or any(s < key[1] and key[0] < e for s, e in optional):
                continue
            fp[key[2]] += 1
            errors.append(f"FP {key[2]} {p['text']}")
    per = {}
    for t in types:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 0.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 0.0
        per[t] = {"p": round(p, 4), "r": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
                  "tp": tp[t], "fp": fp[t], "fn": fn[t]}
    n = fig["n"]
    figures = {"n": n, **{k: round(fig[k] / n, 4) if n else None for k in ("value_unit", "approx", "bound")}}
    return {"per_type": per, "figures": figures, "errors": errors}


def evaluate(gold_path: Path, *, fmt: str = "auto", limit: Optional[int] = None, parts: bool = True,
             baseline: bool = True, config) -> dict:
    fmt, gold = read_gold(Path(gold_path), fmt, limit)
    types = TYPES if fmt == "policyminer" else PUBLIC_TYPES
    texts = [g["text"] for g in gold]
    systems = predict_parts(texts, config=config, parts=parts)
    if baseline:
        systems["jieba"] = jieba_baseline(texts)
    results = {name: score(gold, preds, types) for name, preds in systems.items()}
    return {"gold": str(gold_path), "format": fmt, "records": len(gold), "types": list(types), "systems": results}


def format_report(report: dict, *, errors: int = 0) -> str:
    names = list(report["systems"])
    lines = [f"{report['gold']} ({report['format']}, {report['records']} records): exact span and type",
             f"{'type':<12}" + "".join(f"{n:>22}" for n in names),
             f"{'':<12}" + "".join(f"{'P     R     F1':>22}" for _ in names)]
    for t in report["types"]:
        row = f"{t:<12}"
        for n in names:
            v = report["systems"][n]["per_type"][t]
            row += f"{v['p']:>10.3f}{v['r']:>6.3f}{v['f1']:>6.3f}"
        lines.append(row)
    for n in names:
        f = report["systems"][n]["figures"]
        if f["n"]:
            lines.append(f"figures ({n}): {f['n']} matched; value+unit {f['value_unit']:.3f}, approx {f['approx']:.3f}, "
                         f"bound {f['bound']:.3f}")
    if errors:
        lines.append("")
        lines += report["systems"]["merged"]["errors"][:errors]
    return "\n".join(lines)


def main(args) -> int:
    """Entry point of `policyminer evaluate entities`. args: gold, format, limit, json (+ optional parts,
    baseline, errors)."""
    from pipeline.config import load_config

    fmt = getattr(args, "format", "auto") or "auto"
    try:
        report = evaluate(Path(args.gold), fmt=fmt, limit=getattr(args, "limit", None),
                          parts=getattr(args, "parts", True), baseline=getattr(args, "baseline", True),
                          config=load_config(getattr(args, "config", None)))
    except (OSError, ValueError) as exc:
        print(f"policyminer evaluate entities: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report, errors=getattr(args, "errors", 0) or 0))
    return 0


if __name__ == "__main__":  # python -m pipeline.evaluate_entities GOLD [FORMAT] [LIMIT]
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("gold")
    ap.add_argument("--format", default="auto", choices=["auto", *READERS])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-parts", dest="parts", action="store_false")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false")
    ap.add_argument("--errors", type=int, default=0, help="print this many errors of the merged output")
    sys.exit(main(ap.parse_args()))
