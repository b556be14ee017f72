"""No silent collapse: a check on the article region the block classifier picked, and alternatives when the pick is
implausible.

A pick is implausible when it holds a small share of the page's prose (an encyclopedia entry cut down to one
section, a long article split at a table), very little prose on a page that has plenty, or when it is mostly list
items or links (a sidebar or a feed won over the article). Then other regions are scored: the span of the prose
inside the DOM container chosen as the article, the best run under lenient scores (chrome inside the article costs
little, so sections separated by infoboxes, captions or tables join), and the best run elsewhere on the page. An
alternative replaces the pick only if it is not itself a list and holds clearly more prose. Thresholds:
configs/boilerplate.toml [fallback], with where they come from.

"Prose" here is a block the scorer counts as content (positive score, no removal pattern) with clause marks and at
most a few links, counted in CJK-weighted characters, above the first comment-section line of the page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from pipeline.ingest.blocks import Block, weighted_len


@dataclass(frozen=True)
class FallbackRule:
    min_share: float  # the pick holds less than this share of the page's prose …
    min_missing: float  # … and leaves out at least this much of it: implausible
    min_kept: float  # the pick holds less prose than this while the page has `min_missing` more: implausible
    max_list_share: float  # a pick whose text is more than this share list items is a list
    max_link_share: float  # a pick whose text is more than this share link text is navigation
    prose_link_density: float  # a block with more link text than this is not prose
    min_gain: float  # an alternative must hold this many times the pick's prose
    gap_cost: float  # lenient scores: what a non-prose block inside the article costs


def max_sum_run(scores: Sequence[float]) -> tuple[int, int, float]:
    """The [start, end) run with the largest sum of scores (Kadane), and the sum."""
    best_sum, best = float("-inf"), (0, 0)
    cur_sum, cur_start = 0.0, 0
    for i, s in enumerate(scores):
        if cur_sum <= 0:
            cur_sum, cur_start = 0.0, i
        cur_sum += s
        if cur_sum > best_sum:
            best_sum, best = cur_sum, (cur_start, i + 1)
    return best[0], best[1], best_sum


@dataclass
class PickMeasures:
    prose: float  # CJK-weighted characters of prose kept
    list_share: float  # share of the kept text in list items
    link_share: float  # share of the kept text in links


class PickCheck:
    """Measures a pick (verdicts) against the page's prose and offers better alternatives."""

    def __init__(self, blocks: Sequence[Block], scores: Sequence[float], pattern_reason: Sequence[Optional[str]],
                 rule: FallbackRule, comments_marker: re.Pattern):
        self.blocks, self.scores, self.rule = blocks, scores, rule
        self.is_prose = [r is None and s > 0 and b.link_density <= rule.prose_link_density and b.punct > 0
                         and not b.in_list
                         for b, s, r in zip(blocks, scores, pattern_reason)]
        self.cutoff = self._comments_start(comments_marker)
        self.page_prose = sum(weighted_len(b.text) for b, p in zip(blocks[:self.cutoff], self.is_prose) if p)

    def _comments_start(self, marker: re.Pattern) -> int:
        """The first comment-section line below some prose: readers' comments are prose but not the article."""
        seen = False
        for i, (b, p) in enumerate(zip(self.blocks, self.is_prose)):
            if seen and len(b.text) <= 80 and marker.search(b.text.strip()):
                return i
            seen = seen or p
        return len(self.blocks)

    def measure(self, verdicts) -> PickMeasures:
        prose = listed = linked = total = 0.0
        for b, v, p in zip(self.blocks, verdicts, self.is_prose):
            if not v.keep:
                continue
            length = weighted_len(b.text)
            total += length
            prose += length if p else 0.0
            listed += length if b.in_list or b.tag in ("li", "dd", "dt") else 0.0
            linked += length * b.link_density
        total = max(total, 1.0)
        return PickMeasures(prose, listed / total, linked / total)

    def is_list(self, m: PickMeasures) -> bool:
        return m.list_share > self.rule.max_list_share or m.link_share > self.rule.max_link_share

    def implausible(self, m: PickMeasures) -> Optional[str]:
        """Why the pick is implausible, or None."""
        rule = self.rule
        missing = self.page_prose - m.prose
        if self.is_list(m) and missing >= rule.min_kept:
            return "list"
        if missing >= rule.min_missing and m.prose < rule.min_kept:
            return "little prose"
        if missing >= rule.min_missing and m.prose < rule.min_share * self.page_prose:
            return "small share"
        return None

    def candidate_regions(self, verdicts) -> list[tuple[str, int, int]]:
        """Alternative [start, end) regions: the prose span of the DOM's article container, the best lenient run,
        and the best run outside the current pick."""
        n = self.cutoff
        out = []
        inside = [i for i in range(n) if self.is_prose[i] and self.blocks[i].in_main]
        if inside:
            out.append(("container", inside[0], inside[-1] + 1))
        lenient = [weighted_len(self.blocks[i].text) if self.is_prose[i] else -self.rule.gap_cost
                   for i in range(n)]
        start, end, total = max_sum_run(lenient)
        if total > 0:
            out.append(("lenient", start, end))
        kept = {i for i, v in enumerate(verdicts) if v.keep}
        elsewhere = [float("-inf") if i in kept else s for i, s in enumerate(self.scores[:n])]
        start, end, total = max_sum_run(elsewhere)
        if total > 0:
            out.append(("elsewhere", start, end))
        return out

    def better_pick(self, verdicts, verdicts_for: Callable[[int, int], list],
                    cut_end: Callable[[int, int], int]) -> list:
        """`verdicts`, or the verdicts of an alternative region when the pick is implausible. An alternative must
        not be a list. One that keeps all the pick's prose (it extends the pick over what split it) must add at
        least `min_missing` of prose; one elsewhere on the page replaces the pick only when the pick is a list or
        holds little prose, and must keep `min_gain` times its prose (and at least `min_kept`)."""
        current = self.measure(verdicts)
        why = self.implausible(current)
        if why is None:
            return verdicts
        kept_prose = {i for i, v in enumerate(verdicts) if v.keep and self.is_prose[i]}
        best, best_prose = verdicts, current.prose
        for _name, start, end in self.candidate_regions(verdicts):
            alt = verdicts_for(start, cut_end(start, end))
            m = self.measure(alt)
            if self.is_list(m) or m.prose <= best_prose:
                continue
            if all(alt[i].keep for i in kept_prose):
                good = m.prose >= current.prose + self.rule.min_missing
            elif why == "list":
                good = m.prose >= self.rule.min_kept
            else:
                good = why != "small share" and m.prose >= max(current.prose * self.rule.min_gain, self.rule.min_kept)
            if good:
                best, best_prose = alt, m.prose
        return best
