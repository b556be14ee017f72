"""HTML → blocks, iteratively (no recursion, so 100,000 nested tags are fine).

Each block is the text between two block-level boundaries, with its link share, DOM depth, the chrome
label of its nearest labelled ancestor (navigation, footer, widget, related, comments, ads, sidebar: from
tag names and the class/id words English and Chinese CMSs use), and whether it lies inside the article
container. The container is chosen readability-style: paragraphs score by punctuation and length, the score
flows to parent and grandparent, the best element wins and brings along siblings that score well."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from pipeline.ingest.blocks import Block, weighted_len

DROP_TAGS = {"script", "style", "noscript", "iframe", "template", "svg", "canvas", "select", "option", "button",
             "input", "textarea", "head", "object", "embed", "video", "audio", "map", "link", "meta"}
BLOCK_TAGS = {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
              "blockquote", "pre", "dd", "dt", "ul", "ol", "dl", "table", "tbody", "thead", "header", "footer", "nav",
              "aside", "main", "center", "figcaption", "figure", "address", "body", "form", "fieldset", "hr",
              "caption", "legend", "details", "summary"}
CHROME_TAGS = {"nav": "navigation", "footer": "footer", "aside": "sidebar", "header": "navigation"}
_HINTS = [
    ("navigation", r"nav|navbar|menu|breadcrumb|crumbs?|daohang|weizhi|location|subnav|topbar|toolbar|pagination|pager|fanye"),
    ("footer", r"footer|foot|copyright|banquan|dibu|bottom|copy"),
    ("widget", r"share|fenxiang|bdshare|print|qrcode|erweima|login|tool|font|zihao|search|sousuo"),
    ("related", r"related|xgwz|xgxw|xiangguan|recommend|tuijian|hotnews|rank|paihang|friendlink|youqing"),
    ("comments", r"comment|pinglun|reply|liuyan"),
    ("ads", r"ad|ads|advert|guanggao|gg|banner|sponsor"),
    ("sidebar", r"sidebar|side|aside"),
]
_HINT_RX = [(label, re.compile(rf"(^|[\s_\-]|\d)({words})($|[\s_\-]|\d)", re.I)) for label, words in _HINTS]
CONTENT_HINT = re.compile(r"(TRS_Editor|TRS_UEDITOR|article|content|zhengwen|detail|text|main|post|entry|"
                          r"news_?con|wzy|pages_content|con_?text|artibody|article-content|body|neirong|zw)", re.I)
_PUNCT = re.compile(r"[，。！？；、“”：,.;!?]")
_LIST_ITEMS = ("li", "dd", "dt")
_CJK_PUNCT = re.compile(r"[，。！？；、“”]")


def chrome_label(el) -> Optional[str]:
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag in CHROME_TAGS:
        return CHROME_TAGS[tag]
    words = f"{el.get('class') or ''} {el.get('id') or ''}".strip()
    return _label_for_words(words) if words else None


@lru_cache(maxsize=8192)
def _label_for_words(words: str) -> Optional[str]:
    """Pages repeat a few class names thousands of times: the label of a class/id string is computed once."""
    if CONTENT_HINT.search(words):
        return None
    for label, rx in _HINT_RX:
        if rx.search(words):
            return label
    return None


# Labels that a class word can give to the article's own text box: "font_area", "zoom", "printContent" name the
# area whose font size or print view a toolbar controls. Inside the article container, such a box that holds
# paragraphs of prose is the article, not a widget.
PROSE_OVERRIDES = {"widget"}


def _holds_prose(el) -> bool:
    text = el.xpath("string()")
    return len(_CJK_PUNCT.findall(text)) >= 6 and weighted_len(text) >= 150


@dataclass(frozen=True)
class RevealRule:
    """When an element hidden by inline style or the hidden attribute is hidden-until-script content (WeChat's
    #js_content under `visibility: hidden`, a "read the full text" box) rather than chrome: it holds prose, at
    least `min_chars` CJK-weighted characters with `min_marks` clause or sentence marks, and at most
    `max_link_share` of its text in links. Values: configs/boilerplate.toml [hidden]."""
    min_chars: float
    min_marks: int
    max_link_share: float


def _is_hidden(el) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style or el.get("hidden") is not None


def _hidden_prose(el, rule: RevealRule) -> bool:
    text = el.xpath("string()")
    if weighted_len(text) < rule.min_chars or len(_CJK_PUNCT.findall(text)) < rule.min_marks:
        return False
    links = sum(len(a.xpath("string()")) for a in el.iter("a"))
    return links <= rule.max_link_share * len(text)


def clean_tree(root, reveal: Optional[RevealRule] = None) -> None:
    """Drop non-content elements and hidden ones, keeping their tails. With `reveal`, a hidden element that holds
    prose is kept (hidden-until-script content); hidden elements inside it stay hidden (a script reveals the
    container, not its popups). Walked without descending into dropped or revealed elements, so each hidden
    element's text is measured once at most: linear in the page."""
    stack = [root]
    while stack:
        el = stack.pop()
        for child in list(el):
            if not isinstance(child.tag, str):
                child.drop_tree() if hasattr(child, "drop_tree") else el.remove(child)
                continue
            if child.tag.lower() in DROP_TAGS:
                child.drop_tree()
            elif _is_hidden(child):
                if reveal is not None and _hidden_prose(child, reveal):
                    _drop_nested(child)
                else:
                    child.drop_tree()
            else:
                stack.append(child)


def _drop_nested(container) -> None:
    """Inside a revealed element: non-content and hidden elements are dropped without measuring."""
    for el in list(container.iter()):
        if el is container or el.getparent() is None:
            continue
        if not isinstance(el.tag, str):
            el.drop_tree() if hasattr(el, "drop_tree") else el.getparent().remove(el)
        elif el.tag.lower() in DROP_TAGS or _is_hidden(el):
            el.drop_tree()


def _own_text(el) -> str:
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and child.tag.lower() not in BLOCK_TAGS:
            parts.append(child.xpath("string()") if child.tag.lower() != "br" else "\n")
        parts.append(child.tail or "")
    return "".join(parts)


def main_containers(body) -> set:
    """Elements holding the article: the best-scoring container and its well-scoring siblings."""
    scores: dict = defaultdict(float)
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag.lower() not in ("p", "div", "td", "pre", "section", "article", "font", "span", "li", "blockquote"):
            continue
        text = _own_text(el).strip()
        if len(text) < 20:
            continue
        punct = len(_CJK_PUNCT.findall(text)) + len(re.findall(r"[,.]\s", text)) * 0.5
        if punct == 0:
            continue
        link = sum(len(a.xpath("string()")) for a in el.iter("a"))
        s = (1 + punct + min(weighted_len(text) / 60, 4)) * max(0.0, 1 - 2 * link / max(len(text), 1))
        if s <= 0:
            continue
        scores[el] += s
        parent = el.getparent()
        if parent is not None:
            scores[parent] += s
            grand = parent.getparent()
            if grand is not None:
                scores[grand] += s / 2
    if not scores:
        return {body}
    for el in list(scores):
        label = chrome_label(el)
        words = f"{el.get('class') or ''} {el.get('id') or ''}"
        if label in ("comments", "related", "sidebar", "navigation", "footer"):
            scores[el] *= 0.3
        elif CONTENT_HINT.search(words):
            scores[el] *= 1.25
    top = max(scores, key=scores.get)
    chosen = {top}
    parent = top.getparent()
    if parent is not None:
        threshold = max(10.0, scores[top] * 0.2)
        for sib in parent:
            if sib is not top and isinstance(sib.tag, str) and scores.get(sib, 0) >= threshold and chrome_label(sib) is None:
                chosen.add(sib)
    return chosen


def _child_context(el, tag: str, parent: tuple, is_container: bool) -> tuple:
    """The walk's context inside `el`: (chrome label, inside main, inside <a>, heading level, inside a list item)."""
    parent_label, parent_main, parent_link, parent_heading, parent_list = parent
    # The article container starts clean: a page wrapper far above it may carry a class such as
    # "blq-int-nav", which must not make every paragraph of the article navigation.
    inside = parent_main or is_container
    own = chrome_label(el)
    if own in PROSE_OVERRIDES and inside and _holds_prose(el):
        own = None
    label = own or (None if is_container else parent_label)
    heading = int(tag[1]) if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit() else parent_heading
    return label, inside, parent_link or tag == "a", heading, parent_list or tag in _LIST_ITEMS


def dom_blocks(root, *, max_blocks: int, reveal: Optional[RevealRule] = None) -> list[Block]:
    body = root.find("body")
    if body is None:
        body = root
    clean_tree(body, reveal)
    containers = main_containers(body)
    blocks: list[Block] = []
    buf: list[tuple[str, bool]] = []
    # Context per open element: (chrome label, inside main, inside <a>, heading level, inside a list item)
    ctx_stack: list[tuple[Optional[str], bool, bool, int, bool]] = [(None, body in containers, False, 0, False)]

    def flush(tag: str) -> None:
        if not buf:
            return
        text = "".join(t for t, _ in buf)
        links = sum(len(t) for t, is_link in buf if is_link)
        buf.clear()
        stripped = " ".join(text.split())
        if stripped and len(blocks) < max_blocks:
            label, inside, _, heading, listed = ctx_stack[-1]
            blocks.append(Block(text=stripped, tag=tag, link_chars=min(links, len(stripped)), depth=len(ctx_stack),
                                in_main=inside, heading_level=heading, chrome=label, in_list=listed))

    # Iterative walk: ("enter", el) and ("exit", el) events.
    stack: list[tuple[str, object]] = [("enter", body)]
    while stack and len(blocks) < max_blocks:
        event, el = stack.pop()
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if event == "enter":
            is_block = tag in BLOCK_TAGS or tag == "br"
            if is_block:
                flush(ctx_stack[-1][3] and f"h{ctx_stack[-1][3]}" or "p")
            ctx_stack.append(_child_context(el, tag, ctx_stack[-1], el in containers))
            if tag == "br":
                stack.append(("exit", el))
                continue
            if el.text:
                buf.append((el.text, ctx_stack[-1][2]))
            stack.append(("exit", el))
            for child in reversed(el):
                stack.append(("enter", child))
        else:
            if tag in BLOCK_TAGS:
                flush(tag if ctx_stack[-1][3] == 0 else f"h{ctx_stack[-1][3]}")
            ctx_stack.pop()
            if el.tail:
                buf.append((el.tail, ctx_stack[-1][2] if ctx_stack else False))
    flush("p")
    return blocks
