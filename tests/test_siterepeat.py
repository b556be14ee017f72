"""Lines repeated across the pages of one site in a batch are removed as boilerplate (texts written for these tests)."""
from __future__ import annotations

import json

from pipeline.ingest.siterepeat import SiteRepeats, block_key, countable, site_key

SLOGAN = "本网站致力于为广大读者提供权威及时的政策资讯服务，欢迎各界人士来稿交流并提出宝贵意见和建议。"
ARTICLES = {
    "water.txt": ["某县推进农村供水工程规范化管理",
                  "近年来，某县累计投入资金三点二亿元，新建和改造集中供水工程四十六处，农村自来水普及率提高到百分之九十七。",
                  "县水利局实行供水工程县级统管，组建专业运维队伍，建立水质季度检测和信息公开制度，群众饮水安全得到有效保障。",
                  "下一步，该县将推进城乡供水一体化，力争三年内实现规模化供水工程覆盖全部乡镇。"],
    "school.txt": ["某市多措并举扩大普惠性学前教育资源",
                   "今年以来，某市新建、改扩建公办幼儿园二十一所，新增学位六千三百个，普惠性幼儿园覆盖率达到百分之九十一。",
                   "但部分新建城区学位仍然紧张，保教人员流动性较大，农村幼儿园办园条件与城区相比还有差距。",
                   "市教育局表示，将完善学前教育成本分担机制，提高保教人员待遇，确保新建小区配套幼儿园同步建成、按时移交。"],
    "grid.txt": ["某省加快建设新型电力系统",
                 "截至今年九月底，某省新能源装机容量突破三千万千瓦，占全省电力总装机的比重首次超过四成。",
                 "省能源局有关负责人介绍，全省已建成投运新型储能电站十八座，电网调峰能力明显增强，弃风弃光率保持在较低水平。",
                 "按照规划，到二〇二七年该省将基本建成适应高比例新能源接入的坚强智能电网。"],
    "clinic.txt": ["某区推动优质医疗资源下沉基层",
                   "某区以医共体建设为抓手，组织区级医院专家定期到社区卫生服务中心坐诊，今年已累计下沉专家门诊两千余人次。",
                   "通过远程会诊平台，基层医疗机构可以实时上传检查影像，由区级医院出具诊断意见，群众在家门口就能看上专家号。",
                   "下一步，该区将扩大家庭医生签约服务覆盖面，推动检查检验结果互认。"],
}


def write_site(folder):
    folder.mkdir()
    for name, (title, *paras) in ARTICLES.items():
        # The slogan sits right under the article, where the prose scorer alone keeps it.
        (folder / name).write_text("\n".join([title, *paras, SLOGAN, "网站地图 | 联系我们"]) + "\n", encoding="utf-8")


def test_slogan_is_kept_on_a_page_alone(tmp_path, ingester):
    write_site(tmp_path / "site")
    assert SLOGAN in ingester.ingest(tmp_path / "site" / "water.txt").body


def test_slogan_repeated_on_the_site_is_removed_in_a_batch(tmp_path):
    from pipeline.run import run

    write_site(tmp_path / "site")
    run([str(tmp_path / "site")], tmp_path / "out", workers=1)
    docs = [json.loads(line) for line in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(docs) == 4
    for doc in docs:
        texts = [p["text"] for p in doc["passages"]]
        assert SLOGAN not in texts
        assert any(r["reason"] == "site_repeat" for r in doc["removed"])
        assert len(texts) >= 2  # the articles themselves stay


def test_copies_of_one_article_keep_their_text(tmp_path, ingester):
    """Three near-copies of one article on a site: their shared lines must not erase the article."""
    title, *paras = ARTICLES["grid.txt"]
    repeats = SiteRepeats(min_pages=3)
    for k in range(3):
        keys = [block_key(p) for p in paras if countable(p, 16)]
        repeats.add("example.gov.cn", keys, page_hash=f"copy{k}")
    path = tmp_path / "grid.txt"
    path.write_text("\n".join([title, *paras]), encoding="utf-8")
    doc = ingester.ingest(path, site_repeats=repeats.repeated("example.gov.cn"))
    assert paras[0] in doc.body and paras[1] in doc.body


def test_site_repeats_counting():
    repeats = SiteRepeats(min_pages=3)
    line = block_key(SLOGAN)
    repeats.add("a.gov.cn", [line], "p1")
    repeats.add("a.gov.cn", [line], "p1")  # the same page twice counts once
    repeats.add("a.gov.cn", [line], "p2")
    assert repeats.repeated("a.gov.cn") == frozenset()
    repeats.add("a.gov.cn", [line], "p3")
    assert repeats.repeated("a.gov.cn") == {line}
    assert repeats.repeated("b.gov.cn") == frozenset()
    assert block_key("本网站 致力于") == block_key("本网站致力于")  # white space does not matter


def test_headings_and_short_lines_are_not_counted():
    assert not countable("一、总体要求", 16)
    assert not countable("特此通知。", 16)
    assert countable(SLOGAN, 16)


def test_site_key_prefers_the_host():
    assert site_key("/data/crawl/x.html", "https://www.example.gov.cn/a/b.html", None) == "example.gov.cn"
    assert site_key("/data/crawl/x.html", None, "news.example.cn") == "news.example.cn"
    assert site_key("/data/crawl/x.txt", None, None) == "/data/crawl"


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_KEYS = st.sampled_from([0, 1, 7, 2**63 - 1, 2**63, 2**64 - 1, block_key(SLOGAN)])


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a.gov.cn", "b.gov.cn"]), st.lists(_KEYS, max_size=5),
                          st.integers(0, 6)), max_size=30),
       st.integers(1, 4), st.integers(1, 3))
def test_site_repeats_count_as_a_counter_of_distinct_pages(adds, min_pages, merge_every):
    """The NumPy counts (merged every few pages, queried between adds) equal a plain count of distinct pages."""
    from collections import Counter

    repeats = SiteRepeats(min_pages=min_pages)
    repeats.MERGE_EVERY = merge_every
    counts: dict[str, Counter] = {}
    pages: dict[str, set] = {}
    for site, keys, page in adds:
        repeats.add(site, keys, f"page{page}")
        if f"page{page}" not in pages.setdefault(site, set()):
            pages[site].add(f"page{page}")
            counts.setdefault(site, Counter()).update(set(keys))
        for s in ("a.gov.cn", "b.gov.cn"):
            expected = frozenset() if len(pages.get(s, ())) < min_pages else \
                frozenset(k for k, n in counts.get(s, Counter()).items() if n >= min_pages)
            assert repeats.repeated(s) == expected
