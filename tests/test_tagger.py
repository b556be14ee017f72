"""The word tagger: BIO decoding, feature tables, fitting on tiny data written here, and the merge with rules."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.nlp.tagger import (TAGS, TEMPLATES, TaggerModel, features, fit, gold_tags, rule_tags,
                                 spans_from_tags)
from pipeline.nlp.pipeline import merge_views
from pipeline.records import Entity


class _Facts:
    def __call__(self, word):
        return "inst_suffix" if word.endswith(("厅", "局", "委")) else "-"


class _M:
    def __init__(self, start, end, type_):
        self.start, self.end, self.type = start, end, type_


def test_bio_spans():
    assert spans_from_tags(["B-GPE", "I-GPE", "O", "B-PERSON"]) == [(0, 2, "GPE"), (3, 4, "PERSON")]
    assert spans_from_tags(["I-INSTITUTION", "I-INSTITUTION", "B-GPE", "I-PERSON"]) == [
        (0, 2, "INSTITUTION"), (2, 3, "GPE"), (3, 4, "PERSON")]
    assert spans_from_tags([]) == []


def test_gold_and_rule_tags_follow_word_starts():
    words = ["湖北省", "教育厅", "发布", "2024年"]
    ents = [{"start": 0, "end": 6, "type": "INSTITUTION"}, {"start": 8, "end": 13, "type": "DATE"}]
    assert gold_tags(words, ents) == ["B-INSTITUTION", "I-INSTITUTION", "O", "O"]
    assert gold_tags(words, [dict(ents[0], optional=True)]) == [None, None, "O", "O"]
    assert rule_tags(words, [_M(8, 13, "DATE")]) == ["O", "O", "O", "B-DATE"]


def _rows():
    sents = [(["湖北省", "教育厅", "发布", "通知"], ["B-INSTITUTION", "I-INSTITUTION", "O", "O"]),
             (["江苏省", "财政厅", "印发", "方案"], ["B-INSTITUTION", "I-INSTITUTION", "O", "O"]),
             (["李强", "主持", "会议"], ["B-PERSON", "O", "O"]),
             (["王文涛", "说"], ["B-PERSON", "O"])] * 5
    return [(features(w, ["O"] * len(w), _Facts()), t) for w, t in sents]


def test_fit_learns_and_tables_reproduce_the_regression():
    model = fit(_rows(), C=10.0, min_count=1, max_iter=500, seed=0)
    f = features(["湖北省", "教育厅", "发布", "通知"], ["O"] * 4, _Facts())
    assert model.tag(f) == ["B-INSTITUTION", "I-INSTITUTION", "O", "O"]
    assert model.weights.shape[1] == len(TAGS) and not model.weights[0].any()
    # An unseen word in a seen frame still takes the frame's tag.
    g = features(["浙江省", "财政厅", "印发", "方案"], ["O"] * 4, _Facts())
    assert model.tag(g)[1].endswith("INSTITUTION")


def test_save_and_load_round_trip(tmp_path):
    model = fit(_rows(), C=1.0, min_count=1, max_iter=200, seed=0)
    digests = model.save(tmp_path)
    back = TaggerModel.load(tmp_path, digests)
    f = features(["李强", "主持", "会议"], ["O"] * 3, _Facts())
    assert np.allclose(back.scores(f), model.scores(f), atol=1e-5)
    assert set(back.vocab) == set(TEMPLATES)


def _e(a, b, t, src="rule"):
    return Entity(text="x" * (b - a), type=t, start=a, end=b, passage=0, canonical="c", source=src)


def test_merge_model_first_and_rules_first():
    rules = [_e(0, 3, "GPE"), _e(10, 14, "FIGURE", "pattern"), _e(20, 24, "INSTITUTION", "gazetteer")]
    model = [_e(0, 6, "INSTITUTION", "model"), _e(20, 24, "INSTITUTION", "model")]
    merged = merge_views(rules, model, "model_first")
    assert [(e.start, e.end, e.type, e.source) for e in merged] == [
        (0, 6, "INSTITUTION", "model"), (10, 14, "FIGURE", "pattern"), (20, 24, "INSTITUTION", "gazetteer")]
    merged = merge_views(rules, model, "rules_first")
    assert [(e.start, e.end, e.type) for e in merged] == [(0, 3, "GPE"), (10, 14, "FIGURE"), (20, 24, "INSTITUTION")]


def test_partial_scores_batch_equals_reference_scores():
    from pipeline.nlp.tagger import PartialScores

    model = fit(_rows(), C=1.0, min_count=1, max_iter=200, seed=0)
    facts = _Facts()
    partial = PartialScores(model, facts, capacity=2)  # grows while scoring
    texts = [(["湖北省", "教育厅", "发布", "通知"], ["O", "O", "O", "B-DATE"]), (["未知词", "李强", "说"], ["B-GPE", "O", "O"]),
             (["单"], ["O"])]
    cur, prev, nxt, own, before, after = [], [], [], [], [], []
    for words, rt in texts:
        ks = [partial.word(w) for w in words]
        cur += ks
        prev += [0] + ks[:-1]
        nxt += ks[1:] + [0]
        ts = [partial.tag_id(t) for t in rt]
        own += ts
        before += [partial.tag_id("<s>")] + ts[:-1]
        after += ts[1:] + [partial.tag_id("<s>")]
    got = partial.scores(cur, prev, nxt, (own, before, after))
    ref = np.concatenate([model.scores(features(w, rt, facts)) for w, rt in texts])
    assert np.allclose(got, ref)


def test_shipped_tagger_fast_route_equals_reference_route():
    """The NLP stage's batched scoring gives the spans the reference scoring (features → scores) gives."""
    from pipeline.config import load_config
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(load_config(), use_model=True)
    if stage.tagger is None:
        pytest.skip("no trained tagger in models/ner")
    texts = ["商务部部长王文涛说，江苏省财政厅和市科技创新局联合印发通知。", "国务院总理李强在北京主持召开国务院常务会议。",
             "湖北省教育厅、省发展改革委与华为公司签署合作协议，投资3至5亿元。", "", "A"]
    tagger = stage.tagger
    items = [stage.rule_words(t) for t in texts]
    fast = tagger.spans_many([(w, m) for m, w in items if w is not None])
    for (mentions, words), got in zip([i for i in items if i[1] is not None], fast):
        feats = features(words, rule_tags(words, mentions), tagger.facts)
        tags = tagger.model.tag(feats, tagger.o_bias) if words else []
        ends = np.cumsum([len(w) for w in words]).tolist()
        ref = [(ends[a] - len(words[a]), ends[b - 1], k) for a, b, k in spans_from_tags(tags)
               if k in tagger.types and ends[b - 1] - ends[a] + len(words[a]) >= tagger.min_chars]
        assert got == ref
