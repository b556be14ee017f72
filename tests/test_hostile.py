"""Hostile pages: script and style content, javascript: links, event handlers, iframes, giant attributes and
comment bombs never reach the extracted text. The script bodies hold Chinese prose on purpose, so that only
the parser and the tree cleaning, not the boilerplate scoring, can keep them out."""
from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.ingest import IngestError, Ingester
from pipeline.ingest.html import flatten_html, parse_html

INGESTER = Ingester(load_config())
TITLE = "关于开展二〇二四年度科技型企业评价工作的通知"
ARTICLE = [
    "各有关单位：为做好本年度科技型中小企业评价工作，加快培育科技型企业群体，现将有关事项通知如下。",
    "一、评价对象。在本市注册的居民企业，职工总数不超过五百人，年销售收入不超过二亿元。",
    "二、工作程序。企业自主登录服务平台填报信息，各区科技主管部门组织审核并公示入库名单。",
    "三、工作要求。各单位要严格审核把关，对弄虚作假的企业取消入库资格并通报批评。",
]
# Prose-like Chinese inside code: a text-density extractor would love it.
EVIL = "恶意脚本注入的正文样式文字，这段内容绝不能出现在提取结果中，否则说明脚本被当成了正文。"
MARKERS = ("恶意", "EVIL", "alert", "javascript", "onerror", "document.", "function(", "color:", "{")


def page(hostile: str, *, where: str = "middle") -> str:
    paras = [f"<p>{p}</p>" for p in ARTICLE]
    if where == "middle":
        paras.insert(2, hostile)
    body = "".join(paras)
    head = hostile if where == "head" else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{TITLE}</title>{head}</head><body>"
            f"<div class='content'><h1>{TITLE}</h1>{body}</div>{hostile if where == 'end' else ''}</body></html>")


HOSTILE = {
    "script": f"<script>var EVIL = '{EVIL}'; alert(EVIL);</script>",
    "script_upper": f"<SCRIPT type='text/javascript'>document.write('{EVIL}')</SCRIPT>",
    "script_template": f"<script type='text/template'><p>{EVIL}</p></script>",
    "script_with_end_in_string": f"<script>var s = '<p>{EVIL}</p>'; var t = '<\\/script>';</script>",
    "style": f"<style>p::after {{ content: '{EVIL}'; color: red; }}</style>",
    "noscript": f"<noscript><p>{EVIL}</p></noscript>",
    "template": f"<template><p>{EVIL}</p></template>",
    "iframe": f"<iframe src='javascript:alert(1)'>{EVIL}</iframe>",
    "iframe_srcdoc": f"<iframe srcdoc='<script>alert(1)</script><p>{EVIL}</p>'></iframe>",
    "javascript_link": "<p>详见<a href=\"javascript:alert('EVIL')\" onclick=\"alert('EVIL')\">附件一</a>。</p>",
    "onerror": "<p>附件二<img src=x onerror=\"alert('EVIL');document.location='//x'\">下载。</p>",
    "svg_script": f"<svg><script>alert('{EVIL}')</script><text>{EVIL}</text></svg>",
    "object_embed": f"<object data='x.swf'><param name=a value='{EVIL}'><embed src='javascript:alert(1)'></object>",
    "hidden_div": f"<div style='display: none'>{EVIL}</div><div hidden>{EVIL}</div>",
    "giant_attribute": f"<p title='{'恶意' * 500_000}' data-x='{'EVIL' * 250_000}'>附件三</p>",
    "comment_bomb": f"<!-- {EVIL} -->" * 5000 + f"<!--[if IE]><script>alert('{EVIL}')</script><![endif]-->",
    "unterminated_comment": f"<!-- {EVIL} <script>alert(1)</script>",
    "cdata": f"<![CDATA[<script>alert('{EVIL}')</script>]]>",
    "form_controls": f"<form><textarea>{EVIL}</textarea><select><option>{EVIL}</option></select>"
                     f"<button onclick='alert(1)'>{EVIL}</button></form>",
    "processing_instruction": f"<?php echo '{EVIL}'; ?>",
    "unclosed_script_at_end": f"<script>alert('{EVIL}');",
}


def _all_text(doc) -> str:
    return "\n".join([doc.body, doc.title or "", doc.title_raw or ""] + [r.text for r in doc.removed])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_element_never_reaches_the_text(name):
    where = "end" if name in ("unterminated_comment", "unclosed_script_at_end") else "middle"
    doc = INGESTER.ingest(page(HOSTILE[name], where=where).encode("utf-8"))
    text = _all_text(doc)
    for marker in MARKERS:
        assert marker not in text, f"{name}: {marker!r} in extracted text"
    for para in ARTICLE[:2]:
        assert para in doc.body


@pytest.mark.parametrize("name", ["script", "style", "noscript", "iframe_srcdoc", "svg_script"])
def test_hostile_element_in_head(name):
    doc = INGESTER.ingest(page(HOSTILE[name], where="head").encode("utf-8"))
    assert not any(m in _all_text(doc) for m in MARKERS)


@pytest.mark.parametrize("body", [
    f"<script>{EVIL * 50}</script>",
    f"<style>body {{ content: '{EVIL * 50}' }}</style>",
    f"<script>{EVIL * 30}</script><style>{EVIL * 30}</style><noscript>{EVIL * 30}</noscript>",
], ids=["script_only", "style_only", "all_code"])
def test_code_only_page_is_not_an_article(body):
    raw = f"<html><head><title>{TITLE}</title></head><body>{body}</body></html>".encode("utf-8")
    with pytest.raises(IngestError, match="not a Chinese article"):
        INGESTER.ingest(raw)


def test_javascript_link_keeps_its_text_only():
    doc = INGESTER.ingest(page(HOSTILE["javascript_link"]).encode("utf-8"))
    assert "附件一" in doc.body and "javascript" not in doc.body


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_flattening_fallback_drops_code(name):
    """The flat re-parse used for pages nested deeper than libxml2 allows keeps the same guarantees."""
    flat = flatten_html(page(HOSTILE[name]))
    root = parse_html(flat)
    text = root.text_content()
    for marker in ("恶意", "alert", "javascript", "onerror"):
        assert marker not in text, f"{name}: {marker!r} survived flattening"
    assert ARTICLE[0] in text


def test_deeply_nested_hostile_page():
    depth = 5000
    hostile = "".join(HOSTILE[k] for k in ("script", "style", "onerror", "iframe", "comment_bomb"))
    body = "<div>" * depth + "".join(f"<p>{p}</p>" for p in ARTICLE) + hostile + "</div>" * depth
    raw = f"<html><head><title>{TITLE}</title></head><body>{body}</body></html>".encode("utf-8")
    doc = INGESTER.ingest(raw)
    assert ARTICLE[1] in doc.body
    assert not any(m in _all_text(doc) for m in MARKERS)
