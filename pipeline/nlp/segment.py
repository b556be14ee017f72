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

from pipeline.config import Config, cache_dir as project_cache_dir

log = logging.getLogger(__name__)

# Kept as one token: decimals, percentages, numbers with a multiplier or unit, Latin words and acronyms
# (with ·, &, - and digits inside: QED·C, H1-2, COVID-19), dates like 2024-04-12.
ATOMIC = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|[0-9０-９]+(?:[.,．][0-9０-９]+)*(?:[%％‰]|(?:万亿|亿|万|千)(?:[元吨]|美元|欧元|英镑|日元|千瓦)?)?"
    r"|[A-Za-z][A-Za-z0-9]*(?:[·&\-.][A-Za-z0-9]+)*")


class Segmenter:
    """Word segmentation with the project's domain dictionary: a private jieba.Tokenizer, or rjieba (jieba-rs,
    about 20x faster, same words: see _rjieba_tokenizer)."""

    def __init__(self, user_dicts: Sequence[Path] = (), *, backend: str = "jieba", cache_dir: str = "policyminer/jieba"):
        if backend == "rjieba":
            try:
                import rjieba  # noqa: F401
            except ImportError:
                log.warning("[nlp] segmenter = \"rjieba\" but rjieba is not installed; using jieba (same words, slower)")
                backend = "jieba"
        self.backend = backend
        if backend == "rjieba":
            tok = _rjieba_tokenizer(user_dicts)
            self._tok = tok
            self._cut = lambda text: tok.cut(text, True)
        elif backend != "jieba":
            raise ValueError(f"[nlp] segmenter: unknown backend {backend!r} (jieba or rjieba)")
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

    @classmethod
    def from_config(cls, config: Config) -> "Segmenter":
        """The segmenter [nlp] names (backend, domain dictionary, cache folder)."""
        cfg = config.nlp
        return cls([config.path(cfg.domain_dict)], backend=cfg.segmenter, cache_dir=cfg.cache_dir)

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
                out.extend(filter(None, self._cut(piece[pos:m.start()])))
            out.append(m.group())
            pos = m.end()
        if pos < len(piece):
            out.extend(filter(None, self._cut(piece[pos:])))
        return out


_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$", re.U)  # jieba's own user-dictionary line format
_TOTAL_PAD = "\ue000\ue001"  # private-use characters: never inside the Han runs jieba segments


def _read_userdict(path: Path) -> list[tuple[str, Optional[int], Optional[str]]]:
    """Entries of a jieba user dictionary, read exactly as jieba.Tokenizer.load_userdict reads them."""
    out = []
    for line in Path(path).read_bytes().decode("utf-8").splitlines():
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        word, freq, tag = _USERDICT_LINE.match(line).groups()
        out.append((word, int(freq) if freq is not None else None, tag.strip() if tag is not None else None))
    return out


def _jieba_default_freqs(words: set[str]) -> dict[str, int]:
    """Frequencies of `words` in jieba's default dictionary (the one jieba-rs ships too)."""
    import jieba

    path = Path(jieba.__file__).with_name("dict.txt")
    found: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.partition(" ")
            if word in words:
                found[word] = int(rest.split(" ", 1)[0])
    return found


def _rjieba_tokenizer(user_dicts: Sequence[Path]):
    """An rjieba (jieba-rs) tokenizer with the user dictionaries, segmenting as jieba.Tokenizer does.

    jieba's add_word adds a word's frequency to the dictionary total even when the word was already there;
    jieba-rs replaces it (total += new - old). The total weighs every path through the sentence (one word
    against two), so the replaced frequencies are added back under a word that cannot occur in text."""
    import rjieba

    tok = rjieba.Jieba()
    entries = [e for d in user_dicts if Path(d).exists() for e in _read_userdict(Path(d))]
    current = _jieba_default_freqs({w for w, _, _ in entries if tok.has_word(w)}) if entries else {}
    replaced = 0
    for word, freq, tag in entries:
        if tok.has_word(word):
            replaced += current.get(word, 0)
        current[word] = tok.add_word(word, freq, tag)
    if replaced:
        tok.add_word(_TOTAL_PAD, replaced, None)
    return tok


class JiebaSpacyTokenizer:
    """A spaCy tokenizer over Segmenter. Whitespace becomes its own tokens (spaCy's convention for zh)."""

    def __init__(self, vocab: Vocab, segmenter: Segmenter, rule_words=None):
        self.vocab = vocab
        self.segmenter = segmenter
        self.rule_words = rule_words  # text -> (rule mentions to keep whole, words), the NLP stage's own cut

    def __call__(self, text: str) -> Doc:
        spans, words = self.rule_words(text) if self.rule_words else ([], self.segmenter.cut(text))
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
