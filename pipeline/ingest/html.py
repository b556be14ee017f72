"""HTML into blocks plus the page's metadata.

The page is parsed with lxml (tolerant of broken markup), chrome elements are dropped, and the remaining text
is cut into blocks at block-level elements. Each block keeps its link density and DOM depth. The article
container is the element whose subtree holds the most prose (Chinese text with punctuation, few links),
the approach of readability and GNE's text-density scorers, adjusted for Chinese CMS markup.
"""
from __future__ import annotations

import re
from typing import Optional

from lxml import etree, html as lxml_html

from pipeline.ingest.blocks import Block, weighted_len
from pipeline.ingest.metadata import PageMeta, parse_datetime, site_of

DROP_TAGS = {"script", "style", "noscript", "iframe", "template", "svg", "canvas", "select", "option",
             "button", "input", "textarea", "head", "object", "embed", "video", "audio", "map"}
BLOCK_TAGS = {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
              "blockquote", "pre", "dd", "dt", "ul", "ol", "table", "tbody", "header", "footer", "nav", "aside",
              "main", "center", "figcaption", "figure", "address", "body", "html", "font_block"}
# Class/id fragments of chrome, English and the pinyin that Chinese CMSs use.
CHROME_HINT = re.compile(r"(^|[\s_-])(nav|menu|footer|foot|header|breadcrumb|crumb|share|fenxiang|bdshare|"
                         r"sidebar|side|related|xgwz|xgxw|recommend|tuijian|comment|pinglun|copyright|banquan|"
                         r"login|toolbar|topbar|ad|ads|advert|guanggao|dibu|daohang|weizhi|location|print|"
                         r"pagination|pager|fanye|hot|rank|paihang|qrcode|erweima|subnav|links|friendlink)($|[\s_-])",
                         re.I)
CONTENT_HINT = re.compile(r"(TRS_Editor|article|content|zhengwen|detail|text|main|post|entry|news_?con|"
                          r"wzy|pages_content|con_?text|artibody|article-content|TRS_UEDITOR)", re.I)
_PUNCT = re.compile(r"[，。！？；、“”：]")


def _meta(doc, *names: str) -> Optional[str]:
    for name in names:
        for attr in ("name", "property", "itemprop", "http-equiv"):
            found = doc.xpath(f'//meta[translate(@{attr},"ABCDEFGHIJKLMNOPQRSTUVWXYZ","abcdefghijklmnopqrstuvwxyz")="{name.lower()}"]/@content')
            for value in found:
                if value and value.strip():
                    return value.strip()
    return None


def parse_html(text: str):
    parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True, encoding=None)
    try:
        root = lxml_html.document_fromstring(text.encode("utf-8", "replace"), parser=lxml_html.HTMLParser(
            remove_comments=True, remove_pis=True, huge_tree=True, encoding="utf-8"))
    except (etree.ParserError, ValueError):
        root = lxml_html.fromstring("<html><body></body></html>", parser=parser)
    return root


def page_meta(root, url: Optional[str]) -> PageMeta:
    titles = []
    og = _meta(root, "og:title", "twitter:title", "ArticleTitle", "title")
    if og:
        titles.append(og)
    for h in root.xpath("//h1"):
        t = " ".join(h.text_content().split())
        if 4 <= len(t) <= 120:
            titles.append(t)
    t = root.findtext(".//title")
    if t and t.strip():
        titles.append(" ".join(t.split()))
    published = None
    for name in ("article:published_time", "PubDate", "publishdate", "pubdate", "publish_date", "firstpublishedtime",
                 "datePublished", "dc.date", "dc.date.issued", "date", "og:release_date", "mediaid-publishdate"):
        value = _meta(root, name)
        if value and parse_datetime(value):
            published = parse_datetime(value)
            break
    publisher = _meta(root, "ContentSource", "source", "og:site_name", "SiteName")
    author = _meta(root, "author", "article:author", "Author")
    canonical = root.xpath('//link[@rel="canonical"]/@href')
    url = url or _meta(root, "og:url") or (canonical[0] if canonical else None)
    return PageMeta(titles, published, publisher, author, url, site_of(url))


def _clean_tree(root) -> None:
    for el in list(root.iter(etree.Comment)):
        el.getparent().remove(el) if el.getparent() is not None else None
    for el in root.xpath("//*"):
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag in DROP_TAGS:
            el.drop_tree()
        elif tag in {"nav", "aside"}:
            el.drop_tree()
        else:
            style = (el.get("style") or "").replace(" ", "").lower()
            if "display:none" in style or "visibility:hidden" in style or el.get("hidden") is not None:
                el.drop_tree()


def _chrome_hint(el) -> bool:
    label = f"{el.get('class') or ''} {el.get('id') or ''}"
    return bool(label.strip()) and bool(CHROME_HINT.search(label)) and not CONTENT_HINT.search(label)


def _node_scores(body) -> dict:
    """Prose score per element: punctuated Chinese text of its own paragraphs, minus link text, summed up
    the tree with a decay so that the tightest container of the article wins."""
    scores: dict = {}
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag.lower() not in ("p", "div", "td", "section", "article", "li", "span", "font", "pre", "blockquote"):
            continue
        own = (el.text or "") + "".join((c.tail or "") for c in el)
        own = own.strip()
        if el.tag.lower() == "p" or (len(own) > 20 and _PUNCT.search(own)):
            text = el.text_content().strip() if el.tag.lower() == "p" else own
            if len(text) < 10:
                continue
            links = sum(len(a.text_content()) for a in el.iter("a"))
            punct = len(_PUNCT.findall(text))
            s = punct * 3 + min(weighted_len(text) / 10, 30) - links / 3
            if s <= 0:
                continue
            parent, level = el.getparent(), 0
            scores[el] = scores.get(el, 0) + s
            while parent is not None and level < 6:
                scores[parent] = scores.get(parent, 0) + s / (1 + level * 0.5) * (0.5 if level == 0 else 1)
                parent, level = parent.getparent(), level + 1
    for el in list(scores):
        if _chrome_hint(el):
            scores[el] *= 0.2
        label = f"{el.get('class') or ''} {el.get('id') or ''}"
        if CONTENT_HINT.search(label):
            scores[el] *= 1.5
    return scores


def _main_container(body):
    scores = _node_scores(body)
    if not scores:
        return body
    best = max(scores, key=scores.get)
    # Climb while the parent is not much more than the child: the article spans several sibling containers.
    while best.getparent() is not None and best.getparent() in scores and scores[best.getparent()] > scores[best] * 1.35:
        best = best.getparent()
    return best


def _blocks(el, depth: int, in_main: bool, main, out: list, link_ctx: bool = False) -> None:
    """Depth-first walk that emits a block at every block-level boundary."""
    buf: list[tuple[str, bool]] = []

    def flush(tag: str, heading: int = 0) -> None:
        text = "".join(t for t, _ in buf)
        links = sum(len(t) for t, is_link in buf if is_link)
        text_stripped = " ".join(text.split()) if "\n" in text else text.strip()
        if text_stripped:
            out.append(Block(text=text_stripped.strip(), tag=tag, link_chars=min(links, len(text_stripped)),
                             depth=depth, in_main=in_main, heading_level=heading))
        buf.clear()

    def walk(node, depth: int, inside: bool, link: bool) -> None:
        tag = node.tag.lower() if isinstance(node.tag, str) else ""
        here_main = inside or node is main
        is_block = tag in BLOCK_TAGS or tag == "br"
        if is_block:
            flush("p")
        if tag == "br":
            if node.tail:
                buf.append((node.tail, link))
            return
        chrome = _chrome_hint(node) and not here_main
        if node.text and not chrome:
            buf.append((node.text, link or tag == "a"))
        if not chrome:
            for child in node:
                walk(child, depth + 1, here_main, link or tag == "a")
        if is_block:
            heading = int(tag[1]) if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit() else 0
            text = "".join(t for t, _ in buf)
            links = sum(len(t) for t, is_link in buf if is_link)
            stripped = " ".join(text.split())
            if stripped:
                out.append(Block(text=stripped, tag=tag, link_chars=min(links, len(stripped)), depth=depth,
                                 in_main=here_main, heading_level=heading))
            buf.clear()
        if node.tail:
            buf.append((node.tail, link))

    walk(el, depth, in_main, link_ctx)
    flush("p")


def html_to_blocks(text: str, *, url: Optional[str], max_blocks: int) -> tuple[list[Block], PageMeta]:
    root = parse_html(text)
    meta = page_meta(root, url)
    _clean_tree(root)
    body = root.find("body")
    if body is None:
        body = root
    main = _main_container(body)
    out: list[Block] = []
    _blocks(body, 0, False, main, out)
    return out[:max_blocks], meta
