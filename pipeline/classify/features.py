"""Feature frame for the classifier: tokens, raw text, heading, heading category, position and cue counts.

All features are computed here from configs/ data, so the fitted model holds only standard scikit-learn
objects (it loads with skops, no custom code)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional, Sequence

import pandas as pd

from pipeline.config import Settings, load_toml_data
from pipeline.records import LABELS

HEADING_NUMBER = re.compile(r"^(第[一二三四五六七八九十百\d]+[章节部分篇条]|[一二三四五六七八九十]+、|（[一二三四五六七八九十\d]+）|\d+[.、．])\s*")


@dataclass(frozen=True)
class Item:
    """One thing to classify: a passage or a sentence, with its document context."""
    text: str
    heading: Optional[str] = None
    position: float = 0.0  # relative position of the passage in its document, 0..1
    is_sentence: bool = False
    tokens: Optional[tuple[str, ...]] = None  # words already segmented by the NLP stage, if any


@lru_cache(maxsize=2)
def _actor_words(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words naming the document's own subject (CN and LOCAL) and words naming foreign actors."""
    actors = load_toml_data(path)["actors"]
    own = tuple(actors.get("CN", [])) + tuple(actors.get("LOCAL", []))
    foreign = tuple(w for code, words in actors.items() if code not in ("CN", "LOCAL") for w in words)
    return own, foreign


@lru_cache(maxsize=2)
def _cues(path: str) -> tuple[dict, dict]:
    data = load_toml_data(path)
    return data["cues"], data["headings"]


def heading_category(heading: Optional[str], heading_cues: dict) -> str:
    if not heading:
        return "none"
    h = HEADING_NUMBER.sub("", heading)
    for label in ("challenge", "recommendation", "achievement", "background"):
        if any(w in h for w in heading_cues.get(label, ())):
            return label
    return "other"


def build_frame(items: Sequence[Item], tokenize: Callable[[str], list[str]], settings: Settings) -> pd.DataFrame:
    return pd.DataFrame(feature_rows(items, tokenize, settings))


def feature_rows(items: Sequence[Item], tokenize: Callable[[str], list[str]], settings: Settings) -> list[dict]:
    """The frame's rows as plain dicts (the classifier's fast predict path reads them without pandas)."""
    cues, heading_cues = _cues(str(settings.path(settings["classify"]["cues"])))
    own, foreign = _actor_words(str(settings.path(settings["classify"]["actors"])))
    rows = []
    for it in items:
        row = {
            "text": it.text,
            "tokens": " ".join(t for t in (it.tokens if it.tokens is not None else tokenize(it.text)) if t.strip()),
            "heading": it.heading or "",
            "heading_cat": heading_category(it.heading, heading_cues),
            "position": float(it.position),
            "is_sentence": float(it.is_sentence),
            "length": min(len(it.text), 600) / 600.0,
        }
        for label in LABELS:
            row[f"cue_{label}"] = float(sum(it.text.count(w) for w in cues[label]))
        # Whose story is it: the subject's own (我国, 我省) or another actor's (美国, 欧盟)? Decides
        # achievement vs background for the same success wording.
        row["actor_own"] = float(min(sum(it.text.count(w) for w in own), 10))
        row["actor_foreign"] = float(min(sum(it.text.count(w) for w in foreign), 10))
        rows.append(row)
    return rows


NUMERIC_COLUMNS = ["position", "is_sentence", "length", "actor_own", "actor_foreign"] + [f"cue_{l}" for l in LABELS]


def sentence_summary(sentence_probs):
    """First, last and per-label maximum of a passage's sentence probabilities (a passage that lists facts and
    closes with a judgement takes the judgement's label: the last sentence matters)."""
    import numpy as np

    sp = np.asarray(sentence_probs, dtype=float)
    return np.concatenate([sp[0], sp[-1], sp.max(axis=0)])


def context_matrix(probs, groups, positions, summaries=None):
    """Second-stage features for each passage: its own probabilities, its sentences' summary, its neighbours'
    (previous, next, and a ±2 window), and position. Passages of a document are given in order; `groups`
    names their document."""
    import numpy as np

    probs = np.asarray(probs, dtype=float)
    n, k = probs.shape if probs.size else (0, len(LABELS))
    summaries = np.tile(probs, 3) if summaries is None else np.asarray(summaries, dtype=float).reshape(n, 3 * k)
    out = np.zeros((n, 7 * k + 1))
    start = 0
    while start < n:
        end = start
        while end < n and groups[end] == groups[start]:
            end += 1
        block = probs[start:end]
        for i in range(end - start):
            prev = block[i - 1] if i > 0 else block[i]
            nxt = block[i + 1] if i + 1 < len(block) else block[i]
            window = block[max(0, i - 2):i + 3].mean(axis=0)
            out[start + i] = np.concatenate([block[i], summaries[start + i], prev, nxt, window,
                                             [positions[start + i]]])
        start = end
    return out
