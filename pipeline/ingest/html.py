"""HTML parsing and the page's own metadata (title candidates, <meta> dates, publisher, canonical URL).

The page is parsed with lxml, which tolerates broken markup. Hostile and pathological pages are handled here:
libxml2 stops building the tree at 2048 levels of nesting (even with huge_tree), which would lose the text of
a page with 100,000 nested tags; such a page is flattened by a linear scan (raw-text elements and comments
skipped, block tags turned into paragraphs) and parsed again. Blocks are cut from the tree by
pipeline.ingest.dom; `html_to_blocks` wraps both and applies the limits.
"""
from __future__ import annotations

import html as html_lib
import logging
import re
from dataclasses import replace
from typing import Optional

from lxml import etree, html as lxml_html

from pipeline.ingest.blocks import Block
from pipeline.ingest.metadata import PageMeta, parse_datetime, site_of
from pipeline.ingest.text import CUT_TAG, split_long

log = logging.getLogger(__name__)

# Elements whose content is raw text (HTML spec, 13.1.2) or never shown: skipped by the flattening scan.
RAW_TEXT_TAGS = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
                 "template", "svg", "math", "object")
_FLAT_BREAK_TAGS = {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
                    "blockquote", "pre", "dd", "dt", "ul", "ol", "dl", "table", "tbody", "header", "footer", "nav",
                    "aside", "main", "center", "figcaption", "figure", "address", "body", "br", "hr", "form"}
# Elements whose content is not page text though it is markup, and the void elements (no content to skip).
_SKIP_TAGS = {"select", "button", "datalist", "canvas", "video", "audio", "map"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
              "wbr"}
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|(^|\s)hidden(\s|=|$)")
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]*)")
# Characters lxml refuses in text it is asked to set (C0 controls other than tab and line ends, the
# non-characters U+FFFE/U+FFFF, lone surrogates): left in, later tree edits (drop_tree joining a tail) raise.
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_META_ATTRS = ("name", "property", "itemprop", "http-equiv")
# Attribute values past this length are not metadata (a 5 MB data-URI in og:image, say).
_MAX_META_VALUE = 2000


def _parser() -> lxml_html.HTMLParser:
    return lxml_html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True, encoding="utf-8")


def _too_deep(parser) -> bool:
    return any(e.type_name == "ERR_RESOURCE_LIMIT" or "Excessive depth" in e.message for e in parser.error_log)


def parse_html(text: str):
    """The page's lxml tree. Never raises: an empty or unparsable page gives an empty document."""
    parser = _parser()
    text = _drop_cdata(_XML_INCOMPATIBLE.sub("", text))
    data = text.encode("utf-8")
    try:
        root = lxml_html.document_fromstring(data, parser=parser)
        if _too_deep(parser):
            log.info("page nested deeper than libxml2's limit: parsing a flattened copy")
            parser = _parser()
            root = lxml_html.document_fromstring(flatten_html(text).encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError):
        root = lxml_html.document_fromstring(b"<html><body></body></html>", parser=_parser())
    return root


def _drop_cdata(text: str) -> str:
    """Remove <![CDATA[ … ]]> sections. Outside SVG and MathML, HTML parsers end them at the first ">", so
    `<![CDATA[<script>alert(1)</script>]]>` leaves the code as page text; browsers hide the rest. Inside
    <script> and <style> the sections are code anyway. Linear: one find per section."""
    start = text.find("<![CDATA[")
    if start < 0:
        return text
    out, pos = [], 0
    while start >= 0:
        end = text.find("]]>", start + 9)
        if end < 0:
            break
        out.append(text[pos:start])
        pos = end + 3
        start = text.find("<![CDATA[", pos)
    out.append(text[pos:])
    return "".join(out)


def flatten_html(text: str) -> str:
    """A flat page with the same visible text: one <p> per run of text between block tags, the <title>, the
    <meta> and <link> tags kept. Raw-text elements (script, style …), comments, CDATA, form controls and
    elements hidden by style or the hidden attribute are skipped. A single left-to-right scan with str.find,
    linear in the page size whatever the nesting (no regex that could backtrack over a giant attribute)."""
    return _Flattener(text).scan()


class _Flattener:
    """flatten_html's scan: the text runs between block tags, the head's meta/link tags and the title."""

    def __init__(self, text: str):
        self.text, self.lower, self.n = text, text.lower(), len(text)
        self.head: list[str] = []
        self.paras: list[str] = []
        self.run: list[str] = []
        self.title = ""
        self.skip_tag, self.skip_depth = "", 0  # inside a hidden element: its tag and how deep

    def end_run(self) -> None:
        piece = " ".join(html_lib.unescape("".join(self.run)).split())
        if piece:
            self.paras.append(f"<p>{html_lib.escape(piece, quote=False)}</p>")
        self.run.clear()

    def scan(self) -> str:
        text, pos = self.text, 0
        while pos < self.n:
            lt = text.find("<", pos)
            if lt < 0:
                if not self.skip_depth:
                    self.run.append(text[pos:])
                break
            if not self.skip_depth:
                self.run.append(text[pos:lt])
            pos = self.markup(lt)
        self.end_run()
        title_tag = f"<title>{html_lib.escape(self.title, quote=False)}</title>" if self.title else ""
        return f"<html><head>{title_tag}{''.join(self.head)}</head><body>{''.join(self.paras)}</body></html>"

    def markup(self, lt: int) -> int:
        """Read the markup at `lt` (a comment, CDATA, a declaration or a tag); the position after it."""
        text, lower, n = self.text, self.lower, self.n
        if lower.startswith("<!--", lt):
            close = text.find("-->", lt + 4)
            return n if close < 0 else close + 3
        if lower.startswith("<![cdata[", lt):
            close = text.find("]]>", lt + 9)
            return n if close < 0 else close + 3
        m = _TAG_NAME.match(text, lt)
        if not m:
            if lower.startswith(("<!", "<?"), lt):  # doctype, bogus comments, processing instructions
                close = text.find(">", lt)
                return n if close < 0 else close + 1
            if not self.skip_depth:
                self.run.append("<")
            return lt + 1
        gt = text.find(">", m.end())
        if gt < 0:
            return n  # an unterminated tag runs to the end of the page
        return self.tag(m.group(1).lower(), lt, m.end(), gt)

    def tag(self, tag: str, lt: int, name_end: int, gt: int) -> int:
        """A start or end tag from `lt` to `gt`: breaks a run, opens or closes a skipped element, keeps a meta
        tag or the title; the position after it (after a raw-text element's content)."""
        text, closing, pos = self.text, self.text[lt + 1] == "/", gt + 1
        if self.skip_depth:
            if tag == self.skip_tag:
                self.skip_depth += -1 if closing else (0 if text[gt - 1] == "/" else 1)
            if tag not in RAW_TEXT_TAGS or closing:
                return pos
        if closing:
            if tag in _FLAT_BREAK_TAGS:
                self.end_run()
            return pos
        if tag in ("meta", "link"):
            if gt - lt < _MAX_META_VALUE and not self.skip_depth:
                self.head.append(text[lt:gt + 1])
        elif tag in RAW_TEXT_TAGS and not text[gt - 1] == "/":
            return self.raw_text(tag, pos)
        elif tag not in _VOID_TAGS and not text[gt - 1] == "/" and (
                tag in _SKIP_TAGS or _HIDDEN.search(self.lower[name_end:gt])):
            self.end_run()
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in _FLAT_BREAK_TAGS:
            self.end_run()
        return pos

    def raw_text(self, tag: str, pos: int) -> int:
        """Skip a raw-text element's content (script, style, title …), keeping the first <title>'s text."""
        text, n = self.text, self.n
        close = self.lower.find(f"</{tag}", pos)
        content_end = n if close < 0 else close
        if tag == "title" and not self.title and not self.skip_depth:
            self.title = " ".join(html_lib.unescape(text[pos:content_end]).split())[:_MAX_META_VALUE]
        end_tag = -1 if close < 0 else text.find(">", close)
        return n if end_tag < 0 else end_tag + 1


def _meta_index(root) -> dict[str, str]:
    """First non-empty content of each <meta> name/property/itemprop/http-equiv, keys lower-cased. One pass
    over the <meta> elements (sixteen XPath queries over a 50 MB page took 15 s)."""
    index: dict[str, str] = {}
    for el in root.iter("meta"):
        content = (el.get("content") or "").strip()
        if not content or len(content) > _MAX_META_VALUE:
            continue
        for attr in _META_ATTRS:
            key = (el.get(attr) or "").strip().lower()
            if key and key not in index:
                index[key] = content
    return index


def _meta(index: dict[str, str], *names: str) -> Optional[str]:
    for name in names:
        value = index.get(name.lower())
        if value:
            return value
    return None


def page_meta(root, url: Optional[str]) -> PageMeta:
    """Title candidates (og:title, each <h1>, <title>), publication date, publisher, author and URL."""
    index = _meta_index(root)
    titles = []
    og = _meta(index, "og:title", "twitter:title", "ArticleTitle", "title")
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
        value = _meta(index, name)
        if value and parse_datetime(value):
            published = parse_datetime(value)
            break
    publisher = _meta(index, "ContentSource", "source", "og:site_name", "SiteName")
    author = _meta(index, "author", "article:author", "Author")
    canonical = root.xpath('//link[@rel="canonical"]/@href')
    url = url or _meta(index, "og:url") or (canonical[0] if canonical else None)
    return PageMeta(titles, published, publisher, author, url, site_of(url))


def html_to_blocks(text: str, *, url: Optional[str], max_blocks: int,
                   max_line_chars: int = 0, reveal=None) -> tuple[list[Block], PageMeta]:
    """Blocks and metadata of a page, within the limits: at most `max_blocks` blocks, none longer than
    `max_line_chars` (longer ones are cut at sentence ends, as for text lines). `reveal` (dom.RevealRule) keeps
    hidden elements that hold prose."""
    from pipeline.ingest.dom import dom_blocks

    root = parse_html(text)
    meta = page_meta(root, url)
    blocks = limit_blocks(dom_blocks(root, max_blocks=max_blocks, reveal=reveal), max_blocks=max_blocks,
                          max_line_chars=max_line_chars)
    return blocks, meta


def limit_blocks(blocks: list[Block], *, max_blocks: int, max_line_chars: int) -> list[Block]:
    """Blocks cut to at most `max_line_chars` characters each (pieces after the first tagged "line_cut", so
    that the paragraph repair does not glue them back), and at most `max_blocks` of them."""
    out: list[Block] = []
    for b in blocks:
        if len(out) >= max_blocks:
            break
        if max_line_chars <= 0 or len(b.text) <= max_line_chars:
            out.append(b)
            continue
        for k, piece in enumerate(split_long(b.text, max_line_chars)):
            piece = piece.strip()
            if piece and len(out) < max_blocks:
                out.append(replace(b, text=piece, tag=b.tag if k == 0 else CUT_TAG,
                                   link_chars=min(b.link_chars, len(piece))))
    return out
