"""Flattened text (what a scraper's get_text() leaves) into line blocks.

Lines longer than limits.max_line_chars are cut into pieces before analysis, at the last sentence end inside
the limit (else the last clause mark, else whitespace, else a hard cut). The pieces after the first carry the
tag "line_cut": they are not rejoined by the paragraph repair, so the limit holds after ingest too.
"""
from __future__ import annotations

import re

from pipeline.ingest.blocks import Block

# Where a long line may be cut, best first: sentence ends (after closing quotes), clause marks, whitespace.
_CUT_PREFERENCE = (re.compile(r"[。！？!?；;…]+[”’」』）)】\]》\"']*"), re.compile(r"[，,、：:]"), re.compile(r"\s+"))
CUT_TAG = "line_cut"
# The line boundaries of str.splitlines().
_LINE_END = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def split_long(text: str, max_chars: int) -> list[str]:
    """`text` as pieces of at most `max_chars` characters, cut at sentence ends where there are any.
    The pieces concatenate back to `text`."""
    if max_chars <= 0 or len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    pos = 0
    while len(text) - pos > max_chars:
        window = text[pos:pos + max_chars]
        cut = 0
        for rx in _CUT_PREFERENCE:
            ends = [m.end() for m in rx.finditer(window, max_chars // 4)]
            ends = [e for e in ends if e <= max_chars]
            if ends:
                cut = ends[-1]
                break
        if cut <= 0:
            cut = max_chars
        pieces.append(text[pos:pos + cut])
        pos += cut
    pieces.append(text[pos:])
    return pieces


def text_to_blocks(text: str, *, max_blocks: int, max_line_chars: int) -> list[Block]:
    """Non-empty lines as blocks (1-based line numbers), at most `max_blocks` of them."""
    blocks: list[Block] = []
    if max_blocks <= 0:
        return blocks
    # Lines are found one by one (as str.splitlines() would cut them) rather than all at once: a 50 MB file
    # should not become a million strings when only max_blocks of them are looked at.
    start, no, n = 0, 0, len(text)
    while start < n and len(blocks) < max_blocks:
        no += 1
        m = _LINE_END.search(text, start)
        end, nxt = (m.start(), m.end()) if m else (n, n)
        raw = text[start:end]
        start = nxt
        stripped = raw.strip()
        if not stripped:
            continue
        for k, piece in enumerate(split_long(stripped, max_line_chars)):
            piece = piece.strip()
            if not piece:
                continue
            blocks.append(Block(text=piece, line=no, tag="line" if k == 0 else CUT_TAG,
                                raw=raw if len(raw) <= max_line_chars else piece))
            if len(blocks) >= max_blocks:
                break
    return blocks
