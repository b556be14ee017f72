"""The statistical NER: training (`policyminer train ner`) and safe loading.

Training data are corpora/ner/*.jsonl (plus reviewer corrections), located with
:func:`pipeline.corpora.locate_entities`. Every text is cut by our :class:`~pipeline.nlp.segment.Segmenter` with
word boundaries forced at the gold entity edges, as the rules force them at rule spans at prediction time. The
model is a small spaCy transition-based NER over hashed embeddings (a few MB); FIGURE and DATE stay with the
rules, which are exact and normalised. Hyperparameters and the seed live in configs/train_ner.toml.

Files written (no pickle): ``<out>/model/`` by spaCy's ``to_disk`` (config, msgpack weights), ``<out>/meta.json``
(format version, SHA-256 of every model file, held-out P/R/F per type) and ``<out>/MODEL_CARD.md``.
:func:`load_ner_model` refuses a folder whose version or checksums do not match.
"""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

from pipeline.config import CONFIG_DIR, MODELS_DIR, PROJECT_DIR, Settings, load_settings, load_toml_data
from pipeline.corpora import CorpusError, check_ner_record, locate_entities, read_jsonl
from pipeline.modelio import ModelError, check_version, read_meta, sha256_of

log = logging.getLogger(__name__)
FORMAT_VERSION = "ner-spacy3-1"
CORPUS_DIR = PROJECT_DIR / "corpora" / "ner"


# -- data ---------------------------------------------------------------------------------------------------
def load_ner_corpus(paths: Iterable[Path]) -> list[dict]:
    """Records {"id", "text", "spans": [(start, end, type)]} from NER JSONL files; malformed records raise."""
    out = []
    for path in paths:
        for no, rec in read_jsonl(Path(path)):
            problems = check_ner_record(rec)
            if problems:
                raise CorpusError(f"{path}:{no}: {problems[0]}")
            spans = [(s, e, ent["type"]) for ent, (s, e) in zip(rec["entities"], locate_entities(rec))]
            out.append({"id": rec["id"], "text": rec["text"], "spans": spans, "file": Path(path).name})
    return out


def _correction_records(corrections: Sequence) -> list[dict]:
    """Reviewer entity corrections: run folders (run.sqlite) and export folders go through the review module's
    loader; plain JSONL files in the corpora/ner format are read directly."""
    if not corrections:
        return []
    from pipeline.review.corrections import load_corrections

    folders = [c for c in corrections if Path(c).is_dir()]
    files = [Path(c) for c in corrections if Path(c).is_file()]
    out = load_ner_corpus(files)
    if folders:
        _, ner_records = load_corrections(folders)
        for rec in ner_records:
            if check_ner_record(rec):
                continue
            spans = [(s, e, ent["type"]) for ent, (s, e) in zip(rec["entities"], locate_entities(rec))]
            out.append({"id": rec["id"], "text": rec["text"], "spans": spans, "file": "corrections"})
    return out


def make_doc(vocab, segmenter, text: str, spans: Sequence[tuple[int, int, str]] = ()):
    """A spaCy Doc of our segmentation with boundaries forced at every span edge."""
    from spacy.tokens import Doc

    words = segmenter.cut(text, {b for s, e, _ in spans for b in (s, e)})
    return Doc(vocab, words=words, spaces=[False] * len(words))


def make_examples(nlp, segmenter, records: Sequence[dict], types: Sequence[str]) -> list:
    from spacy.training import Example

    examples = []
    for r in records:
        doc = make_doc(nlp.vocab, segmenter, r["text"], r["spans"])
        ents = [(s, e, t) for s, e, t in r["spans"] if t in types]
        examples.append(Example.from_dict(doc, {"entities": ents}))
    return examples


# -- model --------------------------------------------------------------------------------------------------
def _build(params: dict):
    import spacy

    nlp = spacy.blank("zh")  # char tokenizer in the saved config; NlpStage brings its own jieba tokenizer
    model = {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
        "hidden_width": int(params["hidden_width"]), "maxout_pieces": 2, "use_upper": True, "nO": None,
        "tok2vec": {"@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None,
                    "width": int(params["width"]), "depth": int(params["depth"]),
                    "embed_size": int(params["embed_rows"]), "window_size": int(params["window_size"]),
                    "maxout_pieces": int(params["maxout_pieces"]), "subword_features": True},
    }
    nlp.add_pipe("ner", config={"model": model})
    return nlp


def _fit(params: dict, train_examples: list, types: Sequence[str]):
    import spacy
    from spacy.util import minibatch

    spacy.util.fix_random_seed(int(params["seed"]))
    nlp = _build(params)
    ner = nlp.get_pipe("ner")
    for t in types:
        ner.add_label(t)
    optimizer = nlp.initialize(lambda: train_examples)
    optimizer.learn_rate = float(params["learn_rate"])
    rng = random.Random(int(params["seed"]))
    order = list(train_examples)
    for epoch in range(int(params["epochs"])):
        rng.shuffle(order)
        losses: dict = {}
        for batch in minibatch(order, size=int(params["batch_size"])):
            nlp.update(batch, drop=float(params["dropout"]), sgd=optimizer, losses=losses)
        log.info("ner epoch %d loss %.1f", epoch, losses.get("ner", 0.0))
    return nlp


def _score(nlp, examples: list, types: Sequence[str]) -> dict:
    scores = nlp.evaluate(examples)
    per = scores.get("ents_per_type") or {}
    out = {t: {k: round(float(per.get(t, {}).get(k, 0.0)), 4) for k in ("p", "r", "f")} for t in types}
    for t in types:
        out[t]["n"] = sum(1 for ex in examples for e in ex.reference.ents if e.label_ == t)
    out["micro"] = {"p": round(float(scores.get("ents_p") or 0.0), 4), "r": round(float(scores.get("ents_r") or 0.0), 4),
                    "f": round(float(scores.get("ents_f") or 0.0), 4)}
    return out


def train_ner(*, settings: Optional[Settings] = None, out_dir: Optional[Path] = None, corrections: Sequence = (),
              params: Optional[dict] = None, corpus_files: Optional[Sequence[Path]] = None) -> dict:
    """Train on corpora/ner (+ corrections), report held-out P/R/F per type, refit on all, save to out_dir."""
    from pipeline.nlp.segment import Segmenter

    settings = settings or load_settings()
    params = {**load_toml_data(str(CONFIG_DIR / "train_ner.toml")), **(params or {})}
    types = list(params["types"])
    out_dir = Path(out_dir) if out_dir else MODELS_DIR / "ner"
    files = sorted(corpus_files) if corpus_files is not None else sorted(CORPUS_DIR.glob("*.jsonl"))
    records = load_ner_corpus(files)
    extra_records = _correction_records(corrections)
    if not records:
        raise ValueError(f"no NER training records found in {CORPUS_DIR}")
    t0 = time.time()
    cfg = settings["nlp"]
    segmenter = Segmenter([settings.path(cfg["domain_dict"])], backend=cfg["segmenter"], cache_dir=cfg["cache_dir"])
    rng = random.Random(int(params["seed"]))
    shuffled = sorted(records, key=lambda r: r["id"])
    rng.shuffle(shuffled)
    n_dev = max(1, int(len(shuffled) * float(params["holdout_share"]))) if len(shuffled) > 1 else 0
    dev, train = shuffled[:n_dev], shuffled[n_dev:] + extra_records

    import spacy

    vocab_nlp = spacy.blank("zh")
    train_ex = make_examples(vocab_nlp, segmenter, train, types)
    dev_ex = make_examples(vocab_nlp, segmenter, dev, types)
    heldout = _score(_fit(params, train_ex, types), dev_ex, types) if dev_ex else {}
    final = _fit(params, train_ex + dev_ex, types) if params.get("refit_on_all", True) else None
    if final is None:
        final = _fit(params, train_ex, types)
    model_path = out_dir / "model"
    out_dir.mkdir(parents=True, exist_ok=True)
    if model_path.exists():
        import shutil

        shutil.rmtree(model_path)
    final.to_disk(model_path)
    checksums = {str(p.relative_to(out_dir)): sha256_of(p) for p in sorted(model_path.rglob("*")) if p.is_file()}
    size = sum((out_dir / k).stat().st_size for k in checksums)
    meta = {
        "name": "policyminer-ner", "format_version": FORMAT_VERSION, "spacy_version": spacy.__version__,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": int(params["seed"]),
        "types": types, "params": {k: v for k, v in params.items() if k != "types"},
        "data": {"files": [f.name for f in files], "records": len(records), "corrections": len(extra_records),
                 "train_records": len(train), "heldout_records": len(dev)},
        "heldout": heldout, "train_seconds": round(time.time() - t0, 1), "size_bytes": size,
        "sha256": checksums,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(_model_card(meta), encoding="utf-8")
    log.info("ner: %d records, held-out %s, %.0fs → %s", len(records), heldout.get("micro"), meta["train_seconds"],
             out_dir)
    return meta


def _model_card(meta: dict) -> str:
    rows = "\n".join(f"| {t} | {v['p']:.3f} | {v['r']:.3f} | {v['f']:.3f} | {v.get('n', '')} |"
                     for t, v in meta["heldout"].items())
    p = meta["params"]
    refit = (", then the model was refit on all records" if p.get("refit_on_all", True)
             else "; the saved model is the one scored (not refit on them)")
    return f"""# Model card: policyminer-ner

- **What:** a spaCy {meta['spacy_version']} transition-based NER for {', '.join(meta['types'])} in Chinese policy
  text, over our jieba segmentation (pipeline/nlp/segment.py). It fills gaps the rules leave; the rules win on
  overlap (pipeline/nlp/pipeline.py). FIGURE and DATE are found by rules only.
- **Trained:** {meta['trained_at']} with seed {meta['seed']} by `policyminer train ner`, in {meta['train_seconds']} s;
  hyperparameters in configs/train_ner.toml (width {p['width']}, depth {p['depth']}, {p['epochs']} epochs).
- **Data:** {meta['data']['records']} records of corpora/ner/ ({', '.join(meta['data']['files'])}) written by the
  project after ANNOTATION.md; {meta['data']['corrections']} reviewer corrections. {meta['data']['heldout_records']}
  records ({p['holdout_share']:.0%}, seeded shuffle) were held out for the figures below{refit}.
- **Files:** `model/` (spaCy `to_disk`: config and msgpack weights, no pickle), {meta['size_bytes'] / 1e6:.1f} MB;
  `meta.json` holds format version `{meta['format_version']}` and the SHA-256 of every file, checked on load.

## Held-out scores (exact span and type, model alone)

| type | P | R | F1 | gold mentions |
|---|---|---|---|---|
{rows}

These are on the project's own held-out sentences and are optimistic for real documents; measure the merged
pipeline with `policyminer evaluate entities GOLD` (columns: merged output, rules alone, model alone, jieba).
"""


# -- loading ------------------------------------------------------------------------------------------------
def verify_model_dir(model_dir: Path) -> dict:
    """Meta of a model folder after checking the format version and every file's checksum."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    check_version(meta, FORMAT_VERSION, model_dir)
    sums = meta.get("sha256") or {}
    if not sums:
        raise ModelError(f"{model_dir}: meta.json lists no checksums; retrain with `policyminer train ner`")
    for rel, expected in sums.items():
        path = model_dir / rel
        if not path.is_file():
            raise ModelError(f"{path}: model file missing; retrain with `policyminer train ner`")
        if sha256_of(path) != expected:
            raise ModelError(f"{path}: checksum mismatch; the file was altered or is from another training run")
    listed = {model_dir / rel for rel in sums}
    unexpected = [p for p in (model_dir / "model").rglob("*") if p.is_file() and p not in listed]
    if unexpected:
        raise ModelError(f"{unexpected[0]}: file not listed in meta.json; refusing to load the model")
    return meta


def load_ner_model(model_dir: Path):
    """(spaCy Language with an 'ner' pipe, info dict) from a folder written by :func:`train_ner`."""
    import spacy

    model_dir = Path(model_dir)
    meta = verify_model_dir(model_dir)
    try:
        nlp = spacy.load(model_dir / "model")
    except Exception as exc:  # corrupt or incompatible files despite matching checksums (e.g. other spaCy)
        raise ModelError(f"{model_dir / 'model'}: cannot load ({type(exc).__name__}: {exc}); retrain with "
                         "`policyminer train ner`") from None
    if "ner" not in nlp.pipe_names:
        raise ModelError(f"{model_dir / 'model'}: no 'ner' pipe in the saved pipeline")
    info = {"format_version": meta["format_version"], "trained_at": meta.get("trained_at"),
            "types": meta.get("types"), "heldout": meta.get("heldout"), "path": str(model_dir)}
    return nlp, info
