"""Near-duplicate signatures and index (pipeline.ingest.dedup): the NumPy MinHash, its permutations, the band
parameters and the index answer as datasketch's own (installed for the tests), and the index finds copies of an
article but not other articles."""
from __future__ import annotations

import re

import mmh3
import numpy as np
import pytest
from hypothesis import example, given, settings as hsettings, strategies as st

from pipeline.ingest import dedup

# Kept characters (Han, Latin, digits) of 1 and 3 UTF-8 bytes, and dropped ones (punctuation, space, emoji).
_TEXT = st.text(alphabet=st.sampled_from(list("量子计算研究院所aZ09，。 \n😀é")), max_size=60)


def shingles(text: str, k: int) -> set[str]:
    """The reference: the set of k-character shingles of the text's Han, Latin and digit characters."""
    chars = "".join(re.findall(r"[\u3400-\u9fffA-Za-z0-9]", text))
    if len(chars) <= k:
        return {chars} if chars else set()
    return {chars[i:i + k] for i in range(len(chars) - k + 1)}


def hash64(shingle: str) -> int:
    """The reference shingle hash: the first half of MurmurHash3 x64-128 of its UTF-8 bytes, unsigned."""
    return mmh3.hash64(shingle, signed=False)[0]


def _datasketch_minhash(num_perm: int, hashvalues=None):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme=dedup.SCHEME, hashfunc=hash64, hashvalues=hashvalues)


def _datasketch_signature(text: str, num_perm: int, k: int) -> np.ndarray:
    mh = _datasketch_minhash(num_perm)
    mh.update_batch(shingles(text, k))
    return mh.hashvalues.astype(np.uint64)


@pytest.mark.parametrize("num_perm", [16, 32, 128, 256])
def test_permutations_are_datasketchs(num_perm):
    a, b = dedup._permutations(num_perm)
    expected = _datasketch_minhash(num_perm).permutations
    assert np.array_equal(a, expected[0]) and np.array_equal(b, expected[1])


@pytest.mark.parametrize("num_perm", [32, 64, 128, 256])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95])
def test_band_parameters_are_those_minhashlsh_chooses(threshold, num_perm):
    from datasketch import MinHashLSH

    try:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    except ValueError:  # fewer than 2 bands: refused by both
        with pytest.raises(ValueError, match="2 bands"):
            dedup.DuplicateIndex(num_perm=num_perm, threshold=threshold)
        return
    assert dedup.lsh_bands(threshold, num_perm) == (lsh.b, lsh.r)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.lists(st.integers(0, 3), min_size=32, max_size=32)),
                max_size=12))
def test_index_answers_as_minhashlsh(entries):
    """The same candidates as datasketch's MinHashLSH (query, then insert when nothing is found), on signatures
    whose bands often collide; a key redone is removed first, as the run does."""
    from datasketch import MinHashLSH

    ours = dedup.DuplicateIndex(num_perm=32, threshold=0.5)
    theirs = MinHashLSH(threshold=0.5, num_perm=32)
    for key, values in entries:
        sig = np.array(values, dtype=np.uint64)
        if key in ours:
            ours.remove(key)
            theirs.remove(key)
        found = theirs.query(_datasketch_minhash(32, sig))
        expected = min(found) if found else None
        if expected is None:
            theirs.insert(key, _datasketch_minhash(32, sig))
        assert ours.check_and_add(key, sig) == expected


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
    assert set(dedup.shingle_hashes(text, k).tolist()) == {hash64(s) for s in shingles(text, k)}


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
