"""UTF-8 byte offsets of a string's characters: the NumPy hashes of n-grams (pipeline.classify.hashing) and of
near-duplicate shingles (pipeline.ingest.dedup) read each n-gram as a byte span of the encoded text."""
from __future__ import annotations

import numpy as np


def utf8_offsets(text: str) -> np.ndarray:
    """Byte offset of each character of `text` in its UTF-8 form (surrogates kept), and the total at the end."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    widths = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    offsets = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(widths, out=offsets[1:])
    return offsets
