"""Ingest never collapses silently: the raw-page disagreement report, hidden-until-script content, and the
fallback that replaces an implausible pick. Every page here is an invented fixture of the shape of a failure
found on raw pages without gold (tests/fixtures/fallback_*.html); none is copied from a real page."""
from __future__ import annotations

import json

import pytest

from pipeline.evaluate import cjk_chars, evaluate_disagreement, raw_pages
from pipeline.ingest import IngestError
from pipeline.ingest.blocks import weighted_len

_ARTICLE_PARAS = "".join(f"<p>第{i}段：某市今年计划改造老旧小区一百个，涉及居民两万户，资金由市区两级财政共同承担，"
                         f"改造内容包括管网更新、加装电梯和停车设施建设。</p>" for i in range(6))
_ARTICLE = (f"<html><head><title>某市推进老旧小区改造</title></head><body><div class='content'>{_ARTICLE_PARAS}"
            "</div></body></html>")


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_raw_pages_leave_out_pages_with_gold(tmp_path):
    _write(tmp_path / "a" / "001.html", _ARTICLE)
    _write(tmp_path / "a" / "002.html", _ARTICLE)
    _write(tmp_path / "a" / "002.gold.txt", "金标准")
    _write(tmp_path / "a" / "002.gold.html", _ARTICLE)
    pages, with_gold = raw_pages([tmp_path / "a"])
    assert [p.name for p in pages] == ["001.html"]
    assert with_gold == 1


def test_disagreement_flags_pages_where_a_library_keeps_far_more(tmp_path, ingester, capsys):
    page = _write(tmp_path / "raw" / "001.html", _ARTICLE)
    ours = cjk_chars(ingester.ingest(page).body)
    libraries = {"same": lambda p: "某" * ours, "triple": lambda p: "某" * (3 * ours)}
    assert evaluate_disagreement([tmp_path / "raw"], config=ingester.config, as_json=True, libraries=libraries) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["flagged"] == 1 and report["rows"][0]["best_library"] == 3 * ours

    libraries = {"same": lambda p: "某" * ours}
    evaluate_disagreement([tmp_path / "raw"], config=ingester.config, as_json=True, libraries=libraries)
    assert json.loads(capsys.readouterr().out)["flagged"] == 0


def test_disagreement_flags_a_page_we_refuse(tmp_path, ingester, capsys):
    _write(tmp_path / "raw" / "001.html", "<html><body><p>only latin text here, nothing else</p></body></html>")
    evaluate_disagreement([tmp_path / "raw"], config=ingester.config, as_json=True, libraries={"x": lambda p: "某某某"})
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["flagged"] and row["counts"]["policyminer"] == 0 and "not a Chinese article" in row["reason"]


# -- hidden-until-script content ------------------------------------------------------------------------------

def test_wechat_body_hidden_until_script_is_content(fixtures, ingester):
    doc = ingester.ingest(fixtures / "fallback_wechat_hidden.html")
    assert "归并为综合窗口" in doc.body and "让群众办事更方便" in doc.body
    assert any(p.text == "二、服务向基层延伸" for p in doc.paragraphs)
    # Hidden pop-ups inside and outside the revealed body stay hidden.
    for popup in ("长按识别二维码", "微信扫一扫", "继续滑动看下一个"):
        assert popup not in doc.body


def test_hidden_menu_of_links_stays_hidden(ingester):
    menu = "".join(f'<li><a href="/n/{i}">某市第{i}季度重点项目建设情况通报，请各单位认真学习并贯彻落实。</a></li>'
                   for i in range(12))
    page = (f"<html><body><ul class='drop' style='display:none'>{menu}</ul><div class='content'>{_ARTICLE_PARAS}"
            "</div></body></html>")
    doc = ingester.ingest(page.encode("utf-8"))
    assert "重点项目建设情况通报" not in doc.body and "老旧小区" in doc.body


def test_hidden_prose_without_enough_sentences_stays_hidden(ingester):
    page = (f"<html><body><div style='visibility:hidden'><p>登录后查看更多内容，点击这里注册账号。</p></div>"
            f"<div class='content'>{_ARTICLE_PARAS}</div></body></html>")
    assert "登录后查看更多内容" not in ingester.ingest(page.encode("utf-8")).body


def test_deeply_nested_hidden_elements_are_handled(ingester):
    depth = 1500  # below libxml2's nesting limit, deep enough to show a quadratic walk
    prose = "某县今年新建农村公路一百公里，改造危桥十座，实现了行政村通客车，群众出行更加方便。" * 4
    page = ("<html><body>" + "<div style='display:none'>" * depth + f"<p>{prose}</p>" + "</div>" * depth
            + f"<div class='content'>{_ARTICLE_PARAS}</div></body></html>")
    doc = ingester.ingest(page.encode("utf-8"))
    # The outer element is revealed (it holds prose); the hidden ones inside it stay hidden, the prose with them.
    assert "老旧小区" in doc.body and "农村公路" not in doc.body


# -- language of the body ------------------------------------------------------------------------------------

def test_chinese_article_with_code_is_chinese(fixtures, ingester):
    doc = ingester.ingest(fixtures / "fallback_code_article.html")
    assert "用生成器按批返回数据" in doc.body and "def read_batches" in doc.body


def test_english_page_with_a_chinese_menu_is_not_chinese(ingester):
    page = ("<html><body><ul><li>首页</li><li>新闻中心</li><li>联系我们</li></ul><div class='content'>"
            + "<p>" + "The city council approved a new budget for road repairs and school buildings this week. " * 8
            + "</p></div></body></html>")
    with pytest.raises(IngestError, match="not a Chinese article"):
        ingester.ingest(page.encode("utf-8"))


# -- the fallback ---------------------------------------------------------------------------------------------

def test_encyclopedia_entry_keeps_lead_and_every_section(fixtures, ingester):
    doc = ingester.ingest(fixtures / "fallback_wiki_entry.html")
    body = doc.body
    for sentence in ("是中华人民共和国某省某市下辖的一个市辖区", "明代已形成集镇", "地铁2号线设站5座",
                     "普通高中4所", "每年农历三月举办的庙会"):
        assert sentence in body, sentence
    for chrome in ("某市统计年鉴", "随机条目", "最后修订于", "创建账户"):
        assert chrome not in body, chrome


def test_fallback_does_not_jump_to_a_sidebar_of_summaries(fixtures, ingester):
    doc = ingester.ingest(fixtures / "fallback_sidebar_list.html")
    assert "压实企业主体责任" in doc.body
    for summary in ("报销比例提高五个百分点", "新增泊位主要分布在医院"):
        assert summary not in doc.body


def _check(blocks, scores, ingester):
    from pipeline.ingest.fallback import PickCheck

    rules = ingester.rules
    return PickCheck(blocks, scores, [None] * len(blocks), rules.fallback, rules.comments_marker)


def test_pick_of_list_items_is_implausible(ingester):
    from pipeline.ingest.blocks import Block
    from pipeline.ingest.boilerplate import Verdict

    item = "某市发布新一轮人才引进政策，对落户和住房补贴作出规定。"
    prose = "某县今年新建农村公路一百公里，改造危桥十座，实现了行政村通客车，群众出行更加方便。" * 3
    blocks = [Block(text=item, tag="p", in_list=True) for _ in range(8)] + [Block(text=prose, tag="p")] * 3
    scores = [30.0] * len(blocks)
    check = _check(blocks, scores, ingester)
    list_pick = [Verdict(True)] * 8 + [Verdict(False, "footer")] * 3
    assert check.implausible(check.measure(list_pick)) == "list"
    article_pick = [Verdict(False, "navigation")] * 8 + [Verdict(True)] * 3
    assert check.implausible(check.measure(article_pick)) is None
    # A plausible pick is returned as it is, without looking at alternatives.
    assert check.better_pick(article_pick, lambda s, e: pytest.fail("no alternative needed"), lambda s, e: e) \
        is article_pick


def test_comments_are_not_page_prose(ingester):
    from pipeline.ingest.blocks import Block

    prose = "某县今年新建农村公路一百公里，改造危桥十座，实现了行政村通客车，群众出行更加方便。" * 2
    comment = "我觉得这个政策很好，希望早日落实到我们村，路修好了大家都方便。" * 2
    blocks = [Block(text=prose)] * 2 + [Block(text="全部评论 35条")] + [Block(text=comment)] * 10
    check = _check(blocks, [50.0, 50.0, -5.0] + [40.0] * 10, ingester)
    assert check.cutoff == 2
    assert check.page_prose == pytest.approx(2 * weighted_len(prose))


def test_wrapped_plain_text_is_kept_whole(fixtures, ingester):
    """A PDF conversion wrapped at 24 characters: lines of one clause each, a single long line among them. The
    region search alone kept one box of it; the fallback keeps the document, from its first wrapped line."""
    doc = ingester.ingest(fixtures / "fallback_wrapped_plan.txt")
    assert doc.title == "某省农村供水保障行动方案"
    body = doc.body.replace("\n", "")
    for sentence in ("农村供水是保障农村居民生活用水的重要基础设施，关系到", "到2027年，全省农村自来水普及率",
                     "城乡同网同质同价", "划定农村集中式饮用水水源保护区", "确保各项任务落到实处。"):
        assert sentence in body, sentence


def test_table_of_contents_lines_are_removed(ingester):
    text = ("某市数字经济发展规划\n目录\n一、发展基础..........................1\n"
            "二、总体要求..........................3（一）指导思想...................3\n"
            "三、重点任务..........................5\n"
            + "\n".join(["一、发展基础", "近年来，某市数字经济规模持续扩大，数字产业化和产业数字化协同推进，"
                         "新型基础设施建设走在全省前列。", "二、总体要求",
                         "以推动数字经济和实体经济深度融合为主线，加快建设数字产业集群，打造数字经济发展高地。"]) + "\n")
    doc = ingester.ingest(text)
    assert doc.title == "某市数字经济发展规划"
    assert "......" not in doc.body and "新型基础设施建设走在全省前列" in doc.body
    assert any(r.reason == "contents" for r in doc.removed)


def test_compare_lists_every_anchor_or_why_it_cannot_run():
    import sys

    from pipeline.evaluate import ANCHOR_MAKERS, anchor_extractors

    runnable, unavailable = anchor_extractors()
    assert set(runnable) | set(unavailable) == set(ANCHOR_MAKERS)
    assert {"resiliparse", "newspaper4k", "magic-html"} <= set(ANCHOR_MAKERS)
    if sys.version_info < (3, 12):
        assert "3.12" in unavailable["magic-html"]
