"""jieba inside spaCy: a tokenizer that owns its own jieba.Tokenizer (no module-level state), loads the domain
dictionary at construction, keeps numbers-with-units and Latin acronyms whole, and honours forced boundaries
(entity spans found by the character-level rules) so that every rule entity lines up with tokens."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline.config import cache_dir as project_cache_dir

log = logging.getLogger(__name__)

# Kept as one token: decimals, percentages, numbers with a multiplier or unit, Latin words and acronyms
# (with ·, &, - and digits inside: QED·C, H1-2, COVID-19), dates like 2024-04-12.
ATOMIC = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|[0-9０-９]+(?:[.,．][0-9０-９]+)*(?:[%％‰]|(?:万亿|亿|万|千)(?:[元吨]|美元|欧元|英镑|日元|千瓦)?)?"
    r"|[A-Za-z][A-Za-z0-9]*(?:[·&\-.][A-Za-z0-9]+)*")


class Segmenter:
    """Word segmentation with a private jieba.Tokenizer (or rjieba) and the project's domain dictionary."""

    def __init__(self, user_dicts: Sequence[Path] = (), *, backend: str = "jieba", cache_dir: str = "policyminer/jieba"):
        self.backend = backend
        if backend == "rjieba":
            import rjieba

            self._cut = rjieba.cut
            if user_dicts:
                log.info("rjieba backend ignores user dictionaries; entity rules still force boundaries")
        else:
            import jieba

            tok = jieba.Tokenizer()
            tok.tmp_dir = str(project_cache_dir(cache_dir))
            tok.cache_file = "jieba.policyminer.cache"
            quiet = logging.getLogger("jieba")
            quiet.setLevel(logging.WARNING)
            tok.initialize()
            for d in user_dicts:
                if Path(d).exists():
                    tok.load_userdict(str(d))
            self._tok = tok
            self._cut = lambda text: tok.lcut(text, HMM=True)

    def cut(self, text: str, boundaries: Iterable[int] = ()) -> list[str]:
        """Words of text. Positions in `boundaries` are always word boundaries."""
        cuts = sorted({b for b in boundaries if 0 < b < len(text)})
        words: list[str] = []
        pos = 0
        for cut in cuts + [len(text)]:
            if cut > pos:
                words.extend(self._cut_piece(text[pos:cut]))
            pos = cut
        return words

    def _cut_piece(self, piece: str) -> list[str]:
        out: list[str] = []
        pos = 0
        for m in ATOMIC.finditer(piece):
            if m.start() > pos:
                out.extend(w for w in self._cut(piece[pos:m.start()]) if w)
            out.append(m.group())
            pos = m.end()
        if pos < len(piece):
            out.extend(w for w in self._cut(piece[pos:]) if w)
        return out


class JiebaSpacyTokenizer:
    """A spaCy tokenizer over Segmenter. Whitespace becomes its own tokens (spaCy's convention for zh)."""

    def __init__(self, vocab: Vocab, segmenter: Segmenter, boundary_finder=None):
        self.vocab = vocab
        self.segmenter = segmenter
        self.boundary_finder = boundary_finder  # text -> list of (start, end, ...) spans to keep whole

    def __call__(self, text: str) -> Doc:
        spans = self.boundary_finder(text) if self.boundary_finder else []
        bounds = {s for sp in spans for s in (sp[0], sp[1])}
        words = self.segmenter.cut(text, bounds)
        spaces = [False] * len(words)
        doc = Doc(self.vocab, words=words, spaces=spaces)
        doc.user_data["rule_spans"] = spans
        return doc

    # spaCy serialisation hooks: the tokenizer is rebuilt from configs, nothing to save.
    def to_bytes(self, **kwargs) -> bytes:
        return b""

    def from_bytes(self, data: bytes, **kwargs):
        return self

    def to_disk(self, path, **kwargs) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def from_disk(self, path, **kwargs):
        return self
