"""Hashed n-gram counts computed in bulk, equal to scikit-learn's ``HashingVectorizer.transform``.

HashingVectorizer builds every n-gram of every row as a Python string and hashes it (MurmurHash3 of its UTF-8
bytes) one by one: on the benchmark corpus that was 40 % of the classifier's time. Here the n-grams of all rows are
integer keys built with NumPy (character n-grams: code points packed 21 bits each; word n-grams: word ids packed 32
bits each); only the *distinct* keys are looked up in a cache of their hash buckets, and only keys never seen before
are turned back into strings and hashed (MurmurHash3 by mmh3, :func:`murmurhash3_32`, equal to scikit-learn's).
The result is the same sparse count matrix (a test and the classifier's probe check compare it with
HashingVectorizer).

Only the configurations the classifier trains are supported (analyzer "char" up to 3-grams or "word" up to
2-grams, no lowercasing, preprocessor, stop words or sign alternation); anything else raises
:class:`UnsupportedVectorizer` and the caller uses the vectorizer itself."""
from __future__ import annotations

import re
from itertools import repeat
from typing import Optional, Sequence

import mmh3
import numpy as np

# HashingVectorizer's own whitespace normalisation for the char analyzer (VectorizerMixin._white_spaces).
WHITE_SPACES = re.compile(r"\s\s+")
CODE_BITS = 21  # Unicode code points are < 2**21: three fit in a 64-bit key
WORD_BITS = 32
# The caches are cleared when they outgrow this many keys (a long batch must not grow a worker's memory).
MAX_CACHED_KEYS = 300_000


# -- MurmurHash3 ---------------------------------------------------------------------------------------------------
def murmurhash3_32(strings: Sequence[str]) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (seed 0) of each string's UTF-8 bytes, as sklearn.utils.murmurhash3_32. mmh3 is
    a C implementation: one call per n-gram string, and no scikit-learn import at run time."""
    return np.fromiter(map(mmh3.hash, strings), dtype=np.int64, count=len(strings))


def hash_buckets(strings: Sequence[str], n_features: int) -> np.ndarray:
    """The columns FeatureHasher (alternate_sign=False) gives these feature strings."""
    h = murmurhash3_32(strings)
    return np.where(h == -2147483648, (2147483647 - (n_features - 1)) % n_features, np.abs(h) % n_features)


class UnsupportedVectorizer(ValueError):
    """A HashingVectorizer configuration this module does not reproduce."""


class BulkHasher:
    """``transform(docs)`` → CSR counts, the same as the given HashingVectorizer's."""

    def __init__(self, hv):
        params = hv.get_params()
        if hv.analyzer not in ("char", "word") or params["input"] != "content" or params["lowercase"] \
                or params["preprocessor"] is not None or params["tokenizer"] is not None \
                or params["stop_words"] is not None or params["strip_accents"] is not None \
                or params["alternate_sign"] or params["norm"] is not None or params["binary"]:
            raise UnsupportedVectorizer(f"HashingVectorizer({hv.analyzer}, {params})")
        if hv._white_spaces.pattern != WHITE_SPACES.pattern:
            raise UnsupportedVectorizer("another whitespace normalisation")
        self._setup(hv.analyzer, tuple(hv.ngram_range), int(hv.n_features), hv.token_pattern, hv.dtype)

    @classmethod
    def from_params(cls, analyzer: str, ngram_range: tuple[int, int], n_features: int,
                    token_pattern: Optional[str] = None) -> "BulkHasher":
        """A hasher from saved parameters (the compiled classifier), without a vectorizer object."""
        hasher = cls.__new__(cls)
        hasher._setup(analyzer, ngram_range, n_features, token_pattern, np.float64)
        return hasher

    def _setup(self, analyzer, ngram_range, n_features, token_pattern, dtype) -> None:
        lo, hi = ngram_range
        if analyzer not in ("char", "word") or not 1 <= lo <= hi or hi > (3 if analyzer == "char" else 2):
            raise UnsupportedVectorizer(f"n-gram range {ngram_range} for {analyzer}")
        self.analyzer, self.lo, self.hi = analyzer, lo, hi
        self.n_features = n_features
        self.dtype = dtype
        if self.analyzer == "word":
            self.tokens = re.compile(token_pattern or r"(?u)\b\w\w+\b")
            if self.tokens.groups > 1:
                raise UnsupportedVectorizer("token pattern with several groups")
        self._clear()

    def _clear(self) -> None:
        self.buckets: list[dict[int, int]] = [{} for _ in range(self.hi + 1)]  # per n: key → bucket
        self.word_ids: dict[str, int] = {}
        self.words: list[str] = []

    # -- keys --------------------------------------------------------------------------------------------------
    def _char_keys(self, docs: Sequence[str]):
        """The n-grams of every character position, and a function giving the string of an n-gram from its
        start position (rows are the docs after whitespace normalisation, concatenated)."""
        texts = [WHITE_SPACES.sub(" ", d) for d in docs]
        joined = "".join(texts)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)

        def strings(n: int, starts: list[int]) -> list[str]:
            return [joined[p:p + n] for p in starts]
        return self._packed(codes, lengths, CODE_BITS), strings

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
        tokens = [words[i] for i in ids]

        def strings(n: int, starts: list[int]) -> list[str]:
            return [" ".join(tokens[p:p + n]) for p in starts]
        return self._packed(np.asarray(ids, dtype=np.uint64), np.asarray(lengths, dtype=np.int64), WORD_BITS), strings

    def _packed(self, codes, lengths, bits):
        """(row, n, key, start) per n: every n-gram that stays inside its row, packed into one integer key."""
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        ends = np.repeat(np.cumsum(lengths), lengths)  # each position's row end
        pos = np.arange(len(codes))
        out = []
        for n in range(self.lo, self.hi + 1):
            start = pos[pos + n <= ends]
            key = codes[start].copy()
            for k in range(1, n):
                key |= codes[start + k] << np.uint64(bits * k)
            out.append((row_of[start], n, key, start))
        return out

    # -- transform ---------------------------------------------------------------------------------------------
    def pairs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every n-gram occurrence (repeats included)."""
        if sum(len(c) for c in self.buckets) + len(self.words) > MAX_CACHED_KEYS:
            self._clear()
        parts, strings = self._char_keys(docs) if self.analyzer == "char" else self._word_keys(docs)
        rows, cols = [], []
        for row_of, n, key, start in parts:
            distinct, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            cache = self.buckets[n]
            distinct_keys = distinct.tolist()
            found = np.fromiter(map(cache.get, distinct_keys, repeat(-1)), dtype=np.int64, count=len(distinct_keys))
            missing = np.flatnonzero(found < 0)
            if len(missing):
                # New n-grams: their strings from their first occurrence, hashed as FeatureHasher does.
                buckets = hash_buckets(strings(n, start[first[missing]].tolist()), self.n_features)
                found[missing] = buckets
                cache.update(zip(distinct[missing].tolist(), buckets.tolist()))
            rows.append(row_of)
            cols.append(found[inverse.reshape(-1)])
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        return row, col

    def counts(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, count) of each distinct cell, sorted by row then column."""
        row, col = self.pairs(docs)
        cells, count = np.unique(row.astype(np.int64) * self.n_features + col, return_counts=True)
        return cells // self.n_features, cells % self.n_features, count

    def transform(self, docs: Sequence[str]):
        """The CSR count matrix, as HashingVectorizer.transform."""
        import scipy.sparse as sp

        row, col, count = self.counts(docs)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=len(docs)), out=indptr[1:])
        return sp.csr_matrix((count.astype(self.dtype), col, indptr), shape=(len(docs), self.n_features))
