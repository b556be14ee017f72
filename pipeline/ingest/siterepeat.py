"""Lines that repeat across the pages of one site in a batch: the site's own chrome (slogans, disclaimers, service
notes, menus) that no pattern in configs/boilerplate.toml names.

A batch pre-pass (`pipeline.run.collect_site_repeats`, one `Ingester.page_keys` call per input) cuts every input into blocks, as ingest does, and counts on how many distinct pages of
each site every line occurs. Ingest then removes the lines that occur on at least `site_repeat_min_pages` pages
of the document's own site, with the reason "site_repeat". The site is the page's host (from its URL, canonical
link or og:url) and, for files without one, the folder the file sits in: scrapers keep a site's pages together.

Only lines long enough to be prose can be counted (`site_repeat_min_chars`), and never section headings: the
notices of one government site share "一、总体要求" and the like, which are part of each article.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from pipeline.ingest.blocks import weighted_len

_SPACE = re.compile(r"\s+")


def block_key(text: str) -> int:
    """A stable 64-bit key of a line with its white space removed (stable across processes, unlike hash())."""
    digest = hashlib.blake2b(_SPACE.sub("", text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def countable(text: str, min_chars: int) -> bool:
    from pipeline.ingest.boilerplate import is_heading

    return weighted_len(text) >= min_chars and not is_heading(text.strip())


def site_key(path: Optional[str], url: Optional[str], page_site: Optional[str]) -> str:
    """The site a page belongs to: its host when known, else the folder of its file (or container file)."""
    from pipeline.ingest.metadata import site_of

    host = page_site or site_of(url)
    if host:
        return host
    return str(Path(path).parent) if path else ""


class SiteRepeats:
    """Per site, on how many distinct pages each countable line occurs. Identical pages count once.

    The counts are kept as NumPy arrays (sorted keys, counts) per site, with the pages added since the last merge
    waiting as small arrays: 16 bytes per distinct line instead of a Counter's ~100, which is what a run of a
    million pages holds in its main process."""

    MERGE_EVERY = 512  # pages waiting before they are merged into the counts

    def __init__(self, min_pages: int):
        self.min_pages = min_pages
        self._counted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # site → (sorted keys, pages per key)
        self._waiting: dict[str, list[np.ndarray]] = defaultdict(list)  # site → keys of pages not merged yet
        self._pages: dict[str, set] = defaultdict(set)
        self._repeated: dict[str, frozenset] = {}  # filled once counting is over

    def add(self, site: str, keys: Iterable[int], page_hash: str) -> None:
        self._repeated.pop(site, None)
        if page_hash in self._pages[site]:
            return
        self._pages[site].add(page_hash)
        waiting = self._waiting[site]
        waiting.append(np.fromiter(set(keys), dtype=np.uint64))
        if len(waiting) >= self.MERGE_EVERY:
            self._merge(site)

    def _merge(self, site: str) -> tuple[np.ndarray, np.ndarray]:
        waiting = self._waiting.pop(site, [])
        keys, counts = self._counted.get(site, (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
        if waiting:
            new_keys, new_counts = np.unique(np.concatenate(waiting), return_counts=True)  # a page's keys are distinct
            keys, inverse = np.unique(np.concatenate([keys, new_keys]), return_inverse=True)
            counts = np.bincount(inverse, weights=np.concatenate([counts, new_counts]), minlength=len(keys))
            counts = counts.astype(np.int64)
            self._counted[site] = keys, counts
        return keys, counts

    def pages(self, site: str) -> int:
        return len(self._pages.get(site, ()))

    def repeated(self, site: str) -> frozenset:
        """Keys of the lines that are boilerplate on this site (empty when the batch holds too few of its pages)."""
        if self.min_pages <= 0 or self.pages(site) < self.min_pages:
            return frozenset()
        if site not in self._repeated:
            keys, counts = self._merge(site)
            self._repeated[site] = frozenset(keys[counts >= self.min_pages].tolist())
        return self._repeated[site]


def countable_keys(blocks, min_chars: int) -> frozenset:
    """The keys of a page's lines that count (long enough, no section heading): what the pre-pass adds up."""
    return frozenset(block_key(b.text) for b in blocks if countable(b.text, min_chars))


def page_digest(blocks) -> str:
    """A hash of a page's blocks: identical pages of a site count once."""
    digest = hashlib.blake2b(digest_size=16)
    for b in blocks:
        digest.update(b.text.encode("utf-8"))
    return digest.hexdigest()
