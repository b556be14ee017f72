"""Sentence splitting per ANNOTATION.md: after 。！？； and their ASCII forms, closing quotes kept with their
sentence. Offsets are kept so sentences can be mapped back into their passage."""
from __future__ import annotations

import re

_END = re.compile(r"[。！？；!?;]+[”’」』\"')）]*")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; the pieces cover the text exactly, whitespace-only pieces dropped."""
    spans, pos = [], 0
    for m in _END.finditer(text):
        spans.append((pos, m.end()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]
