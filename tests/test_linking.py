"""Linking: local bodies keep their own level; bare level words take the document's place."""
from __future__ import annotations

from pipeline.nlp.linking import document_place, link_document, local_canonical
from pipeline.records import Entity

ALIASES = {"发展改革委": "国家发展和改革委员会", "医保局": "国家医疗保障局", "能源局": "国家能源局",
           "国家发展改革委": "国家发展和改革委员会"}


def _e(text, type_="INSTITUTION", source="model"):
    return Entity(text=text, type=type_, start=0, end=len(text), passage=0, canonical=text, source=source)


def test_local_forms_never_link_to_the_national_body():
    assert local_canonical("江苏省发展改革委", ALIASES, None) == "江苏省发展和改革委员会"
    assert local_canonical("江苏省能源局", ALIASES, None) == "江苏省能源局"
    assert local_canonical("市医保局", ALIASES, "南京市") == "南京市医疗保障局"
    assert local_canonical("省发展改革委", ALIASES, None) == "省发展和改革委员会"
    assert local_canonical("国家发展改革委", ALIASES, None) is None  # national: the alias table decides
    assert local_canonical("省财政厅", ALIASES, None) is None  # no national alias behind it: keeps its own text


def test_document_place_and_linking():
    ents = [_e("江苏省", "GPE", "gazetteer"), _e("江苏省", "GPE", "gazetteer"), _e("省发展改革委"),
            _e("国家发展改革委", source="gazetteer"), _e("省财政厅")]
    assert document_place(ents) == "江苏省"
    linked = {e.text: e.canonical for e in link_document(ents, ALIASES)}
    assert linked["省发展改革委"] == "江苏省发展和改革委员会"
    assert linked["国家发展改革委"] == "国家发展和改革委员会"
    assert linked["省财政厅"] == "省财政厅"
