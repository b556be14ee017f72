"""The passage classifier compiled to arrays: what the fast predict path computes, saved as a NumPy .npz (no
pickle, no code) plus a JSON spec, and evaluated with NumPy alone.

Loading the scikit-learn Pipeline from skops imports scikit-learn, SciPy's statistics and skops' list of trusted
types: about 3 s of a cold ``policyminer process`` on this machine, for a model whose prediction is hashing,
TF-IDF weighting and a few matrix products. ``policyminer train classifier`` writes ``compiled.npz`` beside
``model.skops`` after checking that it gives the Pipeline's probabilities on corpus items; at run time the
classifier reads it (SHA-256 checked like the skops files) and loads the Pipeline only when asked for it.

The n-gram hashing is pipeline.classify.hashing's (MurmurHash3 over all n-grams at once, in NumPy)."""
from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path
from typing import Sequence

import numpy as np

COMPILED_FORMAT = "compiled-1"


class NotCompilable(ValueError):
    """The fitted model has a part the compiled form does not reproduce."""


# -- compile -------------------------------------------------------------------------------------------------------
def compile_classifier(fast, context_model, classes: Sequence[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec, arrays) of a FastPredictor (pipeline.classify.fast) and the context LogisticRegression."""
    from pipeline.classify.hashing import BulkHasher

    if len(fast.calibrated) != 1:
        raise NotCompilable("an ensemble of calibrated models")
    _, intercept, order, a, b, n_classes = fast.calibrated[0]
    spec: dict = {"format": COMPILED_FORMAT, "classes": [str(c) for c in classes], "n_classes": int(n_classes),
                  "blocks": []}
    arrays = {"intercept": np.asarray(intercept, dtype=float), "order": np.asarray(order, dtype=np.int64),
              "calib_a": np.asarray(a, dtype=float), "calib_b": np.asarray(b, dtype=float)}
    for k, (kind, col, block, ws) in enumerate(fast.blocks):
        w = np.asarray(ws[0], dtype=float)
        entry = {"kind": kind, "column": col}
        if kind == "text":
            counts, sublinear, idf, norm = block
            hasher = getattr(counts, "__self__", None)
            if not isinstance(hasher, BulkHasher):
                raise NotCompilable(f"text block {col!r} without the bulk hasher")
            if norm not in ("l2", None):
                raise NotCompilable(f"text block {col!r}: norm {norm}")
            entry.update(analyzer=hasher.analyzer, ngram_range=[hasher.lo, hasher.hi], n_features=hasher.n_features,
                         token_pattern=getattr(hasher, "tokens", None) and hasher.tokens.pattern,
                         sublinear=bool(sublinear), norm=norm, has_idf=idf is not None)
            if idf is not None:
                arrays[f"b{k}_idf"] = np.asarray(idf, dtype=float)
            rows = np.flatnonzero(np.any(w != 0, axis=1))  # the selected columns only
            arrays[f"b{k}_rows"], arrays[f"b{k}_w"] = rows.astype(np.int64), w[rows]
        elif kind == "onehot":
            entry["categories"] = sorted(block, key=block.get)
            arrays[f"b{k}_w"] = w
        else:
            scale, offset = block
            arrays[f"b{k}_scale"], arrays[f"b{k}_offset"], arrays[f"b{k}_w"] = (
                np.asarray(scale, dtype=float), np.asarray(offset, dtype=float), w)
        spec["blocks"].append(entry)
    if context_model is not None:
        if type(context_model).__name__ != "LogisticRegression" or len(context_model.classes_) < 3:
            raise NotCompilable("context model other than a multinomial LogisticRegression")
        if [str(c) for c in context_model.classes_] != spec["classes"]:
            raise NotCompilable("context model classes differ from the passage model's")
        arrays["ctx_coef"] = np.asarray(context_model.coef_, dtype=float)
        arrays["ctx_intercept"] = np.asarray(context_model.intercept_, dtype=float)
        spec["context"] = True
    return spec, arrays


def save_compiled(spec: dict, arrays: dict[str, np.ndarray], path: Path) -> None:
    """One .npz: the arrays and the spec (as a UTF-8 byte array), loadable with allow_pickle=False."""
    payload = dict(arrays)
    payload["spec"] = np.frombuffer(json.dumps(spec, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **payload)


# -- run -----------------------------------------------------------------------------------------------------------
class CompiledClassifier:
    """predict_proba over feature rows, and the context model's predict_proba, from a compiled.npz."""

    def __init__(self, path: Path):
        from pipeline.classify.hashing import BulkHasher

        with np.load(path, allow_pickle=False) as npz:
            self.arrays = {name: npz[name] for name in npz.files}
        self.spec = json.loads(self.arrays.pop("spec").tobytes().decode("utf-8"))
        if self.spec.get("format") != COMPILED_FORMAT:
            raise NotCompilable(f"{path}: compiled format {self.spec.get('format')!r}, expected {COMPILED_FORMAT!r}")
        self.classes = self.spec["classes"]
        self.hashers, self.lookups = {}, {}
        for k, entry in enumerate(self.spec["blocks"]):
            if entry["kind"] == "text":
                self.hashers[k] = BulkHasher.from_params(entry["analyzer"], tuple(entry["ngram_range"]),
                                                         entry["n_features"], entry.get("token_pattern"))
                # Bucket → row of the selected weights (0: a zero row for the unselected buckets). Small tables
                # instead of a full n_features x classes matrix: fewer cache misses, and two workers share the
                # machine's cache.
                slot = np.zeros(entry["n_features"], dtype=np.int32)
                slot[self.arrays[f"b{k}_rows"]] = np.arange(1, len(self.arrays[f"b{k}_rows"]) + 1, dtype=np.int32)
                self.arrays[f"b{k}_slot"] = slot
                self.arrays[f"b{k}_wz"] = np.vstack([np.zeros((1, self.arrays[f"b{k}_w"].shape[1])),
                                                     self.arrays[f"b{k}_w"]])
            elif entry["kind"] == "onehot":
                self.lookups[k] = {cat: i for i, cat in enumerate(entry["categories"])}

    def decision(self, rows: Sequence[dict]) -> np.ndarray:
        n = len(rows)
        out = np.tile(self.arrays["intercept"], (n, 1))
        for k, entry in enumerate(self.spec["blocks"]):
            w = self.arrays[f"b{k}_w"]
            col = entry["column"]
            if entry["kind"] == "text":
                out += self._text_block(k, entry, [r[col] for r in rows])
            elif entry["kind"] == "onehot":
                found = [self.lookups[k].get(str(r[col]), -1) for r in rows]
                at = np.flatnonzero(np.asarray(found) >= 0)
                out[at] += w[np.asarray(found)[at]]
            else:
                X = np.array(list(map(itemgetter(*col), rows)), dtype=float).reshape(n, len(col))
                out += (X * self.arrays[f"b{k}_scale"] + self.arrays[f"b{k}_offset"]) @ w
        return out

    def _text_block(self, k: int, entry: dict, texts: list[str]) -> np.ndarray:
        """The block's decision values per row. Equal texts (a passage's heading on each of its sentences, a
        one-sentence passage and its sentence) are computed once: a row's value depends on its text alone."""
        index: dict[str, int] = {}
        inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
        m = len(index)
        if not any(index):  # only empty texts (no heading anywhere): no n-gram, nothing to add
            return np.zeros((len(texts), self.arrays[f"b{k}_wz"].shape[1]))
        row, col_idx, counts = self.hashers[k].counts(list(index))
        data = counts.astype(float)
        if entry["sublinear"]:
            data = np.log(data) + 1.0
        if entry["has_idf"]:
            data *= self.arrays[f"b{k}_idf"][col_idx]
        if entry["norm"] == "l2":
            norms = np.sqrt(np.bincount(row, weights=data * data, minlength=m))
            norms[norms == 0.0] = 1.0
            data /= norms[row]
        # Only cells of selected buckets add to the decision (the others' weights are 0: leaving them out changes
        # no sum).
        slots = self.arrays[f"b{k}_slot"][col_idx]
        keep = np.flatnonzero(slots)
        contrib = data[keep, None] * self.arrays[f"b{k}_wz"][slots[keep]]
        per_text = np.empty((m, contrib.shape[1]))
        for c in range(contrib.shape[1]):
            per_text[:, c] = np.bincount(row[keep], weights=contrib[:, c], minlength=m)
        return per_text[inverse]

    def predict_proba(self, rows: Sequence[dict]) -> np.ndarray:
        from pipeline.classify.fast import sigmoid_calibrated

        return sigmoid_calibrated(self.decision(rows), self.arrays["order"], self.arrays["calib_a"],
                                  self.arrays["calib_b"], self.spec["n_classes"])

    def context_proba(self, X: np.ndarray) -> np.ndarray:
        """The context LogisticRegression's predict_proba (multinomial: a softmax of its decision function)."""
        z = np.asarray(X, dtype=float) @ self.arrays["ctx_coef"].T + self.arrays["ctx_intercept"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
