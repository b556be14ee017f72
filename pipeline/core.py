"""What the analysis does with a batch of cleaned documents, over the entities and classify stages (the Pipeline,
pipeline.pipeline, calls these): NLP and classification → Documents; and `annotate_records` for clean passages."""
from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from pipeline.classify.features import Item
from pipeline.export import SCHEMA_VERSION
from pipeline.nlp.linking import link_document
from pipeline.records import ENTITY_ATTRS, CleanDocument, Document, Entity, Passage, Sentence
from pipeline.sentences import split_sentences

if TYPE_CHECKING:  # the stages' types only: the Pipeline builds them
    from pipeline.classify.model import PassageClassifier
    from pipeline.nlp.pipeline import NlpStage

try:
    PIPELINE_VERSION = version("policyminer")
except PackageNotFoundError:  # running from a source checkout
    PIPELINE_VERSION = "0.1.0"


def analyse_many(cleans: Sequence[CleanDocument], nlp: NlpStage, classifier: PassageClassifier) -> list[Document]:
    """Each document's entities and labels, with one classifier call for all their passages and sentences: the
    classifier has a cost per call, whatever the number of rows, that a batch of documents shares (a worker's chunk
    of 8 classifies in about 0.83 of the time of 8 calls: benchmarks/parts.py). Each document keeps its own context
    (neighbours, positions, actors): every Document equals the analysis of that document alone."""
    texts, headings, positions, token_spans, groups, entity_lists = [], [], [], [], [], []
    for d, clean in enumerate(cleans):
        current = None
        for p in clean.paragraphs:
            headings.append(current)
            if p.kind == "heading":
                current = p.text
        own = [p.text for p in clean.paragraphs]
        positions += [i / max(len(own) - 1, 1) for i in range(len(own))]
        ents, spans = nlp.analyse(own)
        texts += own
        token_spans += spans
        groups += [d] * len(own)
        entity_lists.append(ents)
    passages = tag_passages(texts, headings, positions, classifier,
                            kinds=[p.kind for c in cleans for p in c.paragraphs],
                            offsets=[(p.start, p.end) for c in cleans for p in c.paragraphs], groups=groups,
                            token_spans=token_spans)
    docs, start = [], 0
    for clean, ents in zip(cleans, entity_lists):
        n = len(clean.paragraphs)
        own = [replace(p, index=i) for i, p in enumerate(passages[start:start + n])]  # index within the document
        start += n
        docs.append(Document(
            doc_id=hashlib.sha256(clean.body.encode("utf-8")).hexdigest()[:16], source=clean.source,
            title=clean.title, title_raw=clean.title_raw, title_restored=clean.title_restored,
            published_at=clean.published_at, language=clean.language, removed=clean.removed, passages=own,
            entities=link_document([e for per_text in ents for e in per_text], nlp.alias_to_canonical),
            author=clean.author, publisher=clean.publisher, subtitle=clean.subtitle, truncated=clean.truncated,
            schema_version=SCHEMA_VERSION,
            pipeline_version=PIPELINE_VERSION))
    return docs


def tag_passages(texts: Sequence[str], headings: Sequence[Optional[str]], positions: Sequence[float],
                 classifier: PassageClassifier, *, kinds: Optional[Sequence[str]] = None,
                 offsets: Optional[Sequence[tuple[int, int]]] = None,
                 groups: Optional[Sequence[object]] = None,
                 token_spans: Optional[Sequence[Sequence[tuple[int, int]]]] = None) -> list[Passage]:
    """Passages with their labels, sentences and actors. `groups` names each text's document (context never
    crosses documents); `token_spans` are the NLP stage's words of each text (else the classifier cuts them)."""
    sent_spans = [split_sentences(t) or [(0, len(t))] for t in texts]

    # Each passage's words once; a sentence's are the run of them inside its span (spans are sorted and disjoint).
    passage_words = None if token_spans is None else [[t[a:b] for a, b in spans] for t, spans in zip(texts, token_spans)]
    starts, ends = [], []
    for spans in token_spans or ():
        a, b = zip(*spans) if spans else ((), ())
        starts.append(a)
        ends.append(b)

    def words(i: int, lo: int, hi: int):
        if token_spans is None:
            return None
        return tuple(passage_words[i][bisect_left(starts[i], lo):bisect_right(ends[i], hi)])

    items = [Item(t, h, pos, tokens=words(i, 0, len(t))) for i, (t, h, pos) in enumerate(zip(texts, headings, positions))]
    sent_items = [[Item(t[s:e], h, pos, True, tokens=words(i, s, e)) for s, e in spans]
                  for i, (t, h, pos, spans) in enumerate(zip(texts, headings, positions, sent_spans))]
    p_preds, s_preds = classifier.classify(items, sent_items, groups)
    actors = classifier.actors(texts, groups)
    out = []
    for i, text in enumerate(texts):
        sentences = [Sentence(text[s:e], s, e, sp.label, sp.scores) for (s, e), sp in zip(sent_spans[i], s_preds[i])]
        start, end = offsets[i] if offsets else (0, len(text))
        out.append(Passage(index=i, text=text, start=start, end=end, kind=(kinds[i] if kinds else "paragraph"),
                           heading=headings[i], label=p_preds[i].label, secondary=p_preds[i].secondary,
                           scores=p_preds[i].scores, actor=actors[i], sentences=sentences))
    return out


def annotate_problem(record, max_chars: int) -> Optional[str]:
    """Why an `annotate` record cannot be tagged, or None: it must be an object whose "text" is a string of at most
    `max_chars` characters (limits.annotate_max_chars), and whose "heading", if any, is a string or null."""
    if not isinstance(record, dict):
        return f"a record must be a JSON object, not {type(record).__name__}"
    if "text" not in record:
        return "record needs a 'text' field"
    if not isinstance(record["text"], str):
        return f"'text' must be a string, not {type(record['text']).__name__}"
    if len(record["text"]) > max_chars:
        return f"text too long: {len(record['text'])} characters > limit {max_chars} (limits.annotate_max_chars)"
    if record.get("heading") is not None and not isinstance(record["heading"], str):
        return f"'heading' must be a string or null, not {type(record['heading']).__name__}"
    return None


def annotate_records(records: Iterable[dict], nlp: NlpStage, classifier: PassageClassifier, max_chars: int
                     ) -> list[dict]:
    """Tag passages given as text: records {"id", "text"} (optionally "doc", "heading") come back with label,
    secondary, scores, sentences and entities; offsets are relative to each record's text. Records of the same
    "doc" are taken as one document in the given order (for position and heading context). A record that
    annotate_problem() refuses (`max_chars`: limits.annotate_max_chars) raises ValueError naming its index (the
    command line fails it alone)."""
    records = list(records)
    for i, r in enumerate(records):
        problem = annotate_problem(r, max_chars)
        if problem:
            raise ValueError(f"record {i}: {problem}")
    by_doc: dict = {}
    for i, r in enumerate(records):
        by_doc.setdefault(r.get("doc", f"\0{i}"), []).append(i)
    positions = [0.0] * len(records)
    for idxs in by_doc.values():
        for k, i in enumerate(idxs):
            positions[i] = k / max(len(idxs) - 1, 1) if len(idxs) > 1 else 0.0
    # Classify document by document, in the given order, so that neighbours are the document's own.
    order = [i for idxs in by_doc.values() for i in idxs]
    texts = [str(records[i].get("text") or "") for i in order]
    headings = [records[i].get("heading") for i in order]
    doc_of = {i: d for d, idxs in by_doc.items() for i in idxs}
    entity_lists_ordered, spans_ordered = nlp.analyse(texts)
    tagged = tag_passages(texts, headings, [positions[i] for i in order], classifier, groups=[doc_of[i] for i in order],
                          token_spans=spans_ordered)
    passages = [None] * len(records)
    for i, p in zip(order, tagged):
        passages[i] = p
    entity_lists = [None] * len(records)
    for i, ents in zip(order, entity_lists_ordered):
        entity_lists[i] = ents
    out = []
    for r, p, ents in zip(records, passages, entity_lists):
        ents = link_document(ents, nlp.alias_to_canonical)
        rec = dict(r)
        rec.update(label=p.label, secondary=p.secondary, scores=p.scores, actor=p.actor,
                   sentences=[{"text": s.text, "start": s.start, "end": s.end, "label": s.label, "scores": s.scores}
                              for s in p.sentences],
                   entities=[_entity_dict(e) for e in ents])
        out.append(rec)
    return out


def _entity_dict(e: Entity) -> dict:
    return {k: getattr(e, k) for k in ("text", "type", "start", "end", *ENTITY_ATTRS)}
