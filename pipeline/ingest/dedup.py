"""Near-duplicate detection across a batch with MinHash LSH (datasketch): the same article scraped from
several sites is processed once; its copies point to the first one."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import mmh3
import numpy as np

SCHEME = "affine64"  # datasketch >= 2.0 permutation scheme
# Shingles are hashed with MurmurHash3 x64 (mmh3, C) instead of datasketch's default SHA-1, which was most of the
# signature's cost. Signatures are comparable only under one scheme and hash: the run store records this name and
# drops signatures made under another (RunStore.use_signature_scheme).
SIGNATURE_SCHEME = f"{SCHEME}/mmh3-x64"
_KEEP = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


def shingles(text: str, k: int) -> set[str]:
    chars = "".join(_KEEP.findall(text))
    if len(chars) <= k:
        return {chars} if chars else set()
    return {chars[i:i + k] for i in range(len(chars) - k + 1)}


def _hash64(shingle: str) -> int:
    """A shingle's unsigned 64-bit hash (the first half of MurmurHash3 x64-128 of its UTF-8 bytes)."""
    return mmh3.hash64(shingle, signed=False)[0]


@lru_cache(maxsize=4)
def _permutations(num_perm: int):
    """The seeded permutation parameters: datasketch draws them anew for every MinHash it builds."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME, hashfunc=_hash64).permutations


def _minhash(num_perm: int, hashvalues: Optional[np.ndarray] = None):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME, hashfunc=_hash64, hashvalues=hashvalues,
                   permutations=_permutations(num_perm))


def signature(text: str, *, num_perm: int, k: int) -> np.ndarray:
    mh = _minhash(num_perm)
    mh.update_batch(shingles(text, k))
    return mh.hashvalues.astype(np.uint64)


class DuplicateIndex:
    """Insert signatures in a fixed order; `check` returns the key of an earlier near-duplicate or None."""

    def __init__(self, *, num_perm: int, threshold: float):
        from datasketch import MinHashLSH

        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

    def check_and_add(self, key: str, hashvalues: np.ndarray) -> Optional[str]:
        mh = _minhash(self.num_perm, hashvalues)
        found = self.lsh.query(mh)
        if found:
            return min(found)
        self.lsh.insert(key, mh)
        return None
