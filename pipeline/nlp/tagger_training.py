"""Training and grouped cross-validation of the word tagger (pipeline.nlp.tagger).

Data: the project's entity labels over the real pool (corpora/labels/entities, joined with the pool's text) and
samples of the MSRA and CLUENER train splits (names of people, places and organisations in news). Public records
teach INSTITUTION, PERSON and GPE only; their other kinds (CLUENER's address, book, scene, position, ...) are
optional spans that teach nothing.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Optional, Sequence

from pipeline.config import CONFIG_DIR, MODELS_DIR, Config, read_toml
from pipeline.nlp.tagger import FORMAT_VERSION, TAG_TYPES, Tagger, WordFacts, fit, training_row

CLUENER_TYPES = {"government": "INSTITUTION", "organization": "INSTITUTION", "company": "INSTITUTION",
                 "name": "PERSON"}
MSRA_TYPES = {"ORG": "INSTITUTION", "PER": "PERSON", "LOC": "GPE"}


def ner_params(overrides: Optional[dict] = None) -> dict:
    return {**read_toml(CONFIG_DIR / "train_ner.toml"), **(overrides or {})}


def public_records(shared_ner: Path, params: dict) -> list[dict]:
    """Seeded samples of MSRA (BIO) and CLUENER (JSON) train records as {text, entities}."""
    rng = random.Random(int(params["seed"]))
    out: list[dict] = []
    msra = shared_ner / "msra" / "msra_train_bio"
    if msra.exists() and params["msra_sentences"]:
        records = _read_bio(msra)
        rng.shuffle(records)
        out += records[:int(params["msra_sentences"])]
    cluener = shared_ner / "cluener2020" / "train.json"
    if cluener.exists() and params["cluener_records"]:
        records = [_cluener_record(json.loads(line)) for line in cluener.read_text(encoding="utf-8").splitlines() if line]
        rng.shuffle(records)
        out += records[:int(params["cluener_records"])]
    return out


def _read_bio(path: Path) -> list[dict]:
    out, chars, tags = [], [], []
    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        parts = raw.split("\t") if "\t" in raw else raw.split()
        if not raw.strip():
            if chars:
                out.append(_bio_record(chars, tags))
            chars, tags = [], []
            continue
        chars.append(parts[0] if parts[0] else " ")
        tags.append(parts[-1])
    return out


def _bio_record(chars: list[str], tags: list[str]) -> dict:
    ents, start, kind = [], None, None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, k = tag.partition("-")
        if start is not None and (prefix != "I" or k != kind):
            ents.append({"start": start, "end": i, "type": MSRA_TYPES.get(kind, kind), "optional": kind not in MSRA_TYPES})
            start, kind = None, None
        if prefix == "B":
            start, kind = i, k
    return {"text": "".join(chars), "entities": ents}


def _cluener_record(rec: dict) -> dict:
    ents = []
    for kind, surfaces in (rec.get("label") or {}).items():
        for spans in surfaces.values():
            for s, e in spans:
                ents.append({"start": s, "end": e + 1, "type": CLUENER_TYPES.get(kind, kind.upper()),
                             "optional": kind not in CLUENER_TYPES})
    return {"text": rec["text"], "entities": ents}


def correction_records(corrections: Sequence) -> list[dict]:
    """Reviewers' entity corrections ({text, entities}) from run folders or exports (the review module's loader)."""
    if not corrections:
        return []
    from pipeline.corpora import check_ner_record, locate_entities
    from pipeline.review.corrections import load_corrections

    _, ner_records = load_corrections([Path(c) for c in corrections])
    out = []
    for rec in ner_records:
        if check_ner_record(rec):
            continue
        out.append({"text": rec["text"], "entities": [{"start": s, "end": e, "type": ent["type"]} for ent, (s, e)
                                                      in zip(rec["entities"], locate_entities(rec))]})
    return out


def pool_entity_records(pool: Optional[str]) -> list[dict]:
    from pipeline.pool import entity_label_files, find_pool, read_entity_labels, read_manifest, resolved_entities

    docs = read_manifest(find_pool(pool))
    return resolved_entities(read_entity_labels(entity_label_files()), docs)


def rows_of(stage, records: Sequence[dict]) -> list:
    facts = WordFacts(stage.rules.lex)
    return [training_row(r, stage.rule_words, facts) for r in records]


def fit_rows(pool_rows: Sequence, public_rows: Sequence, params: dict):
    """The tagger from pool rows (weighted by pool_weight: they carry the project's conventions) and public rows."""
    rows = [r for r in pool_rows if r is not None] + [r for r in public_rows if r is not None]
    n_pool = sum(r is not None for r in pool_rows)
    weights = [float(params["pool_weight"])] * n_pool + [1.0] * (len(rows) - n_pool)
    return fit(rows, C=float(params["C"]), min_count=int(params["min_count"]), max_iter=int(params["max_iter"]),
               seed=int(params["seed"]), weights=weights)


def predict_systems(stage, tagger: Optional[Tagger], texts: Sequence[str], policy: str) -> dict[str, list[list[dict]]]:
    """rules, model and merged predictions ({start, end, type, value, unit, ...}) for each text."""
    from pipeline.evaluate_entities import entity_dicts
    from pipeline.nlp.linking import link_document

    out: dict[str, list] = {"rules": [], "model": [], "merged": []}
    for idx, text in enumerate(texts):
        parts = stage.entity_views(text, idx, tagger, policy)
        for name in out:
            out[name].append(entity_dicts([link_document(parts[name], stage.alias_to_canonical)])[0])
    return out


def cross_validate(config: Config, pool: Optional[str], params: dict, progress=None) -> dict:
    """Grouped CV by pool document: the tagger is fit on the other folds' pool paragraphs plus the public
    samples, and rules, model and merged are scored on the held-out paragraphs."""
    from sklearn.model_selection import GroupKFold

    from pipeline.evaluate_entities import score
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(config, use_model=False)
    records = pool_entity_records(pool)
    public = public_records(find_shared_ner(pool), params)
    docs = [r["slug"] for r in records]
    pool_rows, public_rows = rows_of(stage, records), rows_of(stage, public)
    chosen = float(params.get("o_bias", 0.0))
    grid = sorted({chosen, *(float(b) for b in params.get("o_bias_grid", []))})
    preds: dict[str, list] = {"rules": [None] * len(records), "model": [None] * len(records),
                              "merged": [None] * len(records)}
    preds.update({f"merged@{b:g}": [None] * len(records) for b in grid})
    folds = int(params["cv_folds"])
    for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(records, groups=docs)):
        model = fit_rows([pool_rows[i] for i in tr], public_rows, params)
        texts = [records[i]["text"] for i in te]
        for b in grid:
            tagger = Tagger(model, stage.rules.lex, params["model_types"], int(params["min_chars"]), b)
            got = predict_systems(stage, tagger, texts, params["merge"])
            if b == chosen:
                got_main = got
            for i, p in zip(te, got["merged"]):
                preds[f"merged@{b:g}"][i] = p
        for name, lists in got_main.items():
            for i, p in zip(te, lists):
                preds[name][i] = p
        if progress:
            progress(f"fold {k + 1}/{folds} done")
    table = {name: score(records, p) for name, p in preds.items()}
    by_genre = {}
    genres = read_toml(CONFIG_DIR / "train_classifier.toml").get("genres", {})
    for g in sorted({genres.get(r["doc_type"], r["doc_type"]) for r in records}):
        idx = [i for i, r in enumerate(records) if genres.get(r["doc_type"], r["doc_type"]) == g]
        by_genre[g] = {t: v["f1"] for t, v in score([records[i] for i in idx],
                                                    [preds["merged"][i] for i in idx])["per_type"].items()}
    return {"folds": folds, "paragraphs": len(records), "documents": len(set(docs)), "public_records": len(public),
            "systems": {n: {"per_type": t["per_type"], "figures": t["figures"]} for n, t in table.items()},
            "merged_by_genre": by_genre}


def find_shared_ner(pool: Optional[str]) -> Path:
    """corpus/ner beside the pool (../shared/corpus/ner)."""
    from pipeline.pool import find_pool

    return find_pool(pool).parent / "ner"


def train_tagger(*, config: Config, out_dir: Optional[Path] = None, pool: Optional[str] = None,
                 params: Optional[dict] = None, corrections: Sequence = ()) -> dict:
    """Fit on all pool paragraphs plus the public samples and write models/ner (tables, vocabulary, card)."""
    from pipeline.nlp.pipeline import NlpStage

    params = params or ner_params()
    started = time.time()
    stage = NlpStage(config, use_model=False)
    records = pool_entity_records(pool)
    public = public_records(find_shared_ner(pool), params)
    extra = correction_records(corrections)
    model = fit_rows(rows_of(stage, records + extra), rows_of(stage, public), params)
    out_dir = out_dir or MODELS_DIR / "ner"
    for old in out_dir.glob("*") if out_dir.exists() else ():
        if old.is_file():
            old.unlink()
    digests = model.save(out_dir)
    meta = {"name": "policyminer-name-tagger", "format_version": FORMAT_VERSION, "types": list(TAG_TYPES),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "params": params,
            "data": {"pool_paragraphs": len(records), "pool_documents": len({r["slug"] for r in records}),
                     "public_records": len(public), "corrections": len(extra)},
            "sha256": digests, "seconds": round(time.time() - started, 1)}
    cv_path = out_dir.parent / "ner_cv.json"
    if cv_path.exists():
        meta["cross_validation"] = json.loads(cv_path.read_text(encoding="utf-8"))
    (out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(model_card(meta), encoding="utf-8")
    return meta


def model_card(meta: dict) -> str:
    cv = meta.get("cross_validation")
    table = ""
    if cv:
        types = list(next(iter(cv["systems"].values()))["per_type"])
        rows = "\n".join(f"| {name} | " + " | ".join(f"{s['per_type'][t]['f1']:.3f}" for t in types) + " |"
                         for name, s in cv["systems"].items())
        table = (f"\n## Grouped cross-validation ({cv['folds']} folds by document, {cv['paragraphs']} pool paragraphs)\n\n"
                 f"Exact span and type F1 (`policyminer evaluate entities --cv`).\n\n| system | {' | '.join(types)} |\n"
                 f"|---|{'---|' * len(types)}\n{rows}\n")
    p, d = meta["params"], meta["data"]
    return f"""# Name tagger — model card

- **Model:** multinomial logistic regression over jieba's words (word, neighbours, first/last characters, shape,
  lexicon membership, the rules' tags), B/I/O tags for {', '.join(meta['types'])}; at run time it owns
  {', '.join(p['model_types'])} (the rules keep the rest). Tables in `tagger.npz` (NumPy, no pickle) and
  `tagger_vocab.json`; SHA-256 of both in meta.json, checked on load. Format `{meta['format_version']}`.
- **Trained:** {meta['trained_at']} by `policyminer train ner` (seed {p['seed']}, C {p['C']}, pool weight
  {p['pool_weight']}).
- **Data:** {d['pool_paragraphs']} paragraphs of {d['pool_documents']} real pool documents labelled by this
  project (corpora/labels/entities), {d['public_records']} sampled MSRA and CLUENER train records,
  {d.get('corrections', 0)} reviewer corrections.
{table}"""
