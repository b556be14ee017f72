"""The NLP stage (`NlpStage`): segmentation, rule mentions and the trained name tagger, once per process.

The runtime route, for each passage:

1. the character-level rules (:class:`~pipeline.nlp.rules.EntityRules`) find figures, dates, 《》 titles,
   gazetteer names, suffix-built names and persons with titles;
2. jieba (rjieba) cuts the text into words, with every rule mention's edges forced as word boundaries;
3. the word tagger (:mod:`pipeline.nlp.tagger`, models/ner, on when ``[nlp] use_model`` is true) tags the words
   B/I/O for the types it owns (``model_types`` in its meta.json), reading the rules' tags as features;
4. :func:`merge_views` makes one non-overlapping list: a tagged name wins over a rule name it overlaps (a rule
   mention with the same span and type is kept for its canonical name), rule mentions fill where the tagger
   found nothing, and a FIGURE or DATE yields only to a longer tagged name. FIGURE and DATE always come from the
   rules, which normalise them.

The spaCy `Language` built here (the jieba tokenizer with the rules' boundaries, then `policy_rules`)
is the reference route for the rules: `NlpStage.docs()` gives spaCy Docs for users who want them, and the tests
check that the runtime route gives the rules' output exactly as it does.
"""
from __future__ import annotations

import logging
from itertools import accumulate
from pathlib import Path
from typing import Iterable, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.config import MODELS_DIR, Config
from pipeline.nlp.rules import EntityRules, Mention
from pipeline.nlp.segment import JiebaSpacyTokenizer, Segmenter
from pipeline.records import ENTITY_ATTRS, Entity

log = logging.getLogger(__name__)
# Gazetteer and suffix names up to this length are checked against jieba's words of the text (longer names are
# specific enough).
SHORT_NAME_CHARS = 4

for attr in ENTITY_ATTRS:
    if not Span.has_extension(attr):
        Span.set_extension(attr, default=None)


_ATTRS = ENTITY_ATTRS


@Language.component("policy_rules")
def rule_entities(doc: Doc) -> Doc:
    """Rule mentions (computed by the tokenizer's boundary finder) become spans; they always align."""
    spans = []
    for m in doc.user_data.get("rule_spans", []):
        span = doc.char_span(m.start, m.end, label=m.type, alignment_mode="strict")
        if span is None:
            continue
        for attr in _ATTRS:
            setattr(span._, attr, getattr(m, attr))
        spans.append(span)
    spans = spacy.util.filter_spans(spans)
    doc.ents = spans
    return doc


class NlpStage:
    """One per process. `entities(texts)` returns Entity lists with passage-relative offsets."""

    def __init__(self, config: Config, *, use_model: Optional[bool] = None, model_dir: Optional[Path] = None):
        self.config = config
        cfg = config.nlp
        self.rules = EntityRules(config)
        self.segmenter = Segmenter.from_config(config)
        self.nlp = spacy.blank("zh")
        self.nlp.tokenizer = JiebaSpacyTokenizer(self.nlp.vocab, self.segmenter, self.rule_words)
        use_model = cfg.use_model if use_model is None else use_model
        self.model_info: dict = {"ner": None}
        self.tagger = None
        self.merge_policy = "model_first"
        model_dir = Path(model_dir) if model_dir is not None else MODELS_DIR / "ner"
        if use_model and (model_dir / "meta.json").exists():
            from pipeline.nlp.tagger import load_tagger

            self.tagger, self.model_info["ner"] = load_tagger(model_dir, self.rules.lex)
            self.merge_policy = self.model_info["ner"].get("params", {}).get("merge", "model_first")
        self.nlp.add_pipe("policy_rules")
        self.alias_to_canonical = self.rules.lex.alias_to_canonical

    def find_mentions(self, text: str) -> list:
        """The rules' mentions, less short gazetteer or suffix names that start or end inside a jieba word of
        the text (集成电路 holds no 成电)."""
        return self._checked_mentions(text, self.segmenter.cut(text))[0]

    def _checked_mentions(self, text: str, words: list[str]) -> tuple[list, set[int]]:
        """find_mentions with the text's own words (cut without forced edges), and those words' edges."""
        edges = {0, *accumulate(map(len, words))}
        out = [m for m in self.rules.find(text)
               if m.source not in ("gazetteer", "suffix") or m.end - m.start > SHORT_NAME_CHARS
               or (m.start in edges and m.end in edges)]
        return out, edges

    def docs(self, texts: Iterable[str]) -> Iterable[Doc]:
        return self.nlp.pipe(texts, batch_size=32)

    def entities(self, texts: list[str]) -> list[list[Entity]]:
        """Entities per text after the merge (passage-relative offsets)."""
        return [ents for ents, _ in self._passages(texts, with_spans=False)]

    def analyse(self, texts: list[str]) -> tuple[list[list[Entity]], list[list[tuple[int, int]]]]:
        """Entities per text and the token spans (start, end) of each text, from one pass: the classifier
        reuses the tokens instead of segmenting the text again."""
        entities, spans = [], []
        for ents, toks in self._passages(texts, with_spans=True):
            entities.append(ents)
            spans.append(toks)
        return entities, spans

    def _passages(self, texts: list[str], *, with_spans: bool) -> list[tuple[list[Entity], list]]:
        """_passage for each text, with the tagger scoring every text's words in one NumPy pass (its cost per
        call would otherwise be paid per passage)."""
        prepared = [self.rule_words(text) for text in texts]
        names: list = [[] for _ in texts]
        if self.tagger is not None:
            names = self.tagger.spans_many([(words, mentions) for mentions, words in prepared])
        return [self._passage(text, idx, prepared[idx], names[idx], with_spans=with_spans)
                for idx, text in enumerate(texts)]

    def rule_words(self, text: str) -> tuple[list[Mention], list[str]]:
        """The text's rule mentions and its words with the mentions' edges forced. Should the words not spell
        the text (never seen: the segmenter only cuts), its characters are the words."""
        plain = self.segmenter.cut(text)
        mentions, edges = self._checked_mentions(text, plain)
        forced = {b for m in mentions for b in (m.start, m.end)}
        # Mentions whose edges are the words' own edges leave the words as they are: no second cut.
        words = plain if forced <= edges else self.segmenter.cut(text, forced)
        return mentions, (words if "".join(words) == text else list(text))

    def _passage(self, text: str, passage: int, prepared, names, *, with_spans: bool
                 ) -> tuple[list[Entity], list[tuple[int, int]]]:
        """Entities of one text: rule mentions whose edges are word edges (what spaCy's strict char_span
        accepts: the reference route, NlpStage.docs(), gives the same without the tagger), merged with the
        tagger's names. Token spans only when asked for (else an empty list)."""
        mentions, words = prepared
        ends = list(accumulate(map(len, words)))
        edges = {0, *ends}
        ents = [_mention_entity(m, text, passage) for m in mentions if m.start in edges and m.end in edges]
        if self.tagger is not None:
            ents = local_bodies(merge_views(ents, [Entity(text=text[a:b], type=t, start=a, end=b, passage=passage,
                                                          canonical=text[a:b], source="model") for a, b, t in names],
                                            self.merge_policy), text, self.rules.lex)
        if not with_spans:
            return ents, []
        if any(map(str.isspace, words)):  # Token.is_space: not a token of the spans
            return ents, [(end - len(w), end) for w, end in zip(words, ends) if not w.isspace()]
        return ents, list(zip([0, *ends[:-1]], ends))

    def entity_views(self, text: str, passage: int, tagger=None, policy: str = "model_first") -> dict[str, list[Entity]]:
        """Rules alone, the tagger alone and their merge for one text (see merge_views)."""
        mentions, words = self.rule_words(text)
        edges = {0, *accumulate(map(len, words))}
        rules = [_mention_entity(m, text, passage) for m in mentions if m.start in edges and m.end in edges]
        spans = tagger.spans(words, mentions) if tagger is not None else []
        model = [Entity(text=text[a:b], type=t, start=a, end=b, passage=passage, canonical=text[a:b], source="model")
                 for a, b, t in spans]
        return {"rules": rules, "model": model, "merged": local_bodies(merge_views(rules, model, policy), text, self.rules.lex)}

    def entity_parts(self, texts: list[str]) -> dict[str, list[list[Entity]]]:
        """Three views per text from the runtime route: "merged" (the output), "rules" alone and "model" (the
        tagger) alone, to measure what each part adds."""
        out: dict[str, list[list[Entity]]] = {"merged": [], "rules": [], "model": []}
        for idx, text in enumerate(texts):
            views = self.entity_views(text, idx, self.tagger, self.merge_policy)
            for name in out:
                out[name].append(views[name])
        return out


def local_bodies(ents: list[Entity], text: str, lex) -> list[Entity]:
    """Local bodies as one INSTITUTION with their level or place (corpora/GUIDE.md entity case 1): a bare level
    word right before an institution joins it when it starts the name (市 + 发展改革委 after 从), and a place
    ending in 省/市/县 right before an institution joins it (湖北省 + 教育厅). Other entities pass unchanged."""
    out: list[Entity] = []
    for e in sorted(ents, key=lambda x: x.start):
        prev = out[-1] if out else None
        if e.type == "INSTITUTION" and prev is not None and prev.type == "GPE" and prev.end == e.start \
                and prev.text.endswith(lex.place_ends):
            out[-1] = _joined_body(prev.start, e, text)
            continue
        s = e.start
        if e.type == "INSTITUTION" and s > 0 and text[s - 1] in lex.level_words and (prev is None or prev.end < s) \
                and not e.text.startswith(lex.level_words) \
                and (s == 1 or text[s - 2] in lex.level_left or not "\u4e00" <= text[s - 2] <= "\u9fff"):
            e = _joined_body(s - 1, e, text)
        out.append(e)
    return out


def _joined_body(start: int, e: Entity, text: str) -> Entity:
    return Entity(text=text[start:e.end], type="INSTITUTION", start=start, end=e.end, passage=e.passage,
                  canonical=text[start:e.end], source=e.source)


def merge_views(rules: list[Entity], model: list[Entity], policy: str = "model_first") -> list[Entity]:
    """The tagger's names and the rules' mentions as one non-overlapping list. model_first: a tagged name wins
    over a rule name it overlaps (a rule mention with the same span and type is kept for its canonical name);
    rule names fill where the tagger found none; a FIGURE or DATE yields to an overlapping name only when the
    name is longer. rules_first: rule mentions win, tagged names fill the gaps."""
    rule_keys = {(e.start, e.end, e.type): e for e in rules}
    if policy == "rules_first":
        first, second = rules, model
    else:
        first = [rule_keys.get((m.start, m.end, m.type), m) for m in model]
        second = rules
    kept = list(first)
    for e in second:
        clash = [k for k in kept if k.start < e.end and e.start < k.end]
        if not clash:
            kept.append(e)
        elif policy != "rules_first" and e.type in ("FIGURE", "DATE") and all(
                (k.end - k.start) < (e.end - e.start) and k.source == "model" for k in clash):
            kept = [k for k in kept if k not in clash] + [e]
    return sorted(kept, key=lambda e: e.start)


def doc_token_spans(doc: Doc) -> list[tuple[int, int]]:
    return [(t.idx, t.idx + len(t.text)) for t in doc if not t.is_space]


def _mention_entity(m: Mention, text: str, passage: int) -> Entity:
    """span_entity of the span a rule mention becomes (policy_rules copies these attributes onto it)."""
    surface = text[m.start:m.end]
    attrs = {a: getattr(m, a) for a in ENTITY_ATTRS}
    attrs.update(canonical=m.canonical or surface, source=m.source or "model")
    return Entity(text=surface, type=m.type, start=m.start, end=m.end, passage=passage, **attrs)


def span_entity(ent: Span, passage: int) -> Entity:
    attrs = {a: getattr(ent._, a) for a in ENTITY_ATTRS}
    attrs.update(canonical=ent._.canonical or ent.text, source=ent._.source or "model")
    return Entity(text=ent.text, type=ent.label_, start=ent.start_char, end=ent.end_char, passage=passage, **attrs)
