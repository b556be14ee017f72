"""Who a passage is about: CN, US, EU, … or the document's own locality, from actor words in configs/."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from pipeline.config import read_toml
from pipeline.sentences import split_sentences


@dataclass(frozen=True, eq=False)
class ActorWords:
    """configs/lexicons/actors.toml: words per actor code, and whether a passage without one inherits the
    previous passage's actor. Read once by the classifier that owns them."""
    actors: dict[str, list[str]]
    inherit: bool


def load_actor_words(path: Path) -> ActorWords:
    data = read_toml(path)
    return ActorWords(data["actors"], data["options"]["inherit"])


def detect_actors(texts: Sequence[str], words: ActorWords) -> list[Optional[str]]:
    from pipeline.classify.features import word_counter

    actors, inherit = words.actors, words.inherit
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
