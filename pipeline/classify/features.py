"""Feature frame for the classifier: tokens, raw text, heading, heading category, position and cue counts.

All features are computed here from configs/ data, so the fitted model holds only standard scikit-learn
objects (it loads with skops, no custom code)."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from pipeline.config import Config, read_toml
from pipeline.records import LABELS
from pipeline.sentences import split_sentences

if TYPE_CHECKING:
    import pandas as pd

HEADING_NUMBER = re.compile(r"^(第[一二三四五六七八九十百\d]+[章节部分篇条]|[一二三四五六七八九十]+、|（[一二三四五六七八九十\d]+）|\d+[.、．])\s*")


@dataclass(frozen=True)
class Item:
    """One thing to classify: a passage or a sentence, with its document context."""
    text: str
    heading: Optional[str] = None
    position: float = 0.0  # relative position of the passage in its document, 0..1
    is_sentence: bool = False
    tokens: Optional[tuple[str, ...]] = None  # words already segmented by the NLP stage, if any


@dataclass(frozen=True, eq=False)
class CueLexicons:
    """The classifier's word lists and patterns: configs/lexicons/cues.toml and actors.toml ([classify] cues,
    actors) and the places of [nlp] places, read once by the classifier that owns them (and by training)."""
    cues: dict
    heading_cues: dict
    own: tuple[str, ...]
    foreign: tuple[str, ...]
    subject: tuple  # the subject view's regexes (_subject_view)
    transitions: tuple[re.Pattern, ...]
    mitigated: Optional[re.Pattern]
    organising: tuple[int, tuple[re.Pattern, ...]]


def load_cue_lexicons(config: Config) -> CueLexicons:
    cue_data, actor_data = read_toml(config.path(config.classify.cues)), read_toml(config.path(config.classify.actors))
    cues, heading_cues = _cues(cue_data)
    own, foreign = _actor_words(actor_data)
    return CueLexicons(cues, heading_cues, own, foreign, _subject_view(actor_data, config.path(config.nlp.places)),
                       _transitions(cue_data), _mitigated(cue_data), organising_patterns(cue_data))


def _actor_words(data: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words naming the document's own subject (CN and LOCAL) and words naming foreign actors."""
    actors = data["actors"]
    own = tuple(actors.get("CN", [])) + tuple(actors.get("LOCAL", []))
    foreign = tuple(w for code, words in actors.items() if code not in ("CN", "LOCAL") for w in words)
    check_piece_safe(own + foreign)
    return own, foreign


def _subject_view(data: dict, places_path: Path):
    """Regexes for the subject's own actors, foreign actors, done and not-done marks (configs/lexicons/actors.toml
    [subject] and the domestic/foreign sections of places.txt)."""
    actors, sub = data["actors"], data.get("subject", {})
    own = set(actors.get("CN", [])) | set(actors.get("LOCAL", [])) | set(sub.get("own_extra", []))
    foreign = {w for code, words in actors.items() if code not in ("CN", "LOCAL") for w in words}
    foreign |= set(sub.get("foreign_extra", []))
    section = ""
    for line in Path(places_path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("# ---"):
            section = line
            continue
        if not line or line.startswith("#") or len(line) < 2:
            continue
        if "countries" in section or "continents" in section:
            if line not in own and not line.startswith("中"):
                foreign.add(line)
        else:
            own.add(line)

    return (_alternation(frozenset(own)), _alternation(frozenset(foreign)), _alternation(frozenset(sub["done"])),
            _alternation(frozenset(sub["not_done"])), _alternation(frozenset(sub["neutral"])))


@lru_cache(maxsize=16)  # keyed by the words themselves (pure data): PieceFacts asks for the same lists per call
def _alternation(words: frozenset[str]) -> re.Pattern:
    """One regex for a word list matching the longest word at each position (findall counts whole words), built
    as a trie; never matches when empty."""
    from pipeline.nlp.rules import longest_word_pattern

    return re.compile(longest_word_pattern(words) or r"(?!)")


SUBJECT_COLUMNS = ["sv_own", "sv_foreign", "sv_own_done", "sv_foreign_done", "sv_own_problem", "sv_contrast",
                   "sv_last_own", "sv_last_foreign", "sv_neutral_done"]


class PieceFacts:
    """What the features count in one sentence piece (a span of :func:`split_sentences`): cue counts per label,
    own and foreign actor words, and the subject view's per-sentence reading. A passage's pieces are its sentence
    items' texts, so one document's passages and sentences share these counts (memoised per text): a passage's
    counts are the sums over its pieces. Exact, because no counted word contains a character that ends a piece
    (sentence punctuation, closing quotes) or whitespace, so no match can cross a piece boundary; word lists
    that break this are refused at load (:func:`check_piece_safe`)."""

    def __init__(self, cues: dict, own: Sequence[str], foreign: Sequence[str], patterns):
        self.count_words = word_counter(tuple(tuple(cues[label]) for label in LABELS) + (tuple(own), tuple(foreign)))
        self.own_re, self.foreign_re, self.done_re, self.not_done_re, self.neutral_re = patterns
        self.problem_re = _alternation(frozenset(cues["challenge"]))  # one search instead of a test per cue word
        self.memo: dict[str, tuple] = {}

    def of(self, piece: str) -> tuple:
        """(cue counts per label…, own words, foreign words, own actor hits, foreign actor hits, done, problem)."""
        got = self.memo.get(piece)
        if got is None:
            masked = self.neutral_re.sub("", piece)
            got = self.memo[piece] = (
                *self.count_words(piece),
                len(self.own_re.findall(piece)), len(self.foreign_re.findall(piece)),
                bool(self.done_re.search(masked)) and not self.not_done_re.search(masked),
                bool(self.problem_re.search(piece)))
        return got


class WordCounter:
    """For several word lists, what sum(map(text.count, words)) gives for each, from one Aho-Corasick pass
    (pyahocorasick) instead of a str.count per word. str.count counts non-overlapping occurrences, which are all
    the occurrences of a word that cannot overlap itself; a word that can (one whose start is also its end, as
    啊啊 in 啊啊啊) is counted with str.count."""

    def __init__(self, lists: Sequence[Sequence[str]]):
        import ahocorasick

        self.n = len(lists)
        lists_of: dict[str, list[int]] = {}
        self.overlapping: list[tuple[int, str]] = []
        for k, words in enumerate(lists):
            for w in words:
                if any(w[:i] == w[-i:] for i in range(1, len(w))):
                    self.overlapping.append((k, w))
                else:
                    lists_of.setdefault(w, []).append(k)  # a word twice in a list counts twice, as in the sum
        self.automaton = ahocorasick.Automaton() if lists_of else None
        for w, ks in lists_of.items():
            self.automaton.add_word(w, tuple(ks))
        if self.automaton is not None:
            self.automaton.make_automaton()

    def __call__(self, text: str) -> list[int]:
        counts = [0] * self.n
        if self.automaton is not None:
            for _, ks in self.automaton.iter(text):
                for k in ks:
                    counts[k] += 1
        for k, w in self.overlapping:
            counts[k] += text.count(w)
        return counts


@lru_cache(maxsize=4)  # keyed by the word lists themselves (pure data): built per feature_rows call otherwise
def word_counter(lists: tuple[tuple[str, ...], ...]) -> WordCounter:
    return WordCounter(lists)


def check_piece_safe(words) -> None:
    for w in words:
        if not w or PIECE_BREAKERS.search(w):
            raise ValueError(f"classifier word list entry {w!r} is empty or holds sentence punctuation or "
                             "whitespace: counts per sentence piece would miss it")


PIECE_BREAKERS = re.compile(r"[。！？；!?;”’」』\"')）\s]")


def subject_view(text: str, patterns, cues: dict) -> dict[str, float]:
    """Per-sentence reading from the document subject's point of view: which sentences name the subject's own
    actors (我国, 全省, 中国科学院, a domestic city) and which a foreign one, whether an own sentence reports
    something done (了, 已, 首次 …, not 将/要/应), whether a foreign fact is followed by an own problem
    (…而我国差距较大). Sentences naming no actor carry the previous sentence's actor. Shares of the sentences."""
    facts = PieceFacts(cues, (), (), patterns)
    spans = split_sentences(text) or [(0, len(text))]
    return _subject_view_of([facts.of(text[s:e]) for s, e in spans])


@lru_cache(maxsize=256)
def _single_piece_view(facts_tail: tuple) -> dict[str, float]:
    """_subject_view_of one piece, from the four facts it reads (a few distinct values: cached). Read-only."""
    return _subject_view_of([facts_tail])


def _subject_view_of(pieces: Sequence[tuple]) -> dict[str, float]:
    n = len(pieces)
    out = dict.fromkeys(SUBJECT_COLUMNS, 0.0)
    actor, seen_foreign = None, False
    for k, f in enumerate(pieces):
        own_n, foreign_n, done, problem = f[-4:]
        if own_n > foreign_n:
            actor = "own"
        elif foreign_n > own_n or (foreign_n and own_n == foreign_n):
            actor = "foreign" if foreign_n > own_n else "both"
        if actor in ("own", "both"):
            out["sv_own"] += 1
            out["sv_own_done"] += done
            out["sv_own_problem"] += problem
            if seen_foreign and problem:
                out["sv_contrast"] += 1
        if actor in ("foreign", "both"):
            out["sv_foreign"] += 1
            out["sv_foreign_done"] += done
            seen_foreign = True
        if actor is None:
            out["sv_neutral_done"] += done
        if k == n - 1:
            out["sv_last_own"] = float(actor in ("own", "both"))
            out["sv_last_foreign"] = float(actor in ("foreign", "both"))
    for key in SUBJECT_COLUMNS:
        if not key.startswith("sv_last"):
            out[key] /= n
    return out


def _cues(data: dict) -> tuple[dict, dict]:
    check_piece_safe(w for words in data["cues"].values() for w in words)
    return data["cues"], data["headings"]


def organising_patterns(data: dict) -> tuple[int, tuple[re.Pattern, ...]]:
    """(max_chars, patterns) of configs/lexicons/cues.toml [organising]: one-sentence passages that only announce
    what follows."""
    section = data.get("organising", {})
    return int(section.get("max_chars", 0)), tuple(re.compile(p) for p in section.get("patterns", ()))


def is_organising(text: str, rule: tuple[int, tuple[re.Pattern, ...]]) -> bool:
    max_chars, patterns = rule
    text = text.strip()
    return 0 < len(text) <= max_chars and any(p.fullmatch(text) for p in patterns)


def heading_category(heading: Optional[str], heading_cues: dict) -> str:
    if not heading:
        return "none"
    h = HEADING_NUMBER.sub("", heading)
    for label in ("challenge", "recommendation", "achievement", "background"):
        if any(w in h for w in heading_cues.get(label, ())):
            return label
    return "other"


CITATION = re.compile(r"\s*\[\s*\d+(?:\s*[-–~,，、]\s*\d+)*\s*\]")
MATH = re.compile(r"\$([^$]{0,120})\$")
MATH_NOISE = re.compile(r"\\mathrm|\\circ|[\s{}\\^~]")
DIGITS = re.compile(r"\d")


def normalise_text(text: str, what: Sequence[str]) -> str:
    """Remove what carries no label but varies between sources, for the n-gram features: reference markers [12]
    and [3-5] of papers, LaTeX-spaced figures ($1 6 . 7 \\%$) of PDF conversions, and (optionally) the value of
    digits (each becomes 0: 16.7% and 23.1% read alike)."""
    if "citations" in what and "[" in text:  # both patterns need their bracket or dollar: most texts have none
        text = CITATION.sub("", text)
    if "math" in what and "$" in text:
        text = MATH.sub(lambda m: MATH_NOISE.sub("", m.group(1)), text)
    if "digits" in what:
        text = DIGITS.sub("0", text)
    return text


def _transitions(data: dict) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in data.get("transitions", {}).get("patterns", ()))


def without_transition(item: Item, patterns: Sequence[re.Pattern]) -> Item:
    """The item without a closing clause that only announces problems without stating one ("…取得了显著成效，
    但同时仍存在一些亟待解决的问题。"): a transition to the next section, not the passage's judgement
    (configs/lexicons/cues.toml [transitions]). A text that is nothing but such a clause is kept whole."""
    for pattern in patterns:
        m = pattern.search(item.text)
        if m and m.start() > 0 and item.text[:m.start()].strip():
            cut = item.text[:m.start()] + ("。" if item.text.rstrip().endswith(("。", "！", "!")) else "")
            return replace(item, text=cut, tokens=None)  # tokens: segmented again
    return item


def _mitigated(data: dict) -> Optional[re.Pattern]:
    pattern = data.get("mitigated", {}).get("pattern")
    return re.compile(pattern) if pattern else None


def without_mitigated(item: Item, pattern: re.Pattern) -> Item:
    """The item without problem words said to be small ("监管障碍相对较低", "伦理问题相对较少", "无需…"): they
    state the absence of a problem, and the word alone would read as one (configs/lexicons/cues.toml
    [mitigated])."""
    text = pattern.sub("", item.text)
    if text == item.text or not text.strip():
        return item
    return replace(item, text=text, tokens=None)  # tokens: segmented again


def build_frame(items: Sequence[Item], tokenize: Callable[[str], list[str]], lexicons: CueLexicons,
                normalise: Sequence[str] = ()) -> pd.DataFrame:
    """One row per item. `normalise` names the normalise_text steps, fixed at training time (train_classifier.toml,
    recorded in the model's meta.json) so that inference builds the same features."""
    import pandas as pd  # training and the Pipeline path only: inference reads plain rows

    return pd.DataFrame(feature_rows(items, tokenize, lexicons, normalise))


def feature_rows(items: Sequence[Item], tokenize: Callable[[str], list[str]], lexicons: CueLexicons,
                 normalise: Sequence[str] = ()) -> list[dict]:
    """The frame's rows as plain dicts (the classifier's fast predict path reads them without pandas)."""
    norm = tuple(normalise)
    heading_cues = lexicons.heading_cues
    transitions = lexicons.transitions if "transitions" in norm else ()
    mitigated = lexicons.mitigated if "mitigated" in norm else None
    facts = PieceFacts(lexicons.cues, lexicons.own, lexicons.foreign, lexicons.subject)
    heading_cats: dict[Optional[str], str] = {}
    rows = []
    for it in items:
        if transitions:
            it = without_transition(it, transitions)
        if mitigated is not None:
            it = without_mitigated(it, mitigated)
        text = it.text
        if it.heading not in heading_cats:  # a document's items share a few headings
            heading_cats[it.heading] = heading_category(it.heading, heading_cues)
        words = it.tokens if it.tokens is not None else tokenize(text)
        if not all(map(str.strip, words)):  # whitespace tokens out (checked first: most texts have none)
            words = [t for t in words if t.strip()]
        row = {
            "text": normalise_text(text, norm),
            "tokens": normalise_text(" ".join(words), norm),
            "heading": it.heading or "",
            "heading_cat": heading_cats[it.heading],
            "position": float(it.position),
            "is_sentence": float(it.is_sentence),
            "length": min(len(text), 600) / 600.0,
        }
        # Counts over the text are sums over its sentence pieces (PieceFacts): a passage reuses its sentences'.
        spans = split_sentences(text)
        if len(spans) <= 1:  # a sentence item, or a one-sentence passage: its facts are the totals
            totals = facts.of(text[spans[0][0]:spans[0][1]] if spans else text)
            view = _single_piece_view(totals[-4:])
        else:
            pieces = [facts.of(text[s:e]) for s, e in spans]
            totals = list(map(sum, zip(*pieces)))
            view = _subject_view_of(pieces)
        for k, label in enumerate(LABELS):
            row[f"cue_{label}"] = float(totals[k])
        # Whose story is it: the subject's own (我国, 我省) or another actor's (美国, 欧盟)? Decides
        # achievement vs background for the same success wording.
        row["actor_own"] = float(min(totals[len(LABELS)], 10))
        row["actor_foreign"] = float(min(totals[len(LABELS) + 1], 10))
        row.update(view)
        rows.append(row)
    return rows


NUMERIC_COLUMNS = (["position", "is_sentence", "length", "actor_own", "actor_foreign"] + [f"cue_{l}" for l in LABELS]
                   + SUBJECT_COLUMNS)


def sentence_summary(sentence_probs):
    """First, last and per-label maximum of a passage's sentence probabilities (a passage that lists facts and
    closes with a judgement takes the judgement's label: the last sentence matters)."""
    import numpy as np

    sp = np.asarray(sentence_probs, dtype=float)
    return np.concatenate([sp[0], sp[-1], sp.max(axis=0)])


def context_matrix(probs, groups, positions, summaries=None, sections=None):
    """Second-stage features for each passage: its own probabilities, its sentences' summary, its neighbours'
    (previous, next, and a ±2 window), the mean over its section (the run of passages under the same heading)
    and over its whole document, and position. Passages of a document are given in order; `groups` names their
    document and `sections` (optional) each passage's heading."""
    import numpy as np

    probs = np.asarray(probs, dtype=float)
    n, k = probs.shape if probs.size else (0, len(LABELS))
    summaries = np.tile(probs, 3) if summaries is None else np.asarray(summaries, dtype=float).reshape(n, 3 * k)
    sections = [None] * n if sections is None else list(sections)
    out = np.zeros((n, 9 * k + 1))
    for start, end in _runs(groups, 0, n):
        block = probs[start:end]
        section_means = np.empty_like(block)
        for a, b in _runs(sections, start, end):
            section_means[a - start:b - start] = probs[a:b].mean(axis=0)
        doc_mean = block.mean(axis=0)
        for i in range(end - start):
            prev = block[i - 1] if i > 0 else block[i]
            nxt = block[i + 1] if i + 1 < len(block) else block[i]
            window = block[max(0, i - 2):i + 3].mean(axis=0)
            out[start + i] = np.concatenate([block[i], summaries[start + i], prev, nxt, window, section_means[i],
                                             doc_mean, [positions[start + i]]])
    return out


def _runs(keys, start, end):
    """(first, end) index pairs of the runs of equal consecutive keys in keys[start:end]."""
    while start < end:
        stop = start + 1
        while stop < end and keys[stop] == keys[start]:
            stop += 1
        yield start, stop
        start = stop
