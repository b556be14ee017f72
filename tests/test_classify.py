"""The classify stage: decision rule, context features, heading categories, actors, the shipped model's
behaviour on unambiguous passages, and reproducible training."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.classify.features import Item, context_matrix, heading_category, load_cue_lexicons, sentence_summary
from pipeline.classify.model import decide
from pipeline.config import load_config
from pipeline.records import LABELS

LEXICONS = load_cue_lexicons(load_config())


def test_decide_gives_secondary_only_when_close(config):
    classes = list(LABELS)
    close = decide(np.array([0.45, 0.40, 0.10, 0.05]), classes, config.classify)
    assert close.label == "achievement" and close.secondary == "challenge"
    clear = decide(np.array([0.85, 0.10, 0.03, 0.02]), classes, config.classify)
    assert clear.secondary is None
    assert abs(sum(clear.scores.values()) - 1.0) < 1e-6


def test_context_matrix_keeps_documents_apart():
    probs = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=float)
    ctx = context_matrix(probs, ["a", "a", "b"], [0.0, 1.0, 0.0])
    k = 4
    # Passage 1's previous neighbour is passage 0; passage 2 starts document b, so it is its own neighbour.
    assert list(ctx[1, 4 * k:5 * k]) == [1, 0, 0, 0]
    assert list(ctx[2, 4 * k:5 * k]) == [0, 0, 1, 0]
    assert ctx.shape == (3, 9 * k + 1)
    # Document means: a's two passages share theirs; b's is its own row.
    assert list(ctx[0, 8 * k:9 * k]) == [0.5, 0.5, 0, 0] and list(ctx[2, 8 * k:9 * k]) == [0, 0, 1, 0]


def test_context_matrix_section_means_follow_headings():
    probs = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    ctx = context_matrix(probs, ["a"] * 4, [0.0, 0.3, 0.6, 1.0], sections=["一", "一", "二", "二"])
    k = 4
    assert list(ctx[1, 7 * k:8 * k]) == [0.5, 0.5, 0, 0]
    assert list(ctx[3, 7 * k:8 * k]) == [0, 0, 0.5, 0.5]


def test_sentence_summary_is_first_last_max():
    sp = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.8, 0.05, 0.05]])
    out = sentence_summary(sp)
    assert list(out[:4]) == list(sp[0]) and list(out[4:8]) == list(sp[1]) and out[9] == 0.8


@pytest.mark.parametrize("heading, category", [
    ("一、2023年工作回顾", "achievement"),
    ("（二）存在的主要问题", "challenge"),
    ("三、对策建议", "recommendation"),
    ("今年工作安排", "recommendation"),
    (None, "none"),
])
def test_heading_category(heading, category):
    assert heading_category(heading, LEXICONS.heading_cues) == category


def test_actors(classifier):
    texts = ["美国能源部2022年宣布投入30亿美元支持电池产业链。", "我国新能源汽车产销量连续多年位居全球第一。",
             "下一步将持续优化充电网络布局。"]
    assert classifier.actors(texts) == ["US", "CN", "CN"]
    # Actors do not cross documents: the third passage, alone in its document, has none to inherit.
    assert classifier.actors(texts, groups=[0, 0, 1]) == ["US", "CN", None]


@pytest.fixture(scope="module")
def classifier(pipe):
    return pipe.classifier


@pytest.mark.parametrize("text, label", [
    ("下一步，要加快完善县域商业体系建设，着力推动农村寄递物流提质增效，鼓励各地开展试点。", "recommendation"),
    ("当前，我省高端人才仍然匮乏，关键零部件依赖进口，产业链短板较为突出。", "challenge"),
    ("全年全省完成固定资产投资1.2万亿元，同比增长6.5%，新增国家级专精特新企业120家。", "achievement"),
])
def test_shipped_model_on_unambiguous_passages(classifier, text, label):
    preds, sentence_preds = classifier.classify([Item(text)], [[Item(text, is_sentence=True)]])
    assert preds[0].label == label
    assert sentence_preds[0][0].label in LABELS


@pytest.mark.slow
def test_training_is_reproducible(tmp_path, config):
    from pipeline.classify.model import PassageClassifier
    from pipeline.train import CORPORA_DIR, train_classifier, training_params

    corpus = [CORPORA_DIR / "classifier" / "news_mixed.jsonl"]
    params = training_params({"sources": ["corpus"]})  # the self-written file only: the pool is tested apart
    texts = [Item("我国已建成全球规模最大的清洁发电体系。"), Item("要加快推进电网基础设施智能化改造。")]
    outputs = []
    for name in ("a", "b"):
        meta = train_classifier(config=config, out_dir=tmp_path / name, corpus_paths=corpus, params=params)
        assert meta["seed"] == 13 and meta["heldout"]["n"] > 0
        clf = PassageClassifier(config, model_dir=tmp_path / name)
        outputs.append(clf.predict_proba(texts))
        card = (tmp_path / name / "MODEL_CARD.md").read_text(encoding="utf-8")
        assert "Macro-F1" in card
    assert np.allclose(outputs[0], outputs[1])
    assert json.loads((tmp_path / "a" / "meta.json").read_text())["format_version"].startswith("classifier-")


def test_normalise_text_drops_reference_markers_and_digit_values():
    from pipeline.classify.features import normalise_text

    text = "研究[25]表明，有机质提高了 $1 6 . 7 \\%$ ，并[3-5]于2018年实现"
    assert normalise_text(text, ("citations", "math")) == "研究表明，有机质提高了 16.7% ，并于2018年实现"
    assert normalise_text("增长16.7%", ("digits",)) == "增长00.0%"
    assert normalise_text(text, ()) == text


def test_subject_view_tells_own_from_foreign_actors():
    from pipeline.classify.features import subject_view

    patterns, cues = LEXICONS.subject, LEXICONS.cues
    own = subject_view("我国科学家主要围绕该技术进行了系统优化。上海科技大学首次构建了新型编辑器。", patterns, cues)
    assert own["sv_own"] == 1.0 and own["sv_own_done"] == 1.0 and own["sv_foreign"] == 0.0
    contrast = subject_view("美国能源部投资30亿美元。而我国在该领域差距较大。", patterns, cues)
    assert contrast["sv_foreign"] == 0.5 and contrast["sv_contrast"] == 0.5 and contrast["sv_last_own"] == 1.0
    plan = subject_view("下一步，我省将加快推进充电网络建设。", patterns, cues)
    assert plan["sv_own"] == 1.0 and plan["sv_own_done"] == 0.0


def test_closing_judgement_takes_the_last_sentences_label():
    from pipeline.classify.model import Prediction, closing_judgement

    classes = list(LABELS)  # achievement, challenge, recommendation, background
    facts_then_gap = np.array([[0.8, 0.1, 0.05, 0.05], [0.7, 0.1, 0.1, 0.1], [0.05, 0.9, 0.03, 0.02]])
    out = closing_judgement(Prediction("achievement", None, {}), facts_then_gap, classes, 0.8)
    assert (out.label, out.secondary) == ("challenge", "achievement")
    unsure = facts_then_gap.copy()
    unsure[-1] = [0.3, 0.6, 0.05, 0.05]
    assert closing_judgement(Prediction("achievement", None, {}), unsure, classes, 0.8).label == "achievement"
    # A passage already read as a judgement, or a single sentence, is left alone.
    assert closing_judgement(Prediction("recommendation", None, {}), facts_then_gap, classes, 0.8).label == "recommendation"
    assert closing_judgement(Prediction("background", None, {}), facts_then_gap[-1:], classes, 0.8).label == "background"


def test_joined_passages_join_runs_of_one_label_and_heading():
    from pipeline.train import joined_passages

    def rec(i, label, heading="一、成效"):
        return {"id": f"d-{i}", "doc": "d", "index": i, "n_passages": 5, "heading": heading, "text": f"第{i}段。",
                "label": label, "secondary": None, "sentences": [{"text": f"第{i}段。", "label": label}]}

    records = [rec(0, "achievement"), rec(1, "achievement"), rec(2, "achievement"), rec(3, "challenge"),
               rec(4, "challenge", "二、问题")]
    joined = joined_passages(records, 3)
    assert sorted(j["text"] for j in joined) == ["第0段。第1段。", "第0段。第1段。第2段。", "第1段。第2段。"]
    assert all(j["label"] == "achievement" and len(j["sentences"]) >= 2 for j in joined)
    assert joined_passages(records, 1) == []


# -- the fast predict path: the same numbers as the scikit-learn Pipeline ----------------------------------------
from hypothesis import example, given, settings as hsettings, strategies as st  # noqa: E402

from pipeline.classify.hashing import BulkHasher, murmurhash3_32  # noqa: E402


@hsettings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=20))
def test_murmurhash_equals_sklearn(strings):
    from sklearn.utils import murmurhash3_32 as reference

    strings = [s for s in strings if not any(0xD800 <= ord(c) <= 0xDFFF for c in s)]  # UTF-8 encodable
    assert murmurhash3_32(strings).tolist() == [reference(s, seed=0) for s in strings]

_CJK_AND_SPACE = st.text(alphabet=st.sampled_from(list("我国量子计算研究，。；已取得突破但仍不足 \t\n\u3000aZ9😀")), max_size=40)


def _vectorizers():
    from sklearn.feature_extraction.text import HashingVectorizer

    common = dict(n_features=2 ** 12, alternate_sign=False, norm=None, lowercase=False)  # small: collisions happen
    return [HashingVectorizer(analyzer="char", ngram_range=(1, 3), **common),
            HashingVectorizer(analyzer="char", ngram_range=(2, 2), **common),
            HashingVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), **common)]


@hsettings(max_examples=60, deadline=None)
@given(st.lists(_CJK_AND_SPACE, min_size=1, max_size=6))
def test_bulk_hasher_counts_equal_hashing_vectorizer(docs):
    for hv in _vectorizers():
        got, expected = BulkHasher(hv).transform(docs), hv.transform(docs)
        assert got.shape == expected.shape and abs(got - expected).sum() == 0


def test_bulk_hasher_long_tokens_and_wider_ranges_equal_hashing_vectorizer():
    """Spans longer than the vectorised loop takes (hashed one by one), and n-gram ranges the classifier does not
    train, still give HashingVectorizer's matrix."""
    from sklearn.feature_extraction.text import HashingVectorizer

    import pipeline.classify.hashing as hashing

    docs = ["https://www.example.gov.cn/" + "a" * 90 + " 国家重点研发计划 支持", "量子 通信 " + "网" * (hashing.MAX_VECTOR_SPAN + 5),
            "", "单字"]
    common = dict(n_features=2 ** 10, alternate_sign=False, norm=None, lowercase=False)
    for hv in [HashingVectorizer(token_pattern=r"\S+", ngram_range=(1, 3), **common),
               HashingVectorizer(analyzer="char", ngram_range=(2, 5), **common)]:
        assert abs(BulkHasher(hv).transform(docs) - hv.transform(docs)).sum() == 0


def test_compiled_route_matches_reference_pipeline_on_corpus_passages(classifier):
    """The shipped model's runtime route (the compiled arrays) gives the reference skops Pipeline's probabilities
    on corpus items (passages and their sentences, with headings, positions and segmenter tokens)."""
    from pipeline.classify.features import build_frame, feature_rows
    from pipeline.config import PROJECT_DIR
    from pipeline.sentences import split_sentences

    items = []
    for path in sorted((PROJECT_DIR / "corpora" / "classifier").glob("*.jsonl"))[:4]:
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()[:40]):
            rec = json.loads(line)
            items.append(Item(rec["text"], rec.get("heading"), k / 40))
            items += [Item(rec["text"][s:e], rec.get("heading"), k / 40, True) for s, e in split_sentences(rec["text"])[:2]]
    rows = feature_rows(items, classifier.tokenize, classifier.lexicons, classifier.normalise)
    got = classifier.compiled.predict_proba(rows)
    expected = classifier.reference_pipeline().predict_proba(build_frame(items, classifier.tokenize, classifier.lexicons, classifier.normalise))
    assert got.shape == (len(items), 4)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("text, organising", [
    ("针对上述短板，本文提出以下三点政策建议。", True),
    ("按照市政府办公室通知要求，现将本局2025年工作情况和2026年工作打算报告如下：", True),
    ("有关情况说明如下。", True),
    ("为此，提出以下建议：一是设立专项基金；二是完善考核办法。", False),  # the tasks follow in the passage
    ("我省数字经济仍然存在不足，主要表现在以下几个方面。", False),  # it states the problem itself
    ("一年来，我们主要做了以下工作。", False),
])
def test_organising_sentences(text, organising):
    from pipeline.classify.features import is_organising

    assert is_organising(text, LEXICONS.organising) is organising


def test_organising_passage_is_background_whatever_the_section(classifier):
    """Amid a problems section the model reads "…存在的问题，提出以下…建议" as one more challenge; the rule
    makes it background (the model's label stays as the secondary)."""
    problems = ["全市规上工业企业研发投入强度偏低，关键零部件依赖外地配套。", "高端人才流失较为严重，引进政策吸引力不足。",
                "融资渠道单一，中小企业贷款难、贷款贵问题依然突出。"]
    texts = problems + ["针对我市产业发展现状及存在的问题，提出以下发展建议。"]
    passages = [Item(t, "三、存在的问题", 0.5 + 0.05 * i) for i, t in enumerate(texts)]
    preds, per_sentence = classifier.classify(passages, [[p] for p in passages])
    assert [p.label for p in preds] == ["challenge"] * 3 + ["background"]
    assert preds[3].secondary == "challenge" and per_sentence[3][0].label == "background"


@pytest.mark.parametrize("text, kept", [
    ("全省新建5G基站1.2万个，取得了显著成效，但同时仍存在一些亟待解决的问题。", "全省新建5G基站1.2万个，取得了显著成效。"),
    ("全市经济运行稳中向好。同时也要看到，还存在一些困难和问题。", "全市经济运行稳中向好。"),
    ("产业规模稳步扩大，但仍存在关键核心技术受制于人的问题。", None),  # a stated problem: the judgement stays
    ("还有一些问题必须引起高度重视。", None),  # nothing but the clause: read whole
])
def test_transition_clause_is_not_the_judgement(text, kept):
    from pipeline.classify.features import without_transition

    assert without_transition(Item(text), LEXICONS.transitions).text == (kept or text)


def test_shipped_model_reads_progress_with_a_transition_clause_as_achievement(classifier):
    text = ("近年来，全省持续推进高标准农田建设，累计建成高标准农田3200万亩，粮食单产提高了8%，取得了显著成效，"
            "但同时仍存在一些亟待解决的问题。")
    preds, _ = classifier.classify([Item(text, None, 0.3)], [[Item(text, None, 0.3, True)]])
    assert preds[0].label == "achievement"


@pytest.mark.parametrize("text, kept", [
    ("该技术应用于农业所面临的监管障碍相对较低，因而最早开始推广。", "该技术应用于农业所面临的监管，因而最早开始推广。"),
    ("新工艺涉及的安全风险较小，已在三家企业试用。", "新工艺涉及的安全，已在三家企业试用。"),
    ("关键零部件依赖进口的问题依然突出。", None),  # a stated problem stays
])
def test_problem_words_said_to_be_small_are_not_read_as_problems(text, kept):
    from pipeline.classify.features import without_mitigated

    assert without_mitigated(Item(text), LEXICONS.mitigated).text == (kept or text)


_PASSAGE_TEXT = st.lists(st.sampled_from(["我国", "美国", "全省", "取得了", "突破", "问题", "不足", "建议", "加快",
                                            "背景", "。", "；", "！", "”", " ", "\n", "但", "将", "已", "欧盟"]),
                         max_size=25).map("".join)


@hsettings(max_examples=120, deadline=None)
@given(_PASSAGE_TEXT)
def test_counts_summed_over_sentence_pieces_equal_counts_over_the_text(text):
    """feature_rows counts cue and actor words per sentence piece and sums them: the same as counting in the whole
    text (what the model was trained on), because no counted word spans a piece boundary."""
    from pipeline.classify.features import LABELS as F_LABELS, feature_rows

    cues, own, foreign = LEXICONS.cues, LEXICONS.own, LEXICONS.foreign
    row = feature_rows([Item(text)], list, LEXICONS)[0]
    for label in F_LABELS:
        assert row[f"cue_{label}"] == sum(map(text.count, cues[label]))
    assert row["actor_own"] == min(sum(map(text.count, own)), 10)
    assert row["actor_foreign"] == min(sum(map(text.count, foreign)), 10)


def test_word_lists_that_could_cross_a_sentence_piece_are_refused():
    from pipeline.classify.features import check_piece_safe

    check_piece_safe(["问题", "取得"])
    for bad in ("问题。", "不足；", "a b", ""):
        with pytest.raises(ValueError, match="sentence punctuation"):
            check_piece_safe([bad])


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="啊问题加快a", min_size=1, max_size=3), max_size=5), min_size=1, max_size=4),
       st.text(alphabet="啊问题加快a。", max_size=30))
@example([["啊啊", "问题"], ["啊啊", "啊啊", "a"]], "啊啊啊，问题啊啊啊啊")
def test_word_counter_equals_summed_str_count(lists, text):
    """One Aho-Corasick pass gives what sum(map(text.count, words)) gives per list: self-overlapping words
    (啊啊 in 啊啊啊), words repeated in a list and words in several lists included."""
    from pipeline.classify.features import WordCounter

    assert WordCounter(lists)(text) == [sum(map(text.count, words)) for words in lists]


@pytest.mark.shared
def test_pool_records_are_built_through_ingest_with_headings(config):
    """The real labels joined with the pool: every record's text starts with its pool line, headings and positions come
    from ingest as at run time, and no record carries a heading/other kind."""
    from pipeline.pool import PoolError, find_pool, read_manifest
    from pipeline.train import pool_records, training_params

    try:
        pool = find_pool()
    except PoolError:
        pytest.skip("../shared/corpus/policy is absent")
    records = pool_records(pool, config, training_params())
    docs = read_manifest(pool)
    assert len(records) > 6000 and len({r["doc"] for r in records}) >= 200
    assert {r["label"] for r in records} == set(LABELS)
    for r in records[:500]:
        slug, line = r["id"].rsplit(":", 1)
        assert r["text"].startswith(docs[slug].line(int(line)))  # ingest may re-join a broken paragraph
        assert 0.0 <= r["index"] / max(r["n_passages"] - 1, 1) <= 1.0
    assert any(r["heading"] for r in records)
