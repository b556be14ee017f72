"""Ingest of plain-text documents: titles and subtitles, disclaimers and citation lines, placeholder metadata,
and numbered headings at the top of the content region. Every fixture is invented for these tests."""
from __future__ import annotations

from pipeline.config import load_config
from pipeline.ingest import Ingester
from pipeline.ingest.boilerplate import heading_number

INGESTER = Ingester(load_config())

# Invented paragraphs, long enough to read as prose (one per line, as in the policy corpus).
P1 = "近年来，某市绿色制造体系建设取得积极进展，但仍存在企业绿色化改造动力不足、支撑服务体系不健全等问题，需要进一步完善政策措施。"
P2 = "《措施》共分为五个部分十八条，从绿色工厂培育、绿色园区建设、绿色供应链管理、资金支持等方面提出了具体举措，力求务实管用。"
P3 = "本措施适用于在本市注册登记、具有独立法人资格的工业企业及相关服务机构，具体申报要求以每年发布的申报通知为准，逐年评估。"
P4 = "市工业和信息化局负责本措施的解释工作，企业可以通过政务服务平台进行咨询，有关部门应当在五个工作日内予以答复并跟踪办理。"


def _doc(*lines: str):
    return INGESTER.ingest("\n".join(lines) + "\n")


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
    doc = INGESTER.ingest(page.encode("utf-8"))
    assert doc.author is None


# Item 1: titles of plain-text documents.

def test_report_title_with_subtitle_and_speaker():
    doc = _doc("2031年某省政府工作报告", "——2031年1月20日在某省第九届人民代表大会第三次会议上", "某省人民政府省长 某某某",
               "各位代表：", P1, P2, P3)
    assert doc.title == "2031年某省政府工作报告"
    assert doc.subtitle == "2031年1月20日在某省第九届人民代表大会第三次会议上"
    assert _reasons(doc)["——2031年1月20日在某省第九届人民代表大会第三次会议上"] == "subtitle"
    assert "人民代表大会第三次会议上" not in doc.body


def test_occasion_line_without_dash_is_the_subtitle_not_the_title():
    doc = _doc("2031年某市政府工作报告", "2031年1月14日在某市第十届人民代表大会第二次会议上", "各位代表：", P1, P2)
    assert doc.title == "2031年某市政府工作报告"
    assert doc.subtitle.startswith("2031年1月14日在某市")


def test_research_article_title_not_author_or_affiliation():
    doc = _doc("某区域绿色制造政策的成效与展望", "某甲 某乙", "某某大学公共管理学院 某市 100000",
               "*资助项目：某某科学基金（00000000）", "修改稿收到日期：2030年10月11日", P1, P2, P3)
    assert doc.title == "某区域绿色制造政策的成效与展望"
    assert doc.subtitle is None


def test_section_heading_is_not_the_title():
    doc = _doc("科技支撑绿色制造", "1我国绿色制造面临的挑战", P1, P2, "2“十四五”政策建议", P3)
    assert doc.title == "科技支撑绿色制造"


def test_strong_title_found_after_a_cover_letter():
    doc = _doc("各区人民政府，市政府各部门：", "现将《某市绿色制造发展指南》印发给你们，请结合实际认真贯彻执行。",
               "某市人民政府办公厅", "2030年11月3日", "某市绿色制造发展指南", P1, P2, P3)
    assert doc.title == "某市绿色制造发展指南"


def test_notice_title_of_the_guanyu_form():
    doc = _doc("某市工业和信息化局", "关于开展2031年度绿色工厂申报工作的通知", "各区工业和信息化主管部门：", P1, P2, P3)
    assert doc.title == "关于开展2031年度绿色工厂申报工作的通知"


def test_salutation_byline_and_date_are_never_titles():
    assert _doc("同志们：", P1, P2, P3).title is None
    assert _doc("本报记者 某某 某某", P1, P2, P3).title is None
    assert _doc("2030年11月3日", P1, P2, P3).title is None
    assert _doc("作者：某某（某某研究院研究员）", P1, P2, P3).title is None


def test_news_title_above_its_body_beats_a_column_label():
    doc = _doc("国内联播快讯", "某省新能源装机规模突破一亿千瓦", P1, P2)
    assert doc.title == "某省新能源装机规模突破一亿千瓦"


def test_wrapped_pdf_text_gives_no_fragment_as_title():
    doc = _doc("某某行业是制造业的重要基础产业之一，是实现制",
               "造强国的重要支撑。当前，某某行业正处于由数量",
               "和规模扩张向质量和效益提升转变的关键期，亟待与",
               "新一代信息技术在更广范围、更深程度上融合发展。", P1, P2, P3)
    assert doc.title is None


def test_flattened_page_title_before_metadata_still_wins(fixtures):
    doc = INGESTER.ingest(fixtures / "flat_energy_notice.txt")
    assert doc.title == "我邦新型储能财产成长的现状、题目与对策"
