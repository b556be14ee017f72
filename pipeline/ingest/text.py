"""Flattened text (what a scraper's get_text() leaves) into line blocks."""
from __future__ import annotations

from pipeline.ingest.blocks import Block


def text_to_blocks(text: str, *, max_blocks: int, max_line_chars: int) -> list[Block]:
    blocks = []
    for no, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            continue
        if len(stripped) > max_line_chars:
            stripped = stripped[:max_line_chars]
        blocks.append(Block(text=stripped, line=no, tag="line", raw=raw))
        if len(blocks) >= max_blocks:
            break
    return blocks
