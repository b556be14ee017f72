"""Entity rules on the project's own sentences, linking, bracket pairs, and the model/rule merge."""
from __future__ import annotations

import pytest

from pipeline.nlp.linking import link_document
from pipeline.nlp.rules import EntityRules
from pipeline.records import Entity


@pytest.fixture(scope="module")
def rules(config):
    return EntityRules(config)


def found(rules, text):
    return {(text[m.start:m.end], m.type) for m in rules.find(text)}


@pytest.mark.parametrize("text,expected", [
    ("浙江大学牵头组建了杭州数字经济研究院。", {("浙江大学", "INSTITUTION"), ("杭州数字经济研究院", "INSTITUTION")}),
    ("挪威奥斯陆大学与我国开展合作。", {("挪威", "GPE"), ("奥斯陆大学", "INSTITUTION")}),
    ("德国政府和苏州市政府签署协议。", {("德国政府", "INSTITUTION"), ("苏州市政府", "INSTITUTION")}),
    ("印发《关于加快发展数字农业的指导意见》。", {("《关于加快发展数字农业的指导意见》", "PROGRAMME")}),
    ("落实“十四五”规划部署。", {("“十四五”规划", "PROGRAMME")}),
    ("启动科技创新2030—重大项目。", {("科技创新2030—重大项目", "PROGRAMME")}),
    ("出台“金融十条”后，", {("金融十条", "PROGRAMME")}),  # GUIDE entity case 9: whole-name quotes outside
    ("与共建“一带一路”国家合作。", {("一带一路", "PROGRAMME")}),  # a quoted gazetteer alias too
    ("李明华院士介绍了进展。", {("李明华", "PERSON")}),
    ("美国 Broad 研究所发表论文。", {("美国", "GPE"), ("Broad 研究所", "INSTITUTION")}),
])
def test_rules_find(rules, text, expected):
    assert expected <= found(rules, text)


@pytest.mark.parametrize("text,unwanted", [
    ("鼓励科研院所和大型科技公司参与。", {"科研院所", "大型科技公司"}),
    ("设立风险基金支持初创企业。", {"风险基金"}),
    ("要坚决落实党中央决策部署。", {"党中央决策部署"}),
    ("地方政府和各级政府要加强协调。", {"地方政府", "各级政府"}),
    # ANNOTATION: general policy themes are no programme unless written as a named strategy
    ("加快建设科技强国和农业强国，推进美丽中国建设。", {"科技强国", "农业强国", "美丽中国建设"}),
])
def test_generic_phrases_are_not_entities(rules, text, unwanted):
    assert not {t for t, _ in found(rules, text)} & unwanted


def test_bracket_pair_shares_canonical(rules):
    text = "欧洲核子研究中心（CERN）发布报告，CERN表示"
    ms = [m for m in rules.find(text) if m.type == "INSTITUTION"]
    names = {text[m.start:m.end]: m.canonical for m in ms}
    assert "CERN" in names and names["CERN"] == names.get("欧洲核子研究中心", names["CERN"])


def _ent(text, type_="INSTITUTION", source="gazetteer", canonical=None):
    return Entity(text=text, type=type_, start=0, end=len(text), passage=0, canonical=canonical or text,
                  source=source)


@pytest.mark.parametrize("surface,canonical", [
    ("中国科大", "中国科学技术大学"), ("中国科技大学", "中国科学技术大学"), ("合肥本源量子公司", "本源量子"),
    ("NIST", "国家标准技术研究院"), ("国家标准技术研究院", "国家标准技术研究院"), ("本源量子", "本源量子"),
])
def test_linking_aliases(rules, surface, canonical):
    ents = link_document([_ent(surface)], rules.lex.alias_to_canonical)
    assert ents[0].canonical == canonical


def test_linking_document_pairs_win():
    ents = [_ent("量子信息联合会", source="suffix"), _ent("QIF", source="bracket", canonical="量子信息联合会"),
            _ent("QIF", source="suffix")]
    linked = link_document(ents, {})
    assert {e.canonical for e in linked} == {"量子信息联合会"}


def test_stage_without_model_gives_rule_entities(config):
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(config, use_model=False)
    ents = stage.entities(["2023年，清华大学获得3.35亿美元。"])[0]
    assert [(e.text, e.type) for e in ents] == [("2023年", "DATE"), ("清华大学", "INSTITUTION"),
                                                ("3.35亿美元", "FIGURE")]
    assert ents[2].value == pytest.approx(3.35e8) and ents[2].unit == "USD"


@pytest.mark.parametrize("text, person", [
    ("由中国科学技术大学潘建伟院士等科学家创立的公司。", "潘建伟"),
    ("北京大学校长龚旗煌表示，学校将扩大招生。", "龚旗煌"),
    ("商务部部长王文涛介绍，外贸运行总体平稳。", "王文涛"),
])
def test_person_next_to_title_or_affiliation(text, person):
    from pipeline.config import load_config
    from pipeline.nlp.rules import EntityRules

    found = [text[m.start:m.end] for m in EntityRules(load_config()).find(text) if m.type == "PERSON"]
    assert found == [person]


def test_no_person_inside_committee_names():
    from pipeline.config import load_config
    from pipeline.nlp.rules import EntityRules

    text = "省发展改革委主任委员会议审议通过了实施方案。"
    assert not [m for m in EntityRules(load_config()).find(text) if m.type == "PERSON"]


def test_runtime_route_equals_the_spacy_reference(config, fixtures):
    """Without the tagger, NlpStage computes entities and tokens straight from the rule mentions and the words;
    the reference route (the same texts as spaCy Docs through the jieba tokenizer and policy_rules) gives the
    same output."""
    from pipeline.config import PROJECT_DIR
    from pipeline.nlp.pipeline import NlpStage, doc_token_spans, span_entity

    texts = ["2023年，清华大学获得3.35亿美元。", "国家标准技术研究院（NIST）发布《量子计算路线图》，投入约12亿元。",
             "  中国科学院量子信息重点实验室\t与合肥本源量子公司 签约，建设一条8公里的实验线路。 ", "", "A"]
    for path in sorted((fixtures / "batch").iterdir()):
        texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:12]
    for path in sorted((PROJECT_DIR / "corpora" / "samples").glob("*.txt")):
        texts += [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()][:20]
    stage = NlpStage(config, use_model=False)
    docs = list(stage.docs(texts))
    reference = ([[span_entity(ent, i) for ent in doc.ents] for i, doc in enumerate(docs)],
                 [doc_token_spans(doc) for doc in docs])
    assert stage.analyse(texts) == reference
    assert stage.entities(texts) == reference[0]
    assert sum(map(len, reference[0])) > 50


# -- the trie-shaped word alternation: the same matches as the longest-first alternation --------------------------
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_LETTERS = st.sampled_from(list("中国科学院美欧盟省市.+*"))


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=_LETTERS, min_size=1, max_size=5), max_size=12),
       st.text(alphabet=_LETTERS, max_size=40))
def test_longest_word_pattern_matches_the_longest_first_alternation(words, text):
    import re

    from pipeline.nlp.rules import longest_word_pattern

    plain = "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))
    trie = longest_word_pattern(words)
    if not plain:
        assert trie == ""
        return
    assert re.findall(trie, text) == re.findall(plain, text)
    assert re.sub(trie, "_", text) == re.sub(plain, "_", text)


@pytest.mark.parametrize("text,expected", [
    ("记者从市发展改革委获悉，项目已开工。", ("市发展改革委", "INSTITUTION")),
    ("省财政厅、市科技创新局和湖北省教育厅联合发布通知。", ("湖北省教育厅", "INSTITUTION")),
])
def test_local_bodies_keep_their_level_in_the_span(config, text, expected):
    """GUIDE entity case 1: a local body is one INSTITUTION with its level word or place, never the national body
    nor a GPE plus a bare body name."""
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(config)
    found = {(e.text, e.type) for e in stage.entities([text])[0]}
    assert expected in found
    assert ("湖北省", "GPE") not in found and ("发展改革委", "INSTITUTION") not in found
