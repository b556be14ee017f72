"""Hashed n-gram counts computed in bulk, equal to scikit-learn's ``HashingVectorizer.transform``.

HashingVectorizer builds every n-gram of every row as a Python string and hashes it (MurmurHash3 of its UTF-8
bytes) one by one: on the benchmark corpus that was 40 % of the classifier's time. Here the n-grams of all rows are
integer keys built with NumPy (character n-grams: code points packed 21 bits each; word n-grams: word ids packed 32
bits each); only the *distinct* keys are looked up in a cache of their hash buckets, and only keys never seen before
are turned back into strings and hashed with scikit-learn's own ``murmurhash3_32``. The result is the same sparse
count matrix (a test and the classifier's probe check compare it with HashingVectorizer).

Only the configurations the classifier trains are supported (analyzer "char" up to 3-grams or "word" up to
2-grams, no lowercasing, preprocessor, stop words or sign alternation); anything else raises
:class:`UnsupportedVectorizer` and the caller uses the vectorizer itself."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

CODE_BITS = 21  # Unicode code points are < 2**21: three fit in a 64-bit key
WORD_BITS = 32
# The caches are cleared when they outgrow this many keys (a long batch must not grow a worker's memory).
MAX_CACHED_KEYS = 300_000


class UnsupportedVectorizer(ValueError):
    """A HashingVectorizer configuration this module does not reproduce."""


def _bucket(feature: str, n_features: int) -> int:
    """The column scikit-learn's FeatureHasher gives a feature string (alternate_sign=False)."""
    from sklearn.utils import murmurhash3_32

    h = murmurhash3_32(feature, seed=0)
    if h == -2147483648:  # abs(-2**31) overflows in int32: FeatureHasher's special case
        return (2147483647 - (n_features - 1)) % n_features
    return abs(h) % n_features


class BulkHasher:
    """``transform(docs)`` → CSR counts, the same as the given HashingVectorizer's."""

    def __init__(self, hv):
        params = hv.get_params()
        if hv.analyzer not in ("char", "word") or params["input"] != "content" or params["lowercase"] \
                or params["preprocessor"] is not None or params["tokenizer"] is not None \
                or params["stop_words"] is not None or params["strip_accents"] is not None \
                or params["alternate_sign"] or params["norm"] is not None or params["binary"]:
            raise UnsupportedVectorizer(f"HashingVectorizer({hv.analyzer}, {params})")
        lo, hi = hv.ngram_range
        if not 1 <= lo <= hi or hi > (3 if hv.analyzer == "char" else 2):
            raise UnsupportedVectorizer(f"n-gram range {hv.ngram_range} for {hv.analyzer}")
        self.analyzer, self.lo, self.hi = hv.analyzer, lo, hi
        self.n_features = int(hv.n_features)
        self.dtype = hv.dtype
        self.white_spaces = hv._white_spaces  # the char analyzer's whitespace normalisation
        if self.analyzer == "word":
            self.tokens = re.compile(hv.token_pattern)
            if self.tokens.groups > 1:
                raise UnsupportedVectorizer("token pattern with several groups")
        self._clear()

    def _clear(self) -> None:
        self.buckets: list[dict[int, int]] = [{} for _ in range(self.hi + 1)]  # per n: key → bucket
        self.word_ids: dict[str, int] = {}
        self.words: list[str] = []

    # -- keys --------------------------------------------------------------------------------------------------
    def _char_keys(self, docs: Sequence[str]):
        """(row, n, key) arrays of every character n-gram; rows are the docs after whitespace normalisation."""
        texts = [self.white_spaces.sub(" ", d) for d in docs]
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        row_of = np.repeat(np.arange(len(texts)), lengths)
        ends = np.repeat(np.cumsum(lengths), lengths)  # each position's row end
        return self._packed(codes, row_of, ends, CODE_BITS)

    def _word_keys(self, docs: Sequence[str]):
        ids, lengths = [], []
        get, word_ids, words = self.word_ids.get, self.word_ids, self.words
        for doc in docs:
            toks = self.tokens.findall(doc)
            found = list(map(get, toks))
            if None in found:
                for k, (tok, i) in enumerate(zip(toks, found)):
                    if i is None:
                        i = word_ids.get(tok)
                        if i is None:
                            i = word_ids[tok] = len(words)
                            words.append(tok)
                        found[k] = i
            ids.extend(found)
            lengths.append(len(toks))
        lengths = np.asarray(lengths, dtype=np.int64)
        codes = np.asarray(ids, dtype=np.uint64)
        row_of = np.repeat(np.arange(len(docs)), lengths)
        ends = np.repeat(np.cumsum(lengths), lengths)
        return self._packed(codes, row_of, ends, WORD_BITS)

    def _packed(self, codes, row_of, ends, bits):
        out = []
        pos = np.arange(len(codes))
        for n in range(self.lo, self.hi + 1):
            ok = pos + n <= ends  # n-grams that stay inside their row
            start = pos[ok]
            key = codes[start].copy()
            for k in range(1, n):
                key |= codes[start + k] << np.uint64(bits * k)
            out.append((row_of[ok], n, key))
        return out

    def _string(self, n: int, key: int) -> str:
        if self.analyzer == "char":
            mask = (1 << CODE_BITS) - 1
            return "".join(chr((key >> (CODE_BITS * k)) & mask) for k in range(n))
        mask = (1 << WORD_BITS) - 1
        return " ".join(self.words[(key >> (WORD_BITS * k)) & mask] for k in range(n))

    # -- transform ---------------------------------------------------------------------------------------------
    def transform(self, docs: Sequence[str]):
        import scipy.sparse as sp

        if sum(len(c) for c in self.buckets) + len(self.words) > MAX_CACHED_KEYS:
            self._clear()
        parts = self._char_keys(docs) if self.analyzer == "char" else self._word_keys(docs)
        rows, cols = [], []
        for row_of, n, key in parts:
            distinct, inverse = np.unique(key, return_inverse=True)
            cache = self.buckets[n]
            found = list(map(cache.get, distinct.tolist()))
            if None in found:
                for k, b in enumerate(found):
                    if b is None:
                        raw = int(distinct[k])
                        b = found[k] = cache[raw] = _bucket(self._string(n, raw), self.n_features)
            rows.append(row_of)
            cols.append(np.asarray(found, dtype=np.int32)[inverse.reshape(-1)])
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        # Straight to CSR (entries grouped by row), then sum_duplicates sums repeated columns and sorts them.
        order = np.argsort(row, kind="stable")
        indptr = np.zeros(len(docs) + 1, dtype=np.int32)
        np.cumsum(np.bincount(row, minlength=len(docs)), out=indptr[1:])
        X = sp.csr_matrix((np.ones(len(row), dtype=self.dtype), col[order], indptr), shape=(len(docs), self.n_features))
        X.sum_duplicates()
        return X
