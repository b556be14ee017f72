"""Figures and dates: parametrised input → normalisation, and property tests of pipeline/nlp/numbers.py."""
from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from pipeline.nlp import figures
from pipeline.config import CONFIG_DIR
from pipeline.nlp.figures import FigureFinder
from pipeline.nlp.numbers import parse_chinese_integer, parse_number, to_chinese

FINDER = FigureFinder(CONFIG_DIR / "entities.toml")
find_figures, find_dates = FINDER.figures, FINDER.dates

CASES = [
    # text, span, value, unit, approx, bound
    ("全省共有十余家企业", "十余家", 10, "家", True, None),
    ("吸引上千人参加", "上千人", 1000, "人", True, None),
    ("投入一千二百万用于", "一千二百万", 12_000_000, "个", False, None),
    ("获得3.35亿美元投资", "3.35亿美元", 335_000_000, "USD", False, None),
    ("规模达2.3万亿元。", "2.3万亿元", 2.3e12, "CNY", False, None),
    ("共计１２０家单位", "１２０家", 120, "家", False, None),
    ("营收约5亿元", "约5亿元", 5e8, "CNY", True, None),
    ("占比近40%", "近40%", 40, "%", True, "max"),
    ("增长50%以上", "50%以上", 50, "%", False, "min"),
    ("超过300家企业", "超过300家", 300, "家", False, "min"),
    ("规模100人以下的", "100人以下", 100, "人", False, "max"),
    ("不到20个百分点", "不到20个百分点", 20, "百分点", False, "max"),
    ("增速6%左右", "6%左右", 6, "%", True, None),
    ("新增80余项", "80余项", 80, "项", True, None),
    ("培养200多名人才", "200多名", 200, "名", True, None),
    ("惠及8900多万农民", "8900多万", 89_000_000, "个", True, None),
    ("粮食产量1.5万亿斤", "1.5万亿斤", 1.5e12, "斤", False, None),
    ("面积约600 万平方公里", "约600 万平方公里", 6_000_000, "平方公里", True, None),
    ("减少数十亿美元", "数十亿美元", 1e9, "USD", True, None),
    ("占全国的1/5", "1/5", 0.2, "ratio", False, None),
    ("冷却到15 mK", "15 mK", 15, "mK", False, None),
    # Negated comparisons keep their meaning: the longest qualifier wins.
    ("装机不低于600万千瓦", "不低于600万千瓦", 6_000_000, "千瓦", False, "min"),
    ("排放不高于0.45吨", "不高于0.45吨", 0.45, "吨", False, "max"),
    ("不多于3家", "不多于3家", 3, "家", False, "max"),
    ("提升0.5个等级", "0.5个等级", 0.5, "个", False, None),
    ("峰值每秒4万亿亿次", "4万亿亿次", 4e20, "次", False, None),
]

RANGES = [
    # text, span, low, value, unit
    ("新建3至5家研究院", "3至5家", 3, 5, "家"),
    ("占比10%至20%之间", "10%至20%", 10, 20, "%"),
    ("投资3-5亿元", "3-5亿元", 3e8, 5e8, "CNY"),
    ("培育3至5万家企业", "3至5万家", 3e4, 5e4, "家"),
]


@pytest.mark.parametrize("text,span,low,value,unit", RANGES)
def test_range_is_one_figure_with_both_ends(text, span, low, value, unit):
    figs = find_figures(text)
    assert [(f.text, f.low, f.value, f.unit) for f in figs] == [(span, pytest.approx(low), pytest.approx(value), unit)]


@pytest.mark.parametrize("text", ["坚持四个面向", "做到两个维护", "第3至5条规定", "COVID-19疫情", "党的二十届三中全会",
                                  "二期工程", "中美两国关系", "时隔9个月再次会晤"])
def test_slogans_ordinals_and_codes_are_no_figures(text):
    assert find_figures(text) == []


# Spaced qualifiers, 最高/突破, and the measure words of GUIDE entity case 12 (两省, 九部门, 八成, ages).
CASES += [
    ("占能源消费量的 24% 以上，", "24% 以上", 24, "%", False, "min"),
    ("城镇化率首次突破 50% ，", "突破 50%", 50, "%", False, "min"),
    ("给予最高300万元的补助", "最高300万元", 3e6, "CNY", False, "max"),
    ("教育部等九部门启动", "九部门", 9, "部门", False, None),
    ("覆盖两省一市", "两省", 2, "省", False, None),
    ("超八成的受访者", "超八成", 8, "成", False, "min"),
    ("患者年龄42岁", "42岁", 42, "岁", False, None),
]


@pytest.mark.parametrize("text,span,value,unit,approx,bound", CASES)
def test_figure_normalisation(text, span, value, unit, approx, bound):
    figs = [f for f in find_figures(text) if f.text == span]
    assert figs, [f.text for f in find_figures(text)]
    f = figs[0]
    assert f.value == pytest.approx(value)
    assert (f.unit, f.approx, f.bound) == (unit, approx, bound)


@pytest.mark.parametrize("text", ["形成一套制度", "开展新一轮改革", "城乡二元结构", "千万不要放松", "百度公司", "第三个阶段"])
def test_not_figures(text):
    assert find_figures(text) == []


def test_spaced_formula_figures():
    text = "含量为 1 2 . 5 \\% ，范围 0 . 2 { - } 1 . 5 \\mathrm { m m } 。"
    got = [(f.value, f.unit) for f in find_figures(text)]
    assert got == [(12.5, "%"), (0.2, "mm")]


@pytest.mark.parametrize("text,span,iso,precision", [
    ("于2024年4月12日发布", "2024年4月12日", "2024-04-12", "day"),
    ("2023年6月启动", "2023年6月", "2023-06", "month"),
    ("发布日期 2024-04-12", "2024-04-12", "2024-04-12", "day"),
    ("2019年出台", "2019年", "2019", "year"),
    ("始于20世纪80年代", "20世纪80年代", "1980s", "decade"),
    ("21世纪初以来", "21世纪初以来", "2000/2099", "century"),  # GUIDE case 10: spans keep 以来/期间
    ("20世纪70年代末至80年代初", "20世纪70年代末至80年代初", "1970s/1980s", "range"),
    ("2016—2020年期间", "2016—2020年期间", "2016/2020", "range"),
    # GUIDE case 10: relative days, spans of time, a 至 range and a date with its part of day are DATEs
    ("今年4月25日，总书记", "今年4月25日", "--04-25", "day"),
    ("3月24日至25日在海南调研", "3月24日至25日", "--03-24/---25", "range"),
    ("1月29日下午，国务院", "1月29日下午", "--01-29", "day"),
    ("过去五年来，我们", "过去五年来", None, "relative"),
    ("记者8日从市政府获悉", "8日", "---08", "day"),
    ("1980一2016年中国天然气产量", "1980一2016年", "1980/2016", "range"),
])
def test_dates(text, span, iso, precision):
    d = [x for x in find_dates(text) if x.text == span]
    assert d and (d[0].iso, d[0].precision) == (iso, precision)


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_to_chinese_round_trip(n):
    assert parse_chinese_integer(to_chinese(n)) == n


@given(st.integers(min_value=1, max_value=99_999), st.sampled_from([("万", 1e4), ("亿", 1e8), ("万亿", 1e12), ("", 1)]))
def test_arabic_with_multiplier(n, mult):
    word, factor = mult
    assert parse_number(f"{n}{word}") == pytest.approx(n * factor)


@given(st.integers(min_value=0, max_value=999), st.integers(min_value=0, max_value=99))
def test_decimal_with_multiplier(whole, frac):
    s = f"{whole}.{frac:02d}"
    assert parse_number(s + "亿") == pytest.approx(float(s) * 1e8)


@hsettings(max_examples=50)
@given(st.integers(min_value=1_000, max_value=10**9))
def test_thousands_separators_and_fullwidth(n):
    assert parse_number(f"{n:,}") == n
    assert parse_number(str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))) == n


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("约近超过逾达不足以上0123456789０９.,，%万亿千百十一二两三零余多个元吨人家年月第上数成几 aK")),
               max_size=40))
def test_figure_scan_finds_what_finditer_finds(text):
    """The candidate-position scan (figures.candidate_matches) yields the same matches as the regex's own finditer."""
    rx, first = FINDER.regex, FINDER.first
    assert [m.span() for m in figures.candidate_matches(rx, first, text)] == [m.span() for m in rx.finditer(text)]
