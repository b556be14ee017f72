"""The unit boilerplate removal works on: a line of flattened text or a block element of HTML."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

SENTENCE_END = "。！？!?；;…"
CLOSERS = "”’」』）)】]》\"'"
_NOT_CJK = re.compile(r"[^\u3400-\u9fff\uf900-\ufaff]+")  # counting by removing the runs between: 4x findall
_PUNCT = re.compile(r"[，。！？；：、“”‘’（）《》,.!?;:]")


@dataclass
class Block:
    text: str  # stripped text
    line: Optional[int] = None  # 1-based line number in flattened text
    tag: str = "p"
    link_chars: int = 0
    depth: int = 0
    in_main: Optional[bool] = None  # HTML: inside the container chosen as the article
    heading_level: int = 0  # HTML h1..h6
    chrome: Optional[str] = None  # HTML: label of the nearest chrome ancestor (navigation, footer, widget …)
    raw: str = ""  # the line as it was, indentation included
    in_list: bool = False  # HTML: inside a list item (li, dd, dt)

    @property
    def cjk(self) -> int:
        return cjk_count(self.text)

    @property
    def punct(self) -> int:
        return punct_count(self.text)

    @property
    def link_density(self) -> float:
        return self.link_chars / max(len(self.text), 1)

    @property
    def ends_sentence(self) -> bool:
        return ends_sentence(self.text)


def ends_sentence(text: str) -> bool:
    stripped = text.rstrip().rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in SENTENCE_END


# Cached: the block classifier asks for the same lines' measures several times (scores, anchors, the run with
# and without site repeats). A page's worth of lines: the cache holds the texts alive.
@lru_cache(maxsize=4096)
def cjk_count(text: str) -> int:
    return len(_NOT_CJK.sub("", text))


@lru_cache(maxsize=4096)
def punct_count(text: str) -> int:
    return len(_PUNCT.findall(text))


@lru_cache(maxsize=4096)
def weighted_len(text: str) -> float:
    """Length where a Latin word counts like about two CJK characters' worth of content."""
    cjk = cjk_count(text)
    other = len(re.sub(r"\s", "", text)) - cjk
    return cjk + other / 2
