"""Builds the spaCy Language once per process: jieba tokenizer (with rule boundaries), the rule entity
component, the statistical NER (when trained), and the merge. Also the stage's front: `extract_entities`."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.config import MODELS_DIR, Settings, load_settings
from pipeline.nlp.rules import EntityRules, Mention
from pipeline.nlp.segment import JiebaSpacyTokenizer, Segmenter
from pipeline.records import Entity

log = logging.getLogger(__name__)
MODEL_TYPES = ("INSTITUTION", "PROGRAMME", "PERSON", "GPE")

for attr in ("canonical", "value", "unit", "approx", "bound", "source", "date_iso", "date_precision"):
    if not Span.has_extension(attr):
        Span.set_extension(attr, default=None)


@Language.component("policy_rules")
def rule_entities(doc: Doc) -> Doc:
    """Rule mentions (computed by the tokenizer's boundary finder) become doc.ents; they always align."""
    spans = []
    for m in doc.user_data.get("rule_spans", []):
        span = doc.char_span(m.start, m.end, label=m.type, alignment_mode="strict")
        if span is None:
            continue
        for attr in ("canonical", "value", "unit", "approx", "bound", "source", "date_iso", "date_precision"):
            setattr(span._, attr, getattr(m, attr))
        spans.append(span)
    doc.user_data["rule_ents"] = spans
    doc.ents = spacy.util.filter_spans(spans)
    return doc


@Language.component("merge_model_entities")
def merge_model_entities(doc: Doc) -> Doc:
    """Rules win. Model entities fill only characters no rule claimed, and only for the name types."""
    rule_spans = doc.user_data.get("rule_ents", [])
    taken = set()
    for s in rule_spans:
        taken.update(range(s.start, s.end))
    merged = list(rule_spans)
    for ent in doc.ents:
        if ent.label_ in MODEL_TYPES and not any(i in taken for i in range(ent.start, ent.end)) and ent._.source is None:
            ent._.source = "model"
            merged.append(ent)
    doc.ents = spacy.util.filter_spans(merged)
    return doc


class NlpStage:
    """One per process. `entities(texts)` returns Entity lists with passage-relative offsets."""

    def __init__(self, settings: Optional[Settings] = None, *, use_model: Optional[bool] = None):
        self.settings = settings or load_settings()
        cfg = self.settings["nlp"]
        self.rules = EntityRules(self.settings)
        self.segmenter = Segmenter([self.settings.path(cfg["domain_dict"])], backend=cfg["segmenter"],
                                   cache_dir=cfg["cache_dir"])
        self.nlp = spacy.blank("zh")
        self.nlp.tokenizer = JiebaSpacyTokenizer(self.nlp.vocab, self.segmenter, self.rules.find)
        self.nlp.add_pipe("policy_rules")
        use_model = cfg["use_model"] if use_model is None else use_model
        self.model_info: dict = {"ner": None}
        model_dir = MODELS_DIR / "ner"
        if use_model and (model_dir / "model" / "meta.json").exists():
            from pipeline.nlp.ner import load_ner_model

            trained, info = load_ner_model(model_dir)
            self.nlp.add_pipe("ner", source=trained, before="policy_rules")
            self.nlp.add_pipe("merge_model_entities", after="policy_rules")
            self.model_info["ner"] = info
            # The model ran first and set doc.ents; policy_rules overwrote them. Keep the model's by running
            # merge from a copy: the ner component writes to doc.ents, policy_rules stores rule spans aside.
        self.alias_to_canonical = self.rules.lex.alias_to_canonical

    def tokens(self, text: str) -> list[str]:
        return [t.text for t in self.nlp.tokenizer(text)]

    def docs(self, texts: Iterable[str]) -> Iterable[Doc]:
        return self.nlp.pipe(texts, batch_size=32)

    def entities(self, texts: list[str]) -> list[list[Entity]]:
        out = []
        for idx, doc in enumerate(self.docs(texts)):
            out.append([_to_entity(ent, idx) for ent in doc.ents])
        return out


def _to_entity(ent: Span, passage: int) -> Entity:
    return Entity(text=ent.text, type=ent.label_, start=ent.start_char, end=ent.end_char, passage=passage,
                  canonical=ent._.canonical or ent.text, source=ent._.source or "model", value=ent._.value,
                  unit=ent._.unit, approx=ent._.approx, bound=ent._.bound, date_iso=ent._.date_iso,
                  date_precision=ent._.date_precision)


@lru_cache(maxsize=2)
def get_nlp_stage(settings: Settings, use_model: Optional[bool] = None) -> NlpStage:
    return NlpStage(settings, use_model=use_model)
