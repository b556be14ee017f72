"""Near-duplicate detection across a batch with MinHash LSH (datasketch): the same article scraped from
several sites is processed once; its copies point to the first one."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

import numpy as np

SCHEME = "affine64"  # datasketch >= 2.0 hashing scheme; stored signatures are only comparable within one
_KEEP = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


def shingles(text: str, k: int) -> set[str]:
    chars = "".join(_KEEP.findall(text))
    if len(chars) <= k:
        return {chars} if chars else set()
    return {chars[i:i + k] for i in range(len(chars) - k + 1)}


@lru_cache(maxsize=4)
def _permutations(num_perm: int):
    """The seeded permutation parameters: datasketch draws them anew for every MinHash it builds."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME).permutations


def _minhash(num_perm: int, hashvalues: Optional[np.ndarray] = None):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME, hashvalues=hashvalues, permutations=_permutations(num_perm))


def signature(text: str, *, num_perm: int, k: int) -> np.ndarray:
    mh = _minhash(num_perm)
    mh.update_batch([s.encode("utf-8") for s in shingles(text, k)])
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
