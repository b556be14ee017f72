"""The ingest stage (`Ingester`): raw input → CleanDocument."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from pipeline.config import Config
from pipeline.ingest.blocks import Block, weighted_len
from pipeline.ingest.boilerplate import Rules, Verdict, classify_blocks, is_heading, load_rules
from pipeline.ingest.detect import decode_bytes, detect_kind, looks_binary
from pipeline.ingest.html import html_to_blocks
from pipeline.ingest.metadata import (PageMeta, clean_title, date_from_url, metadata_from_line, named_value,
                                      site_of)
from pipeline.ingest.repair import PredicateCheck, join_broken, load_spam_table, restore_spun
from pipeline.ingest.siterepeat import countable_keys, page_digest, site_key
from pipeline.ingest.text import text_to_blocks
from pipeline.ingest.titles import TitleRules, load_title_rules, pick_text_title, subtitle_after, subtitle_text
from pipeline.records import CleanDocument, Paragraph, RemovedBlock, Source

_NOT_CJK = re.compile(r"[^\u3400-\u9fff]+")
_LATIN = re.compile(r"[A-Za-z]")
# Zero-width and bidi control characters carry no text and break matching; they are removed on input.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\x00]")


class IngestError(ValueError):
    """An input that cannot become a document; str() names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _normalise(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_source(source: Union[str, bytes, Path], limit: int) -> tuple[bytes | str, str]:
    """The input's content and a display name. A str that names an existing file is read as that file. Inputs
    over `limit` bytes (limits.max_input_bytes) are refused."""
    if isinstance(source, Path) or (isinstance(source, str) and len(source) < 4096 and "\n" not in source
                                    and _is_file(source)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IngestError(str(path), f"cannot read: {exc.strerror or exc}") from None
        if size > limit:
            raise IngestError(str(path), f"too large: {size} bytes > limit {limit} (limits.max_input_bytes)")
        try:
            return path.read_bytes(), str(path)
        except OSError as exc:
            raise IngestError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if isinstance(source, (bytes, bytearray)) and len(source) > limit:
        raise IngestError("<bytes>", f"too large: {len(source)} bytes > limit {limit}")
    if isinstance(source, str) and len(source) > limit // 4 and len(source.encode("utf-8", "replace")) > limit:
        raise IngestError("<text>", f"too large: over {limit} bytes of text (limits.max_input_bytes)")
    return source, "<bytes>" if isinstance(source, (bytes, bytearray)) else "<text>"


def _is_file(name: str) -> bool:
    """A str names an existing file (a long or odd str is text, not a path)."""
    try:
        return Path(name).is_file()
    except (OSError, ValueError):
        return False


class Ingester:
    """The ingest stage: raw input → CleanDocument. Built once per process from the configuration: it loads the
    boilerplate and title rules and the table of spun words once, and owns the POS tagger the repairs ask."""

    def __init__(self, config: Config):
        self.config = config
        patterns = config.path(config.boilerplate.patterns)
        self.rules: Rules = load_rules(patterns)
        self.title_rules: TitleRules = load_title_rules(patterns)
        self.spam_table = load_spam_table(config.path(config.repair.spam_synonyms))
        self.has_predicate = PredicateCheck(config.nlp.segmenter, config.nlp.cache_dir)

    def ingest(self, source: Union[str, bytes, Path], *, name: Optional[str] = None, url: Optional[str] = None,
               kind: Optional[str] = None, site_repeats: frozenset = frozenset()) -> CleanDocument:
        """Raw input → CleanDocument. `site_repeats` holds the keys (siterepeat.block_key) of lines that repeat on
        other pages of the same site in the batch; such lines are boilerplate. Raises IngestError."""
        blocks, meta, kind, encoding, name = self.page_blocks(source, name=name, url=url, kind=kind)
        doc = _assemble(blocks, meta, kind, self, name, site_repeats)
        doc.encoding = encoding
        cjk = len(_NOT_CJK.sub("", doc.body))  # the CJK characters, counted by removing the runs between
        # Other letters weigh as in blocks.weighted_len: a Latin letter half a CJK character, so that a Chinese
        # article quoting code or English names stays Chinese, and an English page with a Chinese menu does not.
        latin = len(_LATIN.findall(doc.body))
        letters = cjk + (sum(map(str.isalpha, doc.body)) - cjk - latin) + latin / 2
        cfg = self.config.ingest
        if cjk < cfg.min_cjk_chars or cjk < cfg.min_cjk_ratio * max(letters, 1):
            raise IngestError(name, f"not a Chinese article: {cjk} CJK characters in the extracted body")
        return doc

    def page_blocks(self, source: Union[str, bytes, Path], *, name: Optional[str] = None, url: Optional[str] = None,
                    kind: Optional[str] = None) -> tuple[list[Block], PageMeta, str, Optional[str], str]:
        """Decode an input and cut it into blocks: (blocks, page metadata, kind, encoding, name). The first half of
        ingest, shared with the batch pre-pass that counts lines repeated across a site's pages."""
        limits = self.config.limits
        content, display = read_source(source, limits.max_input_bytes)
        name = name or display
        encoding = None
        if isinstance(content, (bytes, bytearray)):
            if not content.strip():
                raise IngestError(name, "empty file")
            if looks_binary(bytes(content)):
                raise IngestError(name, "binary file, not text or HTML")
            decoded = decode_bytes(bytes(content), sniff_bytes=self.config.ingest.detect_bytes)
            text, encoding = decoded.text, decoded.encoding
        else:
            text = content
        text = _normalise(text)
        if not text.strip():
            raise IngestError(name, "empty file")
        if self.config.ingest.to_simplified:
            text = _to_simplified(text, name)
        kind = kind or detect_kind(text, name if name not in ("<bytes>", "<text>") else "")
        if kind == "jsonl":
            raise IngestError(name, "JSONL crawl records hold several documents: pass the file to run(), not process()")
        if kind == "html":
            blocks, meta = html_to_blocks(text, url=url, max_blocks=limits.max_blocks,
                                          max_line_chars=limits.max_line_chars, reveal=self.rules.reveal)
        else:
            blocks = text_to_blocks(text, max_blocks=limits.max_blocks, max_line_chars=limits.max_line_chars)
            meta = PageMeta([], url=url, site=site_of(url))
        return blocks, meta, kind, encoding, name

    def page_keys(self, source: Union[str, bytes, Path], *, name: Optional[str], url: Optional[str],
                  kind: Optional[str]) -> tuple[str, frozenset, str]:
        """(site, keys of its countable lines, content hash) of one input, for the batch pre-pass that counts
        lines repeated across a site's pages (pipeline.ingest.siterepeat). Raises IngestError."""
        blocks, meta, _, _, _ = self.page_blocks(source, name=name, url=url, kind=kind)
        keys = countable_keys(blocks, self.config.boilerplate.site_repeat_min_chars)
        return site_key(name, url, meta.site), keys, page_digest(blocks)


def _to_simplified(text: str, name: str) -> str:
    try:
        import opencc  # optional dependency
    except ImportError:
        raise IngestError(name, "ingest.to_simplified is on but the 'opencc' package is not installed") from None
    return opencc.OpenCC("t2s").convert(text)


@lru_cache(maxsize=2048)  # the same block texts are keyed several times per page
def _norm_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _pick_title(blocks: list[Block], verdicts: list[Verdict], meta: PageMeta, rules, titles: TitleRules,
                kind: str) -> tuple[Optional[str], Optional[int]]:
    """The raw title and, for flattened text, the index of the block it came from.

    HTML: og:title / h1 / <title>, preferring one that also stands as a block of the page.
    Text: the title line before the body (titles.pick_text_title)."""
    if kind == "html" and meta.title_candidates:
        texts = {_norm_key(b.text) for b in blocks}
        for cand in meta.title_candidates:
            if _norm_key(cand) in texts:
                return cand, None
        return meta.title_candidates[-1] if len(meta.title_candidates) == 1 else meta.title_candidates[0], None
    idx = pick_text_title(blocks, verdicts, rules, titles, _norm_key)
    return (blocks[idx].text, idx) if idx is not None else (None, None)


def _consistent_titles(candidates: list[str], rules) -> list[str]:
    """Keep the title candidates (og:title, h1s, <title>) that agree with the <title> element: pages with many
    h1s (recommendation feeds) name other articles in most of them."""
    if len(candidates) <= 1:
        return list(candidates)
    anchor = _norm_key(clean_title(candidates[-1], rules.spam_prefix, rules.site_suffix))
    keep = []
    for c in candidates:
        k = _norm_key(clean_title(c, rules.spam_prefix, rules.site_suffix))
        if k and anchor and (k == anchor or (len(k) >= 6 and (k in anchor or anchor in k))):
            keep.append(c)
    return keep or [candidates[-1]]


def _paragraphs(joined) -> tuple[list[Paragraph], str]:
    """The kept, re-joined paragraphs with their offsets in the body, and the body (the paragraphs, one per line)."""
    paragraphs, parts, offset = [], [], 0
    for jp in joined:
        text = jp.text.strip()
        if not text:
            continue
        kind_of = "heading" if (is_heading(text) or any(b.heading_level for b in jp.blocks)) and len(text) <= 60 \
            and not text.endswith("。") else "paragraph"
        paragraphs.append(Paragraph(text=text, start=offset, end=offset + len(text), kind=kind_of, lines=jp.lines))
        parts.append(text)
        offset += len(text) + 1
    return paragraphs, "\n".join(parts)


def _assemble(blocks: list[Block], meta: PageMeta, kind: str, stage: Ingester, name: str,
              site_repeats: frozenset = frozenset()) -> CleanDocument:
    rules, cfg = stage.rules, stage.config
    meta.title_candidates = _consistent_titles(meta.title_candidates, rules)
    titles = [clean_title(t, rules.spam_prefix, rules.site_suffix) for t in meta.title_candidates]
    verdicts = classify_blocks(blocks, cfg.boilerplate, rules, titles=titles + list(meta.title_candidates),
                               site_repeats=site_repeats)
    title_rules = stage.title_rules
    title_raw, title_idx = _pick_title(blocks, verdicts, meta, rules, title_rules, kind)
    title = clean_title(title_raw, rules.spam_prefix, rules.site_suffix) if title_raw else None
    title_keys = {k for k in (_norm_key(title_raw or ""), _norm_key(title or "")) if k}
    subtitle = None
    if title_idx is not None:
        verdicts[title_idx] = Verdict(False, "title")
        sub_idx = subtitle_after(blocks, title_idx, title_rules)
        if sub_idx is not None:
            subtitle = subtitle_text(blocks[sub_idx].text)
            verdicts[sub_idx] = Verdict(False, "subtitle")
    # Metadata lines: the first date found in a metadata line outside the kept body (or in one that is
    # nothing but metadata) is the publication date.
    published = meta.published_at
    publisher = named_value(meta.publisher, rules.placeholder_publishers)
    author = named_value(meta.author, rules.placeholder_authors)
    for b, v in zip(blocks, verdicts):
        if v.keep and v.reason is None and weighted_len(b.text) > 60:
            continue
        found = metadata_from_line(b.text)
        if found and (not v.keep or len(b.text) <= 60):
            published = published or found.get("published_at")
            publisher = publisher or named_value(found.get("publisher"), rules.placeholder_publishers)
            author = author or named_value(found.get("author"), rules.placeholder_authors)
            if v.keep and v.reason != "signature":  # a document's signature date stays in its text
                v.keep, v.reason = False, "metadata"
    published = published or date_from_url(meta.url)
    for i, (b, v) in enumerate(zip(blocks, verdicts)):
        if v.keep and title_keys and _norm_key(b.text) in title_keys:
            verdicts[i] = Verdict(False, "duplicate_title" if (title_idx is not None or i > 0) else "title")
    # A page that shows its article twice (desktop and mobile copies, a print view) keeps the first copy.
    seen: set[str] = set()
    min_repeat = cfg.boilerplate.repeated_paragraph_min_chars
    for i, (b, v) in enumerate(zip(blocks, verdicts)):
        if v.keep and weighted_len(b.text) >= min_repeat:
            key = _norm_key(b.text)
            if key in seen:
                verdicts[i] = Verdict(False, "repeated")
            seen.add(key)
    kept = [b for b, v in zip(blocks, verdicts) if v.keep]
    removed = [RemovedBlock(text=b.text[:500], reason=v.reason or "boilerplate", line=b.line)
               for b, v in zip(blocks, verdicts) if not v.keep]
    joined, joins = join_broken(kept, cfg.repair, stage.has_predicate)
    paragraphs, body = _paragraphs(joined)
    restored = restore_spun(title, body, stage.spam_table, cfg.repair.restore_min_support) if title else None
    if restored == title:
        restored = None
    content_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return CleanDocument(
        title=title, title_raw=title_raw, title_restored=restored, subtitle=subtitle, published_at=published,
        source=Source(path=name if name not in ("<bytes>", "<text>") else None, url=meta.url, site=meta.site),
        paragraphs=paragraphs, removed=removed, body=body, input_kind=kind, author=author, publisher=publisher,
        joined_breaks=joins, content_hash=content_hash)
