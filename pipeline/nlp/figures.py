"""FIGURE and DATE mentions at character level, with normalisation: value + unit + approx + bound for figures,
ISO form + precision for dates. A FigureFinder compiles the rules of an entities.toml once; its `figures(text)`
and `dates(text)` are pure functions of the text."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from pipeline.config import read_toml
from pipeline.nlp.numbers import CN_NUM_CHARS, parse_number

_FW = str.maketrans("０１２３４５６７８９．％，", "0123456789.%,")


@dataclass(frozen=True)
class Figure:
    start: int
    end: int
    text: str
    value: float
    unit: Optional[str]
    approx: bool
    bound: Optional[str]
    low: Optional[float] = None  # a range's lower end


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    text: str
    iso: Optional[str]
    precision: str  # day | month | year | decade | century | range | relative


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


def _figure_regex(cfg: dict):
    currency = cfg["currency"]
    units = list(currency) + cfg["physical_units"] + cfg["measure_words"]
    num = (r"(?:[0-9０-９]+(?:[,，][0-9０-９]{3})*(?:[.．][0-9０-９]+)?"
           rf"|[上数成几]?[{CN_NUM_CHARS}]+)")
    mult = r"(?:万亿亿|亿亿|万亿|亿|万|千|百)?"  # 4万亿亿次 is 4e20
    spaced_mult = r"(?:[ \u00a0]?(?=[万亿]))?"  # "约900 万平方公里"
    prefixes = set(cfg["prefix_approx"]) | set(cfg["prefix_min"]) | set(cfg["prefix_max"])
    prefix = _alt(prefixes)
    pct = r"(?:[%％‰]|个百分点|百分点)"
    unit_alt = _alt(units)
    tail = _alt(cfg["suffix_approx"] + cfg["suffix_min"] + cfg["suffix_max"])
    rx = re.compile(
        rf"(?:(?P<prefix>{prefix})[ \u00a0]?)?(?P<num>{num})(?P<inner0>余|多)?{spaced_mult}(?P<mult>{mult})(?P<inner>余|多)?"
        rf"(?:(?P<pct>{pct})|[ \u00a0]?(?P<unit>{unit_alt}))?(?:[ \u00a0]?(?P<tail>{tail}))?")
    # Every match starts with a prefix word or the number: the characters that can begin one, to jump between
    # candidate positions (re tries a pattern that opens with an optional group at every position, 2x slower).
    firsts = {w[0] for w in prefixes} | set("0123456789０１２３４５６７８９上数成几") | set(CN_NUM_CHARS)
    first = re.compile("[" + "".join(re.escape(c) for c in sorted(firsts)) + "]")
    return rx, cfg, first


def candidate_matches(rx: re.Pattern, first: re.Pattern, text: str) -> Iterator[re.Match]:
    """rx.finditer(text), trying rx only where `first` finds a character a match can begin with."""
    pos = 0
    while (c := first.search(text, pos)) is not None:
        m = rx.match(text, c.start())
        if m is None:
            pos = c.start() + 1
        else:
            yield m
            pos = max(m.end(), c.start() + 1)


# Compiled once (the module-level re cache lookup per call showed in profiles).
_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
_LATIN_UNIT = re.compile(r"[A-Za-z°μ/³]+")
_LATIN_CHAR = re.compile(r"[A-Za-z]")
_LATIN_OR_DASH = re.compile(r"[A-Za-z\-]")
_CN_NUM_CHAR = re.compile(f"[{CN_NUM_CHARS}]")


class FigureFinder:
    """FIGURE and DATE mentions of a text by the [figure] and [date] rules of an entities.toml (configs/), compiled
    once: the entity rules (pipeline.nlp.rules.EntityRules) own one."""

    def __init__(self, path: Path):
        data = read_toml(path)
        self.regex, cfg, self.first = _figure_regex(data["figure"])
        # Counted nouns longest first: the first one a text continues with is the longest.
        self.cfg = {**cfg, "counted_nouns": sorted(cfg["counted_nouns"], key=len, reverse=True)}
        self.date_words = _date_words(data["date"])

    def figures(self, text: str) -> list[Figure]:
        return _find_figures(text, self.regex, self.cfg, self.first)

    def dates(self, text: str) -> list[DateMention]:
        return _find_dates(text, self.date_words)


def _find_figures(text: str, rx: re.Pattern, cfg: dict, first: re.Pattern) -> list[Figure]:
    out = [f for f in (_figure_of(m, text, cfg) for m in candidate_matches(rx, first, text)) if f is not None]
    taken = [False] * len(text)
    for f in out:
        taken[f.start:f.end] = [True] * (f.end - f.start)
    for f in _spaced_figures(text, cfg) + _fractions(text, cfg["fraction_unit"]):
        if not any(taken[f.start:f.end]):
            taken[f.start:f.end] = [True] * (f.end - f.start)
            out.append(f)
    return _join_ranges(sorted(out, key=lambda f: f.start), text, cfg)


def _figure_of(m: re.Match, text: str, cfg: dict) -> Optional[Figure]:
    """The FIGURE a regex match is, normalised, or None when the match is no quantity."""
    num, unit_word = m.group("num"), m.group("unit")
    is_cn = not any(ch.isdigit() for ch in num.translate(_FW))
    if _not_a_quantity(m, text, cfg, is_cn):
        return None
    value = parse_number((num + (m.group("mult") or "")).translate(_FW))
    if value is None:
        return None
    value, unit = _unit_of(m, cfg, value)
    prefix, tail = m.group("prefix") or "", m.group("tail") or ""
    inner = (m.group("inner0") or "") + (m.group("inner") or "")
    approx = bool(inner) or prefix in cfg["prefix_approx"] or tail in cfg["suffix_approx"] \
        or num.startswith(tuple(cfg["approx_number_starts"])) or "余" in num or "多" in num
    bound = None
    if prefix in cfg["prefix_min"] or tail in cfg["suffix_min_tail"]:
        bound = "min"
    if prefix in cfg["prefix_max"] or tail in cfg["suffix_max"]:
        bound = "max"
    start, end = m.start(), m.end()
    if unit_word == "个" and not tail:
        end = _counted_noun_end(text, end, cfg, is_cn, value)
        if end is None:
            return None  # 四个面向, 两个维护: a numbered slogan, not a quantity
    if not prefix:  # detached qualifiers: "至少约有182家"
        before = text[max(0, start - 5):start]
        if any(before.endswith(q) or before.endswith(q + "有") for q in cfg["detached_min"]) or "至少" in before:
            bound = bound or "min"
        approx = approx or any(before.endswith(q) for q in cfg["detached_approx"])
    return Figure(start, end, text[start:end], float(value), unit, approx, bound)


def _not_a_quantity(m: re.Match, text: str, cfg: dict, is_cn: bool) -> bool:
    """Matches the regex cannot rule out: no unit and no large multiplier, a Latin word (5 million), an article
    (一套), a bare unit character (百度), digit-by-digit strings (一一), ordinals (第三个), codes (COVID-19),
    months (9个月: a DATE)."""
    num, unit_word = m.group("num"), m.group("unit")
    inner = m.group("inner0") or m.group("inner")
    if not unit_word and not m.group("pct"):
        big = m.group("mult") or next((w for w in ("万亿", "亿", "万") if num.endswith(w)), None)
        if big not in cfg["unitless_multipliers"] or (
                _HAN_CHAR.match(text[m.end():m.end() + 1] or " ") and not m.group("tail") and text[m.end()] in "元年月日"):
            return True
    if unit_word and _LATIN_UNIT.fullmatch(unit_word) and _LATIN_CHAR.match(text[m.end("unit"):m.end("unit") + 1]):
        return True
    if is_cn and len(num) == 1 and not m.group("mult") and not inner and (
            num == "一" or (num in "二两" and unit_word in cfg["no_count_after_two"])):
        return True
    if is_cn and not _CN_NUM_CHAR.search(num.lstrip("上数成几")):
        return True
    if is_cn and all(ch in "十百千万亿" for ch in num) and not inner and not num.startswith(("上", "数", "成", "几")) \
            and num != "十" and (m.group("prefix") or "") not in cfg["bare_unit_prefixes"]:
        return True
    if is_cn and all(ch in "零〇○一二两三四五六七八九" for ch in num) and (len(num) > 1 or num in "零〇○"):
        return True
    start = m.start()
    if start > 0 and text[start - 1] == "第":
        return True
    if start > 0 and _LATIN_OR_DASH.match(text[start - 1]) and not m.group("prefix") \
            and not (text[start - 1] == "-" and text[start - 2:start - 1].isdigit()):  # 3-5亿元 is a range
        return True
    return unit_word == "个" and text.startswith("月", m.end("unit"))


def _unit_of(m: re.Match, cfg: dict, value: float) -> tuple[float, str]:
    """(value, unit string): percent or 百分点, the count unit when there is none, a currency's ISO code, and the
    ten-thousands folded into the value (万千瓦 → ×10⁴ 千瓦)."""
    unit_word = m.group("unit")
    if m.group("pct"):
        return value, "百分点" if "百分点" in m.group("pct") else "%"
    if not unit_word:
        return value, cfg["count_unit"]
    if unit_word in cfg["currency"]:
        return value, cfg["currency"][unit_word]
    if unit_word in cfg["ten_thousand_units"]:
        return value * 1e4, unit_word[1:]
    return value, unit_word


def _counted_noun_end(text: str, end: int, cfg: dict, is_cn: bool, value: float) -> Optional[int]:
    """个 + counted noun ("28个国家和…"): the end after the noun when the phrase ends right after it; None for a
    numbered slogan (a small Chinese-numeral count of 个 glued to a word that is no counted noun)."""
    noun = next((n for n in cfg["counted_nouns"] if text.startswith(n, end)), None)
    if noun is None:
        if is_cn and value <= cfg["numbered_slogan_max"] and _HAN_CHAR.match(text[end:end + 1] or " "):
            return None
        return end
    after = text[end + len(noun):end + len(noun) + 1]
    return end + len(noun) if not after or after in cfg["noun_terminators"] else end


def _join_ranges(figures: list[Figure], text: str, cfg: dict) -> list[Figure]:
    """Ranges as one FIGURE: two figures joined by a connector (10%至20%), or a bare number before one
    (3至5家, 3至5万家: the lower end takes the upper end's multiplier when it has none)."""
    connectors = tuple(cfg["range_connectors"])
    out: list[Figure] = []
    for f in figures:
        prev = out[-1] if out else None
        if prev is not None and prev.low is None and text[prev.end:f.start] in connectors \
                and prev.unit in (f.unit, cfg["count_unit"]):
            out[-1] = _range(prev.start, f, prev.value, text, prev.approx)
            continue
        bare = _BARE_LOW.search(text, max(0, f.start - 24), f.start)
        if bare is not None and text[bare.start() - 1:bare.start()] == "第":
            continue  # 第3至5条: an ordinal range, no quantity
        if bare is not None and bare.group("conn") in connectors and (prev is None or prev.end <= bare.start()):
            low = parse_number(bare.group("num").translate(_FW))
            if low is not None:
                out.append(_range(bare.start(), f, low * _multiplier(f, low, bare.group("num")), text, False))
                continue
        out.append(f)
    return out


# A bare number (with an optional multiplier) and a connector right before a figure: the low end of a range.
_BARE_LOW = re.compile(r"(?P<num>[0-9０-９]+(?:[.．][0-9０-９]+)?(?:万亿|亿|万|千|百)?)\s*(?P<conn>[至到—–\-~～－])\s*$")


def _multiplier(f: Figure, low: float, low_text: str) -> float:
    """The upper end's multiplier when the lower end has none (3至5万家: 3 means 3万)."""
    if any(ch in low_text for ch in "万亿千百"):
        return 1.0
    m = re.search(r"[0-9０-９]+(?:[.．][0-9０-９]+)?", f.text)
    base = parse_number(m.group().translate(_FW)) if m else None
    return f.value / base if base and f.value >= base else 1.0


def _range(start: int, upper: Figure, low: float, text: str, approx: bool) -> Figure:
    return Figure(start, upper.end, text[start:upper.end], upper.value, upper.unit, approx or upper.approx,
                  upper.bound, low)


_FRACTION = re.compile(r"(?<![\d./])(\d{1,3})\s?/\s?(\d{1,3})(?![\d./%])")
# Numbers as OCR'd from LaTeX: digits spaced out ("1 5 . 0 \\%"), ranges "{ - }", units in "\\mathrm { m g / k g }".
_SP_NUM = r"\d(?: ?\d)*(?: ?\. ?\d(?: ?\d)*)?"


def _sp_unit(n: int) -> str:
    return r"(?:\\%|%|\^ ?\{ ?\\circ ?\}|\\mathrm ?\{(?P<u" + str(n) + r">[ A-Za-z/]{1,12})\})"


_SPACED = re.compile(
    r"(?<![\w.])(?P<a>" + _SP_NUM + r") ?(?P<ua>" + _sp_unit(1) + r")?"
    r"(?: ?(?:\{ ?- ?\}|\\mathrm ?\{ ?- ?\}|-|\{ ?-) ?(?P<b>" + _SP_NUM + r") ?(?P<ub>" + _sp_unit(2) + r")? ?\}?)?")


def _spaced_unit(raw: Optional[str], inner: Optional[str]) -> Optional[str]:
    if not raw:
        return None
    if "%" in raw:
        return "%"
    if "circ" in raw:
        return "°"
    return re.sub(r"\s+", "", inner or "") or None


def _spaced_figures(text: str, cfg: dict) -> list[Figure]:
    """Figures in OCR'd formula text: "1 . 0 { - } 3 . 0 \\mathrm { c m }" → 1.0 cm (a range keeps its lower end)."""
    out = []
    if "\\" not in text:
        return out
    for m in _SPACED.finditer(text):
        unit = _spaced_unit(m.group("ua"), m.group("u1")) or _spaced_unit(m.group("ub"), m.group("u2"))
        if not unit or not (m.group("ua") or m.group("ub")):
            continue
        end = m.end()
        while end > m.start() and text[end - 1] == " ":
            end -= 1
        if text[m.start():end].count("{") < text[m.start():end].count("}"):
            pass
        value = float(m.group("a").replace(" ", ""))
        before = text[max(0, m.start() - 6):m.start()].rstrip()
        approx = any(before.endswith(q) for q in cfg.get("loose_approx", []))
        bound = "min" if any(before.endswith(q) for q in cfg.get("loose_min", [])) else \
            "max" if any(before.endswith(q) for q in cfg.get("loose_max", [])) else None
        out.append(Figure(m.start(), end, text[m.start():end], value, unit, approx, bound))
    return out


def _fractions(text: str, unit: str) -> list[Figure]:
    out = []
    if "/" not in text:  # the regex needs one; its look-behind makes the scan slow
        return out
    for m in _FRACTION.finditer(text):
        a, b = int(m.group(1)), int(m.group(2))
        if 0 < a < b <= 100:
            out.append(Figure(m.start(), m.end(), m.group(), a / b, unit, False, None))
    return out


_PART = r"(?:初|末|中叶|上半叶|下半叶|中期|前期|后期|中后期)"
# 21世纪初, 20世纪80年代, "20 世纪80 年代末" (spaced), 20世纪50年代末至60年代初 (a range of decades).
_CENTURY = re.compile(r"(?P<c>\d{1,2}|[一二三四五六七八九十]{1,3})\s*世纪\s*(?:(?P<d>\d{2}|[一二三四五六七八九]十)\s*年代)?"
                      rf"(?P<part>{_PART})?"
                      rf"(?:\s*[至到—–\-~～]\s*(?P<d2>\d{{2}}|[一二三四五六七八九]十)\s*年代(?P<part2>{_PART})?)?")
_YMD = re.compile(r"(?P<y>(?:19|20)\d{2})\s*年(?:\s*(?P<m>1[0-2]|0?[1-9])\s*月(?:\s*(?P<d>3[01]|[12]\d|0?[1-9])\s*日)?)?(?P<part>年底|年末|年初|底|初|上半年|下半年|前|以来)?")
# 一 between two years is a dash (PDF conversions write 1980一2016年).
_RANGE = re.compile(r"(?P<y1>(?:19|20)\d{2})\s*(?:年)?\s*[—–\-~～至到一]\s*(?P<y2>(?:19|20)\d{2})\s*年")
_ISO_DATE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])(?!\d)")
_MONTH_RANGE = re.compile(r"(?<!\d)(?P<m1>1[0-2]|[1-9])\s*[—–\-~至]\s*(?P<m2>1[0-2]|[1-9])\s*月")
_MD = re.compile(r"(?<!\d)(?P<m>1[0-2]|[1-9])月(?P<d>3[01]|[12]\d|[1-9])日")


def _cn_small(s: str) -> int:
    v = parse_number(s)
    return int(v) if v is not None else 0


@dataclass(frozen=True)
class DatePattern:
    """One [date] period_patterns entry: the regex, the literals a text must hold for it to run, and whether a
    match is a day of the month (8日: ISO ---08) or a relative span."""
    regex: re.Pattern
    needs: tuple[str, ...]
    day: bool = False


@dataclass(frozen=True)
class DateWords:
    """configs/entities.toml [date], compiled: relative words, spans written as a count, suffixes a date keeps,
    whether touching dates merge and the words that join a range."""
    relative: re.Pattern
    periods: tuple[DatePattern, ...]
    suffix: Optional[re.Pattern]
    merge_adjacent: bool
    range_joiners: frozenset


def _date_words(cfg: dict) -> DateWords:
    suffixes = cfg.get("date_suffixes", ())
    periods = tuple(DatePattern(re.compile(p["pattern"]), tuple(p.get("needs", ())), p.get("iso") == "day")
                    for p in cfg.get("period_patterns", ()))
    return DateWords(re.compile(_alt(cfg["relative_dates"])), periods,
                     re.compile(_alt(suffixes)) if suffixes else None, bool(cfg.get("merge_adjacent", False)),
                     frozenset(cfg.get("range_joiners", ())))


def _joined(text: str, dates: list[DateMention], words: DateWords) -> list[DateMention]:
    """Dates with their suffix (下午, 左右, 期间 …) and, when configured, touching dates as one (今年 + 4月25日;
    3月24日 至 25日): the span of both, the later one's ISO form and precision (the more specific)."""
    out: list[DateMention] = []
    for d in sorted(dates, key=lambda d: d.start):
        end = d.end
        if words.suffix is not None and (m := words.suffix.match(text, end)) and not any(
                o.start < m.end() and end < o.end for o in dates):
            end = m.end()
        d = DateMention(d.start, end, text[d.start:end], d.iso, d.precision) if end != d.end else d
        joined = bool(out) and out[-1].end + 1 == d.start and text[out[-1].end] in words.range_joiners
        if words.merge_adjacent and out and (out[-1].end == d.start or joined):
            prev = out.pop()
            if joined:  # a range: both ends
                iso = f"{prev.iso}/{d.iso}" if prev.iso and d.iso else (d.iso or prev.iso)
                d = DateMention(prev.start, d.end, text[prev.start:d.end], iso, "range")
            else:
                d = DateMention(prev.start, d.end, text[prev.start:d.end], d.iso or prev.iso, d.precision)
        out.append(d)
    return out


def _find_dates(text: str, words: DateWords) -> list[DateMention]:
    found: list[DateMention] = []
    taken = [False] * len(text)

    def add(start: int, end: int, iso: Optional[str], precision: str) -> None:
        if any(taken[start:end]):
            return
        for k in range(start, end):
            taken[k] = True
        found.append(DateMention(start, end, text[start:end], iso, precision))

    # Each regex below needs a literal (年, -, 世纪, 月, 日): a text without it is not scanned (same matches).
    has_year, has_month = "年" in text, "月" in text
    for m in _RANGE.finditer(text) if has_year else ():
        add(m.start(), m.end(), f"{m.group('y1')}/{m.group('y2')}", "range")
    for m in _ISO_DATE.finditer(text) if "-" in text else ():
        add(m.start(), m.end(), f"{m.group('y')}-{m.group('m')}-{m.group('d')}", "day")
    for m in _YMD.finditer(text) if has_year else ():
        y, mo, d = m.group("y"), m.group("m"), m.group("d")
        if d:
            iso, prec = f"{y}-{int(mo):02d}-{int(d):02d}", "day"
        elif mo:
            iso, prec = f"{y}-{int(mo):02d}", "month"
        else:
            iso, prec = y, "year"
        add(m.start(), m.end(), iso, prec)
    for m in _CENTURY.finditer(text) if "世纪" in text else ():
        c = int(m.group("c")) if m.group("c").isdigit() else _cn_small(m.group("c"))
        if not 1 <= c <= 22:
            continue
        if m.group("d"):
            dec = int(m.group("d")) if m.group("d").isdigit() else _cn_small(m.group("d"))
            if m.group("d2"):
                dec2 = int(m.group("d2")) if m.group("d2").isdigit() else _cn_small(m.group("d2"))
                add(m.start(), m.end(), f"{(c - 1) * 100 + dec:04d}s/{(c - 1) * 100 + dec2:04d}s", "range")
                continue
            add(m.start(), m.end(), f"{(c - 1) * 100 + dec:04d}s", "decade")
        else:
            add(m.start(), m.end(), f"{(c - 1) * 100:04d}/{c * 100 - 1:04d}", "century")
    for m in _MONTH_RANGE.finditer(text) if has_month else ():
        add(m.start(), m.end(), None, "range")
    for m in _MD.finditer(text) if has_month and "日" in text else ():
        add(m.start(), m.end(), f"--{int(m.group('m')):02d}-{int(m.group('d')):02d}", "day")
    for period in words.periods:
        if period.needs and not any(n in text for n in period.needs):
            continue
        for m in period.regex.finditer(text):
            if period.day:
                add(m.start(), m.end(), f"---{int(m.group()[:-1]):02d}", "day")
            else:
                add(m.start(), m.end(), None, "relative")
    for m in words.relative.finditer(text):
        add(m.start(), m.end(), None, "relative")
    return _joined(text, found, words)
