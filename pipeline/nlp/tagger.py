"""A trained word tagger for names (INSTITUTION, PROGRAMME, PERSON, GPE), combined with the rules.

Why a word tagger: names in real policy prose are built from common words after a place or a field (省财政厅,
市科技创新局, 国家组织药品集中带量采购) that no gazetteer lists, while a name must never start or end inside a
word (集成电路 holds no 成电). The tagger labels jieba's words (the same words the rules force their edges into)
with B/I/O tags from a multinomial logistic regression over a few feature templates: the word, its neighbours,
its first and last characters, its shape, the rules' tag for it and its neighbours', and lexicon membership. At
run time a template is a table lookup and the scores are a sum of table rows (NumPy), so the tagger costs a
fraction of the segmentation. FIGURE and DATE stay with the rules, which also normalise them.

Training (`policyminer train ner`) reads the project's stand-off entity labels over the real pool plus the
MSRA and CLUENER train splits; `policyminer evaluate entities --cv` measures rules, tagger and merged output by
grouped cross-validation over the pool's documents.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from bisect import bisect_left
from itertools import accumulate, repeat
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

TAG_TYPES = ("INSTITUTION", "PROGRAMME", "PERSON", "GPE")
TAGS = ("O",) + tuple(f"{p}-{t}" for t in TAG_TYPES for p in "BI")
TEMPLATES = ("w", "w-1", "w+1", "p1", "s1", "s2", "s1-1", "p1+1", "shape", "r", "r-1", "r+1", "lex", "lex-1", "lex+1")
FORMAT_VERSION = "tagger-1"


def _shape(word: str) -> str:
    kinds = []
    for ch in word[:4]:
        kinds.append("d" if ch.isdigit() else "h" if "\u4e00" <= ch <= "\u9fff" else "a" if ch.isascii() and
                     ch.isalpha() else "p")
    return "".join(kinds) + str(min(len(word), 6))


class WordFacts:
    """Lexicon facts about a word, from the rules' lexicons (configs/lexicons): which suffix lists end it, whether it
    is a known place, a title, a generic word, or looks like a Chinese name (a surname and one or two characters)."""

    def __init__(self, lex):
        self.inst = tuple(lex.inst_suffixes)
        self.prog = tuple(lex.prog_suffixes)
        self.places, self.generic, self.titles = lex.places, lex.generic, set(lex.person_titles)
        self.surnames, self.double = lex.surnames, tuple(lex.double_surnames)
        self.memo: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        got = self.memo.get(word)
        if got is None:
            parts = []
            if word in self.places:
                parts.append("place")
            if word in self.generic:
                parts.append("generic")
            if word in self.titles:
                parts.append("title")
            if word.endswith(self.inst):
                parts.append("inst_suffix" if len(word) > 1 else "inst_char")
            if word.endswith(self.prog):
                parts.append("prog_suffix")
            if 2 <= len(word) <= 3 and (word[0] in self.surnames or word.startswith(self.double)) \
                    and all("\u4e00" <= ch <= "\u9fff" for ch in word):
                parts.append("name_like")
            got = self.memo[word] = "|".join(parts) or "-"
        return got


def rule_tags(words: Sequence[str], mentions) -> list[str]:
    """The rules' tag of each word: B-/I- and the mention's type where a rule mention covers it, else O. Mentions
    do not overlap: each one tags the words inside it, found by bisection over the words' starts."""
    return _tagged(words, mentions, "O", str)


def _tagged(words: Sequence[str], mentions, outside, name):
    """rule_tags with `outside` for untagged words and `name(tag)` for the tagged ones (a tag string or its id)."""
    tags = [outside] * len(words)
    if not mentions or not words:
        return tags
    ends = list(accumulate(map(len, words)))
    starts = [e - len(w) for w, e in zip(words, ends)]
    for m in mentions:
        i = bisect_left(starts, m.start)
        while i < len(words) and ends[i] <= m.end:
            tags[i] = name(("B-" if starts[i] == m.start else "I-") + m.type)
            i += 1
    return tags



def features(words: Sequence[str], rtags: Sequence[str], facts: WordFacts) -> dict[str, list[str]]:
    """Each template's value for each word (lists aligned with words)."""
    n = len(words)
    pad = ["<s>"]
    w = list(words)
    lex = [facts(x) for x in w]
    first = [x[:1] for x in w]
    last = [x[-1:] for x in w]
    return {"w": w, "w-1": pad + w[:-1], "w+1": w[1:] + pad, "p1": first, "s1": last,
            "s2": [x[-2:] for x in w], "s1-1": pad + last[:-1], "p1+1": first[1:] + pad,
            "shape": [_shape(x) for x in w], "r": list(rtags), "r-1": ["<s>"] + list(rtags[:-1]),
            "r+1": list(rtags[1:]) + ["<s>"], "lex": lex, "lex-1": pad + lex[:-1], "lex+1": lex[1:] + pad} \
        if n else {t: [] for t in TEMPLATES}


def spans_from_tags(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Word spans (first, end, type) of a BIO sequence; an I- tag that does not continue its type starts one."""
    out, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if tag == "O" or tag.startswith("B-") or (tag.startswith("I-") and tag[2:] != kind):
            if start is not None:
                out.append((start, i, kind))
            start, kind = (i, tag[2:]) if tag != "O" else (None, None)
    return out


@dataclass
class TaggerModel:
    """The fitted tables: per template a vocabulary (value → row) and one weight matrix over all rows."""
    vocab: dict[str, dict[str, int]]
    weights: np.ndarray  # (rows, len(TAGS)); row 0 is the zero row for unseen values
    intercept: np.ndarray

    def scores(self, feats: dict[str, list[str]]) -> np.ndarray:
        """The reference scoring from template values (training and tests; Tagger scores through PartialScores)."""
        n = len(feats["w"])
        total = np.tile(self.intercept, (n, 1))
        for t in TEMPLATES:
            table = self.vocab[t]
            total += self.weights[[table.get(v, 0) for v in feats[t]]]
        return total

    def tag(self, feats: dict[str, list[str]], o_bias: float = 0.0) -> list[str]:
        """Best tag per word; o_bias added to O's score trades recall for precision (chosen in CV)."""
        if not feats["w"]:
            return []
        scores = self.scores(feats)
        scores[:, 0] += o_bias
        return [TAGS[i] for i in scores.argmax(axis=1)]

    def save(self, folder: Path) -> dict[str, str]:
        from pipeline.modelio import sha256_of

        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "tagger.npz", weights=self.weights.astype(np.float32), intercept=self.intercept)
        (folder / "tagger_vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        return {name: sha256_of(folder / name) for name in ("tagger.npz", "tagger_vocab.json")}

    @classmethod
    def load(cls, folder: Path, digests: Optional[dict] = None) -> "TaggerModel":
        from pipeline.modelio import verified_path

        digests = digests or {}
        arrays = np.load(verified_path(folder / "tagger.npz", digests.get("tagger.npz")))
        vocab = json.loads(verified_path(folder / "tagger_vocab.json", digests.get("tagger_vocab.json"))
                           .read_text(encoding="utf-8"))
        return cls(vocab, arrays["weights"].astype(np.float64), arrays["intercept"].astype(np.float64))


def fit(rows: Iterable[tuple[dict[str, list[str]], list[str]]], *, C: float, min_count: int,
        max_iter: int, seed: int, weights: Optional[Sequence[float]] = None) -> TaggerModel:
    """Multinomial logistic regression over one-hot template values; its coefficients become the tables."""
    from collections import Counter

    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    rows = list(rows)
    counts = {t: Counter(v for f, _ in rows for v in f[t]) for t in TEMPLATES}
    vocab: dict[str, dict[str, int]] = {}
    next_row = 1
    for t in TEMPLATES:
        vocab[t] = {}
        for v, c in sorted(counts[t].items()):
            if c >= min_count:
                vocab[t][v] = next_row
                next_row += 1
    indices, y, w = [], [], []
    for k, (f, tags) in enumerate(rows):
        for i, tag in enumerate(tags):
            if tag is None:  # optional gold mention: no lesson either way
                continue
            indices.append([vocab[t].get(f[t][i], 0) for t in TEMPLATES])
            y.append(TAGS.index(tag))
            w.append(1.0 if weights is None else weights[k])
    ind = np.asarray(indices, dtype=np.int64)
    X = csr_matrix((np.ones(ind.size), ind.ravel(), np.arange(0, ind.size + 1, len(TEMPLATES))),
                   shape=(len(ind), next_row))
    X.data[X.indices == 0] = 0.0  # row 0 is "unseen": no weight learned for it
    X.eliminate_zeros()
    model = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    model.fit(X, np.asarray(y), sample_weight=np.asarray(w))
    weights = np.zeros((next_row, len(TAGS)))
    intercept = np.full(len(TAGS), -1e3)  # a tag never seen in training is never predicted
    for k, cls in enumerate(model.classes_):
        weights[:, cls] = model.coef_[k]
        intercept[cls] = model.intercept_[k]
    weights[0] = 0.0
    return TaggerModel(vocab, weights, intercept)


def gold_tags(words: Sequence[str], entities: Sequence[dict]) -> list[Optional[str]]:
    """Each word's gold tag: B-/I- of the name span its first character falls in, O elsewhere; None for words in
    an optional span (they teach nothing). FIGURE and DATE spans are O here: the rules own them."""
    ends = np.cumsum([len(w) for w in words]).tolist()
    starts = [e - len(w) for w, e in zip(words, ends)]
    tags: list[Optional[str]] = ["O"] * len(words)
    for ent in entities:
        if ent["type"] not in TAG_TYPES and not ent.get("optional"):
            continue
        inside = [i for i, a in enumerate(starts) if ent["start"] <= a < ent["end"]]
        for k, i in enumerate(inside):
            tags[i] = None if ent.get("optional") else ("B-" if k == 0 else "I-") + ent["type"]
    return tags


class Tagger:
    """Words → name spans, for the NLP stage: rules' mentions and jieba's words in, character spans out."""

    def __init__(self, model: TaggerModel, lex, types: Sequence[str] = TAG_TYPES, min_chars: int = 2,
                 o_bias: float = 0.0):
        self.model, self.facts, self.types, self.min_chars = model, WordFacts(lex), set(types), min_chars
        self.o_bias = o_bias
        self.partial = PartialScores(model, self.facts)

    def spans(self, words: Sequence[str], mentions) -> list[tuple[int, int, str]]:
        return self.spans_many([(words, mentions)])[0]

    def spans_many(self, items: Sequence[tuple[Sequence[str], list]]) -> list[list[tuple[int, int, str]]]:
        """spans() of several texts' (words, mentions), scored together: each word's part of the sum (as current,
        previous and next word) is summed once per distinct word and kept, so a text costs a lookup per word and
        a few NumPy gathers over all the texts' words."""
        items = list(items)
        self.partial.add_words([w for words, _ in items for w in words])
        index, word, tag_id = self.partial.index.get, self.partial.word, self.partial.tag_id
        cur, prev, nxt, tags, tags_prev, tags_next = [], [], [], [], [], []
        edge, outside = tag_id("<s>"), tag_id("O")
        for words, mentions in items:
            if not words:
                continue
            ks = [index(w) or word(w) for w in words]  # row 0 is the text's edge, never a word
            cur += ks
            prev += [0] + ks[:-1]
            nxt += ks[1:] + [0]
            ts = _tagged(words, mentions, outside, tag_id)
            tags += ts
            tags_prev += [edge] + ts[:-1]
            tags_next += ts[1:] + [edge]
        if not cur:
            return [[] for _ in items]
        scores = self.partial.scores(cur, prev, nxt, (tags, tags_prev, tags_next))
        scores[:, 0] += self.o_bias
        best = scores.argmax(axis=1).tolist()
        out, at = [], 0
        for words, _ in items:
            out.append(self._spans_of(words, best[at:at + len(words)]))
            at += len(words)
        return out

    def _spans_of(self, words: Sequence[str], best: list[int]) -> list[tuple[int, int, str]]:
        if not any(best):
            return []
        tags = [TAGS[i] for i in best]
        ends = list(accumulate(map(len, words)))
        return [(ends[a] - len(words[a]), ends[b - 1], kind) for a, b, kind in spans_from_tags(tags)
                if kind in self.types and ends[b - 1] - ends[a] + len(words[a]) >= self.min_chars]


class PartialScores:
    """Each distinct word's summed table rows as the current word (w, p1, s1, s2, shape, lex), as the previous
    word (w-1, s1-1, lex-1) and as the next word (w+1, p1+1, lex+1), and each rule-tag triple's (r, r-1, r+1):
    a text's scores are then three gathers and a sum, equal to TaggerModel.scores (tests/test_tagger.py)."""

    OWN = ("w", "p1", "s1", "s2", "shape", "lex")
    MAX_WORDS = 500_000  # distinct words kept before the table starts again (a row is 3 x 13 floats)

    def __init__(self, model: TaggerModel, facts: WordFacts, capacity: int = 4096):
        self.model, self.facts, self.k = model, facts, len(TAGS)
        self.index: dict[str, int] = {}
        self.rows = np.zeros((capacity, 3 * self.k))
        self.rows[0, self.k:2 * self.k] = self._sum((("w-1", "<s>"), ("s1-1", "<s>"), ("lex-1", "<s>")))
        self.rows[0, 2 * self.k:] = self._sum((("w+1", "<s>"), ("p1+1", "<s>"), ("lex+1", "<s>")))
        self.n = 1
        # The rule templates are separable: r, r-1 and r+1 each add their own row. Tag values are the rules'
        # tags (B-/I- of six types, O, the edge): a fixed few, looked up as ids into three small matrices.
        self.tag_ids: dict[str, int] = {}
        self._tag_rows: list[tuple] = []
        self._tag_arrays = (np.zeros((0, self.k)),) * 3

    def _sum(self, pairs) -> np.ndarray:
        v, W = self.model.vocab, self.model.weights
        return sum(W[v[t].get(value, 0)] for t, value in pairs)

    def add_words(self, words: Sequence[str]) -> None:
        """word() for every word not yet known, in one NumPy pass: each template's row ids are looked up per word,
        then the rows are summed for all new words at once (in word()'s order: the same sums)."""
        new = [w for w in dict.fromkeys(words) if w not in self.index]
        if not new:
            return
        if self.n + len(new) >= self.MAX_WORDS:  # bounded: a long batch sees many one-off words
            self.index.clear()
            self.n = 1
            new = list(dict.fromkeys(words))
        while self.n + len(new) > len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
        values = {"w": new, "p1": [w[:1] for w in new], "s1": [w[-1:] for w in new], "s2": [w[-2:] for w in new],
                  "shape": [_shape(w) for w in new], "lex": [self.facts(w) for w in new]}
        v, W, k = self.model.vocab, self.model.weights, self.k

        def rows_of(template: str, of: str) -> np.ndarray:
            table = v[template]
            return W[np.fromiter(map(table.get, values[of], repeat(0)), dtype=np.int64, count=len(new))]

        block = slice(self.n, self.n + len(new))
        self.rows[block, :k] = sum(rows_of(t, t) for t in self.OWN)
        self.rows[block, k:2 * k] = rows_of("w-1", "w") + rows_of("s1-1", "s1") + rows_of("lex-1", "lex")
        self.rows[block, 2 * k:] = rows_of("w+1", "w") + rows_of("p1+1", "p1") + rows_of("lex+1", "lex")
        self.index.update(zip(new, range(self.n, self.n + len(new))))
        self.n += len(new)

    def word(self, w: str) -> int:
        k = self.index.get(w)
        if k is None:
            if self.n >= len(self.rows):
                if self.n >= self.MAX_WORDS:  # bounded: a long batch sees many one-off words
                    self.index.clear()
                    self.n = 1
                else:
                    self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            lex, f = self.facts(w), {"w": w, "p1": w[:1], "s1": w[-1:], "s2": w[-2:], "shape": _shape(w)}
            f["lex"] = lex
            k = self.index[w] = self.n
            self.rows[k, :self.k] = self._sum((t, f[t]) for t in self.OWN)
            self.rows[k, self.k:2 * self.k] = self._sum((("w-1", w), ("s1-1", w[-1:]), ("lex-1", lex)))
            self.rows[k, 2 * self.k:] = self._sum((("w+1", w), ("p1+1", w[:1]), ("lex+1", lex)))
            self.n += 1
        return k

    def tag_id(self, tag: str) -> int:
        k = self.tag_ids.get(tag)
        if k is None:
            k = self.tag_ids[tag] = len(self._tag_rows)
            self._tag_rows.append(tuple(self._sum(((t, tag),)) for t in ("r", "r-1", "r+1")))
        return k

    def scores(self, cur: list[int], prev: list[int], nxt: list[int], tags: tuple) -> np.ndarray:
        """Scores of words given their rows (cur, prev, nxt) and their rule-tag ids (own, previous, next)."""
        if len(self._tag_arrays[0]) != len(self._tag_rows):
            self._tag_arrays = tuple(np.array([row[j] for row in self._tag_rows]) for j in range(3))
        k, rows, (rt, rp, rn) = self.k, self.rows, self._tag_arrays
        return (rows[cur, :k] + rows[prev, k:2 * k] + rows[nxt, 2 * k:] + rt[tags[0]] + rp[tags[1]] + rn[tags[2]]
                + self.model.intercept)


def training_row(rec: dict, rule_words, facts: WordFacts):
    """(features, gold tags) of one text, with the words and rule tags inference sees: `rule_words` is the NLP
    stage's (NlpStage.rule_words: the rules' mentions and the words with their edges)."""
    mentions, words = rule_words(rec["text"])
    return features(words, rule_tags(words, mentions), facts), gold_tags(words, rec["entities"])


def load_tagger(model_dir: Path, lex) -> tuple[Tagger, dict]:
    """The tagger in model_dir (meta.json, tables and vocabulary, checksums verified) and its meta."""
    from pipeline.modelio import check_version, read_meta

    meta = read_meta(model_dir)
    check_version(meta, FORMAT_VERSION, model_dir)
    params = meta.get("params", {})
    tagger = Tagger(TaggerModel.load(model_dir, meta.get("sha256")), lex, params.get("model_types", TAG_TYPES),
                    int(params.get("min_chars", 2)), float(params.get("o_bias", 0.0)))
    return tagger, meta
