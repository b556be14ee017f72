"""Who a passage is about: CN, US, EU, … or the document's own locality, from actor words in configs/."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

from pipeline.config import Settings, load_toml_data
from pipeline.sentences import split_sentences


@lru_cache(maxsize=2)
def _actors(path: str) -> tuple[dict, bool]:
    data = load_toml_data(path)
    return data["actors"], data["options"]["inherit"]


def detect_actors(texts: Sequence[str], settings: Settings) -> list[Optional[str]]:
    from pipeline.classify.features import word_counter

    actors, inherit = _actors(str(settings.path(settings["classify"]["actors"])))
    codes = list(actors)
    # Each code's sum(text.count(w) for w in words), for all codes in one Aho-Corasick pass.
    count_words = word_counter(tuple(tuple(actors[code]) for code in codes))
    out: list[Optional[str]] = []
    previous: Optional[str] = None
    for text in texts:
        spans = split_sentences(text)
        first = text[spans[0][0]:spans[0][1]] if spans else text
        counts = {code: a + b for code, a, b in zip(codes, count_words(text), count_words(first)) if a + b}
        if counts:
            best = max(counts, key=counts.get)
            previous = best
            out.append(best)
        else:
            out.append(previous if inherit else None)
    return out
