"""Ingest on fixtures written by the project: boilerplate with reasons, title, date, source, joins, spun titles."""
from __future__ import annotations

import pytest

from pipeline.ingest import IngestError
from pipeline.ingest.metadata import clean_title, date_from_url, metadata_from_line, parse_datetime
from pipeline.ingest.repair import ends_mid_sentence


@pytest.fixture(scope="module")
def flat_doc(fixtures, ingester):
    return ingester.ingest(fixtures / "flat_energy_notice.txt")


def test_flat_title_prefix_removed_and_restored(flat_doc):
    assert flat_doc.title_raw.startswith("星辰娱乐")
    assert flat_doc.title == "我邦新型储能财产成长的现状、题目与对策"
    # 我邦→我国 and 成长→发展-style swaps are confirmed by the body's own wording.
    assert flat_doc.title_restored is not None and flat_doc.title_restored.startswith("我国新型储能")


def test_flat_metadata(flat_doc):
    assert flat_doc.published_at == "2025-03-18T10:20:00"
    assert flat_doc.publisher == "某省能源局"


def test_flat_boilerplate_removed_with_reasons(flat_doc):
    reasons = {r.text[:6]: r.reason for r in flat_doc.removed}
    assert reasons["客服电话:0"] == "contact"
    assert reasons["星辰娱乐:我"] in ("title", "duplicate_title")
    assert any(r.reason == "duplicate_title" for r in flat_doc.removed)
    assert any(r.reason == "copyright" for r in flat_doc.removed)
    assert all(r.reason for r in flat_doc.removed)
    body = flat_doc.body
    for junk in ("上一篇", "版权所有", "扫码关注", "发布时间", "service@example"):
        assert junk not in body


def test_flat_broken_paragraph_is_rejoined(flat_doc):
    texts = [p.text for p in flat_doc.paragraphs]
    assert any("“建而不用”的现象在一些地区较为突出" in t for t in texts)
    assert flat_doc.joined_breaks >= 1


def test_offsets_point_into_body(flat_doc):
    for p in flat_doc.paragraphs:
        assert flat_doc.body[p.start:p.end] == p.text


def test_html_gbk_cms_page(fixtures, ingester):
    doc = ingester.ingest(fixtures / "cms_page_gbk.html")
    assert doc.title == "关于推进数字乡村建设的若干措施"
    assert doc.published_at.startswith("2024-06-05")
    assert doc.encoding == "gb18030"
    body = doc.body
    assert "为深入实施数字乡村发展战略" in body and "专业人才相对匮乏" in body
    for junk in ("相关文章", "网站标识码", "分享到", "当前位置", "主办单位"):
        assert junk not in body


@pytest.mark.parametrize("raw, expected", [
    ("发布时间:2024-04-12 23:32:55 | 浏览:", "2024-04-12T23:32:55"),
    ("发布日期：2023年6月8日", "2023-06-08"),
    ("时间：２０２４－０１－０５", "2024-01-05"),
    ("7/5/2005 9:23:57 PM", "2005-07-05T21:23:57"),
])
def test_parse_datetime(raw, expected):
    assert metadata_from_line(raw)["published_at"] == expected


def test_date_never_from_narrative():
    assert "published_at" not in metadata_from_line("2018年美国政府通过了一项法案，并于2019年1月1日起施行，影响深远。")


def test_date_from_url():
    assert date_from_url("http://www.gov.cn/zhengce/2024-04/12/content_123.htm") == "2024-04-12"
    assert date_from_url("https://example.cn/a/20230708/abc.html") == "2023-07-08"
    assert parse_datetime("no date here") is None


def test_clean_title_keeps_subtitle_dash(ingester):
    rules = ingester.rules
    assert clean_title("某某报告——基于调查的分析_中国政府网", rules.spam_prefix, rules.site_suffix) == "某某报告——基于调查的分析"
    assert clean_title("熊猫体育:某某发展报告", rules.spam_prefix, rules.site_suffix) == "某某发展报告"


@pytest.mark.parametrize("line, broken", [
    ("根据某咨询机构ICV&", True),
    ("授权NIST(国家标", True),
    ("同时,美国", True),
    ("当前,据", True),
    ("产业化能力薄弱", False),
    ("我国已建成多条干线。", False),
])
def test_ends_mid_sentence(line, broken):
    assert ends_mid_sentence(line, fragment_chars=4) is broken


def test_bad_inputs_raise_clear_errors(tmp_path, ingester):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        ingester.ingest(empty)
    binary = tmp_path / "img.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(IngestError, match="binary"):
        ingester.ingest(binary)
    english = tmp_path / "en.html"
    english.write_text("<html><body><p>" + "This is an English page about policy. " * 40 + "</p></body></html>")
    with pytest.raises(IngestError, match="not a Chinese"):
        ingester.ingest(english)


def test_date_beside_source_label():
    assert metadata_from_line("2025-05-21 07:58 来源：某某日报 编辑：王某")["published_at"] == "2025-05-21T07:58:00"


# Article ends: comment sections, recommendation boxes and feeds of other stories (texts written for these tests).
_ARTICLE = [
    "某市出台措施支持中小企业数字化转型",
    "发布时间：2025-04-02 09:30  来源：某市工业和信息化局",
    "近日，某市印发《中小企业数字化转型三年行动方案》，提出到2027年推动全市八成以上规模以上工业企业完成数字化改造，"
    "培育一批可复制、可推广的行业解决方案。",
    "方案明确，市级财政每年安排专项资金，对企业购买云服务、工业软件给予不超过合同金额三成的补助，"
    "并组织服务商深入园区开展免费诊断。",
    "市工业和信息化局有关负责人表示，下一步将建立转型项目库，实行清单化管理，按季度跟踪进展，"
    "确保各项支持政策落到实处、见到实效。",
]


def _body_of(tmp_path, ingester, lines: list[str]) -> str:
    """The cleaned body of a flattened page made of these lines."""
    path = tmp_path / "page.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return ingester.ingest(path).body


def test_comment_section_ends_the_article(tmp_path, ingester):
    comments = [
        "共 3 条评论",
        "网友甲 2025-04-02 10:11",
        "政策很好，但是我们小厂申请补助的流程太复杂了，材料要交好几遍，希望能够简化一些，让真正需要的企业享受到。",
        "网友乙 2025-04-02 11:20",
        "我们园区去年就做过诊断，服务商来了一次就再也没有消息了，希望这次能够动真格，别只是开个会发个文件而已。",
    ]
    body = _body_of(tmp_path, ingester, _ARTICLE + comments)
    assert "确保各项支持政策落到实处" in body
    assert "申请补助的流程太复杂" not in body and "服务商来了一次" not in body


def test_feed_of_other_stories_with_datelines_is_cut(tmp_path, ingester):
    lead = ["（本报讯）" + _ARTICLE[2]] + _ARTICLE[3:]
    feed = [
        "邻市港口货物吞吐量创新高",
        "（本报讯）记者从邻市港务集团获悉，一季度该港完成货物吞吐量超过一亿吨，同比增长百分之六，集装箱航线新增五条。",
        "高校毕业生就业服务月启动",
        "（本报讯）全省高校毕业生就业服务月日前启动，将组织线上线下招聘会二百余场，提供岗位逾五万个，覆盖制造业和服务业。",
    ]
    body = _body_of(tmp_path, ingester, _ARTICLE[:2] + lead + feed)
    assert "确保各项支持政策落到实处" in body
    assert "吞吐量" not in body and "就业服务月" not in body


def test_related_reading_box_inside_a_long_article_does_not_cut_it(tmp_path, ingester):
    box = ["延伸阅读：", "邻省出台制造业数字化转型实施意见", "专家解读中小企业上云补贴政策", "去年全市工业投资保持较快增长"]
    rest = [
        "在推进过程中，该市将坚持企业主体、政府引导，鼓励龙头企业开放平台能力，带动上下游配套企业协同转型，"
        "形成大中小企业融通发展的良好生态。",
        "此外，该市还将举办数字化转型供需对接会，邀请金融机构推出专属信贷产品，缓解企业改造资金压力，"
        "并对转型成效突出的企业予以通报表扬。",
        "据了解，该市现有规模以上工业企业两千余家，其中已开展数字化改造的约占四成，离行动方案的目标仍有差距，"
        "中小企业普遍面临不会转、不敢转、不能转的难题。",
    ] * 6  # the report goes on far longer after the box than before it (feed_max_below in boilerplate.toml)
    body = _body_of(tmp_path, ingester, _ARTICLE + box + rest)
    assert "形成大中小企业融通发展的良好生态" in body and "不会转、不敢转、不能转" in body


def test_platform_disclaimer_ends_the_article(tmp_path, ingester):
    tail = ["以上内容（包括图片及视频）为某号用户上传并发布，本平台仅提供信息存储服务。",
            "这位老艺人走红多年后突然淡出，原来背后还有这样一段鲜为人知的往事，让不少网友唏嘘不已。",
            "他出生于一个普通工人家庭，自幼喜欢唱歌，高中毕业后签约唱片公司，很快凭借几首歌曲红遍大江南北。"]
    body = _body_of(tmp_path, ingester, _ARTICLE + tail)
    assert "确保各项支持政策落到实处" in body
    assert "信息存储服务" not in body and "老艺人" not in body


def test_article_shown_twice_is_kept_once(tmp_path, ingester):
    path = tmp_path / "twice.txt"
    path.write_text("\n".join(_ARTICLE + ["打印 | 关闭"] + _ARTICLE[2:]), encoding="utf-8")
    doc = ingester.ingest(path)
    texts = [p.text for p in doc.paragraphs]
    assert len(texts) == len(set(texts)) == 3
    assert sum(r.reason == "repeated" for r in doc.removed) == 3


def test_article_inside_a_wrapper_with_a_nav_class_is_kept(ingester):
    short = ["市场监管部门当天通报了抽检结果。", "全部样品均符合国家标准。", "下一步将扩大抽检范围。"]
    paras = [_ARTICLE[2], short[0], _ARTICLE[3], short[1], _ARTICLE[4], short[2]]
    page = ("<html><head><meta charset='utf-8'><title>某市出台措施支持中小企业数字化转型</title></head><body>"
            "<div class='site-wrap has-nav'><ul class='menu'><li><a href='/'>首页</a></li><li><a href='/n'>新闻</a></li></ul>"
            "<div class='article-content'>" + "".join(f"<p>{p}</p>" for p in paras) + "</div>"
            "<div class='footer'>版权所有 某市人民政府</div></div></body></html>")
    body = ingester.ingest(page.encode("utf-8"), name="wrapped.html").body
    for p in paras:
        assert p in body
    assert "首页" not in body and "版权所有" not in body


@pytest.mark.parametrize("marker", ["已有2件评论", "反侵权公告：", "版权声明", "网友评论（12）"])
def test_end_markers_close_the_article(tmp_path, ingester, marker):
    tail = [marker, "根据有关法律法规，任何单位或个人转载本网作品，须注明来源并取得书面授权，否则本网将依法追究其法律责任。",
            "对上述侵权行为，本网欢迎社会各界予以监督举报，一经查实将给予举报人适当奖励，举报电话另行公布。"]
    body = _body_of(tmp_path, ingester, _ARTICLE + tail)
    assert "确保各项支持政策落到实处" in body and "依法追究" not in body and "举报人" not in body


def test_leaked_markup_and_reprint_notices_are_removed(tmp_path, ingester):
    junk = ['<SCRIPT LANGUAGE="JavaScript1.1" SRC="http://ads.example.com/main/adf?user=1|2|3"></SCRIPT>',
            '<NOSCRIPT><A HREF="http://ads.example.com/click?x=1"><IMG SRC="http://ads.example.com/p.gif"></A></NOSCRIPT>',
            "某某网(www.example.cn)专稿，未经书面授权请勿转载。"]
    path = tmp_path / "markup.txt"
    path.write_text("\n".join(_ARTICLE[:3] + junk[:2] + _ARTICLE[3:] + junk[2:]), encoding="utf-8")
    doc = ingester.ingest(path)
    assert "确保各项支持政策落到实处" in doc.body and "方案明确" in doc.body
    assert "SCRIPT" not in doc.body and "NOSCRIPT" not in doc.body and "请勿转载" not in doc.body
    reasons = {r.reason for r in doc.removed}
    assert "code" in reasons and "copyright" in reasons


def test_lead_paragraph_in_the_page_header_joins_the_article(ingester):
    """A page that puts its article's lead in a <header> outside the main container (an audio show's summary,
    then the transcript): strong prose under a chrome label next to the article is kept; the header's menu and a
    lone paragraph in a far-away side box are not."""
    lead = ("各位听众好，这里是每周财经述评。本周央行宣布下调存款准备金率零点五个百分点，释放长期资金约一万亿元，"
            "市场普遍认为此举意在稳定年末流动性，并为明年一季度信贷投放预留空间。节目后半段，我们请两位研究员分析"
            "降准对房地产、地方债和中小企业融资的影响，并回顾今年以来货币政策的几次重要调整。")
    side = ("本栏目长期关注宏观经济与金融政策，邀请多位研究机构的经济学家参与点评，欢迎听众来信交流意见和建议，"
            "来信请注明真实姓名和联系方式，我们将择优在节目中选读，并赠送精美纪念品一份以示感谢。")
    page = ("<html><head><meta charset='utf-8'><title>每周财经述评</title></head><body>"
            "<header class='top'><nav><a href='/'>首页</a> <a href='/a'>音频</a></nav><p>" + lead + "</p></header>"
            "<div class='ad'>广告</div><main><article>" + "".join(f"<p>{p}</p>" for p in _ARTICLE[2:5]) + "</article></main>"
            + "".join(f"<div class='item'><a href='/x{k}'>往期节目第{k}期回顾与听众来信选读</a></div>" for k in range(12))
            + "<aside class='sidebar'><p>" + side + "</p></aside></body></html>")
    body = ingester.ingest(page.encode("utf-8"), name="lead.html").body
    assert lead in body and all(p in body for p in _ARTICLE[2:5])
    assert side not in body and "首页" not in body


@pytest.mark.parametrize("line", [
    "从产业链看，国内企业多处于中游，以试剂盒开发和技术支持为主，用户主要是医院和科研院所。",
    "建议使用地方政府专项债券资金支持老旧小区改造，并对加装电梯给予每台十万元补助。",
    "数据来源：根据各省统计公报整理",
])
def test_prose_with_footer_words_is_not_a_footer(line, ingester):
    """Footer credits (技术支持：…, 建议使用…浏览器) carry a colon or name a browser; prose that provides
    technical support or proposes using funds, and a table's data-source note, are not footers or bylines."""
    assert ingester.rules.match(line) is None
    assert ingester.rules.match("技术支持：某某网络科技有限公司") == "footer"
    assert ingester.rules.match("建议使用IE9以上版本浏览器访问本站") == "footer"
    assert ingester.rules.match("来源：某市科技局") == "metadata"


def test_short_subheadings_between_paragraphs_are_kept(tmp_path, ingester):
    """Labels and subheadings without punctuation ("专家点评", "措施之一") between paragraphs of the article are part
    of it; a bullet sign alone on its line is not."""
    lines = _ARTICLE[:3] + ["措施之一", "资金补助", _ARTICLE[3], "·", "专家点评", _ARTICLE[4]]
    body = _body_of(tmp_path, ingester, lines)
    assert "措施之一" in body and "资金补助" in body and "专家点评" in body
    assert "·" not in body and "确保各项支持政策落到实处" in body


def test_reprint_notice_after_the_article_closes_it(tmp_path, ingester):
    """A reprint notice under the article ends it: the site's slogan lines and blurb below it are not the article."""
    tail = ["某某网(www.example.cn)专稿，未经书面授权请勿转载。", "某某网", "专业政务资讯平台", "权威信息发布门户",
            "某某网是国内领先的政务资讯网站，创办于二〇〇一年，拥有丰富的政策文件、解读和数据资源，"
            "日均访问量超过百万人次，多次获得行业评选的优秀网站称号。"]
    body = _body_of(tmp_path, ingester, _ARTICLE + tail)
    assert "确保各项支持政策落到实处" in body
    assert "专业政务资讯平台" not in body and "国内领先的政务资讯网站" not in body


def test_article_text_in_a_font_size_box_is_kept(ingester):
    """The article's text box named after the font-size toolbar that controls it ("font_area") is the article: its
    subheadings are kept along with its paragraphs; the toolbar itself is not."""
    heads = ["第一部分 总体要求", "第二部分 主要任务", "第三部分 保障措施"]
    inner = "".join(f"<p>{h}</p><p>{p}</p>" for h, p in zip(heads, _ARTICLE[2:5]))
    page = ("<html><head><meta charset='utf-8'><title>某市出台措施支持中小企业数字化转型</title></head><body>"
            "<div class='detail'><div class='tools'>字号：大 中 小</div><div id='font_area'>" + inner + "</div></div>"
            "</body></html>")
    body = ingester.ingest(page.encode("utf-8"), name="font.html").body
    assert all(h in body for h in heads) and all(p in body for p in _ARTICLE[2:5])
    assert "字号" not in body


def test_prose_about_copyright_holders_is_not_a_copyright_notice(tmp_path, ingester):
    para = ("业内人士指出，短视频平台在使用背景音乐时，一定要事先获得版权所有者的许可，否则很容易引发纠纷。"
            "协会表示，将推动建立统一的授权平台，降低创作者获得许可的成本。")
    body = _body_of(tmp_path, ingester, _ARTICLE[:4] + [para] + _ARTICLE[4:])
    assert "版权所有者的许可" in body


def test_official_document_signature_is_kept(tmp_path, ingester):
    """The issuing body and date under a notice (落款) are part of it; the page footer after them is not."""
    lines = ["某市人民政府办公室关于做好春季森林防火工作的通知", "发布时间：2025-03-02 09:00",
             "各区人民政府，市政府各部门：",
             "当前正值春季森林防火关键期，各地要压实属地责任，加强巡山护林，严格管控野外用火，"
             "发现火情及时报告、迅速处置，确保不发生重大森林火灾。",
             "各有关部门要加强值班值守，储备必要的扑火物资，组织开展扑火演练，提高应急处置能力，"
             "并通过多种渠道宣传防火知识，提高群众的防火意识。",
             "特此通知。", "某市人民政府办公室", "2025年3月1日", "扫一扫在手机打开当前页", "网站地图 | 联系我们"]
    path = tmp_path / "notice.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    doc = ingester.ingest(path)
    assert doc.body.endswith("特此通知。\n某市人民政府办公室\n2025年3月1日")
    assert doc.published_at.startswith("2025-03-02")


def test_last_paragraph_cut_at_inline_links_is_kept_whole(tmp_path, ingester):
    """Flattening puts an inline link on a line of its own: the article's last paragraph, cut there, is kept with
    all of its pieces, up to the end of its sentence; the page's chrome below it is not."""
    tail = ["据悉，该市首批试点企业名单已经公布。该市还将联合",
            "某某大学",
            "共建数字化转型促进中心。（记者/张某）",
            "精彩推荐", "自动播放", "某地又现网红打卡点"]
    body = _body_of(tmp_path, ingester, _ARTICLE + tail)
    assert "该市还将联合" in body and "某某大学" in body and "共建数字化转型促进中心" in body
    assert "精彩推荐" not in body and "网红打卡点" not in body


def test_headlines_below_a_platform_disclaimer_are_a_feed(tmp_path, ingester):
    """A short news item, its platform disclaimer, then a longer run of exclamatory headlines: the headlines are
    a feed below the article, however many; the item above the disclaimer is the article."""
    item = ["昨晚的联赛第三十轮比赛中，主队以二比零击败客队，继续领跑积分榜。",
            "赛后主队主帅表示，球队在防守端的表现令人满意，但进攻效率仍有待提高。",
            "本轮过后，主队领先第二名六分，距离提前夺冠只差两场胜利。"]
    feed = ["大家都在看", "这位球星退役后竟然开起了面馆，生意火爆到排队两小时！",
            "三十岁还没结婚，父母急得团团转，她却说一个人过得挺好！",
            "这种水果被称为天然降压药，很多人却天天扔掉，太可惜了！",
            "广告", "老师傅教你一招，旧衣服变成收纳神器，太实用了！",
            "退休后每月领八千，他却选择去山区支教，网友纷纷点赞！",
            "他花三年时间徒步走遍全国，回来后整个人都变了，看完泪目！",
            "这道家常菜做法简单又下饭，孩子每次都要吃两大碗，快学起来！",
            "旅游旺季来临，这几个小众景点人少景美，赶紧收藏起来吧！",
            "一家三口挤在十平米的出租屋里，却把日子过得有滋有味！", "广告",
            "这个习惯坚持一个月，体检报告上的指标全部恢复正常了！",
            "小区门口的早餐摊开了二十年，老板说只要还能干就不涨价！",
            "她用五年时间把荒山变成果园，如今年收入超过百万元！"]
    lines = ["体育", "财经", "娱乐", "主队两球击败客队继续领跑", "2025-04-06 08:12", "发布于：某省"] + item + [
        "（编辑：某某）", "返回首页，查看更多", "责任编辑：", "平台声明：该文观点仅代表作者本人，本号系信息发布平台，本站仅提供信息存储空间服务。"] + feed
    body = _body_of(tmp_path, ingester, lines)
    assert all(p in body for p in item)
    assert "面馆" not in body and "支教" not in body


def test_wiki_reference_list_entries_are_removed(ingester):
    """A wiki page's reference list, each entry opening with its back-link ("^ 跳转到："), is not article text."""
    refs = ["^ 某某日报. 某市出台中小企业数字化转型行动方案，提出到2027年完成八成以上企业改造，培育一批解决方案，"
            "对企业购买云服务给予补助. 2025-04-02 [2025-04-03].",
            "^ 跳转到： 2.0 2.1 某市统计局. 2024年某市国民经济和社会发展统计公报，工业投资保持较快增长，"
            "规模以上工业增加值增长百分之六，高技术制造业占比提高. 2025-03-01.",
            "^ 某市工业和信息化局. 关于开展中小企业数字化转型诊断服务的通知，组织服务商深入园区，开展免费诊断，"
            "建立转型项目库，实行清单化管理. 2025-02-10."]
    page = ("<html><head><meta charset='utf-8'><title>某市数字化转型 - 某百科</title></head><body><div id='content'>"
            + "".join(f"<p>{p}</p>" for p in _ARTICLE[2:5]) + "<h2>参考资料</h2><ol class='refs'>"
            + "".join(f"<li>{r}</li>" for r in refs) + "</ol></div></body></html>")
    doc = ingester.ingest(page.encode("utf-8"), name="wiki.html")
    assert all(p in doc.body for p in _ARTICLE[2:5])
    assert "跳转到" not in doc.body and "统计公报" not in doc.body and "诊断服务的通知" not in doc.body


def test_article_going_on_after_a_recommended_reading_box_is_kept(tmp_path, ingester):
    """A "推荐阅读" box of headlines set into a commentary, whose prose then goes on for several paragraphs: the
    paragraphs after the box are the article's, even though they are fewer than those above it."""
    box = ["推荐阅读", "去年全市工业投资保持较快增长", "邻省出台制造业数字化转型实施意见", "专家解读中小企业上云补贴政策"]
    rest = ["回头来看，数字化转型从来不是一买了之的事情，设备和软件只是起点，管理方式和人员能力跟不上，投入就难以见效。",
            "因此，政策不仅要给钱，更要给方法，让服务商留得下、企业学得会，把一次性的补助变成长期的能力。",
            "我们期待，三年之后再回看这份方案时，看到的是一批真正用起来的工厂，而不是一叠漂亮的验收报告。"]
    body = _body_of(tmp_path, ingester, _ARTICLE + box + rest + ["相关新闻", "某地举办招聘会"])
    assert all(p in body for p in rest)
    assert "某地举办招聘会" not in body


def test_reporter_credit_under_the_story_is_kept(tmp_path, ingester):
    """A reporter's credit in brackets under the last paragraph is part of the story; the editor line is not."""
    body = _body_of(tmp_path, ingester, _ARTICLE + ["（本报记者 某某 某某某）", "责任编辑：某某", "相关新闻"])
    assert body.endswith("确保各项支持政策落到实处、见到实效。\n（本报记者 某某 某某某）")


def test_picture_credit_and_consent_in_prose_do_not_end_the_article(tmp_path, ingester):
    """A picture's credit with a reprint notice inside the article, and a sentence saying data were used
    "未经用户授权", are neither copyright notices nor the article's end."""
    lines = _ARTICLE[:3] + ["图片来源：某图库 版权作品 请勿转载",
                            "业内人士提醒，企业在采集客户数据时必须守住底线，只要数据来源未经用户授权，都存在法律风险。"] + _ARTICLE[3:]
    body = _body_of(tmp_path, ingester, lines)
    assert "未经用户授权，都存在法律风险" in body and "确保各项支持政策落到实处" in body


def test_ad_label_and_expand_link_inside_the_article_are_removed(tmp_path, ingester):
    body = _body_of(tmp_path, ingester, _ARTICLE[:3] + ["广告", _ARTICLE[3], "展开全文", _ARTICLE[4]])
    assert "广告" not in body and "展开全文" not in body and "确保各项支持政策落到实处" in body
