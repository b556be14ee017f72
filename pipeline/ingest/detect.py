"""Tell what an input is (HTML, flattened text, JSONL of crawl records) and decode its bytes."""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Optional

# GB2312 and GBK are subsets of GB18030: decoding as GB18030 never loses characters they can encode.
_CANONICAL = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
              "euc-cn": "gb18030", "hz-gb-2312": "gb18030", "big5": "big5hkscs", "big5-hkscs": "big5hkscs",
              "cp950": "big5hkscs", "utf8": "utf-8", "utf-8": "utf-8", "ascii": "utf-8", "us-ascii": "utf-8",
              "iso-8859-1": "cp1252", "latin-1": "cp1252", "windows-1252": "cp1252", "utf-16": "utf-16"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_HTML_SNIFF = re.compile(r"<\s*(!doctype\s+html|html|head|body|meta|div|p|title|table|span|br)\b", re.I)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    declared: Optional[str]  # what <meta> or the BOM said, if anything
    method: str  # bom | meta | sniffed | utf-8


def canonical_encoding(name: Optional[str]) -> Optional[str]:
    if not name:
        return None
    key = name.strip().lower().replace("_", "-")
    try:
        key = codecs.lookup(key).name if key not in _CANONICAL else key
    except LookupError:
        return None
    return _CANONICAL.get(key, key)


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except (UnicodeDecodeError, LookupError):
        return False


def _cjk_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("\u4e00" <= c <= "\u9fff" for c in letters) / len(letters)


def decode_bytes(raw: bytes, *, sniff_bytes: int = 200000) -> Decoded:
    """Decode with the BOM first, then a <meta> charset checked against the bytes, then a detector.

    A declared charset that fails to decode the bytes (a lying <meta>) is overruled: we try UTF-8 and
    GB18030 strictly, then charset-normalizer on the head of the file.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return Decoded(raw.decode(enc, errors="replace"), enc.replace("-sig", ""), enc, "bom")
    meta = _META_CHARSET.search(raw[:4096])
    declared = canonical_encoding(meta.group(1).decode("ascii", "ignore")) if meta else None
    if declared and _decodes(raw, declared):
        text = raw.decode(declared)
        # A page declared GBK whose bytes are also valid UTF-8 with CJK is UTF-8 that lies.
        if declared != "utf-8" and _decodes(raw, "utf-8") and _cjk_share(raw.decode("utf-8")) > _cjk_share(text):
            return Decoded(raw.decode("utf-8"), "utf-8", declared, "sniffed")
        return Decoded(text, declared, declared, "meta")
    if _decodes(raw, "utf-8"):
        return Decoded(raw.decode("utf-8"), "utf-8", declared, "utf-8")
    if _decodes(raw, "gb18030"):
        return Decoded(raw.decode("gb18030"), "gb18030", declared, "sniffed")
    guess = _detect(raw[:sniff_bytes])
    candidates = [e for e in (guess, declared, "gb18030", "big5hkscs", "utf-8") if e]
    # Files with a few bad bytes (truncated downloads, mixed encodings): pick the decoding with the
    # fewest replacement characters.
    best = min(candidates, key=lambda e: raw.decode(e, errors="replace").count("\ufffd"))
    return Decoded(raw.decode(best, errors="replace"), best, declared, "sniffed")


def _detect(raw: bytes) -> Optional[str]:
    from charset_normalizer import from_bytes

    match = from_bytes(raw, cp_isolation=["utf_8", "gb18030", "big5", "gbk", "gb2312", "cp1252"]).best()
    return canonical_encoding(match.encoding) if match else None


def looks_binary(raw: bytes) -> bool:
    """Binary files (images, PDFs, archives) have NULs or many control bytes in their head."""
    head = raw[:4096]
    if not head:
        return False
    if head.startswith((b"%PDF", b"\x89PNG", b"PK\x03\x04", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")):
        return True
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    return b"\x00" in head[:1024] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
        or controls / len(head) > 0.1


def detect_kind(text: str, name: str = "") -> str:
    """'html', 'jsonl' (crawl records {url, html|text}) or 'text'."""
    lower = name.lower()
    if lower.endswith((".html", ".htm", ".shtml", ".xhtml")):
        return "html"
    head = text.lstrip()[:2000]
    if lower.endswith(".jsonl") or (head.startswith("{") and ('"html"' in head or '"text"' in head) and '"url"' in head):
        return "jsonl"
    if len(_HTML_SNIFF.findall(head)) >= 2 or head.lower().startswith(("<!doctype html", "<html")):
        return "html"
    return "text"
