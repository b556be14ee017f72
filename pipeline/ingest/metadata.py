"""Title, publication date, source and author from the page's own metadata (never from the body narrative)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlparse

_FW = str.maketrans("０１２３４５６７８９：／－", "0123456789:/-")
# Labels that introduce the page's own metadata. A date is only taken from a line carrying one of these,
# from a line that is nothing but a date, from <meta> tags, or from the URL.
DATE_LABEL = re.compile(r"(发布时间|发布日期|发表时间|发表日期|更新时间|成文日期|印发日期|时间|日期|发布于|Posted|Published)\s*[:：]?")
_ISO = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                  r"(?:\s*(?:T|\s)?\s*(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?)?")
_US = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?")
_URL_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-/_]?(0[1-9]|1[0-2])[-/_]?(0[1-9]|[12]\d|3[01])(?!\d)")
_URL_MONTH = re.compile(r"/((?:19|20)\d{2})[-_]?(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])/")
SOURCE_LABEL = re.compile(r"(?:来源|信息来源|文章来源|稿源|出处)\s*[:：]\s*([^\s|｜/]{2,30})")
AUTHOR_LABEL = re.compile(r"(?:作者|撰文|文)\s*[:：]\s*([^\s|｜/]{2,20})")
EDITOR_LABEL = re.compile(r"(?:责任编辑|责编|编辑)\s*[:：]\s*([^\s|｜/]{2,12})")


@dataclass
class PageMeta:
    title_candidates: list[str]
    published_at: Optional[str] = None
    publisher: Optional[str] = None
    author: Optional[str] = None
    url: Optional[str] = None
    site: Optional[str] = None


def _valid(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> bool:
    return 1990 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60


def parse_datetime(text: str) -> Optional[str]:
    """The first date(-time) in a metadata string, as ISO 8601 (date only when no time is given)."""
    t = text.translate(_FW)
    m = _ISO.search(t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4) is not None:
            h, mi, s = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
            if _valid(y, mo, d, h, mi, s):
                return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        if _valid(y, mo, d):
            return f"{y:04d}-{mo:02d}-{d:02d}"
    m = _US.search(t)
    if m:
        mo, d, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if m.group(4) is not None:
            h, mi, s = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
            if m.group(7) and m.group(7).lower() == "pm" and h < 12:
                h += 12
            if _valid(y, mo, d, h, mi, s):
                return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        if _valid(y, mo, d):
            return f"{y:04d}-{mo:02d}-{d:02d}"
    return None


def date_from_url(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    path = urlparse(url).path
    for rx in (_URL_MONTH, _URL_DATE):
        m = rx.search(path)
        if m and _valid(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return None


def is_date_only(text: str) -> bool:
    """A short line that is nothing but a date (and maybe a time): page metadata, not narrative."""
    t = text.translate(_FW).strip()
    if len(t) > 30:
        return False
    rest = _ISO.sub("", t)
    rest = _US.sub("", rest)
    return rest != t and not re.search(r"[\u4e00-\u9fff]{3,}", rest)


def metadata_from_line(text: str) -> dict[str, str]:
    """Date, publisher and author announced by a metadata line such as
    ``发布时间：2024-04-12 23:32:55 | 来源：省科技厅 | 作者：李明``."""
    found: dict[str, str] = {}
    # A line that announces the page's own metadata (a date label, or a source/author/editor label beside a
    # time stamp, "2025-05-21 07:58 来源：…") carries the publication date; narrative sentences do not.
    labelled = SOURCE_LABEL.search(text) or AUTHOR_LABEL.search(text) or EDITOR_LABEL.search(text)
    if DATE_LABEL.search(text) or is_date_only(text) or (labelled and len(text) <= 120):
        when = parse_datetime(text)
        if when:
            found["published_at"] = when
    m = SOURCE_LABEL.search(text)
    if m:
        found["publisher"] = m.group(1)
    m = AUTHOR_LABEL.search(text)
    if m:
        found["author"] = m.group(1)
    return found


def named_value(value: Optional[str], placeholders: frozenset[str]) -> Optional[str]:
    """`value`, or None when it is a placeholder that names no one ("admin", "佚名", "网络整理")."""
    if not value:
        return None
    key = value.strip().strip("【】[]（）()<>《》").strip().lower()
    return None if not key or key in placeholders else value


def site_of(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    host = urlparse(url).netloc.lower()
    return host[4:] if host.startswith("www.") else host or None


def clean_title(raw: str, spam_prefix: re.Pattern, site_suffix: re.Pattern) -> str:
    """Drop a spam prefix ("熊猫体育:") and a site suffix ("_中国政府网", " - 新华网")."""
    title = re.sub(r"\s+", " ", raw).strip()
    title = spam_prefix.sub("", title, count=1)
    stripped = site_suffix.sub("", title)
    # Only accept the suffix cut when a substantial title remains.
    if len(stripped) >= 6:
        title = stripped
    return title.strip()
