"""The title (and subtitle) of a plain-text document: the title line before the body, never a byline, an
affiliation, a date or a source line. Patterns and lengths are data: `[text_title]` in configs/boilerplate.toml.

A line with 《》, a 关于…的通知-style title or a document-type ending ("…政府工作报告") is a title for sure; else the
lines before the body are scored: a short line first in the file, one repeated later (flattened pages show the
title twice) or one right above a metadata or subtitle line."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from pipeline.config import read_toml
from pipeline.ingest.blocks import Block, cjk_count, ends_sentence, weighted_len
from pipeline.ingest.boilerplate import Rules, Verdict, is_heading, is_signer
from pipeline.ingest.metadata import is_date_only, metadata_from_line

# A line that stops on a clause mark, or holds a full stop, is part of a sentence, not a title.
_CLAUSE_END = tuple("。！？；，、：:;,…")
_SENTENCE_INSIDE = re.compile(r"[。；;]")
_DASHES = "—－-– \u3000"


@dataclass(frozen=True)
class TitleRules:
    min_chars: float
    max_chars: float
    strong_max_chars: float
    strong: tuple[re.Pattern, ...]
    subtitle: re.Pattern
    subtitle_max_chars: float
    signer_max_chars: float
    plain_head_lines: int
    not_title: tuple[re.Pattern, ...]


def load_title_rules(path: Path) -> TitleRules:
    """The [text_title] rules of a patterns file (configs/boilerplate.toml). The ingest stage loads them once."""
    cfg = read_toml(path)["text_title"]
    return TitleRules(float(cfg["min_chars"]), float(cfg["max_chars"]), float(cfg["strong_max_chars"]),
                      tuple(re.compile(p) for p in cfg["strong"]), re.compile(cfg["subtitle"]),
                      float(cfg["subtitle_max_chars"]), float(cfg["signer_max_chars"]), int(cfg["plain_head_lines"]),
                      tuple(re.compile(p, re.I) for p in cfg["not_title"]))


def is_strong_title(text: str, tr: TitleRules) -> bool:
    return any(rx.search(text) for rx in tr.strong)


def is_subtitle(text: str, tr: TitleRules) -> bool:
    return bool(tr.subtitle.search(text)) and weighted_len(text) <= tr.subtitle_max_chars \
        and not ends_sentence(text)


def _is_wrapped(text: str, neighbours: Sequence[str]) -> bool:
    """A piece of a paragraph wrapped at a fixed width (text pasted from a PDF): a neighbouring line as wide (give
    or take three characters), and a clause mark in the line itself or in a neighbour that runs on."""
    return any(n and abs(_width(n) - _width(text)) <= 6 and ("，" in text or ("，" in n and not ends_sentence(n)))
               for n in neighbours)


def _width(text: str) -> int:
    """Display columns: a CJK character takes two."""
    return len(text) + cjk_count(text)


def _is_prose(text: str) -> bool:
    """A sentence of some length: what a document's body, not its head, is made of."""
    return ends_sentence(text) and weighted_len(text) >= 20 and "，" in text


_PAIRS = ("《》", "（）", "()")


def _balanced(text: str) -> bool:
    """Book-title marks and brackets pair up, opening first: a line cut out of a wrapped paragraph often starts
    inside a 《…》. (Quotes are not counted: extraction often loses the opening one of a quoted title.)"""
    for opening, closing in _PAIRS:
        depth = 0
        for ch in text:
            depth += (ch == opening) - (ch == closing)
            if depth < 0:
                return False
        if depth:
            return False
    return True


_DIGIT_HEADING = re.compile(r"^([1-9])\s*[\u4e00-\u9fff]")


def _numbered_section(i: int, blocks: Sequence[Block]) -> bool:
    """A section heading numbered without a mark ("1我国农业…"): a later short line starts with the next number."""
    m = _DIGIT_HEADING.match(blocks[i].text)
    if not m:
        return False
    sibling = re.compile(rf"^{int(m.group(1)) + 1}\s*[“《（(]?[\u4e00-\u9fff]")
    return any(sibling.match(b.text) and len(b.text) <= 40 and not ends_sentence(b.text) for b in blocks[i + 1:])


def title_like(text: str, neighbours: Sequence[str], tr: TitleRules, rules: Rules) -> bool:
    """A line that may be a title: not a sentence, byline, affiliation, date, source, heading or subtitle."""
    t = text.strip()
    length = weighted_len(t)
    limit = tr.strong_max_chars if is_strong_title(t, tr) else tr.max_chars
    if not tr.min_chars <= length <= limit or t.endswith(_CLAUSE_END) or _SENTENCE_INSIDE.search(t):
        return False
    if rules.match(t) in ("contact", "copyright", "metadata", "widget", "disclaimer", "citation"):
        return False
    if metadata_from_line(t) or is_date_only(t) or is_heading(t) or is_subtitle(t, tr):
        return False
    if (is_signer(t) and length <= tr.signer_max_chars) or _is_wrapped(t, neighbours) or not _balanced(t):
        return False
    return not any(rx.search(t) for rx in tr.not_title)


def pick_text_title(blocks: Sequence[Block], verdicts: Sequence[Verdict], rules: Rules, tr: TitleRules,
                    key: Callable[[str], str]) -> Optional[int]:
    """The index of the title line among the lines up to the first body line, or None."""
    first_kept = next((i for i, v in enumerate(verdicts) if v.keep), len(blocks))
    # The title comes before the body: before the first kept line, and before the first line of prose.
    first_prose = next((i for i, b in enumerate(blocks) if _is_prose(b.text)), len(blocks))
    keys = [key(b.text) for b in blocks]
    best: Optional[tuple[float, int]] = None
    for i in range(min(first_kept + 1, len(blocks))):
        prev = blocks[i - 1].text if i > 0 else ""
        nxt = blocks[i + 1].text if i + 1 < len(blocks) else ""
        if not title_like(blocks[i].text, (prev, nxt), tr, rules) or _numbered_section(i, blocks):
            continue
        if i > first_prose and not is_strong_title(blocks[i].text, tr):
            continue  # under a paragraph of prose only a title of the strong kind (a cover letter's document)
        score = _title_score(blocks[i].text, nxt, tr, rules, plain=first_kept <= tr.plain_head_lines)
        if keys.count(keys[i]) > 1:
            score += 5  # flattened pages show their title twice
        if first_kept <= tr.plain_head_lines and (i == 0 or i + 1 == first_kept):
            score += 2  # a plain document's first line, or the line right above its body
        if i == first_kept and not is_strong_title(blocks[i].text, tr):
            score -= 6  # the first body line is rarely the title
        if best is None or score > best[0]:
            best = (score, i)
    return best[1] if best else None


def _title_score(text: str, nxt: str, tr: TitleRules, rules: Rules, plain: bool) -> float:
    """Length (up to a point) and, in a plain document's head, a title of the strong kind; a line above metadata
    or a subtitle."""
    score = min(weighted_len(text), 40) / 10
    if plain and is_strong_title(text, tr):
        score += 6  # on a flattened page, sidebar headlines have 《》 too
    if metadata_from_line(nxt) or rules.match(nxt) == "metadata" or is_subtitle(nxt, tr):
        score += 4
    return score


def subtitle_after(blocks: Sequence[Block], title_idx: int, tr: TitleRules) -> Optional[int]:
    """The index of a subtitle line right under the title, or None."""
    j = title_idx + 1
    return j if j < len(blocks) and is_subtitle(blocks[j].text.strip(), tr) else None


def subtitle_text(text: str) -> str:
    """A subtitle without its leading dashes: "——在某会议上的报告" → "在某会议上的报告"."""
    return text.strip().lstrip(_DASHES).strip()
