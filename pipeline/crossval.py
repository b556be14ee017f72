"""Grouped cross-validation of the passage classifier on the real labelled pool: no document on both sides of a
fold. This is the figure the project tunes on (`policyminer evaluate classifier --cv`); the visible dev set and
the seed are a final report only.

Learners compared on the same folds:
- `corpus_only`: the model trained the old way (self-written corpus only), applied to every record;
- `linear`: the first-stage linear model alone (each passage on its own, with heading, position, cues);
- `context`: the linear model plus the neighbour-context model and the closing-judgement rule (reads the
  document's sequence of passages: what inference runs);
- `self_training`: `context` refit after adding confidently pseudo-labelled passages of unlabelled pool
  documents (representations of the unlabelled pool enter through the words those passages add).
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Sequence


from pipeline.config import Config
from pipeline.records import LABELS


def macro_table(records: Sequence[dict], preds: Sequence[str]) -> dict:
    """Macro-F1 overall and per genre, with per-class F1 overall."""
    from pipeline.train import metrics_of

    out = {"all": metrics_of([r["label"] for r in records], preds)}
    for genre in sorted({r["genre"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["genre"] == genre]
        out[genre] = metrics_of([records[i]["label"] for i in idx], [preds[i] for i in idx])
    return out


def unlabelled_records(pool: Path, config: Config, params: dict, exclude: set, n_docs: int) -> list[dict]:
    """Records (label None) of up to n_docs pool documents nobody labelled, drawn per doc_type in proportion."""
    from pipeline.ingest import Ingester
    from pipeline.pool import read_manifest
    from pipeline.train import document_records

    ingester = Ingester(config)
    docs = read_manifest(pool)
    rng = random.Random(int(params["seed"]))
    free = sorted(s for s in docs if s not in exclude and docs[s].path.exists())
    rng.shuffle(free)
    out = []
    for slug in free[:n_docs]:
        out += document_records(docs[slug], ingester, params, labels=None)
    return out


def pseudo_labelled(trainer, est, context_model, unlabelled: Sequence[dict], min_prob: float) -> list[dict]:
    """Unlabelled passages whose context-model probability is at least min_prob, with that label."""
    probs, items, summ, _ = trainer.mixed_probs(est, unlabelled)
    probs = context_model.predict_proba(trainer.context_frame(probs, unlabelled, items, summ))
    classes = [str(c) for c in context_model.classes_]
    out = []
    for r, row in zip(unlabelled, probs):
        if row.max() >= min_prob:
            out.append({**r, "label": classes[int(row.argmax())]})
    return out


def cross_validate(records: Sequence[dict], trainer, *, folds: int,
                   unlabelled: Sequence[dict] = (), always_train: Sequence[dict] = (), progress=None) -> dict:
    """Predictions of every learner for every record, each from a model that never saw the record's document,
    and their macro-F1 table. `always_train` (the self-written corpus, when configured) joins every fold's
    training side and is never scored."""
    from sklearn.model_selection import GroupKFold

    records = list(records)
    docs = [r["doc"] for r in records]
    learners = ["linear", "context"] + (["self_training"] if unlabelled else [])
    preds: dict[str, list] = {k: [None] * len(records) for k in learners}
    min_prob = float(trainer.params.get("self_training_min_prob", 0.9))
    for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(records, groups=docs)):
        train, test = [records[i] for i in tr] + list(always_train), [records[i] for i in te]
        base, context = trainer.fit(train), trainer.fit_context(train)
        got = {"linear": trainer.predict(base, test), "context": trainer.predict(base, test, context)}
        if unlabelled:
            extra = pseudo_labelled(trainer, base, context, unlabelled, min_prob)
            base2, context2 = trainer.fit(train + extra), trainer.fit_context(train + extra)
            got["self_training"] = trainer.predict(base2, test, context2)
        for name, labels in got.items():
            for i, lab in zip(te, labels):
                preds[name][i] = lab
        if progress:
            progress(f"fold {k + 1}/{folds} done")
    table = {name: macro_table(records, p) for name, p in preds.items()}
    return {"folds": folds, "documents": len(set(docs)), "passages": len(records),
            "genres": dict(Counter(r["genre"] for r in records)),
            "labels": dict(Counter(r["label"] for r in records)), "learners": table}


def format_table(result: dict) -> str:
    """The CV table as text: one row per learner, macro-F1 overall and per genre."""
    genres = sorted(result["genres"])
    head = f"{'learner':<14} {'all':>6} " + " ".join(f"{g:>16}" for g in genres)
    lines = [f"grouped {result['folds']}-fold CV by document: {result['passages']} passages, "
             f"{result['documents']} documents", head, "-" * len(head)]
    for name, table in result["learners"].items():
        lines.append(f"{name:<14} {table['all']['macro_f1']:>6.3f} "
                     + " ".join(f"{table[g]['macro_f1']:>16.3f}" for g in genres))
    lines.append("")
    lines.append("per-class F1 (all genres): " + "; ".join(
        f"{name}: " + ", ".join(f"{l[:4]} {t['all']['per_class'][l]['f1-score']:.3f}" for l in LABELS)
        for name, t in result["learners"].items()))
    return "\n".join(lines)


def old_way_predictions(records: Sequence[dict], config: Config, corpus: Sequence[dict]) -> list[str]:
    """Labels from the model trained the old way: the project's self-written corpus only (with its sentence
    labels and joined passages, as configured before the pool labels existed), applied to every record."""
    from pipeline import train

    params = train.training_params({"sources": ["corpus"], "use_sentences": True, "join_passages": 3})
    trainer = train.Trainer(config, params)
    return trainer.predict(trainer.fit(corpus), records, trainer.fit_context(corpus))
