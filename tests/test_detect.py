"""Encodings: UTF-8 (with and without BOM), GBK, GB18030 and Big5 round-trip through decode_bytes and ingest,
including pages whose <meta> names the wrong charset. The texts are written for these tests."""
from __future__ import annotations

import codecs

import pytest

from pipeline.config import load_config
from pipeline.ingest import IngestError, Ingester
from pipeline.ingest.detect import canonical_encoding, decode_bytes, detect_kind, looks_binary

INGESTER = Ingester(load_config())

SIMPLIFIED = ("关于促进中小企业创新发展的若干措施\n"
              "为进一步激发中小企业创新活力，优化营商环境，现提出以下措施。\n"
              "一、加大财政支持力度。对首次认定的高新技术企业给予一次性奖励，对研发投入较大的企业按比例补助。\n"
              "二、拓宽融资渠道。鼓励银行机构开发知识产权质押贷款产品，降低企业融资成本。\n"
              "三、强化人才保障。支持企业引进急需紧缺人才，落实住房和子女入学等配套服务。\n")
TRADITIONAL = ("關於促進中小企業創新發展的若干措施\n"
               "為進一步激發中小企業創新活力，優化營商環境，現提出以下措施。\n"
               "一、加大財政支持力度。對首次認定的高新技術企業給予一次性獎勵，對研發投入較大的企業按比例補助。\n"
               "二、拓寬融資渠道。鼓勵銀行機構開發智慧財產權質押貸款產品，降低企業融資成本。\n"
               "三、強化人才保障。支持企業引進急需緊缺人才，落實住房和子女入學等配套服務。\n")
# Characters GBK lacks (CJK extension A and B, and the euro sign in a GB18030-only position): only GB18030 has them.
GB18030_ONLY = SIMPLIFIED + "四、附则。本措施涉及㐀䶵𠀀等生僻字的企业名称按原文登记。\n"


def page(text: str, charset: str | None) -> str:
    head = f'<meta charset="{charset}">' if charset else ""
    title, *paras = text.strip().split("\n")
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"


CASES = [
    ("utf-8", SIMPLIFIED, lambda t: t.encode("utf-8"), "utf-8"),
    ("utf-8-bom", SIMPLIFIED, lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "utf-8"),
    ("gbk", SIMPLIFIED, lambda t: t.encode("gbk"), "gb18030"),
    ("gb2312", SIMPLIFIED, lambda t: t.encode("gb2312"), "gb18030"),
    ("gb18030", GB18030_ONLY, lambda t: t.encode("gb18030"), "gb18030"),
    ("big5", TRADITIONAL, lambda t: t.encode("big5"), "big5hkscs"),
]


@pytest.mark.parametrize("name,text,encode,expected", CASES, ids=[c[0] for c in CASES])
def test_text_round_trips_through_decode_bytes(name, text, encode, expected):
    decoded = decode_bytes(encode(text))
    assert decoded.text == text
    assert decoded.encoding == expected


@pytest.mark.parametrize("name,text,encode,expected", CASES, ids=[c[0] for c in CASES])
def test_text_round_trips_through_ingest(name, text, encode, expected):
    doc = INGESTER.ingest(encode(text))
    assert doc.encoding == expected
    # Every line comes through undamaged, kept in the body or removed by the boilerplate stage.
    seen = doc.body + "\n" + "\n".join(r.text for r in doc.removed) + "\n" + (doc.title_raw or "")
    for line in text.strip().split("\n"):
        assert line in seen
    assert "\ufffd" not in seen


@pytest.mark.parametrize("name,text,encode,expected", CASES, ids=[c[0] for c in CASES])
def test_declared_page_round_trips(name, text, encode, expected):
    label = {"utf-8-bom": "utf-8"}.get(name, name)
    raw = encode(page(text, label))
    decoded = decode_bytes(raw)
    assert decoded.text.lstrip("\ufeff") == page(text, label)
    assert decoded.encoding == expected
    doc = INGESTER.ingest(raw)
    assert text.split("\n")[3] in doc.body
    assert doc.title == text.split("\n")[0]


def test_utf8_meta_over_gbk_bytes():
    raw = page(SIMPLIFIED, "utf-8").encode("gbk")
    decoded = decode_bytes(raw)
    assert decoded.encoding == "gb18030" and decoded.declared == "utf-8"
    assert "拓宽融资渠道" in decoded.text
    assert "拓宽融资渠道" in INGESTER.ingest(raw).body


def test_gbk_meta_over_utf8_bytes():
    raw = page(SIMPLIFIED, "gbk").encode("utf-8")
    decoded = decode_bytes(raw)
    assert decoded.encoding == "utf-8" and decoded.declared == "gb18030"
    assert "强化人才保障" in INGESTER.ingest(raw).body


def test_big5_meta_over_gbk_bytes_reads_as_gbk():
    raw = page(SIMPLIFIED, "big5").encode("gbk")
    assert decode_bytes(raw).encoding == "gb18030"


def test_gbk_meta_over_big5_bytes_reads_as_big5():
    raw = page(TRADITIONAL, "gbk").encode("big5")
    decoded = decode_bytes(raw)
    assert decoded.encoding == "big5hkscs"
    assert "強化人才保障" in decoded.text


def test_latin1_meta_over_gbk_bytes():
    """Old Chinese sites declare iso-8859-1 and serve GBK."""
    raw = page(SIMPLIFIED, "iso-8859-1").encode("gbk")
    assert decode_bytes(raw).encoding == "gb18030"


def test_truncated_gbk_keeps_the_text():
    raw = SIMPLIFIED.encode("gbk")[:-3]  # cuts into the last characters
    decoded = decode_bytes(raw)
    assert "拓宽融资渠道" in decoded.text


def test_mixed_utf8_and_gbk_lines():
    lines = SIMPLIFIED.strip().split("\n")
    raw = "\n".join(lines[:3]).encode("utf-8") + b"\n" + "\n".join(lines[3:]).encode("gbk")
    decoded = decode_bytes(raw)
    assert decoded.encoding == "utf-8+gb18030"
    assert decoded.text == "\n".join(lines)


@pytest.mark.parametrize("label,expected", [("GB2312", "gb18030"), ("gbk", "gb18030"), ("x-gbk", "gb18030"),
                                            ("GB18030", "gb18030"), ("cp936", "gb18030"), ("big5", "big5hkscs"),
                                            ("UTF8", "utf-8"), ("utf_8", "utf-8"), ("ISO-8859-1", "cp1252"),
                                            ("nonsense", None), ("", None)])
def test_canonical_encoding(label, expected):
    assert canonical_encoding(label) == expected


@pytest.mark.parametrize("label", ["utf-7", "unicode_escape", "raw_unicode_escape", "utf-16le", "cp500", "idna",
                                   "rot13", "base64", "punycode"])
def test_hostile_or_impossible_charsets_are_ignored(label):
    assert canonical_encoding(label) is None


def test_utf7_meta_cannot_smuggle_markup():
    raw = (f'<html><head><meta charset="utf-7"></head><body>+ADw-script+AD4-alert(1)+ADw-/script+AD4-'
           f'{page(SIMPLIFIED, None)}</body></html>').encode("utf-8")
    decoded = decode_bytes(raw)
    assert "<script>" not in decoded.text
    assert "<script" not in INGESTER.ingest(raw).body


@pytest.mark.parametrize("raw", [b"\x89PNG\r\n\x1a\n" + bytes(200), b"%PDF-1.7\n" + bytes(100), b"PK\x03\x04" + bytes(50),
                                 bytes(range(256)) * 4])
def test_binary_is_refused(raw):
    assert looks_binary(raw)
    with pytest.raises(IngestError, match="binary"):
        INGESTER.ingest(raw)


@pytest.mark.parametrize("raw", [SIMPLIFIED.encode("utf-16"), SIMPLIFIED.encode("utf-8").replace("。".encode(), "。".encode() + b"\x00")])
def test_text_with_bom_or_stray_nuls_is_not_binary(raw):
    assert not looks_binary(raw)
    doc = INGESTER.ingest(raw)
    assert "拓宽融资渠道" in doc.body and "\x00" not in doc.body


@pytest.mark.parametrize("text,name,kind", [("<!DOCTYPE html><p>x</p>", "", "html"), ("plain 文本", "", "text"),
                                            ("anything", "a.htm", "html"), ('{"url": "u", "html": "<p>"}', "", "jsonl")])
def test_detect_kind(text, name, kind):
    assert detect_kind(text, name) == kind


@pytest.mark.parametrize("declaration", [
    '<?xml version="1.0" encoding="GBK"?>\n<html><body>',
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312" /></head><body>',
    "<html><head><meta charset='gbk'></head><body>",
])
def test_declared_charset_forms(declaration):
    """The declared charset (read by beautifulsoup4's EncodingDetector) in its three forms, on a page whose GBK
    bytes are not valid UTF-8."""
    raw = (declaration + "<p>国务院印发关于推动数字经济高质量发展的指导意见。</p></body></html>").encode("gbk")
    decoded = decode_bytes(raw)
    assert decoded.declared == "gb18030" and "高质量发展" in decoded.text
