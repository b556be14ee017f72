"""Hashed n-gram counts computed in bulk, equal to scikit-learn's ``HashingVectorizer.transform``.

HashingVectorizer builds every n-gram of every row as a Python string and hashes it (MurmurHash3 of its UTF-8
bytes) one by one: on the benchmark corpus that was 40 % of the classifier's time. Here no n-gram string is built.
Every n-gram of a row is a contiguous byte span of the rows' UTF-8 text (character n-grams by definition; word
n-grams because the tokens are joined by single spaces, as HashingVectorizer joins them), so the spans' starts and
lengths are computed with NumPy, and MurmurHash3 (x86, 32 bits, seed 0, as sklearn.utils.murmurhash3_32) runs over
all spans at once in NumPy's wrapping uint32 arithmetic (:func:`murmurhash3_spans`). The result is the same sparse
count matrix (a test and the classifier's probe check compare it with HashingVectorizer), with no per-n-gram Python
work and no cache of buckets to grow in a long batch.

Only the configurations the classifier trains are supported (analyzer "char" or "word", no lowercasing,
preprocessor, stop words or sign alternation); anything else raises :class:`UnsupportedVectorizer` and the caller
uses the vectorizer itself."""
from __future__ import annotations

import re
from itertools import chain
from typing import Optional, Sequence

import mmh3
import numpy as np

from pipeline.utf8 import utf8_offsets

# HashingVectorizer's own whitespace normalisation for the char analyzer (VectorizerMixin._white_spaces).
WHITE_SPACES = re.compile(r"\s\s+")
# Spans longer than this many bytes (a URL or a run of Latin text taken as one word) are hashed one by one by
# mmh3: the vectorised loop makes one pass per 4-byte block of the longest span.
MAX_VECTOR_SPAN = 64

# MurmurHash3 x86_32 constants (Austin Appleby's reference implementation, as in sklearn.utils.murmurhash).
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
_M, _N = np.uint32(5), np.uint32(0xE6546B64)
_F1, _F2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)
_TAIL_MASKS = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)


# -- MurmurHash3 ---------------------------------------------------------------------------------------------------
def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix_block(k: np.ndarray) -> np.ndarray:
    k = k * _C1
    return _rotl(k, 15) * _C2


def murmurhash3_spans(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (x86, seed 0) of each byte span ``data[start:start + length]``, as int64."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    buf = np.frombuffer(data + b"\0\0\0\0", dtype=np.uint8).astype(np.uint32)
    # The little-endian 32-bit word at every byte offset: each block and tail is one gather from it.
    words = buf[:-3] | (buf[1:-2] << np.uint32(8)) | (buf[2:-1] << np.uint32(16)) | (buf[3:] << np.uint32(24))
    long = lengths > MAX_VECTOR_SPAN
    # Spans sorted by their number of 4-byte blocks (a radix sort of small integers): the spans that have block j
    # are then a suffix, updated in place by slicing.
    order = np.argsort(np.where(long, 0, lengths >> 2).astype(np.uint8), kind="stable")
    starts, lengths, long = starts[order], lengths[order], long[order]
    short_len = np.where(long, 0, lengths)
    blocks = short_len >> 2
    h = np.zeros(len(starts), dtype=np.uint32)
    for j in range(int(blocks[-1]) if len(blocks) else 0):
        first = int(np.searchsorted(blocks, j + 1))
        x = h[first:] ^ _mix_block(words[starts[first:] + 4 * j])
        h[first:] = _rotl(x, 13) * _M + _N
    tail = words[starts + 4 * blocks] & _TAIL_MASKS[short_len & 3]
    h ^= _mix_block(tail)  # a zero tail mixes to zero, as the reference skips it
    h ^= short_len.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= _F1
    h ^= h >> np.uint32(13)
    h *= _F2
    h ^= h >> np.uint32(16)
    hashes = h.view(np.int32).astype(np.int64)
    for i in np.flatnonzero(long).tolist():
        hashes[i] = mmh3.hash(data[starts[i]:starts[i] + lengths[i]], 0, True)
    out = np.empty_like(hashes)
    out[order] = hashes
    return out


def murmurhash3_32(strings: Sequence[str]) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (seed 0) of each string's UTF-8 bytes, as sklearn.utils.murmurhash3_32."""
    encoded = [s.encode("utf-8", "surrogatepass") for s in strings]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return murmurhash3_spans(b"".join(encoded), starts, lengths)


def hash_buckets(hashes: np.ndarray, n_features: int) -> np.ndarray:
    """The columns FeatureHasher (alternate_sign=False) gives features with these signed hashes."""
    return np.where(hashes == -2147483648, (2147483647 - (n_features - 1)) % n_features,
                    np.abs(hashes) % n_features)


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
        if analyzer not in ("char", "word") or not 1 <= lo <= hi:
            raise UnsupportedVectorizer(f"n-gram range {ngram_range} for {analyzer}")
        self.analyzer, self.lo, self.hi = analyzer, lo, hi
        self.n_features = n_features
        self.dtype = dtype
        if self.analyzer == "word":
            self.tokens = re.compile(token_pattern or r"(?u)\b\w\w+\b")
            if self.tokens.groups > 1:
                raise UnsupportedVectorizer("token pattern with several groups")
            self.split_on_space = self.tokens.pattern in (r"\S+", r"(?u)\S+")

    # -- spans -------------------------------------------------------------------------------------------------
    def _row_text(self, docs: Sequence[str]):
        """The rows' n-gram units joined into one string: (joined, each unit's start and end character, units
        per row). Char analyzer: units are the characters after whitespace normalisation, rows concatenated.
        Word analyzer: units are the tokens, all joined by single spaces."""
        if self.analyzer == "char":
            texts = [WHITE_SPACES.sub(" ", d) for d in docs]
            joined = "".join(texts)
            per_row = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            starts = np.arange(len(joined), dtype=np.int64)
            return joined, starts, starts + 1, per_row
        # r"\S+" (the classifier's pattern) finds what str.split() gives: both split at str.isspace() characters.
        rows = list(map(str.split if self.split_on_space else self.tokens.findall, docs))
        per_row = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        tokens = list(chain.from_iterable(rows))
        joined = " ".join(tokens)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        starts = np.zeros(len(tokens), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        return joined, starts, starts + lengths, per_row

    def pairs(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every n-gram occurrence (repeats included)."""
        joined, unit_start, unit_end, per_row = self._row_text(docs)
        offsets = utf8_offsets(joined)
        byte_start, byte_end = offsets[unit_start], offsets[unit_end]
        row_of = np.repeat(np.arange(len(per_row)), per_row)
        ends = np.repeat(np.cumsum(per_row), per_row)  # each unit's row end
        pos = np.arange(len(unit_start))
        data = joined.encode("utf-8", "surrogatepass")
        rows, starts, lengths = [], [], []
        for n in range(self.lo, self.hi + 1):
            first = pos[pos + n <= ends]  # n-grams that stay inside their row
            rows.append(row_of[first])
            starts.append(byte_start[first])
            lengths.append(byte_end[first + n - 1] - byte_start[first])
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        hashes = murmurhash3_spans(data, np.concatenate(starts), np.concatenate(lengths))
        return np.concatenate(rows), hash_buckets(hashes, self.n_features)

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
