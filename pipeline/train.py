"""Training entry points: `policyminer train classifier` and `policyminer train ner`. Reproducible (fixed seed,
hyperparameters in configs/train_*.toml) and each writes a model card beside the model."""
from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from pipeline.config import CONFIG_DIR, MODELS_DIR, PROJECT_DIR, Config, read_toml
from pipeline.corpora import check_classifier_record, read_jsonl
from pipeline.pool import find_pool, load_labelled_documents
from pipeline.records import LABELS

log = logging.getLogger(__name__)
CORPORA_DIR = PROJECT_DIR / "corpora"


def load_classifier_corpus(paths: Iterable[Path]) -> list[dict]:
    records = []
    for path in paths:
        for no, rec in read_jsonl(path):
            problems = check_classifier_record(rec)
            if problems:
                raise ValueError(f"{path}:{no}: {problems[0]}")
            rec["_file"] = Path(path).name
            records.append(rec)
    return records


def corpus_items(records: Sequence[dict], *, sentences: bool):
    """(Item, label, doc) triples for passages and, optionally, their labelled sentences."""
    from pipeline.classify.features import Item

    out = []
    for r in records:
        n = max(int(r.get("n_passages") or 1), 1)
        pos = float(r.get("index", 0)) / max(n - 1, 1)
        out.append((Item(r["text"], r.get("heading"), pos, False), r["label"], r["doc"]))
        if sentences and len(r["sentences"]) > 1 and r.get("sentences_labelled", True):
            for s in r["sentences"]:
                out.append((Item(s["text"], r.get("heading"), pos, True), s["label"], r["doc"]))
    return out


def pool_records(pool: Path, config: Config, params: dict) -> list[dict]:
    """Training records of the labelled pool documents (see document_records)."""
    from pipeline.ingest import Ingester

    ingester = Ingester(config)
    docs, labels = load_labelled_documents(pool)
    by_doc: dict[str, dict[int, object]] = {}
    for (slug, line), lab in labels.items():
        by_doc.setdefault(slug, {})[line] = lab
    return [r for slug in sorted(by_doc) for r in document_records(docs[slug], ingester, params, by_doc[slug])]


def document_records(doc, ingester, params: dict, labels: Optional[dict]) -> list[dict]:
    """Records of one pool document built from what inference sees: the document goes through ingest as text,
    and each kept paragraph takes the label of its first source line (lines labelled heading/other, and
    headings, are context, not records). With labels None, every body paragraph is a record with label None.
    Heading and position are computed as core.analyse_many computes them. `ingester` is the ingest stage."""
    from pipeline.sentences import split_sentences

    clean = ingester.ingest(doc.path.read_text(encoding="utf-8"), name=str(doc.path), kind="text")
    genre = params.get("genres", {}).get(doc.doc_type, doc.doc_type)
    heading, n, out = None, len(clean.paragraphs), []
    for i, para in enumerate(clean.paragraphs):
        lab = labels.get(para.lines[0]) if labels is not None and para.lines else None
        wanted = (para.kind != "heading") if labels is None else (lab is not None and lab.label in LABELS)
        if wanted:
            spans = split_sentences(para.text) or [(0, len(para.text))]
            label = lab.label if lab is not None else None
            out.append({"id": f"{doc.slug}:{para.lines[0] if para.lines else i}", "doc": doc.slug, "genre": genre,
                        "text": para.text, "label": label, "secondary": lab.secondary if lab is not None else None,
                        "heading": heading, "index": i, "n_passages": n, "sentences_labelled": False,
                        "sentences": [{"text": para.text[a:b], "label": label} for a, b in spans]})
        if para.kind == "heading":
            heading = para.text
    return out


def joined_passages(records: Sequence[dict], max_join: int) -> list[dict]:
    """Longer training passages made of 2..max_join consecutive passages of one document that share label and
    heading (a paragraph whose parts are all achievements is an achievement). The corpus' passages are short
    (median ~70 characters, 2 sentences) while real documents' paragraphs run to 200–400 characters and 4–5
    sentences; without long examples the text model reads a long paragraph of unfamiliar words as background."""
    from itertools import groupby

    out: list[dict] = []
    if max_join < 2:
        return out
    by_doc: dict = {}
    for r in records:
        by_doc.setdefault(r["doc"], []).append(r)
    for doc in sorted(by_doc):
        ordered = sorted(by_doc[doc], key=lambda r: int(r.get("index", 0)))
        for _, run in groupby(ordered, key=lambda r: (r["label"], r.get("heading"))):
            run = list(run)
            for size in range(2, min(max_join, len(run)) + 1):
                for start in range(len(run) - size + 1):
                    parts = run[start:start + size]
                    joined = dict(parts[0])
                    joined["id"] = "+".join(str(p.get("id", "")) for p in parts)
                    joined["text"] = "".join(p["text"] for p in parts)
                    joined["sentences"] = [s for p in parts for s in p["sentences"]]
                    joined["secondary"] = None
                    out.append(joined)
    return out


def _split_docs(records: Sequence[dict], share: float, seed: int) -> tuple[set, set]:
    docs = sorted({r["doc"] for r in records})
    rng = random.Random(seed)
    rng.shuffle(docs)
    n_dev = max(1, int(len(docs) * share))
    return set(docs[n_dev:]), set(docs[:n_dev])


def metrics_of(gold: Sequence[str], pred: Sequence[str]) -> dict:
    from sklearn.metrics import classification_report, f1_score

    rep = classification_report(gold, pred, labels=list(LABELS), output_dict=True, zero_division=0)
    return {"macro_f1": round(float(f1_score(gold, pred, labels=list(LABELS), average="macro", zero_division=0)), 4),
            "per_class": {l: {k: round(float(v), 4) for k, v in rep[l].items()} for l in LABELS},
            "n": len(gold)}


def _write_compiled(pipeline, context_model, recs, path: Path, lexicons, tokenize, normalise,
                    mixed_probs) -> str:
    """compiled.npz (pipeline.classify.compiled), the classifier's runtime route, checked to give the Pipeline's
    and the context model's probabilities on these records' passages and sentences. Training fails when it
    cannot be written: a model the runtime cannot run is no model."""
    from pipeline.classify.compiled import CompiledClassifier, NotCompilable, compile_classifier, save_compiled
    from pipeline.classify.fast import FastPredictor, Unsupported
    from pipeline.classify.features import build_frame, context_matrix, feature_rows
    from pipeline.modelio import sha256_of

    path.unlink(missing_ok=True)
    try:
        spec, arrays = compile_classifier(FastPredictor(pipeline), context_model, [str(c) for c in pipeline.classes_])
    except (Unsupported, NotCompilable) as exc:
        raise NotCompilable(f"classifier: the trained model cannot be compiled ({exc})") from exc
    save_compiled(spec, arrays, path)
    compiled = CompiledClassifier(path)
    items = [i for i, _, _ in corpus_items(recs, sentences=True)]
    expected = pipeline.predict_proba(build_frame(items, tokenize, lexicons, normalise))
    got = compiled.predict_proba(feature_rows(items, tokenize, lexicons, normalise))
    probs, passage_items, summaries, _ = mixed_probs(pipeline, recs)
    ctx = context_matrix(probs, [r["doc"] for r in recs], [i.position for i, _, _ in passage_items], summaries,
                         [r.get("heading") for r in recs])
    if not (np.allclose(got, expected, rtol=0, atol=1e-9)
            and np.allclose(compiled.context_proba(ctx), context_model.predict_proba(ctx), rtol=0, atol=1e-9)):
        path.unlink()
        raise NotCompilable("classifier: the compiled form disagrees with the Pipeline; nothing written")
    return sha256_of(path)


class Trainer:
    """Fits and applies the passage classifier the way inference runs it: first stage (passage mixed with its
    sentences), the neighbour-context model on out-of-fold probabilities, then the closing-judgement rule."""

    def __init__(self, config: Config, params: dict):
        from pipeline.classify.features import load_cue_lexicons
        from pipeline.nlp.segment import Segmenter

        self.params = params
        self.passage_weight = config.classify.passage_weight
        self.lexicons = load_cue_lexicons(config)
        self.tokenize = Segmenter.from_config(config).cut
        self.normalise = tuple(params.get("normalise", ()))
        self.closing = float(params.get("closing_judgement_min", 0) or 0)

    def fit(self, recs: Sequence[dict], context: bool = True):
        from pipeline.classify.features import build_frame
        from pipeline.classify.model import build_estimator, freeze_selection

        items = corpus_items(recs, sentences=self.params["use_sentences"])
        if context:
            items += corpus_items(joined_passages(recs, int(self.params.get("join_passages", 0))), sentences=False)
        frame = build_frame([i for i, _, _ in items], self.tokenize, self.lexicons, self.normalise if context else ())
        est = build_estimator(self.params, context=context)
        est.fit(frame, [l for _, l, _ in items])
        return freeze_selection(est) if context else est

    def mixed_probs(self, est, recs: Sequence[dict]):
        """Passage probabilities as inference makes them (first_stage): the passage's own mixed with its
        sentences', the sentences' summary and their own rows."""
        from pipeline.classify.features import Item
        from pipeline.classify.model import first_stage

        items = corpus_items(recs, sentences=False)
        sentences = [[Item(s["text"], r.get("heading"), items[k][0].position, True) for s in r["sentences"]]
                     for k, r in enumerate(recs)]
        probs, summaries, per_sentence = first_stage(est, [i for i, _, _ in items], sentences, self.passage_weight, self.lexicons,
                                                     self.tokenize, self.normalise)
        return probs, items, summaries, per_sentence

    def context_frame(self, probs, recs, items, summaries):
        from pipeline.classify.features import context_matrix

        return context_matrix(probs, [r["doc"] for r in recs], [i.position for i, _, _ in items], summaries,
                              [r.get("heading") for r in recs])

    def fit_context(self, recs: Sequence[dict]):
        """Out-of-fold probabilities over whole documents, then the context model on top of them."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        docs = [r["doc"] for r in recs]
        oof = np.zeros((len(recs), len(LABELS)))
        oof_summary = np.zeros((len(recs), 3 * len(LABELS)))
        for tr, te in GroupKFold(n_splits=self.params["context_folds"]).split(recs, groups=docs):
            probs, _, summ, _ = self.mixed_probs(self.fit([recs[i] for i in tr]), [recs[i] for i in te])
            oof[te], oof_summary[te] = probs, summ
        items = corpus_items(recs, sentences=False)
        model = LogisticRegression(max_iter=2000, C=self.params["context_C"], class_weight="balanced")
        model.fit(self.context_frame(oof, recs, items, oof_summary), [l for _, l, _ in items])
        return model

    def predict(self, est, recs: Sequence[dict], context_model=None, closing: Optional[float] = None) -> list[str]:
        from pipeline.classify.model import Prediction, closing_judgement

        closing = self.closing if closing is None else closing
        probs, items, summ, per_sentence = self.mixed_probs(est, recs)
        if context_model is not None:
            probs = context_model.predict_proba(self.context_frame(probs, recs, items, summ))
        classes = [str(c) for c in est.classes_]
        pred = [classes[j] for j in probs.argmax(axis=1)]
        if closing and context_model is not None:
            pred = [closing_judgement(Prediction(p, None, {}), sp, classes, closing).label
                    for p, sp in zip(pred, per_sentence)]
        return pred

    def predict_plain(self, est, recs: Sequence[dict]) -> list[str]:
        from pipeline.classify.features import build_frame

        items = corpus_items(recs, sentences=False)
        return list(est.predict(build_frame([i for i, _, _ in items], self.tokenize, self.lexicons)))


def training_params(overrides: Optional[dict] = None) -> dict:
    params = read_toml(CONFIG_DIR / "train_classifier.toml")
    return {**params, **(overrides or {})}


def training_records(params: dict, config: Config, *, pool: Optional[str] = None,
                     corpus_paths: Optional[Sequence[Path]] = None, extra_records: Sequence[dict] = ()) -> list[dict]:
    """The records `params["sources"]` names: "pool" (stand-off labels joined with the document pool), "corpus"
    (the project's own corpora/classifier/*.jsonl), plus reviewer corrections."""
    records: list[dict] = []
    sources = params.get("sources", ["corpus"])
    if "pool" in sources:
        records += pool_records(find_pool(pool), config, params)
    if "corpus" in sources:
        records += load_classifier_corpus(list(corpus_paths or sorted((CORPORA_DIR / "classifier").glob("*.jsonl"))))
    return records + list(extra_records)


def train_classifier(*, config: Config, out_dir: Optional[Path] = None,
                     extra_records: Sequence[dict] = (), corpus_paths: Optional[Sequence[Path]] = None,
                     pool: Optional[str] = None, params: Optional[dict] = None) -> dict:
    """Fit on the configured sources, report held-out metrics, then refit on all data and save."""
    from pipeline.classify.model import FORMAT_VERSION
    from pipeline.modelio import dump_sklearn

    params = params or training_params()
    seed = int(params["seed"])
    random.seed(seed)
    np.random.seed(seed)
    records = training_records(params, config, pool=pool, corpus_paths=corpus_paths, extra_records=extra_records)
    if not records:
        raise ValueError("no classifier training records found")
    trainer = Trainer(config, params)
    train_docs, dev_docs = _split_docs(records, params["holdout_share"], seed)
    started = time.time()
    train_recs = [r for r in records if r["doc"] in train_docs]
    dev_recs = [r for r in records if r["doc"] in dev_docs]
    gold = [r["label"] for r in dev_recs]
    base = trainer.fit(train_recs)
    context = trainer.fit_context(train_recs)
    heldout = metrics_of(gold, trainer.predict(base, dev_recs, context))
    heldout_no_context = metrics_of(gold, trainer.predict(base, dev_recs))
    heldout_no_closing = metrics_of(gold, trainer.predict(base, dev_recs, context, closing=0.0))
    baseline = metrics_of(gold, trainer.predict_plain(trainer.fit(train_recs, context=False), dev_recs))
    final = trainer.fit(records)
    final_context = trainer.fit_context(records)
    out_dir = out_dir or MODELS_DIR / config.classify.model_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {"model.skops": dump_sklearn(final, out_dir / "model.skops"),
               "context.skops": dump_sklearn(final_context, out_dir / "context.skops")}
    compiled_digest = _write_compiled(final, final_context, records[:400], out_dir / "compiled.npz", trainer.lexicons,
                                      trainer.tokenize, trainer.normalise, trainer.mixed_probs)
    digests["compiled.npz"] = compiled_digest
    meta = {
        "name": "policyminer-passage-classifier", "format_version": FORMAT_VERSION,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": seed, "params": params,
        "data": _data_summary(records, params, extra_records),
        "heldout": {"documents": len(dev_docs), **heldout},
        "baseline_tfidf_lr_no_context": baseline,
        "heldout_without_context_model": heldout_no_context,
        "heldout_without_closing_rule": heldout_no_closing,
        "sha256": digests,
        "seconds": round(time.time() - started, 1),
    }
    cv_path = out_dir / "cv.json"
    if cv_path.exists():  # the grouped cross-validation table of `evaluate classifier --cv --save`
        meta["cross_validation"] = json.loads(cv_path.read_text(encoding="utf-8"))
    (out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(_card(meta), encoding="utf-8")
    return meta


def _data_summary(records: Sequence[dict], params: dict, extra_records: Sequence[dict]) -> dict:
    from collections import Counter

    return {"sources": params.get("sources", ["corpus"]), "records": len(records),
            "documents": len({r["doc"] for r in records}),
            "labels": dict(Counter(r["label"] for r in records)),
            "genres": dict(Counter(r.get("genre") for r in records)),
            "corrections": len(extra_records)}


def _cv_section(cv: Optional[dict]) -> str:
    """The grouped cross-validation table (`policyminer evaluate classifier --cv --save`) for the model card."""
    if not cv:
        return ""
    genres = sorted(cv["genres"])
    rows = "\n".join(f"| {name} | {t['all']['macro_f1']:.3f} | " + " | ".join(f"{t[g]['macro_f1']:.3f}" for g in genres)
                     + " |" for name, t in cv["learners"].items())
    return f"""
## Grouped cross-validation on the real labels ({cv['folds']} folds by document: {cv['passages']} passages, {cv['documents']} documents)

Macro-F1 of each learner on the same folds (`policyminer evaluate classifier --cv`); the shipped model is the
configuration in `params` above.

| learner | all | {' | '.join(genres)} |
|---|---|{'---|' * len(genres)}
{rows}
"""


def _card(meta: dict) -> str:
    h = meta["heldout"]
    b = meta["baseline_tfidf_lr_no_context"]
    rows = "\n".join(f"| {l} | {h['per_class'][l]['precision']:.3f} | {h['per_class'][l]['recall']:.3f} | "
                     f"{h['per_class'][l]['f1-score']:.3f} |" for l in LABELS)
    return f"""# Passage classifier — model card

- **Model:** scikit-learn Pipeline: TF-IDF over jieba word 1–2-grams and character 1–3-grams (after removing
  reference markers and LaTeX-spaced figures, digits read as 0: {', '.join(meta['params'].get('normalise', [])) or 'none'}),
  the nearest section heading (char n-grams and a cue category), relative position, length, cue-lexicon counts
  (configs/lexicons/cues.toml) and the document-subject view (per sentence: does it name the subject's own
  actors — 我国, 全省, a domestic city or institution — or a foreign one, and does an own sentence report
  something done; configs/lexicons/actors.toml [subject] and places.txt); a linear SVM with balanced class
  weights, probabilities calibrated by CalibratedClassifierCV ({meta['params']['calibration']},
  {meta['params']['calibration_folds']} folds). Sentences and passages share the model (trained also on passages
  joined from up to {meta['params'].get('join_passages', 0)} consecutive same-label passages of a document, since
  real paragraphs are about three times longer than the corpus'); a passage's label mixes its own and its
  sentences' probabilities. A second-stage logistic regression (context.skops) reads each
  passage's probabilities beside its neighbours' and its sentences' (first, last, strongest), trained on
  out-of-fold predictions grouped by document, since sections run in blocks. Last, ANNOTATION.md's closing
  judgement: a passage read as facts whose last sentence is a challenge or recommendation (probability ≥
  {meta['params'].get('closing_judgement_min', 0)}) takes that label, the facts' label becoming the secondary.
- **Format:** `{meta['format_version']}`, stored with skops (no pickle), SHA-256 in meta.json, checked on load.
- **Trained:** {meta['trained_at']} with seed {meta['seed']} by `policyminer train classifier`.
- **Data:** {meta['data']['records']} passages in {meta['data']['documents']} documents from
  {' and '.join(meta['data']['sources'])} ("pool": real policy documents labelled by this project, stand-off
  records in corpora/labels/ joined with ../shared/corpus/policy; "corpus": the project's self-written
  corpora/classifier/); {meta['data']['corrections']} reviewer corrections. Labels: {meta['data']['labels']};
  genres: {meta['data']['genres']}.
{_cv_section(meta.get('cross_validation'))}
## One held-out split (whole documents held out: {h['documents']} docs, {h['n']} passages)

Macro-F1 **{h['macro_f1']:.3f}**; without the closing-judgement rule {meta['heldout_without_closing_rule']['macro_f1']:.3f}
(the rule only acts on passages of facts that close with a judgement); without the neighbour-context
model {meta['heldout_without_context_model']['macro_f1']:.3f};
text-only baseline (TF-IDF + LR, no context features) {b['macro_f1']:.3f}.

| label | precision | recall | F1 |
|---|---|---|---|
{rows}

This split holds out whole documents of every source, the self-written corpus included, so it reads higher
than real documents: the grouped cross-validation over the real labels above is the figure to trust.
`policyminer evaluate classifier` measures on any gold file, e.g. ../shared/eval/policy_text/dev_passages.jsonl.
"""
