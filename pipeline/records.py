"""Typed records passed between the stages: ingest → nlp → classify → export."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from typing import Any, Optional

LABELS: tuple[str, ...] = ("achievement", "challenge", "recommendation", "background")
ENTITY_TYPES: tuple[str, ...] = ("INSTITUTION", "PROGRAMME", "FIGURE", "DATE", "PERSON", "GPE")


@dataclass
class Source:
    path: Optional[str] = None
    url: Optional[str] = None
    site: Optional[str] = None


@dataclass
class RemovedBlock:
    """A block the ingest stage dropped, with why (contact, navigation, widget, footer, metadata, title …)."""
    text: str
    reason: str
    line: Optional[int] = None  # 1-based line in flattened input, when the input was text


@dataclass
class Paragraph:
    """A body paragraph of the cleaned article, offsets into CleanDocument.body."""
    text: str
    start: int
    end: int
    kind: str = "paragraph"  # or "heading": a section heading kept as context
    lines: list[int] = field(default_factory=list)


@dataclass
class CleanDocument:
    """What ingest hands on: the article without its web chrome, plus metadata. Knows nothing of NLP."""
    title: Optional[str]
    title_raw: Optional[str]
    title_restored: Optional[str]
    published_at: Optional[str]
    source: Source
    paragraphs: list[Paragraph]
    removed: list[RemovedBlock]
    body: str
    language: str = "zh"
    input_kind: str = "text"  # text | html
    encoding: Optional[str] = None
    author: Optional[str] = None
    publisher: Optional[str] = None  # 来源：… (the issuing body or outlet)
    joined_breaks: int = 0
    content_hash: str = ""
    subtitle: Optional[str] = None  # a plain-text document's subtitle line (——在…上的报告), out of the body
    truncated: Optional[str] = None  # what a limit or a damaged container cut from the input (set by the runner)


@dataclass
class Entity:
    text: str
    type: str
    start: int  # within its passage
    end: int
    passage: int
    canonical: str
    source: str = "rule"  # rule | gazetteer | model | pattern
    value: Optional[float] = None
    unit: Optional[str] = None
    approx: Optional[bool] = None
    bound: Optional[str] = None
    date_iso: Optional[str] = None
    date_precision: Optional[str] = None
    low: Optional[float] = None  # a range's lower end (3至5家: low 3, value 5)


# What an entity carries beyond its text, type and offsets: one list for the NLP stage, export and annotate.
ENTITY_ATTRS = ("canonical", "value", "unit", "approx", "bound", "low", "source", "date_iso", "date_precision")


@dataclass
class Sentence:
    text: str
    start: int  # within its passage
    end: int
    label: str = "background"
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Passage:
    index: int
    text: str
    start: int  # within the cleaned body
    end: int
    kind: str = "paragraph"
    heading: Optional[str] = None
    label: str = "background"
    secondary: Optional[str] = None
    scores: dict[str, float] = field(default_factory=dict)
    actor: Optional[str] = None
    sentences: list[Sentence] = field(default_factory=list)


@dataclass
class Document:
    """The pipeline's output for one input: what export writes as one JSONL line."""
    doc_id: str
    source: Source
    title: Optional[str]
    title_raw: Optional[str]
    title_restored: Optional[str]
    published_at: Optional[str]
    language: str
    removed: list[RemovedBlock]
    passages: list[Passage]
    entities: list[Entity]
    author: Optional[str] = None
    publisher: Optional[str] = None
    subtitle: Optional[str] = None
    duplicate_of: Optional[str] = None
    truncated: Optional[str] = None
    schema_version: str = ""
    pipeline_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """dataclasses.asdict for our records: dataclasses become dicts (field order kept), lists, tuples and dicts are
    rebuilt, scalars pass through. asdict deep-copies every leaf on the way, which was a tenth of a batch's time;
    our leaves are immutable (str, int, float, bool, None), so nothing needs copying."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    if kind is dict:
        return {k: v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(plain(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return {name: (v if type(v) in _SCALARS else plain(v))
                for name, v in ((name, getattr(value, name)) for name in _field_names(kind))}
    return copy.deepcopy(value)  # anything else: what asdict does


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@dataclass
class InputOutcome:
    """What became of one input of a batch."""
    input: str
    status: str  # processed | skipped | failed
    reason: Optional[str] = None
    doc_id: Optional[str] = None
    duplicate_of: Optional[str] = None
    content_hash: Optional[str] = None
    seconds: float = 0.0


@dataclass
class RunSummary:
    out_dir: str
    processed: int
    skipped: int
    failed: int
    outcomes: list[InputOutcome]
    seconds: float
    reused: int = 0  # inputs found done in the run store and not redone

    @property
    def ok(self) -> bool:
        return self.processed + self.reused > 0
