"""Repairs on the kept blocks: re-join paragraphs broken mid-sentence, and restore SEO-spun (伪原创) titles."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from pipeline.config import RepairConfig, cache_dir, read_lexicon_lines
from pipeline.ingest.blocks import Block, ends_sentence

OPENERS = "(（《“‘「『【["
CLOSERS_FOR = {"(": ")）", "（": ")）", "《": "》", "“": "”", "‘": "’", "「": "」", "『": "』", "【": "】", "[": "]"}
# Words that cannot end a sentence: prepositions, conjunctions and structural particles. A line ending in one
# stopped mid-sentence. Kept short on purpose: nouns and verbs end clauses all the time.
DANGLING = set("据的和与及或在对为由从将把被向以于跟同并而但且即如若因")
CLAUSE_SPLIT = re.compile(r"[，,、：:]")


_BRACKET_CHARS = re.compile("[" + re.escape(OPENERS + "".join(CLOSERS_FOR.values())) + "]")


def _unclosed(text: str) -> bool:
    depth: Counter = Counter()
    for ch in _BRACKET_CHARS.findall(text):  # other characters change no depth
        if ch in OPENERS:
            depth[ch] += 1
        else:
            for opener, closers in CLOSERS_FOR.items():
                if ch in closers and depth[opener] > 0:
                    depth[opener] -= 1
                    break
    return any(v > 0 for v in depth.values())


def ends_mid_sentence(text: str, *, fragment_chars: int, check_predicate: bool = False,
                      has_predicate: Optional[Callable[[str], bool]] = None) -> bool:
    """True when a line clearly stops inside a sentence: unbalanced bracket, dangling function word,
    a symbol like & or -, a trailing clause too short to stand alone, or (with check_predicate) a trailing
    clause with no verb or adjective outside quotes: a subject still waiting for its predicate
    ("…“建而不用”的现象" / "在一些地区较为突出"). `has_predicate` answers that (a PredicateCheck)."""
    t = text.rstrip()
    if not t or ends_sentence(t):
        return False
    last = t[-1]
    if last in "&-—/·:：,，、" or last in DANGLING:
        return True
    if _unclosed(t):
        return True
    tail = CLAUSE_SPLIT.split(t)[-1]
    if len(tail) <= fragment_chars and len(t) > len(tail):
        return True
    return check_predicate and has_predicate is not None and len(t) > 30 and not has_predicate(tail)


_QUOTED = re.compile(r"“[^”]*”|《[^》]*》|\([^)]*\)|（[^）]*）")


class PredicateCheck:
    """Does a clause carry a verb or adjective (POS tags), quoted material aside? The POS tagger loads on the
    first question (most pages never ask one) and is kept by the ingest stage that owns this check."""

    def __init__(self, segmenter: str, jieba_cache: str):
        self.segmenter, self.jieba_cache = segmenter, jieba_cache
        self._tag: Optional[Callable] = None

    def __call__(self, clause: str) -> bool:
        clause = _QUOTED.sub("", clause)
        if not clause.strip():
            return False
        if self._tag is None:
            self._tag = pos_tagger(self.segmenter, self.jieba_cache)
        return any(flag[:1] in ("v", "a", "d", "l", "i") for _, flag in self._tag(clause))


def pos_tagger(segmenter: str, jieba_cache: str):
    """A POS tagger, loaded only when a repair needs it: rjieba's (jieba's dictionary and tags, 0.1 s to load)
    when the segmenter is rjieba and it is installed, else a private jieba.posseg tagger (2-4 s)."""
    if segmenter == "rjieba":
        try:
            import rjieba

            return rjieba.tag
        except ImportError:
            pass
    import logging

    import jieba
    import jieba.posseg

    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.tmp_dir = str(cache_dir(jieba_cache))
    tok.cache_file = "jieba.policyminer.cache"
    return jieba.posseg.POSTokenizer(tok).lcut


def modal_wrap_length(blocks: Sequence[Block]) -> Optional[int]:
    lengths = Counter(len(b.text) for b in blocks if len(b.text) >= 20)
    if not lengths:
        return None
    length, count = lengths.most_common(1)[0]
    near = sum(c for l, c in lengths.items() if abs(l - length) <= 1)
    return length if near >= 3 else None


@dataclass
class JoinedParagraph:
    text: str
    lines: list[int]
    blocks: list[Block]


def join_broken(blocks: Sequence[Block], cfg: RepairConfig, has_predicate: Callable[[str], bool]
                ) -> tuple[list[JoinedParagraph], int]:
    """Merge consecutive kept blocks when the first stops mid-sentence. Returns paragraphs and joins made."""
    wrap = modal_wrap_length(blocks)
    hard_wrapped = wrap is not None and sum(abs(len(b.text) - wrap) <= 1 for b in blocks) >= cfg.hard_wrap_share * len(blocks)
    out: list[JoinedParagraph] = []
    joins = 0
    for b in blocks:
        if out:
            prev = out[-1]
            last_text = prev.blocks[-1].text
            broken = ends_mid_sentence(last_text, fragment_chars=cfg.fragment_clause_chars,
                                       check_predicate=b.tag == "line", has_predicate=has_predicate)
            if not broken and hard_wrapped and not ends_sentence(last_text) and abs(len(last_text) - wrap) <= 1:
                broken = True
            if broken and b.tag in ("line", "p", "div", "td", "span", "text") and not _is_heading_like(b.text) \
                    and not (len(prev.blocks) == 1 and _is_heading_like(last_text)):
                prev.text += b.text
                prev.blocks.append(b)
                if b.line is not None:
                    prev.lines.append(b.line)
                joins += 1
                continue
        out.append(JoinedParagraph(b.text, [b.line] if b.line is not None else [], [b]))
    return out, joins


def _is_heading_like(text: str) -> bool:
    from pipeline.ingest.boilerplate import is_heading

    return is_heading(text)


def load_spam_table(path: Path) -> tuple[tuple[str, str], ...]:
    """(spun, original) pairs of the 伪原创 table (configs/lexicons/spam_synonyms.tsv), longest spun form first."""
    pairs = []
    for line in read_lexicon_lines(path):
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip() and parts[1].strip() and parts[0].strip() != parts[1].strip():
            pairs.append((parts[0].strip(), parts[1].strip()))
    # Longest spun form first so that 我邦 wins over 邦.
    return tuple(sorted(set(pairs), key=lambda p: (-len(p[0]), p)))


def restore_spun(title: str, body: str, table: Sequence[tuple[str, str]], min_support: float) -> Optional[str]:
    """Undo 伪原创 synonym swaps in a title when the body confirms the original wording.

    Each swap is confirmed when the restored word together with a neighbouring character of the restored
    title occurs in the body. When enough swaps are confirmed, the title is judged spun and all swaps apply.
    Returns None when nothing is restored. `table` is load_spam_table's; `min_support` repair.restore_min_support."""
    if not title or not table:
        return None
    # Find non-overlapping swaps, left to right, longest first.
    swaps: list[tuple[int, int, str]] = []
    taken = [False] * len(title)
    for spun, original in table:
        if spun not in title:  # most entries: one substring test instead of a regex
            continue
        for m in re.finditer(re.escape(spun), title):
            if not any(taken[m.start():m.end()]):
                swaps.append((m.start(), m.end(), original))
                for k in range(m.start(), m.end()):
                    taken[k] = True
    if not swaps:
        return None
    swaps.sort()
    restored, pieces, pos, spans = "", [], 0, []
    for s, e, original in swaps:
        pieces.append(title[pos:s])
        start = sum(len(p) for p in pieces)
        pieces.append(original)
        spans.append((start, start + len(original)))
        pos = e
    pieces.append(title[pos:])
    restored = "".join(pieces)
    confirmed = 0
    for s, e in spans:
        left = restored[max(s - 1, 0):e]
        right = restored[s:e + 1]
        if (len(left) > e - s and left in body) or (len(right) > e - s and right in body):
            confirmed += 1
    if confirmed >= 2 and confirmed / len(spans) >= min_support:
        return restored
    return None
