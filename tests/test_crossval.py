"""Grouped cross-validation: folds never split a document, and the table reports every learner and genre."""
from __future__ import annotations

from pipeline import crossval
from pipeline.records import LABELS


class _FakeTrainer:
    """Predicts the majority label of its training side: enough to check the bookkeeping of the folds."""

    params = {}

    def __init__(self):
        self.seen: list[set] = []

    def fit(self, recs, context=True):
        self.seen.append({r["doc"] for r in recs})
        labels = [r["label"] for r in recs]
        return max(set(labels), key=labels.count)

    def fit_context(self, recs):
        return "ctx"

    def predict(self, est, recs, context_model=None, closing=None):
        return [est] * len(recs)


def _records():
    out = []
    for d in range(10):
        genre = "news" if d % 2 else "research"
        for i in range(4):
            out.append({"doc": f"d{d}", "genre": genre, "label": LABELS[(d + i) % 4], "text": "x"})
    return out


def test_folds_keep_documents_apart_and_table_has_all_genres():
    recs = _records()
    trainer = _FakeTrainer()
    result = crossval.cross_validate(recs, trainer, folds=5, always_train=[{"doc": "extra", "genre": "x",
                                                                             "label": LABELS[0], "text": "y"}])
    assert result["documents"] == 10 and result["passages"] == 40
    assert set(result["learners"]) == {"linear", "context"}
    for name, table in result["learners"].items():
        assert set(table) == {"all", "news", "research"}
        assert 0.0 <= table["all"]["macro_f1"] <= 1.0
    # every fit saw the always-train record, and no fold trained on all ten documents
    assert all("extra" in seen for seen in trainer.seen)
    assert all(len(seen - {"extra"}) < 10 for seen in trainer.seen)
    text = crossval.format_table(result)
    assert "linear" in text and "research" in text
