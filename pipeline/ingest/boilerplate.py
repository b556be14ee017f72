"""Boilerplate removal as a block classifier: pattern rules (data in configs/boilerplate.toml), block features,
and a content-region search over the sequence of blocks.

Every block ends as kept (content) or removed with a reason. The region search is the part that does most
of the work on flattened text: an article is a dense run of long, punctuated lines; navigation and footers are
runs of short ones around it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from pipeline.config import BoilerplateConfig, read_toml
from pipeline.ingest.blocks import Block, ends_sentence, weighted_len
from pipeline.ingest.dom import RevealRule
from pipeline.ingest.fallback import FallbackRule, PickCheck, max_sum_run
from pipeline.ingest.siterepeat import block_key

_DATETIME = re.compile(r"(19|20)\d{2}[-/.年]\d{1,2}[-/.月]\d{1,2}日?\s*\d{1,2}[:：]\d{2}")
# Clause marks inside a line; a space between two Chinese characters is one too (blogs that write prose
# with spaces instead of commas).
_INNER_PUNCT = re.compile(r"[，。；、,;]|(?<=[\u4e00-\u9fff])[ \u3000](?=[\u4e00-\u9fff])")
# A short line inside the article with a word in it (two Chinese characters, or a Latin word) is a subheading, a
# label ("专家点评") or a caption: the region search already put it between paragraphs of prose.
_WORDS = re.compile(r"[\u4e00-\u9fff]{2}|[A-Za-z]{3}")
# The signature of an official document (落款): the issuing bodies, one per line, then the date alone on its line,
# right under the last paragraph ("特此通知。"). They belong to the document, though they are short and bare.
_SIGNER = re.compile(r"^[\u4e00-\u9fff（）()、]{3,30}(政府|委员会|委|局|厅|部|署|办公室|办公厅|办|院|会|中心|处|所|站|公司|集团|协会|学会|联合会|党组|支部|社|台|馆|校|学|队|组)$")
_DATE_ONLY = re.compile(r"^\s*((19|20)\d{2}|[一二三四五六七八九〇零○Ｏ]{4})\s*年\s*[\d一二三四五六七八九十]{1,3}\s*月\s*[\d一二三四五六七八九十]{1,3}\s*日\s*$")
# A reporter's credit in brackets under the last paragraph ("（本报记者 某某 某某）") closes a news story's text.
_CREDIT = re.compile(r"^[（(【\[][^（）()【】\[\]]{0,24}(记者|通讯员|实习生)[^（）()【】\[\]]{0,30}[）)】\]]$")
_CLOSING = re.compile(r"特此(通知|公告|通告|通报|批复|函复|函告|决定|报告)|此复|此函")
HEADING = re.compile(r"^(第[一二三四五六七八九十百零\d]+[章节部分篇条]|[一二三四五六七八九十]+、|（[一二三四五六七八九十\d]+）|\([一二三四五六七八九十\d]+\)|\d+[.、．]\s*\S|[（(]?[1-9]\d?[)）])")


@dataclass(frozen=True)
class Rule:
    reason: str
    regex: re.Pattern
    max_chars: int


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    spam_prefix: re.Pattern
    site_suffix: re.Pattern
    comments_marker: re.Pattern
    feeds_marker: re.Pattern
    feed_lookahead: int
    feed_max_below: float
    end_max_chars: int
    end_min_prose: float
    dateline: re.Pattern
    placeholder_authors: frozenset[str] = frozenset()
    placeholder_publishers: frozenset[str] = frozenset()
    reveal: Optional[RevealRule] = None
    fallback: Optional[FallbackRule] = None

    def match(self, text: str) -> Optional[str]:
        for rule in self.rules:
            if len(text) <= rule.max_chars and rule.regex.search(text):
                return rule.reason
        return None


def load_rules(path: Path) -> Rules:
    """The boilerplate rules of a patterns file (configs/boilerplate.toml). The ingest stage loads them once."""
    data = read_toml(path)
    rules = tuple(Rule(r["reason"], re.compile(r["regex"], re.I), int(r.get("max_chars", 80))) for r in data["rule"])
    end = data["article_end"]
    return Rules(rules, re.compile(data["title"]["spam_prefix"]), re.compile(data["title"]["site_suffix"]),
                 re.compile(end["comments"]), re.compile(end["feeds"]), int(end["feed_lookahead"]),
                 float(end["feed_max_below"]),
                 int(end["max_chars"]), float(end["min_prose"]), re.compile(end["dateline"]),
                 _lowered(data, "placeholder_authors"), _lowered(data, "placeholder_publishers"),
                 _reveal_rule(data.get("hidden")), _fallback_rule(data.get("fallback")))


def _fallback_rule(table: Optional[dict]) -> Optional[FallbackRule]:
    if not table:
        return None
    return FallbackRule(**{k: float(v) for k, v in table.items()})


def _reveal_rule(table: Optional[dict]) -> Optional[RevealRule]:
    if not table:
        return None
    return RevealRule(float(table["min_chars"]), int(table["min_marks"]), float(table["max_link_share"]))


def _lowered(data: dict, key: str) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in data.get("metadata", {}).get(key, ()))


def is_heading(text: str) -> bool:
    return bool(HEADING.match(text)) and len(text) <= 60 and not ends_sentence(text.rstrip("。"))


def is_signer(text: str) -> bool:
    """A line naming an issuing body alone ("某市人民政府办公室"), as in an official document's signature."""
    return bool(_SIGNER.match(re.sub(r"\s+", "", text)))


# A numbered heading's number and the shape around it: "第三章" → (("第", "章"), 3), "（二）" → (("（", "）"), 2).
_NUMBERED = re.compile(r"^(第)?([一二三四五六七八九十零〇]{1,3}|\d{1,2})([章节部分篇条]|、|[.．](?!\d))|"
                       r"^([（(])([一二三四五六七八九十]{1,3}|\d{1,2})([)）])")
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}


def _numeral(text: str) -> Optional[int]:
    """一 … 九十九 or 1 … 99 as an int (None for anything else)."""
    if text.isdigit():
        return int(text)
    tens, ten, ones = text.partition("十")
    if not ten:
        return _CN_DIGITS.get(text) if len(text) == 1 else None
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)


def heading_number(text: str) -> Optional[tuple[tuple[str, bool, str], int]]:
    """A numbered heading's shape (opening mark, Arabic digits or not, closing mark) and its number."""
    m = _NUMBERED.match(text)
    if not m or not is_heading(text):
        return None
    opening, digits, closing = (m.group(1, 2, 3) if m.group(2) else m.group(4, 5, 6))
    number = _numeral(digits)
    return None if number is None else ((opening or "", digits.isdigit(), closing), number)


def _extend_to_first_heading(blocks: Sequence[Block], pattern_reason: Sequence[Optional[str]], start: int,
                             end: int) -> int:
    """The region's start moved up over numbered headings whose next sibling is inside the region ("一、出台背景"
    above a region that holds "二、主要内容"): a bare heading scores as chrome, so the region search leaves the
    first one out. A heading repeated inside the region (a table of contents) stays out."""
    inside = {heading_number(b.text) for b in blocks[start:end]}
    texts = {_norm(b.text) for b in blocks[start:end]}
    while start > 0 and pattern_reason[start - 1] is None:
        number = heading_number(blocks[start - 1].text)
        if number is None or (number[0], number[1] + 1) not in inside or _norm(blocks[start - 1].text) in texts:
            break
        start -= 1
        inside.add(number)
    return start


def content_score(block: Block, short_line: int) -> float:
    """Positive for text that reads like article prose, negative for chrome. Roughly characters of prose."""
    length = weighted_len(block.text)
    if block.link_density > 0.5:
        return -max(length, 5.0)
    punct = block.punct
    score = length * (1.0 - block.link_density)
    if punct == 0 and length < short_line * 2:
        score = -5.0 if not is_heading(block.text) else 1.0
    elif not ends_sentence(block.text) and length < short_line:
        score = -3.0
    elif not ends_sentence(block.text) and length < 40 and len(_INNER_PUNCT.findall(block.text)) < 2 \
            and not is_heading(block.text) and block.in_main is not True:
        # Headline lists (related articles, feeds): one-clause lines without a full stop. Prose broken across
        # lines keeps its commas; a broken sentence's tail is re-joined later anyway.
        score = -2.0
    if block.cjk < length * 0.3:
        score *= 0.3  # mostly Latin/digits: codes, URLs, English menus
    return score


def choose_region(blocks: Sequence[Block], scores: Sequence[float]) -> tuple[int, int]:
    """The [start, end) run of blocks holding the article: the maximum-sum run of content scores, where chrome
    counts against. Long chrome runs between two content runs therefore split them, and the bigger side wins."""
    start, end, _ = max_sum_run(scores)
    # Trim chrome at the edges of the run.
    while start < end and scores[start] <= 0 and not is_heading(blocks[start].text):
        start += 1
    while end > start and scores[end - 1] <= 0:
        end -= 1
    return start, end


def _is_anchor(block: Block, score: float, anchor_line: int) -> bool:
    return score > 0 and weighted_len(block.text) >= anchor_line and len(_INNER_PUNCT.findall(block.text)) >= 2


def _trim_to_anchors(blocks: Sequence[Block], scores: Sequence[float], start: int, end: int,
                     anchor_line: int) -> tuple[int, int]:
    """Cut a region's ragged edges: it ends at its last anchor (a long, punctuated paragraph) plus at most two
    sentence-ending lines after it, and begins at most three positive lines before its first anchor. Feeds of
    headlines after an article add up to a positive run, but hold no anchor."""
    anchors = [i for i in range(start, end) if _is_anchor(blocks[i], scores[i], anchor_line)]
    if not anchors:
        return start, end
    last = anchors[-1] + 1
    extra = 0
    while last < end and extra < 2 and scores[last] > 0 and ends_sentence(blocks[last].text):
        last += 1
        extra += 1
    first = anchors[0]
    lead = 0
    while first > start and lead < 3 and (scores[first - 1] > 0 or is_heading(blocks[first - 1].text)):
        first -= 1
        lead += 1
    return first, last


def _before_end_marker(blocks: Sequence[Block], scores: Sequence[float], start: int, end: int, rules: Rules,
                       anchor_line: int) -> tuple[int, int]:
    """A run of headlines (no full paragraph in it) below a line that closes an article (a platform disclaimer,
    the comment section) is a feed; the article is the run of prose above that line, if there is one."""
    if any(_is_anchor(blocks[k], scores[k], anchor_line) for k in range(start, end)):
        return start, end
    marker = next((j for j in range(start - 1, -1, -1) if len(blocks[j].text.strip()) <= rules.end_max_chars
                   and rules.comments_marker.search(blocks[j].text.strip())), None)
    if marker is None:
        return start, end
    s2, e2 = choose_region(blocks[:marker], scores[:marker])
    if sum(x for x in scores[s2:e2] if x > 0) < 60:
        return start, end
    return s2, e2


def _article_resumes(blocks: Sequence[Block], scores: Sequence[float], box: int, end: int, anchor_line: int,
                     max_headlines: int = 12, min_paragraphs: int = 3) -> bool:
    """A box of headlines set into the article: right after its list (at most `max_headlines` lines), the
    article's prose goes on, several full paragraphs in a row. A feed of other stories after an article never
    holds such a run (at most one lead under each headline)."""
    first = next((k for k in range(box + 1, min(box + 2 + max_headlines, end))
                  if _is_anchor(blocks[k], scores[k], anchor_line)), None)
    return first is not None and first + min_paragraphs <= end and all(
        _is_anchor(blocks[k], scores[k], anchor_line) for k in range(first, first + min_paragraphs))


def _cut_at_article_end(blocks: Sequence[Block], scores: Sequence[float], start: int, end: int,
                        rules: Rules, anchor_line: int) -> int:
    """The region's end moved up, once it holds real prose, to the comment section, to a related-reading or
    recommendation box followed by headlines, or to the headline of another story that opens with its own
    dateline (a feed of headline + lead pairs)."""
    total = sum(max(x, 0.0) for x in scores[start:end])
    above = 0.0
    for j in range(start, end):
        if above >= rules.end_min_prose:
            text = blocks[j].text.strip()
            if len(text) <= rules.end_max_chars:
                if rules.comments_marker.search(text):
                    return j
                if rules.feeds_marker.match(text) and total - above <= rules.feed_max_below * above and not any(
                        _is_anchor(blocks[k], scores[k], anchor_line)
                        for k in range(j + 1, min(j + 1 + rules.feed_lookahead, end))) \
                        and not _article_resumes(blocks, scores, j, end, anchor_line):
                    return j
            headline = j - 1
            if rules.dateline.match(text) and scores[j] > 0 and headline > start \
                    and not ends_sentence(blocks[headline].text) and weighted_len(blocks[headline].text) < 60:
                return headline
        above += max(scores[j], 0.0)
    return end


_TRAILING_NOTE = re.compile(r"[（(][^（）()]{1,20}[）)]\s*$")


def _continued_end(blocks: Sequence[Block], pattern_reason: Sequence[Optional[str]], end: int,
                   max_lines: int = 4) -> int:
    """The region's end moved past the rest of a paragraph that flattening cut at its inline links: a prose line
    that stops mid-sentence ("…研究结果发表在"), then up to three pieces, the last of which ends the sentence
    ("科学", "刊物《自然》上。")."""
    if end <= 0 or end >= len(blocks) or not ends_sentence(blocks[end - 1].text):
        return end
    first = blocks[end].text
    if pattern_reason[end] or ends_sentence(first) or weighted_len(first) < 15 \
            or len(_INNER_PUNCT.findall(first)) < 1 or blocks[end].cjk < len(first) * 0.3:
        return end
    for j in range(end + 1, min(end + max_lines, len(blocks))):
        if pattern_reason[j] or blocks[j].link_density > 0.5 and blocks[end].link_density <= 0.5:
            return end
        # A sentence may close before a credit in brackets: "…上。（编译/某某）".
        if ends_sentence(_TRAILING_NOTE.sub("", blocks[j].text)):
            return j + 1
    return end


def _continued_start(blocks: Sequence[Block], pattern_reason: Sequence[Optional[str]], start: int,
                     max_lines: int = 5) -> int:
    """The region's start moved up over the first lines of a paragraph that flattened text (a PDF conversion)
    wrapped: each line above stops mid-sentence, holds a clause mark and is about as wide as the line under it,
    which goes on with the sentence. Such lines score as headlines (one clause, no full stop)."""
    if start <= 0 or start >= len(blocks) or blocks[start].line is None or is_heading(blocks[start].text):
        return start
    moved = 0
    while start > 0 and moved < max_lines:
        above, first = blocks[start - 1], blocks[start]
        if pattern_reason[start - 1] or ends_sentence(above.text) or is_heading(above.text) \
                or not _INNER_PUNCT.search(above.text) or above.cjk < len(above.text) * 0.5:
            break
        width = weighted_len(first.text)
        if width < 15 or weighted_len(above.text) < _WRAP_WIDTH_SHARE * width:
            break
        start -= 1
        moved += 1
    return start


# A wrapped line is at least this share of the width of the line under it (the first line of a paragraph may be
# indented by two characters; 0.8 of a 25-character line leaves room for that and no more).
_WRAP_WIDTH_SHARE = 0.8


def _signature_end(blocks: Sequence[Block], end: int) -> int:
    """The region's end moved past a reporter's credit in brackets, or past an official document's signature: at
    most three issuing-body lines, then a date line. A bare date line counts alone only under a closing formula
    ("特此通知。")."""
    if end <= 0 or not ends_sentence(blocks[end - 1].text):
        return end
    if end < len(blocks) and _CREDIT.match(blocks[end].text.strip()):
        return end + 1
    j = end
    while j < len(blocks) and j - end < 3 and _SIGNER.match(re.sub(r"\s+", "", blocks[j].text)):
        j += 1
    if j < len(blocks) and _DATE_ONLY.match(blocks[j].text) and (j > end or _CLOSING.search(blocks[end - 1].text)):
        return j + 1
    return end


# Pattern reasons that stay as they are below the article (the rest are reported as "footer" there).
_KEEP_REASON_BELOW = ("contact", "copyright", "spam", "site_repeat", "disclaimer", "citation")


@dataclass
class Verdict:
    keep: bool
    reason: Optional[str] = None


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def title_indices(blocks: Sequence[Block], titles: Sequence[str]) -> list[int]:
    """Blocks that repeat the page title, h1-level ones first: the article starts right after one of them."""
    keys = [_norm(t) for t in titles if t and len(_norm(t)) >= 4]
    if not keys:
        return []
    found = []
    for i, b in enumerate(blocks):
        k = _norm(b.text)
        if len(k) < 4 or len(k) > 120:
            continue
        if any(k == t or (len(k) >= 8 and (k in t or t in k)) for t in keys):
            found.append(i)
    return sorted(found, key=lambda i: (blocks[i].heading_level == 0, i))


def classify_blocks(blocks: Sequence[Block], cfg: BoilerplateConfig, rules: Rules, *,
                    site_repeats: frozenset = frozenset(), titles: Sequence[str] = ()) -> list[Verdict]:
    """A verdict for every block. Lines in `site_repeats` (repeated on other pages of the site) are removed, unless
    that would take away most of the article: then the page is one of several copies of the same article."""
    verdicts = _classify_blocks(blocks, cfg, rules, titles, frozenset())
    if not site_repeats or not any(v.keep and block_key(b.text) in site_repeats for b, v in zip(blocks, verdicts)):
        return verdicts
    with_repeats = _classify_blocks(blocks, cfg, rules, titles, site_repeats)
    kept = sum(weighted_len(b.text) for b, v in zip(blocks, verdicts) if v.keep)
    kept_now = sum(weighted_len(b.text) for b, v in zip(blocks, with_repeats) if v.keep)
    if kept_now < (1.0 - cfg.site_repeat_max_share) * kept:
        return verdicts
    return with_repeats


def _classify_blocks(blocks: Sequence[Block], cfg: BoilerplateConfig, rules: Rules, titles: Sequence[str],
                     site_repeats: frozenset) -> list[Verdict]:
    scores, pattern_reason = _block_scores(blocks, cfg, rules, site_repeats)
    start, end = _article_region(blocks, scores, pattern_reason, rules, cfg, titles)

    def verdicts_for(start: int, end: int) -> list[Verdict]:
        start = _extend_to_first_heading(blocks, pattern_reason, _continued_start(blocks, pattern_reason, start), end)
        end = _continued_end(blocks, pattern_reason, end)
        return _region_verdicts(blocks, scores, pattern_reason, start, end, _signature_end(blocks, end),
                                cfg.short_line)

    verdicts = verdicts_for(start, end)
    if rules.fallback is None:
        return verdicts
    check = PickCheck(blocks, scores, pattern_reason, rules.fallback, rules.comments_marker)
    return check.better_pick(verdicts, verdicts_for, lambda s, e: _cut_at_article_end(
        blocks, scores, s, e, rules, cfg.anchor_line))


def _block_scores(blocks: Sequence[Block], cfg: BoilerplateConfig, rules: Rules,
                  site_repeats: frozenset) -> tuple[list[float], list[Optional[str]]]:
    """Each block's content score and the reason a pattern or its chrome label gives to remove it (or None)."""
    short_line = cfg.short_line
    scores, pattern_reason = [], []
    for b in blocks:
        reason = rules.match(b.text)
        if reason is None and site_repeats and block_key(b.text) in site_repeats:
            reason = "site_repeat"
        if reason is None and b.chrome:
            score = content_score(b, short_line)
            if not ((b.in_main and score > 40) or score >= cfg.chrome_prose_score):
                reason = b.chrome
        if reason is None and b.link_density > cfg.max_link_density and weighted_len(b.text) < 200:
            reason = "navigation"
        pattern_reason.append(reason)
        score = -10.0 if reason else content_score(b, short_line)
        if weighted_len(b.text) < 80 and (reason == "metadata" or _DATETIME.search(b.text)):
            # A byline or time stamp starts (or ends) an article: in a page of several posts it separates them.
            score = -60.0
        if b.in_main is False and score > 0:
            score *= 0.5  # outside the container the DOM scorer chose: doubtful, not excluded
        scores.append(score)
    return scores, pattern_reason


def _article_region(blocks: Sequence[Block], scores: Sequence[float], pattern_reason: Sequence[Optional[str]],
                    rules: Rules, cfg: BoilerplateConfig, titles: Sequence[str]) -> tuple[int, int]:
    """The [start, end) run of blocks chosen as the article: the best run of content scores, moved under the
    page title when one stands close above a run of prose, cut at the article's end and trimmed to its anchors."""
    start, end = choose_region(blocks, scores)
    start, end = _before_end_marker(blocks, scores, start, end, rules, cfg.anchor_line)
    occurrences = title_indices(blocks, titles)
    if occurrences and not any(t < start <= t + 12 for t in occurrences):
        start, end = _under_title(blocks, scores, occurrences, start, end)
    if any(t < start <= t + 12 for t in occurrences):
        # Under its title, the article ends at a heading that opens a run of non-prose ("其他人也在看", then a
        # feed of other stories).
        for j in range(start + 1, end - 2):
            if blocks[j].heading_level and all(x <= 0 for x in scores[j:j + 3]) \
                    and any(b.link_density >= 0.5 for b in blocks[j + 1:j + 4]):
                end = j
                break
    end = _cut_at_article_end(blocks, scores, start, end, rules, cfg.anchor_line)
    return _trim_to_anchors(blocks, scores, start, end, cfg.anchor_line)


def _under_title(blocks: Sequence[Block], scores: Sequence[float], occurrences: Sequence[int], start: int,
                 end: int) -> tuple[int, int]:
    """GNE's insight: the article follows its title, and ends where the next heading of the title's rank starts
    another item (recommendation feeds). The first title occurrence followed closely by a run of real prose gives
    the region, unless the region found without it is far bigger and overlaps it."""
    for t in occurrences:
        stop = len(blocks)
        level = blocks[t].heading_level
        if level:
            stop = next((j for j in range(t + 1, len(blocks)) if 0 < blocks[j].heading_level <= level
                         and len(blocks[j].text) >= 8 and any(x > 20 for x in scores[t + 1:j])), len(blocks))
        s2, e2 = choose_region(blocks[t + 1:stop], scores[t + 1:stop])
        near = s2 <= 12 and sum(x for x in scores[t + 1 + s2:t + 1 + e2] if x > 0) >= 60
        if not near:
            continue
        inside_old = sum(x for x in scores[start:end] if x > 0)
        inside_new = sum(x for x in scores[t + 1 + s2:t + 1 + e2] if x > 0)
        if stop < len(blocks) or not (start <= t + 1 + s2 < end and inside_old > 3 * inside_new):
            return t + 1 + s2, t + 1 + e2
        break
    return start, end


def _region_verdicts(blocks: Sequence[Block], scores: Sequence[float], pattern_reason: Sequence[Optional[str]],
                     start: int, end: int, signature_end: int, short_line: float) -> list[Verdict]:
    """Blocks before the region are navigation (or their pattern's reason), blocks after it footer; inside, a
    pattern's reason or a bare short line removes a block; [end, signature_end) is the document's signature."""
    verdicts = []
    for i, b in enumerate(blocks):
        if i < start:
            verdicts.append(Verdict(False, pattern_reason[i] or ("outside_article" if b.in_main is False else "navigation")))
        elif i >= signature_end:
            reason = pattern_reason[i]
            if reason not in _KEEP_REASON_BELOW:
                reason = "footer"
            verdicts.append(Verdict(False, reason))
        elif i >= end:
            verdicts.append(Verdict(True, "signature"))
        elif pattern_reason[i] and pattern_reason[i] != "outside_article":
            verdicts.append(Verdict(False, pattern_reason[i]))
        elif scores[i] < 0 and weighted_len(b.text) < short_line and not is_heading(b.text) \
                and not (verdicts and verdicts[-1].keep and not ends_sentence(blocks[i - 1].text)) \
                and not _WORDS.search(b.text):
            # A short line right after a kept line that stopped mid-sentence is its continuation.
            verdicts.append(Verdict(False, "short"))
        else:
            verdicts.append(Verdict(True))
    return verdicts
