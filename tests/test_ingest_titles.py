"""Ingest of plain-text documents: titles and subtitles, disclaimers and citation lines, placeholder metadata,
and numbered headings at the top of the content region. Every fixture is invented for these tests."""
from __future__ import annotations

from pipeline.ingest import ingest
from pipeline.ingest.boilerplate import heading_number

# Invented paragraphs, long enough to read as prose (one per line, as in the policy corpus).
P1 = "近年来，某市绿色制造体系建设取得积极进展，但仍存在企业绿色化改造动力不足、支撑服务体系不健全等问题，需要进一步完善政策措施。"
P2 = "《措施》共分为五个部分十八条，从绿色工厂培育、绿色园区建设、绿色供应链管理、资金支持等方面提出了具体举措，力求务实管用。"
P3 = "本措施适用于在本市注册登记、具有独立法人资格的工业企业及相关服务机构，具体申报要求以每年发布的申报通知为准，逐年评估。"
P4 = "市工业和信息化局负责本措施的解释工作，企业可以通过政务服务平台进行咨询，有关部门应当在五个工作日内予以答复并跟踪办理。"


def _doc(*lines: str):
    return ingest("\n".join(lines) + "\n")


def _reasons(doc) -> dict[str, str]:
    return {r.text: r.reason for r in doc.removed}


# Item 4: a first numbered heading is content when its next sibling is kept.

def test_heading_number_shapes():
    assert heading_number("一、出台背景") == (("", False, "、"), 1)
    assert heading_number("十二、其他事项") == (("", False, "、"), 12)
    assert heading_number("（三）保障措施") == (("（", False, "）"), 3)
    assert heading_number("第二章 总则") == (("第", False, "章"), 2)
    assert heading_number("2. 主要任务") == (("", True, "."), 2)
    assert heading_number("2025年工作安排") is None
    assert heading_number("一、" + P1) is None  # a numbered paragraph, not a heading


def test_first_section_heading_kept_when_its_sibling_is():
    doc = _doc("首页", "政策解读", "当前位置：首页 > 政策解读", "《某市促进绿色制造发展若干措施》政策解读",
               "发布时间：2024-03-05 来源：市工信局", "一、出台背景", P1, "二、主要内容", P2, "三、适用范围", P3,
               "网站地图 | 联系我们")
    assert doc.body.startswith("一、出台背景\n")
    assert [p.kind for p in doc.paragraphs][:2] == ["heading", "paragraph"]
    assert "一、出台背景" not in _reasons(doc)


def test_nested_first_headings_kept():
    doc = _doc("某市促进绿色制造发展若干措施", "发布时间：2024-03-05", "一、总体要求", "（一）指导思想", P1,
               "（二）基本原则", P2, "二、重点任务", P3)
    assert doc.body.startswith("一、总体要求\n（一）指导思想\n")


def test_table_of_contents_entry_before_the_body_stays_out():
    # The last entry of a contents list has no sibling after it; the body's own headings are kept.
    doc = _doc("某市绿色制造发展规划", "目录", "一、发展基础", "二、主要任务", "一、发展基础", P1, "二、主要任务", P2)
    assert doc.body.count("二、主要任务") == 1
    assert doc.body.count("一、发展基础") == 1


# Item 2: disclaimers and citation lines are boilerplate with their own reasons (patterns in boilerplate.toml).

def test_disclaimer_and_citation_removed_with_their_reasons():
    disclaimer = "注：本文观点仅代表作者个人，不代表本刊立场。"
    citation = "引用格式：某甲，某乙. 某市绿色制造政策评估研究[R]. 某市：某研究院，2023."
    cite_this = "引用本文：某丙. 绿色工厂培育路径分析[J]. 某某学报，2022，37(4)：1-9."
    doc = _doc("某市绿色制造政策评估研究", cite_this, P1, P2, P3, P4, disclaimer, citation)
    reasons = _reasons(doc)
    assert reasons[disclaimer] == "disclaimer"
    assert reasons[citation] == "citation"
    assert reasons[cite_this] == "citation"
    assert "仅代表作者" not in doc.body and "[R]" not in doc.body and "[J]" not in doc.body
    assert P1 in doc.body and P4 in doc.body


def test_author_mentioned_in_prose_is_not_a_disclaimer():
    line = "课题组认为，这些数据仅代表作者个人所在单位的统计口径，推广到全省还需要更多样本，也需要与统计部门的数据相互印证。"
    doc = _doc("某市绿色制造政策评估研究", P1, line, P2)
    assert line in doc.body


# Item 3: placeholder authors and publishers (configs/boilerplate.toml [metadata]) are no metadata.

def test_placeholder_author_and_publisher_are_null():
    doc = _doc("某市绿色制造政策问答", "发布时间：2024-03-05 作者：admin 来源：网络整理", P1, P2, P3)
    assert doc.published_at == "2024-03-05"
    assert doc.author is None and doc.publisher is None


def test_placeholder_is_skipped_for_a_real_value_further_down():
    doc = _doc("某市绿色制造政策问答", "作者：小编 来源：本站", P1, P2, P3, "作者：张某某 来源：某市工信局")
    assert doc.author == "张某某" and doc.publisher == "某市工信局"


def test_real_author_and_publisher_are_kept():
    doc = _doc("某市绿色制造政策问答", "发布时间：2024-03-05 作者：王某 来源：某市工信局", P1, P2, P3)
    assert doc.author == "王某" and doc.publisher == "某市工信局"


def test_placeholder_author_in_html_meta_is_null():
    page = ("<html><head><meta charset='utf-8'><meta name='author' content='佚名'>"
            "<title>某市绿色制造政策问答</title></head><body><h1>某市绿色制造政策问答</h1>"
            f"<p>{P1}</p><p>{P2}</p><p>{P3}</p></body></html>")
    doc = ingest(page.encode("utf-8"))
    assert doc.author is None
