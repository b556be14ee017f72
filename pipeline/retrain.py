"""`policyminer train classifier --with-corrections DIR...`: retrain the passage classifier with reviewers'
corrections and report what changed on the corrected passages (old model vs new) and the held-out metrics."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Optional, Sequence

from pipeline.config import MODELS_DIR, Config

log = logging.getLogger(__name__)


def _predict(model_dir: Path, records: Sequence[dict], config: Config) -> Optional[list[str]]:
    """Passage labels from the model in model_dir (None when there is no usable model there)."""
    from pipeline.classify.features import Item
    from pipeline.classify.model import PassageClassifier
    from pipeline.modelio import ModelError
    from pipeline.nlp.segment import Segmenter

    if not records:
        return []
    try:
        clf = PassageClassifier(config, model_dir=model_dir,
                                tokenize=Segmenter.from_config(config).cut)
    except ModelError as exc:
        log.warning("no model to compare against: %s", exc)
        return None
    items = [Item(r["text"], r.get("heading"), float(r.get("index", 0)) / max(int(r.get("n_passages") or 1) - 1, 1))
             for r in records]
    probs = clf.predict_proba(items)
    return [clf.classes[i] for i in probs.argmax(axis=1)]


def _accuracy(pred: Optional[list[str]], gold: list[str]) -> str:
    if pred is None:
        return "n/a"
    ok = sum(p == g for p, g in zip(pred, gold))
    return f"{ok}/{len(gold)}"


def train_classifier_with_corrections(dirs: Iterable, *, config: Config,
                                      out_dir: Optional[Path] = None,
                                      corpus_paths: Optional[Sequence[Path]] = None,
                                      params: Optional[dict] = None, pool: Optional[str] = None) -> str:
    """Retrain with the corrections of `dirs` (run folders or exports); returns a printable report."""
    from pipeline.review.corrections import load_corrections
    from pipeline.train import train_classifier

    dirs = [Path(d) for d in dirs]
    records, _ = load_corrections(dirs)
    target = Path(out_dir) if out_dir else MODELS_DIR / config.classify.model_dir
    old_dir = target if (target / "meta.json").exists() else MODELS_DIR / config.classify.model_dir
    gold = [r["label"] for r in records]
    before = _predict(old_dir, records, config)  # loaded before training overwrites it
    meta = train_classifier(config=config, out_dir=target, extra_records=records, corpus_paths=corpus_paths,
                            params=params, pool=pool)
    after = _predict(target, records, config)

    lines = [f"corrections: {len(records)} reviewed passages from {', '.join(str(d) for d in dirs)}",
             f"old model: {old_dir}   new model: {target}",
             f"agreement with reviewers: before {_accuracy(before, gold)}, after {_accuracy(after, gold)} "
             f"(the corrections are training data now, so 'after' is not a held-out score)"]
    changed = [(r, b, a) for r, b, a in zip(records, before or [None] * len(records), after or [None] * len(records))
               if b != a or r.get("machine_label", r["label"]) != r["label"]]
    if changed:
        lines.append("")
        lines.append(f"{'passage':<40} {'reviewed':<15} {'before':<15} {'after':<15}")
        for r, b, a in changed:
            lines.append(f"{r['id'][:40]:<40} {r['label']:<15} {str(b):<15} {str(a):<15}")
    h, base = meta["heldout"], meta["baseline_tfidf_lr_no_context"]
    lines.append("")
    lines.append(f"held-out ({h['documents']} documents, {h['n']} passages): macro-F1 {h['macro_f1']:.3f} "
                 f"(text-only baseline {base['macro_f1']:.3f})")
    for label, m in h["per_class"].items():
        lines.append(f"  {label:<15} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1-score']:.3f}")
    lines.append(f"trained on {meta['data']['records']} passages, {meta['data']['corrections']} of them corrections")
    return "\n".join(lines)
