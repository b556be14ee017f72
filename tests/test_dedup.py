"""Near-duplicate signatures (pipeline.ingest.dedup): the NumPy MinHash equals datasketch's own, and the index
finds copies of an article but not other articles."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings as hsettings, strategies as st

from pipeline.ingest import dedup

# Kept characters (Han, Latin, digits) of 1 and 3 UTF-8 bytes, and dropped ones (punctuation, space, emoji).
_TEXT = st.text(alphabet=st.sampled_from(list("量子计算研究院所aZ09，。 \n😀é")), max_size=60)


def _datasketch_signature(text: str, num_perm: int, k: int) -> np.ndarray:
    mh = dedup._minhash(num_perm)
    mh.update_batch(dedup.shingles(text, k))
    return mh.hashvalues.astype(np.uint64)


@hsettings(max_examples=150, deadline=None)
@given(_TEXT, st.integers(min_value=1, max_value=8))
@example("", 5)
@example("，。😀", 5)
@example("量子", 5)  # shorter than a shingle: the kept characters are the one shingle
@example("研究院所研究院所", 6)  # 18-byte shingles: hashed by mmh3 one by one
def test_signature_equals_datasketch_update_batch(text, k):
    assert np.array_equal(dedup.signature(text, num_perm=32, k=k), _datasketch_signature(text, 32, k))


@hsettings(max_examples=100, deadline=None)
@given(_TEXT, st.integers(min_value=1, max_value=8))
def test_shingle_hashes_are_the_hashes_of_the_shingles(text, k):
    assert set(dedup.shingle_hashes(text, k).tolist()) == {dedup._hash64(s) for s in dedup.shingles(text, k)}


def test_index_finds_a_lightly_edited_copy_and_not_another_article():
    article = ("省科技厅近日印发实施方案，提出到二〇二七年建成覆盖全省的科技成果转化服务网络，"
               "培育一批专业化技术转移机构，推动高校和科研院所的成果在本地落地转化。") * 3
    copy = article.replace("近日", "日前")
    other = ("市生态环境局发布年度公报，全市空气质量优良天数比例继续提高，主要河流断面水质稳定达标，"
             "土壤环境风险得到有效管控，但臭氧污染问题依然突出，需加强区域联防联控。") * 3
    index = dedup.DuplicateIndex(num_perm=128, threshold=0.85)
    sig = lambda t: dedup.signature(t, num_perm=128, k=5)  # noqa: E731
    assert index.check_and_add("a", sig(article)) is None
    assert index.check_and_add("b", sig(copy)) == "a"
    assert index.check_and_add("c", sig(other)) is None
