"""Segmentation: a private jieba.Tokenizer, the domain dictionary, atomic numbers and acronyms, forced cuts."""
from __future__ import annotations

import pytest

from pipeline.nlp.segment import Segmenter


@pytest.fixture(scope="module")
def seg(settings, tmp_path_factory):
    return Segmenter([settings.path(settings["nlp"]["domain_dict"])],
                     cache_dir=str(tmp_path_factory.mktemp("jieba")))


def test_own_tokenizer_instance(seg):
    import jieba

    assert seg._tok is not jieba.dt  # not the module-level default tokenizer


def test_user_dict_does_not_leak_into_default(tmp_path):
    import jieba

    d = tmp_path / "d.txt"
    d.write_text("量子跃迁测试词 100 n\n", encoding="utf-8")
    mine = Segmenter([d], cache_dir=str(tmp_path / "cache"))
    assert "量子跃迁测试词" in mine.cut("这是量子跃迁测试词。")
    assert "量子跃迁测试词" not in jieba.Tokenizer().lcut("这是量子跃迁测试词。")


@pytest.mark.parametrize("text,token", [
    ("增长了12.5%以上", "12.5%"), ("投入3.35亿元", "3.35亿元"), ("达到１２０", "１２０"),
    ("发布于2024-04-12的通知", "2024-04-12"), ("QED·C联盟成立", "QED·C"), ("COVID-19疫情", "COVID-19"),
    ("IBM公司发布", "IBM"),
])
def test_atomic_tokens(seg, text, token):
    assert token in seg.cut(text)


def test_domain_words_whole(seg, settings):
    words = [w.split()[0] for w in settings.path(settings["nlp"]["domain_dict"]).read_text(encoding="utf-8").splitlines()
             if w.strip() and not w.startswith("#")]
    sample = [w for w in words if 3 <= len(w) <= 6][:20]
    for w in sample:
        assert w in seg.cut(f"我们{w}。"), w


def test_forced_boundaries(seg):
    text = "合肥本源量子公司发布"
    words = seg.cut(text, boundaries=[2, 8])
    assert "".join(words) == text
    pos, cuts = 0, set()
    for w in words:
        pos += len(w)
        cuts.add(pos)
    assert {2, 8} <= cuts


def test_boundaries_out_of_range_ignored(seg):
    assert "".join(seg.cut("量子计算", boundaries=[0, 4, 99, -1])) == "量子计算"
