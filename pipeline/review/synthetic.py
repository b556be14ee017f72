"""A synthetic run folder for the review app's tests and benchmark: documents.jsonl lines of the pipeline's
shape (titles, sources, dates, passages with labels and scores, entities with offsets) over invented text built
from a small word list of our own. Nothing here comes from any real document.

Some documents share a title, some have none and some no date; every document has a heading and a short
fragment, so the default list's filters and the report's per-document view have something to do."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from pipeline.records import LABELS

WORDS = ("推进", "建设", "改革", "创新", "产业", "发展", "数字", "绿色", "服务", "体系", "项目", "平台", "能力",
         "标准", "试点", "机制", "基础", "设施", "人才", "技术", "应用", "质量", "效率", "协同", "示范", "培育")
ENTITIES = (("星河市科技局", "INSTITUTION"), ("青禾县农业服务中心", "INSTITUTION"), ("云岭省", "GPE"),
            ("白鹭湾", "GPE"), ("晨光计划", "PROGRAMME"), ("李明远", "PERSON"))
TITLES = ("关于推进示范项目建设的通知", "年度工作要点", "专项行动实施方案", None)
SITES = ("a.example.gov.cn", "b.example.org", None)


def _sentence(rng: random.Random, n_words: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n_words)) + "。"


def _passage(rng: random.Random, index: int, kind: str) -> tuple[dict, list[dict]]:
    """One passage and its entities (offsets into the passage)."""
    if kind == "heading":
        text = "一、" + "".join(rng.choice(WORDS) for _ in range(3))
    elif kind == "fragment":
        text = "".join(rng.choice(WORDS) for _ in range(4))
    else:
        text, ents = "", []
        for _ in range(rng.randint(2, 5)):
            if rng.random() < 0.5:
                name, etype = rng.choice(ENTITIES)
                ents.append({"text": name, "type": etype, "start": len(text), "end": len(text) + len(name)})
                text += name
            text += _sentence(rng, rng.randint(4, 12))
        amount = rng.randint(2, 900)
        ents.append({"text": f"{amount}亿元", "type": "FIGURE", "start": len(text), "end": len(text) + len(f"{amount}亿元"),
                     "value": amount * 1e8, "unit": "CNY"})
        text += f"{amount}亿元。"
        return _with_scores(rng, index, text, "paragraph"), ents
    return _with_scores(rng, index, text, "heading" if kind == "heading" else "paragraph"), []


def _with_scores(rng: random.Random, index: int, text: str, kind: str) -> dict:
    raw = [rng.random() ** 2 for _ in LABELS]
    total = sum(raw)
    scores = {l: round(v / total, 4) for l, v in zip(LABELS, raw)}
    label = max(scores, key=scores.get)
    return {"index": index, "text": text, "kind": kind, "heading": None, "label": label, "secondary": None,
            "scores": scores}


def document(rng: random.Random, number: int, n_passages: int) -> dict:
    doc_id = hashlib.sha256(f"synthetic-{number}".encode()).hexdigest()[:16]
    kinds = ["heading", "paragraph", "fragment"] + ["paragraph"] * max(0, n_passages - 3)
    passages, entities, pos = [], [], 0
    for i, kind in enumerate(kinds[:n_passages]):
        p, ents = _passage(rng, i, kind)
        p["start"], p["end"] = pos, pos + len(p["text"])
        pos = p["end"] + 1
        passages.append(p)
        for e in ents:
            entities.append(dict({"passage": i, "canonical": e["text"], "source": "pattern"}, **e))
    site = SITES[number % len(SITES)]
    year = 2018 + number % 7
    return {"schema_version": "1.3.0", "doc_id": doc_id,
            "source": {"path": f"crawl/{site or 'local'}/page{number}.html",
                       "url": f"https://{site}/doc/{number}.html" if site else None, "site": site},
            "title": TITLES[number % len(TITLES)], "published_at": None if number % 5 == 4 else
            f"{year}-{1 + number % 12:02d}-{1 + number % 28:02d}T09:00:00", "language": "zh",
            "publisher": None, "duplicate_of": None, "removed": [], "passages": passages, "entities": entities}


def make_run(out_dir: Path, n_docs: int, passages_per_doc: int, seed: int = 7) -> Path:
    """Write OUT_DIR/documents.jsonl with `n_docs` documents of `passages_per_doc` passages each."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open(out_dir / "documents.jsonl", "w", encoding="utf-8") as fh:
        for n in range(n_docs):
            fh.write(json.dumps(document(rng, n, passages_per_doc), ensure_ascii=False) + "\n")
    return out_dir
