"""Segmentation: a private jieba.Tokenizer, the domain dictionary, atomic numbers and acronyms, forced cuts."""
from __future__ import annotations

import pytest

from pipeline.nlp.segment import Segmenter


BACKENDS = ["jieba", "rjieba"]


@pytest.fixture(scope="module", params=BACKENDS)
def seg(request, config, tmp_path_factory):
    return Segmenter([config.path(config.nlp.domain_dict)], backend=request.param,
                     cache_dir=str(tmp_path_factory.mktemp("jieba")))


@pytest.fixture(scope="module")
def both(config, tmp_path_factory):
    d = [config.path(config.nlp.domain_dict)]
    return (Segmenter(d, backend="jieba", cache_dir=str(tmp_path_factory.mktemp("jieba"))),
            Segmenter(d, backend="rjieba"))


def test_own_tokenizer_instance(seg):
    import jieba

    assert seg._tok is not jieba.dt  # not the module-level default tokenizer


def test_default_backend_is_rjieba(config):
    assert config.nlp.segmenter == "rjieba"


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_dict_does_not_leak_into_default(tmp_path, backend):
    import jieba

    d = tmp_path / "d.txt"
    d.write_text("量子跃迁测试词 100 n\n", encoding="utf-8")
    mine = Segmenter([d], backend=backend, cache_dir=str(tmp_path / "cache"))
    assert "量子跃迁测试词" in mine.cut("这是量子跃迁测试词。")
    assert "量子跃迁测试词" not in jieba.Tokenizer().lcut("这是量子跃迁测试词。")
    assert "量子跃迁测试词" not in Segmenter([], backend=backend, cache_dir=str(tmp_path / "c2")).cut("这是量子跃迁测试词。")


def test_rjieba_segments_like_jieba(both):
    """The fast backend gives jieba's words with our dictionary: every paragraph of the batch fixtures, and a
    case that depends on the dictionary total (jieba adds a re-added word's frequency to it, jieba-rs does not;
    _rjieba_tokenizer compensates)."""
    import re

    from tests.conftest import FIXTURES

    ref, fast = both
    texts = ["推进创新技术成果向标准转化。", "utf-8 DCP-001疫苗 Jina_Embeddings_v4_RAG  空格\u3000全角 😀"]
    for path in sorted((FIXTURES / "batch").iterdir()):
        raw = re.sub(r"<[^>]+>", "\n", path.read_text(encoding="utf-8"))
        texts += [x.strip() for x in raw.splitlines() if x.strip()]
    assert len(texts) > 20
    for text in texts:
        assert fast.cut(text) == ref.cut(text), text
        assert fast.cut(text, [3, 7]) == ref.cut(text, [3, 7]), text


def test_unknown_backend_refused():
    with pytest.raises(ValueError):
        Segmenter([], backend="thulac")


@pytest.mark.parametrize("text,token", [
    ("增长了12.5%以上", "12.5%"), ("投入3.35亿元", "3.35亿元"), ("达到１２０", "１２０"),
    ("发布于2024-04-12的通知", "2024-04-12"), ("QED·C联盟成立", "QED·C"), ("COVID-19疫情", "COVID-19"),
    ("IBM公司发布", "IBM"),
])
def test_atomic_tokens(seg, text, token):
    assert token in seg.cut(text)


def test_domain_words_whole(seg, config):
    words = [w.split()[0] for w in config.path(config.nlp.domain_dict).read_text(encoding="utf-8").splitlines()
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
