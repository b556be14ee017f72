"""Measures on the project's real labels over the document pool: annotator agreement, the classifier's grouped
cross-validation by document, and the entity stage on the pool's entity annotations."""
from __future__ import annotations

import json
import sys
from typing import Optional

from pipeline.config import MODELS_DIR, Config


def _progress(quiet: bool):
    return None if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))


def agreement_report(pool: Optional[str], as_json: bool) -> int:
    """Cohen's kappa per genre on doubly labelled passages, and span agreement on doubly annotated paragraphs."""
    from pipeline import pool as pool_mod
    from pipeline.train import training_params

    docs = pool_mod.read_manifest(pool_mod.find_pool(pool))
    genres = training_params().get("genres", {})
    labels = pool_mod.read_passage_labels(pool_mod.passage_label_files())
    pool_mod.verify(labels, docs)
    resolved = pool_mod.resolved(labels)
    report = {"passages": pool_mod.summary(docs, resolved, genres),
              "passage_agreement": pool_mod.agreement(labels, docs, genres),
              "entity_agreement": pool_mod.span_agreement(pool_mod.read_entity_labels(pool_mod.entity_label_files()))}
    if as_json:
        print(pool_mod.dumps(report))
        return 0
    total = sum(v["passages"] for v in report["passages"].values())
    print(f"labelled passages: {total} in {sum(v['documents'] for v in report['passages'].values())} documents")
    for g, v in report["passages"].items():
        print(f"  {g:<16} {v['passages']:>5} passages {v['documents']:>4} documents  {v['labels']}")
    print("passage agreement (Cohen's kappa over label/heading/other; over the four labels):")
    for g, v in report["passage_agreement"].items():
        print(f"  {g:<16} {v['documents']:>3} docs {v['lines']:>5} lines  kappa {v['kappa']}  labels-only {v['kappa_labels']}")
    ea = report["entity_agreement"]
    print(f"entity span agreement (exact span and type F1), {ea['paragraphs']} paragraphs:")
    for t, v in ea.items():
        if t != "paragraphs":
            print(f"  {t:<12} F1 {v['f1']:.3f} ({v['mentions']} mentions)")
    return 0


def classifier_cv(config: Config, pool: Optional[str], *, save: bool, as_json: bool, quiet: bool = False) -> int:
    """Grouped cross-validation by document over the pool labels, every learner on the same folds, beside the
    model trained the old way (the project's self-written corpus only)."""
    from pipeline import crossval, train
    from pipeline.pool import find_pool

    params = train.training_params()
    pool_dir = find_pool(pool)
    records = train.pool_records(pool_dir, config, params)
    trainer = train.Trainer(config, params)
    unlabelled = []
    if int(params.get("self_training_docs", 0)):
        unlabelled = crossval.unlabelled_records(pool_dir, config, params, {r["doc"] for r in records},
                                                 int(params["self_training_docs"]))
    corpus = train.training_records({**params, "sources": ["corpus"]}, config)  # read once: two learners use it
    result = crossval.cross_validate(records, trainer, folds=int(params["cv_folds"]), unlabelled=unlabelled,
                                     always_train=corpus if "corpus" in params["sources"] else [],
                                     progress=_progress(quiet))
    result["sources"] = params["sources"]
    result["learners"]["corpus_only"] = crossval.macro_table(records, crossval.old_way_predictions(records, config, corpus))
    if save:
        (MODELS_DIR / config.classify.model_dir / "cv.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2) if as_json else crossval.format_table(result))
    return 0


def entities_cv(config: Config, pool: Optional[str], *, save: bool, as_json: bool, quiet: bool = False) -> int:
    """Grouped cross-validation by pool document of rules only, the tagger only and their merge."""
    from pipeline.nlp.tagger_training import cross_validate, ner_params

    result = cross_validate(config, pool, ner_params(), progress=_progress(quiet))
    if save:
        (MODELS_DIR / "ner_cv.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    types = list(next(iter(result["systems"].values()))["per_type"])
    print(f"grouped {result['folds']}-fold CV by document: {result['paragraphs']} pool paragraphs, "
          f"{result['documents']} documents (+{result['public_records']} public records in training)")
    print(f"{'system':<8} " + " ".join(f"{t:>12}" for t in types) + "  figures value+unit")
    for name, s in result["systems"].items():
        print(f"{name:<8} " + " ".join(f"{s['per_type'][t]['f1']:>12.3f}" for t in types)
              + f"  {s['figures']['value_unit']}")
    for g, row in result["merged_by_genre"].items():
        print(f"merged, {g}: " + ", ".join(f"{t} {v:.3f}" for t, v in row.items()))
    return 0
