"""The fitted scikit-learn Pipeline read as plain arrays: the same arithmetic (ColumnTransformer of hashed TF-IDF
blocks, the hashing done in bulk by pipeline.classify.hashing, one-hot and min-max columns → the frozen feature
mask → a sigmoid-calibrated linear model), without pandas, column indexing, hstack and per-call validation.

Training only: `policyminer train classifier` compiles a FastPredictor into compiled.npz
(pipeline.classify.compiled), the classifier's one runtime route. Built only for the structure it knows
(anything else raises :class:`Unsupported`, and training stops)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from pipeline.classify.hashing import BulkHasher, UnsupportedVectorizer


class Unsupported(ValueError):
    """The fitted pipeline has a shape the fast path does not reproduce."""


def _text_block(trans, column):
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(column, str) or not isinstance(trans, Pipeline) or len(trans.steps) != 2:
        raise Unsupported(f"text block over {column!r}")
    hv, tfidf = trans.steps[0][1], trans.steps[1][1]
    if not isinstance(hv, HashingVectorizer) or type(tfidf) is not TfidfTransformer:
        raise Unsupported(f"text block over {column!r}: {type(hv).__name__}, {type(tfidf).__name__}")
    if hv.norm is not None or hv.binary or tfidf.norm not in ("l2", None):
        raise Unsupported(f"text block over {column!r}: hashing norm/binary")
    idf = getattr(tfidf, "idf_", None) if tfidf.use_idf else None
    try:
        counts = BulkHasher(hv).transform
    except UnsupportedVectorizer:
        counts = hv.transform
    return counts, tfidf.sublinear_tf, idf, tfidf.norm


class FastPredictor:
    """predict_proba over feature rows (dicts from :func:`pipeline.classify.features.feature_rows`)."""

    def __init__(self, pipeline):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_selection import VarianceThreshold
        from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

        steps = [s for _, s in pipeline.steps]
        if len(steps) != 3:
            raise Unsupported("expected features → select → model")
        features, select, model = steps
        if not isinstance(features, ColumnTransformer) or not isinstance(select, VarianceThreshold) \
                or not isinstance(model, CalibratedClassifierCV):
            raise Unsupported("expected ColumnTransformer → VarianceThreshold → CalibratedClassifierCV")
        support = select.get_support()
        n_total = support.shape[0]
        # Linear models over the selected columns, spread back over the full feature space (zeros elsewhere).
        self.calibrated = []
        for cc in model.calibrated_classifiers_:
            est = cc.estimator
            if cc.method != "sigmoid" or not hasattr(est, "coef_") or not hasattr(est, "decision_function"):
                raise Unsupported("expected a sigmoid-calibrated linear model")
            coef = np.asarray(est.coef_, dtype=float)
            if coef.shape[1] != int(support.sum()) or coef.shape[0] < 3:
                raise Unsupported("coefficients do not match the mask (or a binary model)")
            full = np.zeros((n_total, coef.shape[0]))
            full[np.flatnonzero(support)] = coef.T
            order = np.searchsorted(np.unique(cc.classes), est.classes_)
            a = np.array([c.a_ for c in cc.calibrators], dtype=float)
            b = np.array([c.b_ for c in cc.calibrators], dtype=float)
            self.calibrated.append((full, np.asarray(est.intercept_, dtype=float), order, a, b, len(cc.classes)))
        self.blocks = []
        for name, trans, columns in features.transformers_:
            if name == "remainder":
                if trans == "drop" or features.output_indices_[name].stop == features.output_indices_[name].start:
                    continue
                raise Unsupported("remainder columns")
            sl = features.output_indices_[name]
            w = [c[0][sl] for c in self.calibrated]
            if isinstance(trans, OneHotEncoder):
                if trans.drop is not None or trans.handle_unknown != "ignore" or len(trans.categories_) != 1 \
                        or getattr(trans, "_infrequent_enabled", False) or list(columns) != list(columns)[:1]:
                    raise Unsupported(f"one-hot over {columns!r}")
                lookup = {str(c): i for i, c in enumerate(trans.categories_[0])}
                self.blocks.append(("onehot", columns[0], lookup, w))
            elif isinstance(trans, MinMaxScaler):
                if trans.clip:
                    raise Unsupported("clipped min-max")
                self.blocks.append(("minmax", list(columns), (trans.scale_, trans.min_), w))
            else:
                self.blocks.append(("text", columns, _text_block(trans, columns), w))
        if features.sparse_output_ is not True:
            raise Unsupported("dense feature output")

    def decision(self, rows: Sequence[dict]) -> list[np.ndarray]:
        # The row normalisation sklearn.preprocessing.normalize runs, without its per-call parameter validation.
        from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2

        n = len(rows)
        outs = [np.tile(c[1], (n, 1)) for c in self.calibrated]
        for kind, col, spec, ws in self.blocks:
            if kind == "text":
                counts, sublinear, idf, norm = spec
                X = counts([r[col] for r in rows])
                X.data = X.data.astype(float, copy=False)
                if sublinear:
                    np.log(X.data, X.data)
                    X.data += 1.0
                if idf is not None:
                    X.data *= idf[X.indices]
                if norm == "l2":
                    inplace_csr_row_normalize_l2(X)
                elif norm == "l1":
                    inplace_csr_row_normalize_l1(X)
                for out, w in zip(outs, ws):
                    out += X @ w
            elif kind == "onehot":
                idx = [spec.get(str(r[col])) for r in rows]
                for out, w in zip(outs, ws):
                    for i, j in enumerate(idx):
                        if j is not None:
                            out[i] += w[j]
            else:
                scale, offset = spec
                X = np.array([[r[c] for c in col] for r in rows], dtype=float) * scale + offset
                for out, w in zip(outs, ws):
                    out += X @ w
        return outs

    def predict_proba(self, rows: Sequence[dict]) -> np.ndarray:
        probas = [sigmoid_calibrated(d, order, a, b, n_classes)
                  for (_, _, order, a, b, n_classes), d in zip(self.calibrated, self.decision(rows))]
        return probas[0] if len(probas) == 1 else np.mean(probas, axis=0)


def sigmoid_calibrated(d: np.ndarray, order: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int) -> np.ndarray:
    """CalibratedClassifierCV's probabilities from a linear model's decision values: a sigmoid per class, then
    normalised over the classes (shared by the fast path and the compiled classifier). NumPy only: the compiled
    classifier imports no SciPy."""
    proba = np.zeros((len(d), n_classes))
    with np.errstate(over="ignore"):  # exp overflow → 1 / inf = 0, the sigmoid's limit
        proba[:, order] = 1.0 / (1.0 + np.exp(a * d + b))
    denominator = proba.sum(axis=1)[:, np.newaxis]
    proba = np.divide(proba, denominator, out=np.full_like(proba, 1 / n_classes), where=denominator != 0)
    proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba
