"""Near-duplicate detection across a batch with MinHash LSH: the same article scraped from several sites is
processed once; its copies point to the first one. Signatures are the values datasketch's MinHash gives (seeded
affine64 permutations, shingles hashed by MurmurHash3 x64), computed here in NumPy over all shingle positions at
once; the index is datasketch's MinHashLSH banding with its optimal bands and rows. Both are reimplemented
because datasketch's LSH module imports scipy.integrate, which cost each run's start about 0.7 s
(benchmarks/parts.py); tests/test_dedup.py checks signatures, permutations and band parameters against
datasketch itself."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import mmh3
import numpy as np

from pipeline.utf8 import utf8_offsets

SCHEME = "affine64"  # datasketch >= 2.0 permutation scheme
# Shingles are hashed with MurmurHash3 x64 (mmh3, C) instead of datasketch's default SHA-1, which was most of the
# signature's cost. Signatures are comparable only under one scheme and hash: the run store records this name and
# drops signatures made under another (RunStore.use_signature_scheme).
SIGNATURE_SCHEME = f"{SCHEME}/mmh3-x64"
# Shingles are taken over the kept characters (Han, Latin letters, digits): everything else is dropped.
_DROP = re.compile(r"[^\u3400-\u9fffA-Za-z0-9]+")
_SEED = 1


@lru_cache(maxsize=4)  # pure: a function of num_perm, drawn once per process
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine64 permutations h → a·h + b (mod 2^64) that datasketch's MinHash(num_perm, seed=1,
    scheme="affine64") draws: odd multipliers a, then offsets b, from numpy's RandomState(seed)."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    return a, b


# MurmurHash3 x64-128 (Austin Appleby's reference) and datasketch's affine64 pre-mix, the same fmix64.
_C1, _C2 = np.uint64(0x87C37B91114253D5), np.uint64(0x4CF5AD432745937F)
_FMIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_S33 = np.uint64(33)
_BYTE_MASKS = np.array([(1 << (8 * n)) - 1 if n < 8 else (1 << 64) - 1 for n in range(9)], dtype=np.uint64)
_MAX_HASH = np.uint64((1 << 64) - 1)  # datasketch's empty affine64 value


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S33)
    h = h * _FMIX[0]
    h = h ^ (h >> _S33)
    h = h * _FMIX[1]
    return h ^ (h >> _S33)


def _rotl64(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _hash64_short(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """mmh3.hash64(span, signed=False)[0] of byte spans shorter than 16 bytes (MurmurHash3 x64-128 has no full
    block then: only its tail and finalisation run), for all spans at once."""
    buf = np.frombuffer(data + bytes(16), dtype=np.uint8).astype(np.uint64)
    # The little-endian 64-bit word at every byte offset.
    words = buf[:-7].copy()
    for i in range(1, 8):
        words |= buf[i:len(buf) - 7 + i] << np.uint64(8 * i)
    n = np.minimum(lengths, 8)
    k1 = words[starts] & _BYTE_MASKS[n]
    k2 = words[starts + 8] & _BYTE_MASKS[np.maximum(lengths - 8, 0)]
    h2 = _rotl64(k2 * _C2, 33) * _C1  # a zero tail half mixes to zero, as the reference skips it
    h1 = _rotl64(k1 * _C1, 31) * _C2
    length = lengths.astype(np.uint64)
    h1 ^= length
    h2 ^= length
    h1 = h1 + h2
    h2 = h2 + h1
    h1, h2 = _fmix64(h1), _fmix64(h2)
    return h1 + h2


def shingle_hashes(text: str, k: int) -> np.ndarray:
    """The unsigned 64-bit hash (first half of MurmurHash3 x64-128 of the UTF-8 bytes: mmh3.hash64) of every
    k-character shingle of the text's kept characters (repeats included; an empty array for a text without any).
    Spans of 16 bytes or more (long shingles) are hashed one by one by mmh3."""
    chars = _DROP.sub("", text)
    if not chars:
        return np.zeros(0, dtype=np.uint64)
    data = chars.encode("utf-8")
    offsets = utf8_offsets(chars)
    first = np.arange(max(len(chars) - k + 1, 1))
    starts = offsets[first]
    lengths = offsets[np.minimum(first + k, len(chars))] - starts
    long = lengths >= 16
    hashes = _hash64_short(data, starts, np.where(long, 0, lengths))
    for i in np.flatnonzero(long).tolist():
        hashes[i] = mmh3.hash64(data[starts[i]:starts[i] + lengths[i]], signed=False)[0]
    return hashes


def signature(text: str, *, num_perm: int, k: int) -> np.ndarray:
    """The MinHash values datasketch gives for the text's shingles (MinHash(num_perm, seed=1, scheme affine64,
    hashfunc=the shingle hash).update_batch(the shingles).hashvalues), computed in NumPy: one vectorised hash pass
    over all shingle positions instead of a Python call per shingle (a test compares the two)."""
    # Repeated shingles stay in: they do not change a minimum, and dropping them costs more than they do.
    hashes = shingle_hashes(text, k)
    a, b = _permutations(num_perm)
    if not len(hashes):
        return np.full(num_perm, _MAX_HASH, dtype=np.uint64)
    permuted = np.multiply.outer(_fmix64(hashes), a)
    permuted += b
    return permuted.min(axis=0)


@lru_cache(maxsize=8)  # pure: a function of its two numbers
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows per band) that datasketch's MinHashLSH chooses for a Jaccard threshold: the pair that
    minimises the false-positive probability mass below the threshold plus the false-negative mass above it
    (equal weights). A pair matches with probability 1 − (1 − s^r)^b at similarity s; that is a polynomial of
    degree b·r ≤ num_perm, so Gauss–Legendre quadrature with num_perm/2 + 1 nodes integrates it exactly."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(f, lo: float, hi: float) -> float:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        return float((hi - lo) / 2 * np.dot(weights, f(s)))

    best, best_error = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_pos = integral(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)
            false_neg = integral(lambda s: (1 - s ** float(r)) ** float(b), threshold, 1.0)
            error = 0.5 * false_pos + 0.5 * false_neg
            if error < best_error:
                best, best_error = (b, r), error
    return best


class DuplicateIndex:
    """Insert signatures in a fixed order; `check_and_add` returns the key of an earlier near-duplicate or None.
    Banded LSH as datasketch's MinHashLSH: a signature is cut into `bands` runs of `rows` values, and two
    signatures are candidates when any band is equal. Like MinHashLSH.query, candidates are not verified.

    A signature is inserted only when none of its bands is in the index, so every bucket holds one key: a bucket
    maps the band's bytes to that key (no set per bucket, half the memory of MinHashLSH's dict storage; a run of
    millions of pages keeps this index in the main process)."""

    def __init__(self, *, num_perm: int, threshold: float):
        self.num_perm = num_perm
        bands, rows = lsh_bands(threshold, num_perm)
        if bands < 2:  # as MinHashLSH: one band would make every candidate an exact copy
            raise ValueError(f"[dedup] threshold {threshold} with {num_perm} permutations gives fewer than 2 bands")
        self.ranges = [(i * rows, (i + 1) * rows) for i in range(bands)]
        self.buckets: list[dict[bytes, str]] = [{} for _ in self.ranges]
        self.bands_of: dict[str, list[bytes]] = {}  # key → its band values, to remove it

    def __contains__(self, key: str) -> bool:
        return key in self.bands_of

    def _bands(self, hashvalues: np.ndarray) -> list[bytes]:
        if len(hashvalues) != self.num_perm:
            raise ValueError(f"a signature of {len(hashvalues)} values, expected {self.num_perm}")
        data = np.ascontiguousarray(hashvalues, dtype=np.uint64).tobytes()
        return [data[8 * lo:8 * hi] for lo, hi in self.ranges]

    def check_and_add(self, key: str, hashvalues: np.ndarray) -> Optional[str]:
        bands = self._bands(hashvalues)
        found = [hit for table, band in zip(self.buckets, bands) if (hit := table.get(band)) is not None]
        if found:
            return min(found)
        if key in self.bands_of:
            raise ValueError(f"{key} is already in the index")
        for table, band in zip(self.buckets, bands):
            table[band] = key
        self.bands_of[key] = bands
        return None

    def remove(self, key: str) -> None:
        for table, band in zip(self.buckets, self.bands_of.pop(key)):
            if table.get(band) == key:
                del table[band]
