"""Input discovery for batches, streamed: files, folders (recursive), globs, file lists, stdin, JSONL crawl
records ({url, html} or {url, text}) and WARC files. Each unit of work has a stable key."""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

DOC_SUFFIXES = {".html", ".htm", ".shtml", ".xhtml", ".txt", ".text", ".md", ""}
CONTAINER_SUFFIXES = {".jsonl", ".warc", ".gz"}
UNSUPPORTED = "unsupported file type"  # the reason given for other files in a folder (.pdf, .docx, images…)


@dataclass
class Unit:
    """One document to process: a file, or one record inside a JSONL or WARC file."""
    key: str  # path, or path#N for the N-th record of a container
    path: str
    content: Optional[bytes | str] = None  # set for container records
    url: Optional[str] = None
    kind: Optional[str] = None  # html | text, when the container says
    error: Optional[str] = None  # a unit that failed before processing (missing path, bad record)
    skip: Optional[str] = None  # a unit skipped without processing, and why (a file type PolicyMiner does not read)
    truncated: Optional[str] = None  # what a limit or a damaged container cut from this record, when anything


def _is_gold_or_hidden(p: Path) -> bool:
    return p.name.startswith(".") or ".gold." in p.name or p.name.endswith((".json", ".tsv", ".py", ".md", ".csv", ".parquet"))


def _folder_files(folder: Path) -> Iterator[tuple[Path, Optional[str]]]:
    """(file, skip reason) for the files of a folder, walked recursively in sorted order. Hidden, gold and notes
    files are left out; files of a type PolicyMiner does not read come with the reason UNSUPPORTED."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            fp = Path(root) / name
            if not _is_gold_or_hidden(fp):
                yield fp, None if fp.suffix.lower() in DOC_SUFFIXES | CONTAINER_SUFFIXES else UNSUPPORTED


def _discover(inputs: Iterable[str]) -> Iterator[tuple[str, Optional[Path], Optional[str], Optional[str]]]:
    """(input, file, error, skip reason) for every file the inputs name: files in the order given, folders walked
    recursively in sorted order, globs expanded sorted; an input naming nothing comes with its error."""
    for raw in inputs:
        raw = raw.strip()
        if not raw:
            continue
        p = Path(raw)
        if p.is_dir():
            for fp, skip in _folder_files(p):
                yield raw, fp, None, skip
        elif p.exists():
            yield raw, p, None, None
        elif any(ch in raw for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True)) if Path(m).is_file()]
            if not matches:
                yield raw, None, "no file matches this pattern", None
            for m in matches:
                yield raw, m, None, None
        else:
            yield raw, None, "no such file or folder", None


def expand(inputs: Iterable[str]) -> Iterator[Unit]:
    """Every unit of work the inputs name, streamed (see _discover for the order)."""
    for raw, path, error, skip in _discover(inputs):
        if error:
            yield Unit(key=raw, path=raw, error=error)
        elif skip:
            yield Unit(key=str(path), path=str(path), skip=skip)
        else:
            yield from _units_of_file(path)


def count_units(inputs: Iterable[str]) -> Optional[int]:
    """How many units `expand(inputs)` will yield, found quickly (file names only; JSONL lines are counted, which
    reads those files once). None when a WARC file is among the inputs: counting its records means parsing it."""
    n = 0
    for _, path, _, _ in _discover(inputs):
        name = path.name.lower() if path is not None else ""
        if name.endswith((".warc", ".warc.gz")):
            return None
        n += _count_jsonl(path) if name.endswith(".jsonl") else 1
    return n


def _count_jsonl(p: Path) -> int:
    try:
        with open(p, "rb") as fh:
            return sum(1 for line in fh if line.strip()) or 1
    except OSError:
        return 1


def _units_of_file(p: Path) -> Iterator[Unit]:
    name = p.name.lower()
    if name.endswith(".jsonl"):
        yield from _jsonl_records(p)
    elif name.endswith((".warc", ".warc.gz")):
        yield from _warc_records(p)
    else:
        yield Unit(key=str(p), path=str(p))


def _crawl_record(line: str) -> tuple[dict, Optional[str]]:
    """A JSONL crawl record {url, html} or {url, text}, or the reason it cannot be one. Any parse failure
    (invalid JSON, nesting too deep for the parser) and any field of the wrong type fails this record only."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"invalid JSON ({exc.msg})"
    except (RecursionError, ValueError) as exc:
        return {}, f"unreadable JSON ({type(exc).__name__})"
    if not isinstance(rec, dict) or not (rec.get("html") or rec.get("text")):
        return {}, "record has neither 'html' nor 'text'"
    for field in ("html", "text"):
        if field in rec and rec[field] is not None and not isinstance(rec[field], str):
            return {}, f"'{field}' must be a string, not {type(rec[field]).__name__}"
    if rec.get("url") is not None and not isinstance(rec["url"], str):
        return {}, f"'url' must be a string, not {type(rec['url']).__name__}"
    return rec, None


def _jsonl_records(p: Path) -> Iterator[Unit]:
    try:
        fh = open(p, encoding="utf-8", errors="replace")
    except OSError as exc:
        yield Unit(key=str(p), path=str(p), error=f"cannot read: {exc.strerror}")
        return
    found = 0
    with fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            found += 1
            key = f"{p}#{no}"
            rec, problem = _crawl_record(line)
            if problem:
                yield Unit(key=key, path=str(p), error=f"line {no}: {problem}")
                continue
            kind = "html" if rec.get("html") else "text"
            yield Unit(key=key, path=str(p), content=rec.get("html") or rec.get("text"), url=rec.get("url"), kind=kind)
    if not found:
        yield Unit(key=str(p), path=str(p), error="empty JSONL file: no records")


def _warc_records(p: Path) -> Iterator[Unit]:
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError:
        yield Unit(key=str(p), path=str(p), error="WARC input needs the 'warcio' package")
        return
    found = 0
    try:
        with open(p, "rb") as fh:
            records, last = ArchiveIterator(fh), 0
            for no, record in enumerate(records, 1):
                unit = _warc_unit(p, no, record)
                last = records.get_record_offset()  # (reads the record to its end: after _warc_unit read it)
                if unit is not None:
                    found += 1
                    yield unit
            size = os.fstat(fh.fileno()).st_size
            if records.offset < size or not _gzip_member_whole(fh, last):  # warcio stops quietly at a cut
                yield Unit(key=f"{p}#end", path=str(p), error="unreadable WARC: the file ends inside a record "
                                                                "(truncated file?)")
                return
    except Exception as exc:  # a corrupt archive ends its own records, not the batch
        yield Unit(key=f"{p}#error", path=str(p), error=f"unreadable WARC: {type(exc).__name__}: {exc}")
        return
    if not found:  # an input must be accounted for even when it holds nothing to process
        yield Unit(key=str(p), path=str(p), error="unreadable WARC: no HTML or text response records")


def _gzip_member_whole(fh, offset: int) -> bool:
    """The gzip member starting at `offset` (a WARC.gz's last record) ends with its trailer; True for a file that
    is not gzipped. Its record may be whole while the records after it are gone with the cut."""
    import zlib

    fh.seek(offset)
    if fh.read(2) != b"\x1f\x8b":
        return True
    fh.seek(offset)
    member = zlib.decompressobj(wbits=31)
    while not member.eof:
        chunk = fh.read(1 << 16)
        if not chunk:
            return False
        member.decompress(chunk, 1 << 16)
        while member.unconsumed_tail and not member.eof:
            member.decompress(member.unconsumed_tail, 1 << 16)
    return True


def _warc_unit(p: Path, no: int, record) -> Optional[Unit]:
    """The unit of an HTML or text response record (None for other records). A body shorter than the record says
    (the file ends inside it) is kept, with what was cut said in `truncated`."""
    if record.rec_type != "response":
        return None
    ctype = (record.http_headers.get_header("Content-Type") if record.http_headers else "") or ""
    if "html" not in ctype and "text" not in ctype:
        while record.raw_stream.read(1 << 16):  # read through (warcio would anyway) to see whether it is whole
            pass
        if getattr(record.raw_stream, "limit", 0):
            return Unit(key=f"{p}#{no}", path=str(p), error="unreadable WARC record: cut short (truncated file?)")
        return None
    body = record.content_stream().read()
    missing = getattr(record.raw_stream, "limit", 0) or 0
    truncated = (f"WARC record cut short: {missing} of its {record.length} bytes missing (truncated file?)"
                 if missing > 0 else None)
    return Unit(key=f"{p}#{no}", path=str(p), content=body, url=record.rec_headers.get_header("WARC-Target-URI"),
                kind="html" if "html" in ctype else "text", truncated=truncated)


def read_list(path: str) -> Iterator[str]:
    """Lines of a file list; '-' reads standard input."""
    import sys

    fh = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                yield line.strip()
    finally:
        if fh is not sys.stdin:
            fh.close()
