"""Character-level entity rules: gazetteers, 《》 titles and quoted plan names, institution and programme suffix
rules, bracketed abbreviations, person-with-title, figures and dates.

Precedence when spans overlap (documented in the README): quoted numbered measures (“土十条”) first, then
figures and dates (they are exact), then 《》 titles and quoted plans, then gazetteer names (longest wins; a
Chinese place glued to a known institution joins it: 中国 + 航天科技集团), then Latin gazetteer names, then
suffix rules, then bracket pairs, then person rules. Suffix rules extend left within the clause up to a stop
token; a gazetteer institution right before the rest of the name becomes its parent (中国科学院 +
马普计算生物学研究所), a Chinese place joins the name (深圳 + 国际量子研究院), while a foreign country stays a GPE
of its own (瑞典 | 卡罗琳学院), following the evaluation gold. The statistical model only fills gaps the rules leave (see pipeline.nlp.pipeline).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Optional

from pipeline.config import Config, read_lexicon_lines, read_toml
from pipeline.nlp.figures import FigureFinder

_LATIN_ABBR = r"[A-Za-z][A-Za-z0-9·&\-\.]{1,20}"
_CLAUSE_STOP = set("，。；：、！？,.;:!?（）()《》“”\"'【】[]\n\t ·…—")


@dataclass
class Mention:
    start: int
    end: int
    type: str
    source: str
    canonical: Optional[str] = None
    value: Optional[float] = None
    unit: Optional[str] = None
    approx: Optional[bool] = None
    bound: Optional[str] = None
    date_iso: Optional[str] = None
    date_precision: Optional[str] = None
    low: Optional[float] = None

    def __iter__(self):  # (start, end) unpacking for the tokenizer's boundary finder
        yield self.start
        yield self.end

    def __getitem__(self, i):
        return (self.start, self.end)[i]


_END = None  # a Trie node's payload key: never a character, so a text character cannot walk into a payload


class Trie:
    """Longest-match dictionary lookup over characters."""

    def __init__(self):
        self.root: dict = {}
        self._payloads: dict[str, object] = {}
        self._matchers: Optional[dict[str, re.Pattern]] = None
        self._automaton = None

    def add(self, word: str, payload) -> None:
        node = self.root
        for ch in word:
            node = node.setdefault(ch, {})
        node.setdefault(_END, payload)
        self._payloads.setdefault(word, payload)  # the first payload wins, as in the node
        self._matchers = None
        self._automaton = None

    def payload(self, word: str):
        return self._payloads[word]

    def longest_matches(self, text: str) -> list[tuple[int, int]]:
        """(start, length) of the longest word starting at each position where one does, in position order: what
        `longest` gives at every position, from one Aho-Corasick pass (pyahocorasick) instead of a lookup per
        character."""
        if self._automaton is None:
            self._automaton = _automaton(self._payloads) or False
        if self._automaton is False:
            return []
        longest: dict[int, int] = {}
        for end, word in self._automaton.iter(text):
            n = len(word)
            start = end - n + 1
            if n > longest.get(start, 0):
                longest[start] = n
        return sorted(longest.items())

    def prepare(self) -> None:
        """Build the matchers now (the stage's load) rather than on the first text: one regex per first character
        (several hundred) and the Aho-Corasick automaton."""
        if self._matchers is None:
            self._matchers = {ch: re.compile(re.escape(ch) + _trie_regex(node))
                              for ch, node in self.root.items() if ch is not _END}
        if self._automaton is None:
            self._automaton = _automaton(self._payloads) or False

    def longest(self, text: str, i: int) -> tuple[int, object]:
        """(length, payload) of the longest word starting at text[i], (0, None) when none does."""
        # The walk runs inside the regex engine: a Python loop over the nodes cost ~4x more (hot path).
        if self._matchers is None:
            self.prepare()
        rx = self._matchers.get(text[i:i + 1])
        m = rx.match(text, i) if rx is not None else None
        if m is None:
            return 0, None
        return m.end() - i, self._payloads[m.group()]


def longest_word_pattern(words) -> str:
    """A regex source equal to the alternation of the words longest first ("中国科学院|中国|…"): at every position
    it matches the longest word there, so findall, search and sub find the same matches. Built as a trie (one
    branch per next character) the regex engine follows one path instead of trying every word."""
    trie = Trie()
    for w in words:
        if w:
            trie.add(w, None)
    alts = [re.escape(ch) + _trie_regex(trie.root[ch]) for ch in sorted(k for k in trie.root if k is not _END)]
    return "(?:" + "|".join(alts) + ")" if alts else ""


def _trie_regex(node: dict) -> str:
    """A regex matching the longest word below node (node's own character excluded). Children start with distinct
    characters, so at most one branch can go on; a greedy optional group after a word's end tries the longer
    words first and falls back to that end."""
    alts = [re.escape(ch) + _trie_regex(child) for ch, child in node.items() if ch is not _END]
    if not alts:
        return ""
    body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return f"(?:{body})?" if _END in node else body


@dataclass
class Lexicons:
    names: Trie
    alias_to_canonical: dict[str, str]
    inst_suffixes: list[str]
    risky_suffixes: set[str]
    prog_suffixes: list[str]
    stop_tokens: list[str]
    generic: set[str]
    places: set[str]
    known_prefixes: set[str]
    person_titles: list[str]
    surnames: str
    double_surnames: list[str]
    latin_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    strong_suffixes: set[str] = field(default_factory=set)
    foreign_places: set[str] = field(default_factory=set)
    person_left: str = ""  # characters a name may follow (name + title rule)
    person_after: tuple[str, ...] = ()  # what may follow a name after a title (title + name rule)
    level_words: tuple[str, ...] = ()  # a bare level word (省, 市) that starts a local body's name
    level_left: str = ""  # characters after which a level word starts a name
    place_ends: tuple[str, ...] = ()  # a place ending so (江苏省, 武汉市) joins the institution after it


def _read_tsv(path: Path) -> list[tuple[str, list[str]]]:
    rows = []
    for line in read_lexicon_lines(path):
        parts = line.split("\t")
        canonical = parts[0].strip()
        aliases = [a.strip() for a in parts[1].split("|")] if len(parts) > 1 else []
        if canonical:
            rows.append((canonical, [a for a in aliases if a and a != canonical]))
    return rows


def _suffixes(path: Path) -> tuple[list[str], set[str]]:
    out, risky = [], set()
    if not path.exists():
        return out, risky
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        word = raw.split("#", 1)[0].strip()
        if word:
            out.append(word)
            if "RISKY" in raw:
                risky.add(word)
    return sorted(set(out), key=lambda w: (-len(w), w)), risky  # deterministic: same-length suffixes by text


def load_lexicons(config: Config) -> Lexicons:
    """The gazetteers, suffix lists and rule words named in [nlp] (the entity rules load them once)."""
    cfg, path = config.nlp, config.path
    data = read_toml(path(cfg.entity_patterns))
    trie = Trie()
    alias: dict[str, str] = {}
    latin: dict[str, tuple[str, str]] = {}
    for kind, key in (("INSTITUTION", "institutions"), ("PROGRAMME", "programmes")):
        for canonical, aliases in _read_tsv(path(getattr(cfg, key))):
            for name in [canonical, *aliases]:
                if re.fullmatch(r"[A-Za-z0-9·&\-\. ]+", name):
                    latin[name] = (kind, canonical)
                    continue
                if len(name) < 2:
                    continue
                trie.add(name, (kind, canonical))
                alias[name] = canonical
    for canonical, aliases in _read_tsv(path(cfg.aliases)) if path(cfg.aliases).exists() else []:
        alias[canonical] = canonical  # a fixed point, so that linking's second lookup cannot cycle
        for name in aliases:
            alias[name] = canonical
    places = set()
    for name in read_lexicon_lines(path(cfg.places)):
        name = name.strip()
        if len(name) >= 2:
            places.add(name)
            trie.add(name, ("GPE", name))
    # Countries other than China (the "--- countries ---" section): a university or company named after one
    # stands apart from it (瑞典 | 卡罗琳学院), while a Chinese place is part of the name (深圳国际量子研究院).
    foreign, section = set(), ""
    places_path = path(cfg.places)
    for raw in places_path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("# ---"):
            section = raw
        elif "countries" in section and raw.strip() and not raw.startswith("#"):
            foreign.add(raw.split("#", 1)[0].strip())
    foreign -= {"中国", "中华人民共和国"}
    inst, risky = _suffixes(path(cfg.institution_suffixes))
    prog, _ = _suffixes(path(cfg.programme_suffixes))
    rules = data["rules"]
    generic = set(rules["generic_institutions"]) | set(rules["generic_programmes"])
    person = data["person"]
    return Lexicons(trie, alias, inst, risky, prog, sorted(rules["stop_tokens"], key=len, reverse=True), generic,
                    places, set(rules["known_prefixes"]), sorted(rules["person_titles"], key=len, reverse=True),
                    person["surnames"], person["double_surnames"], latin,
                    set(rules["strong_suffixes"]), foreign, person["left_context"], tuple(person["after_title"]),
                    tuple(rules["level_words"]), rules["level_left"], tuple(rules["place_ends"]))


_TITLE = re.compile(r"《[^《》\n]{1,60}》")
_QUOTES = "“”\"「」"


def _unquoted(text: str, m: Mention) -> Mention:
    """The mention less one pair of quotes that encloses the whole name: corpora/GUIDE.md entity case 9 (百人计划
    in “百人计划”); quotes inside a name stay (“十四五”规划)."""
    inner = text[m.start + 1:m.end - 1]
    if m.type in ("PROGRAMME", "INSTITUTION") and m.end - m.start >= 4 and text[m.start] in "“\"「" \
            and text[m.end - 1] in "”\"」" and not any(q in inner for q in _QUOTES):
        canonical = m.canonical.strip(_QUOTES) if m.canonical else m.canonical
        return replace(m, start=m.start + 1, end=m.end - 1, canonical=canonical)
    return m
_QUOTED_PLAN = re.compile(r"“[^“”\n]{1,16}”[\u4e00-\u9fff]{0,12}?(?:规划纲要|规划|计划|工程|行动|战略|项目|倡议|纲要|专项|行动计划)")
_PLAN_DASH = re.compile(r"[\u4e00-\u9fff]{2,8}20\d\d[—–\-]+(?:“[^”]{1,20}”)?[\u4e00-\u9fff]{0,8}?(?:重大项目|重大专项|计划|工程)")
# Quoted short names of numbered measures: “土十条”, "国九条”, “新国十条” (quotes kept in the span).
_QUOTED_ARTICLES = re.compile(r"[“\"][\u4e00-\u9fff]{0,4}[一二三四五六七八九十]{1,3}条[”\"]")
_BRACKET = re.compile(r"[（(]\s*([^（）()\n]{1,40}?)\s*[）)]")
_LATIN_ABBR_RX = re.compile(_LATIN_ABBR)
_LATIN_ABBR_END = re.compile(_LATIN_ABBR + r"$")
_LATIN_START = re.compile(r"[A-Za-z]")
_LATIN_BEFORE_SUFFIX = re.compile(r"[A-Za-z][A-Za-z0-9\-]{1,20} ?$")
_YEAR = re.compile(r"20\d\d")
_DIGIT_OR_SPACE_START = re.compile(r"[\d\s]+.*")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


def _automaton(words):
    """A pyahocorasick automaton whose matches give the words themselves (None for no words)."""
    import ahocorasick

    if not words:
        return None
    automaton = ahocorasick.Automaton()
    for w in words:
        automaton.add_word(w, w)
    automaton.make_automaton()
    return automaton


def _by_first_char(words: list[str]) -> dict[str, list[str]]:
    """Words keyed by first character, each list in the order of `words`."""
    out: dict[str, list[str]] = {}
    for word in words:
        out.setdefault(word[0], []).append(word)
    return out


class EntityRules:
    """Finds rule mentions in a text. Built once per process (by the NLP stage) from the lexicons and the entity
    patterns named in the configuration's [nlp] section."""

    def __init__(self, config: Config):
        self.lex = load_lexicons(config)
        self.figure_finder = FigureFinder(config.path(config.nlp.entity_patterns))
        self._stop_tuple = tuple(self.lex.stop_tokens)
        # Speed-ups only (same matches, same order): the institution suffixes by first character (for _suffix_at),
        # and one Aho-Corasick automaton telling which suffixes of either list a text contains.
        self._inst_first = _by_first_char(self.lex.inst_suffixes)
        self._suffix_automaton = _automaton({*self.lex.inst_suffixes, *self.lex.prog_suffixes})
        self._known_prefixes = tuple(self.lex.known_prefixes)  # str.startswith takes a tuple: one call, not a loop
        self.lex.names.prepare()

    # -- helpers -------------------------------------------------------------------------------------------
    def _free(self, taken: list[bool], s: int, e: int) -> bool:
        return 0 <= s < e <= len(taken) and not any(taken[s:e])

    def _take(self, taken: list[bool], s: int, e: int) -> None:
        for k in range(s, e):
            taken[k] = True

    def _untake(self, taken: list[bool], s: int, e: int) -> None:
        for k in range(s, e):
            taken[k] = False

    def _left_name(self, text: str, end_of_prefix: int, max_chars: int = 16) -> int:
        """Start of the name whose prefix ends at end_of_prefix: extend left within the clause, stop at stop
        tokens (function words, verbs of founding and policy)."""
        start = end_of_prefix
        while start > 0 and end_of_prefix - start < max_chars and text[start - 1] not in _CLAUSE_STOP:
            start -= 1
        segment = text[start:end_of_prefix]
        # The name starts after the right-most end of any stop token in the segment: scan the ends from the
        # right, testing all stop tokens at once (str.endswith with a tuple) instead of one rfind per token.
        stops = self._stop_tuple
        for cut in range(len(segment), 0, -1):
            if segment.endswith(stops, 0, cut):
                return start + cut
        return start

    def _anchored(self, name: str) -> bool:
        """A candidate built by a risky suffix needs a proper-name start: a place, a known institution, a
        national prefix, Latin letters."""
        if _LATIN_START.match(name):
            return True
        if name.startswith(self._known_prefixes):
            return True
        n, _ = self.lex.names.longest(name, 0)
        return n >= 2

    # -- main ----------------------------------------------------------------------------------------------
    def find(self, text: str) -> list[Mention]:
        taken = [False] * len(text)
        out: list[Mention] = []

        def add(m: Mention) -> bool:
            if not self._free(taken, m.start, m.end):
                return False
            self._take(taken, m.start, m.end)
            out.append(m)
            return True

        for m in self._patterns(text):
            add(m)
        self._gazetteer(text, taken, add)
        self._suffix_rules(text, taken, add, out)
        self._brackets(text, taken, out, add)
        self._persons(text, taken, add)
        return sorted((_unquoted(text, m) for m in out), key=lambda m: m.start)

    def _patterns(self, text: str) -> Iterator[Mention]:
        """Pattern mentions in the order they take precedence: quoted article counts, figures, dates, 《》 titles,
        quoted plans and plan-dash names."""
        for m in _QUOTED_ARTICLES.finditer(text):
            yield Mention(m.start(), m.end(), "PROGRAMME", "pattern", m.group())
        for f in self.figure_finder.figures(text):
            yield Mention(f.start, f.end, "FIGURE", "pattern", f.text, f.value, f.unit, f.approx, f.bound, low=f.low)
        for d in self.figure_finder.dates(text):
            if text[d.end:d.end + 1] != "年":
                yield Mention(d.start, d.end, "DATE", "pattern", d.text, date_iso=d.iso, date_precision=d.precision)
        for m in _TITLE.finditer(text):
            yield Mention(m.start(), m.end(), "PROGRAMME", "pattern", m.group())
        for rx in (_QUOTED_PLAN, _PLAN_DASH):
            for m in rx.finditer(text):
                s = m.start()
                if rx is _PLAN_DASH:  # the regex's 2-8 characters before the year may take a verb: cut it off
                    year = m.start() + _YEAR.search(m.group()).start()
                    s = max(s, self._left_name(text, year, 8))
                    if year - s < 2:
                        continue
                yield Mention(s, m.end(), "PROGRAMME", "pattern", text[s:m.end()])

    def _gazetteer(self, text: str, taken: list[bool], add) -> None:
        """Gazetteer names, longest match at each position, left to right (a match's characters are not matched
        again); then Latin names and acronyms (NIST, DARPA, IBM)."""
        lex = self.lex
        i = 0
        for start, n in lex.names.longest_matches(text):
            if start < i or taken[start]:
                continue
            i = start
            kind, canonical = lex.names.payload(text[i:i + n])
            # Extend a known name by an institution suffix right after it (北京 + 大学 is in the
            # gazetteer already; 清华大学 + 出版社 is not): let the suffix rule handle those below.
            if kind == "GPE" and self._suffix_at(text, i + n):
                i += n
                continue
            if kind == "GPE" and canonical not in lex.foreign_places and not text.startswith(("我", "本"), i):
                glued = self._glued_institution(text, taken, i, n)
                if glued is not None:
                    add(glued)
                    i = glued.end
                    continue
            add(Mention(i, i + n, kind, "gazetteer", canonical))
            i += n
        for m in _LATIN_ABBR_RX.finditer(text):
            word = m.group().rstrip(".-")
            if word in lex.latin_names and not (m.start() > 0 and text[m.start() - 1].isalpha() and text[m.start() - 1].isascii()):
                kind, canonical = lex.latin_names[word]
                add(Mention(m.start(), m.start() + len(word), kind, "gazetteer", canonical))

    def _glued_institution(self, text: str, taken: list[bool], i: int, n: int) -> Optional[Mention]:
        """A Chinese place glued to a known institution is part of its name (中国 + 航天科技集团)."""
        n2, payload2 = self.lex.names.longest(text, i + n)
        if n2 and payload2[0] == "INSTITUTION" and self._free(taken, i, i + n + n2) and \
                not text.startswith(self._known_prefixes, i + n):
            n2 += 2 if text.startswith("公司", i + n + n2) else 0
            return Mention(i, i + n + n2, "INSTITUTION", "gazetteer", payload2[1])
        return None

    def _suffix_at(self, text: str, pos: int) -> Optional[str]:
        for suf in self._inst_first.get(text[pos:pos + 1], ()):
            if text.startswith(suf, pos):
                return suf
        return None

    def _suffix_rules(self, text: str, taken: list[bool], add, out: list[Mention]) -> None:
        lex = self.lex
        automaton = self._suffix_automaton
        present = {w for _, w in automaton.iter(text)} if automaton is not None else set()
        for kind, suffixes in (("INSTITUTION", lex.inst_suffixes), ("PROGRAMME", lex.prog_suffixes)):
            # Only the suffixes the text contains, in the lexicon's order (the order matters: a mention found first
            # takes its characters).
            for suf in [w for w in suffixes if w in present] if present else ():
                pos = text.find(suf)
                while pos >= 0:
                    end = pos + len(suf)
                    if any(taken[pos:end]):
                        pos = text.find(suf, pos + 1)
                        continue
                    start = self._left_name(text, pos)
                    latin = _LATIN_BEFORE_SUFFIX.search(text[max(0, pos - 22):pos])
                    if latin and start == pos:  # "Salk 研究所"
                        start = pos - len(latin.group())
                    if any(taken[start:pos]):
                        # A mention inside the extension: an institution right before the rest of the name is its
                        # parent (中国科学院 + 马普计算生物学研究所 is one name); a place before a university,
                        # institute or company stays a GPE of its own (瑞典 | 卡罗琳学院).
                        last = max(k for k in range(start, pos) if taken[k])
                        prev = next((m for m in out if m.start <= last < m.end), None)
                        glued = prev is not None and prev.end < pos and prev.start >= start and \
                            not any(ch in _CLAUSE_STOP for ch in text[prev.end:pos]) and suf not in lex.risky_suffixes
                        if glued and kind == "INSTITUTION" and prev.source == "gazetteer" and pos - prev.end >= 2 and (
                                prev.type == "INSTITUTION" or (prev.type == "GPE" and prev.canonical not in lex.foreign_places)):
                            out.remove(prev)
                            self._untake(taken, prev.start, prev.end)
                            start = prev.start
                        else:
                            start = last + 1
                    name = text[start:end]
                    if (end - start) - len(suf) >= 2 and name not in lex.generic and not any(taken[start:pos]) \
                            and not _DIGIT_OR_SPACE_START.fullmatch(name[:1]):
                        if (suf in lex.strong_suffixes and kind == "INSTITUTION" and suf not in lex.risky_suffixes) \
                                or self._anchored(name):
                            canonical = lex.alias_to_canonical.get(name, name)
                            add(Mention(start, end, kind, "suffix", canonical))
                    pos = text.find(suf, end)

    def _brackets(self, text: str, taken: list[bool], out: list[Mention], add) -> None:
        """NAME（ABBR） and ABBR（NAME）: both mentions, one canonical name (the full Chinese one)."""
        by_end = {m.end: m for m in out}
        by_start = {m.start: m for m in out}
        for m in _BRACKET.finditer(text):
            inner_s, inner_e = m.start(1), m.end(1)
            inner = m.group(1)
            before = by_end.get(m.start())
            if before and before.type in ("INSTITUTION", "PROGRAMME") and _LATIN_ABBR_RX.fullmatch(inner):
                # 国家标准技术研究院（NIST）
                add(Mention(inner_s, inner_e, before.type, "bracket", before.canonical))
                continue
            if before is None:
                # ABBR(全称): the abbreviation stands before the bracket.
                lm = _LATIN_ABBR_END.search(text[:m.start()])
                inner_m = by_start.get(inner_s)
                if lm and inner_m and inner_m.end == inner_e and inner_m.type in ("INSTITUTION", "PROGRAMME"):
                    add(Mention(lm.start(), lm.end(), inner_m.type, "bracket", inner_m.canonical))

    def _persons(self, text: str, taken: list[bool], add) -> None:
        lex = self.lex
        titles = [t for t in lex.person_titles if t in text]  # the titles the text contains, in the lexicon's order
        for title in titles:
            pos = text.find(title)
            while pos >= 0:
                for n in (3, 2, 4):
                    s = pos - n
                    if s < 0:
                        continue
                    cand = text[s:pos]
                    if not _HAN_RUN.fullmatch(cand):
                        continue
                    ok = (cand[0] in lex.surnames and n in (2, 3)) or (n in (3, 4) and cand[:2] in lex.double_surnames)
                    # Left edge: start of clause, a function word, or the end of an institution already found
                    # (中国科学技术大学潘建伟院士: affiliation, then name, then title).
                    left_ok = s == 0 or text[s - 1] in _CLAUSE_STOP or text[s - 1] in lex.person_left \
                        or (taken[s - 1] and not taken[s])
                    if ok and self._free(taken, s, pos) and left_ok:
                        add(Mention(s, pos, "PERSON", "pattern", cand))
                        break
                pos = text.find(title, pos + 1)
        # Title before the name (校长龚旗煌表示, 总理李强在…): the name must be followed by a speech verb, a
        # preposition or punctuation, so that 主任委员会 and the like never pass.
        for title in titles:
            pos = text.find(title)
            while pos >= 0:
                s = pos + len(title)
                for n in (3, 2):
                    cand = text[s:s + n]
                    if len(cand) == n and _HAN_RUN.fullmatch(cand) and cand[0] in lex.surnames \
                            and text.startswith(lex.person_after, s + n) and self._free(taken, s, s + n):
                        add(Mention(s, s + n, "PERSON", "pattern", cand))
                        break
                pos = text.find(title, pos + 1)
