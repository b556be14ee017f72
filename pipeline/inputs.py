"""Input discovery for batches, streamed: files, folders (recursive), globs, file lists, stdin, JSONL crawl
records ({url, html} or {url, text}) and WARC files. Each unit of work has a stable key."""
from __future__ import annotations

import fnmatch
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


def _reason(exc: OSError) -> str:
    """'permission denied' for an OSError, without '[Errno 13]'."""
    text = exc.strerror or str(exc)
    return text[0].lower() + text[1:] if text else type(exc).__name__


def _identity(path: os.DirEntry | Path) -> Optional[tuple[int, int]]:
    """(device, inode) of what a path names once symlinks are followed; None when it cannot be read (a broken
    link: the file then fails when it is read, with its own reason)."""
    try:
        st = path.stat() if isinstance(path, os.DirEntry) else os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Seen:
    """The real folders and files a discovery has met, so that each is walked or listed once however many names
    (symbolic links, a link back up the tree: a loop) lead to it."""

    def __init__(self):
        self.folders: set = set()
        self.files: set = set()

    def first(self, kind: set, path) -> bool:
        ident = _identity(path)
        if ident is None:
            return True
        if ident in kind:
            return False
        kind.add(ident)
        return True


def _entries(folder: Path) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
    """A folder's (subfolders, files), sorted by name; symbolic links count as what they point to. Raises the
    OSError of a folder that cannot be listed."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    folders, files = [], []
    for e in entries:
        try:
            is_folder = e.is_dir()
        except OSError:
            is_folder = False
        (folders if is_folder else files).append(e)
    return folders, files


def _walk(folder: Path, seen: _Seen) -> Iterator[tuple[Path, Optional[str]]]:
    """(file, None) for the files under `folder`, each folder's files before its subfolders', all sorted; and
    (folder, reason) for a folder that cannot be listed (permission denied). Symbolic links to folders are
    followed, but a real folder is walked once: a link back into the tree (a loop) is not followed again."""
    if not seen.first(seen.folders, folder):
        return
    try:
        folders, files = _entries(folder)
    except OSError as exc:
        yield folder, f"cannot read folder: {_reason(exc)}"
        return
    for e in files:
        if seen.first(seen.files, e):
            yield Path(e.path), None
    for e in folders:
        yield from _walk(Path(e.path), seen)


def _folder_files(folder: Path, seen: _Seen) -> Iterator[tuple[Path, Optional[str], Optional[str]]]:
    """(file, error, skip reason) for the files of a folder, walked recursively in sorted order. Hidden, gold and
    notes files are left out; files of a type PolicyMiner does not read come with the reason UNSUPPORTED; a
    subfolder that cannot be listed comes with its error."""
    for fp, error in _walk(folder, seen):
        if error:
            yield fp, error, None
        elif not _is_gold_or_hidden(fp):
            yield fp, None, None if fp.suffix.lower() in DOC_SUFFIXES | CONTAINER_SUFFIXES else UNSUPPORTED


def _glob(pattern: str, seen: _Seen) -> Iterator[tuple[Path, Optional[str]]]:
    """(path, None) for what a glob pattern matches, sorted, and (folder, reason) for a folder on the way that
    cannot be listed. The rules are glob.glob(recursive=True)'s (`*` matches within one name and not hidden
    names, `**` any number of folders), but a folder reached again through a symbolic link is not walked again,
    so a link loop cannot multiply the matches."""
    parts = Path(pattern).parts
    plain = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    found, errors = [], {}
    for path, error in _match(Path(*parts[:plain]) if plain else Path(), parts[plain:], seen, set()):
        if error:
            errors.setdefault(path, error)  # a folder met by `**` and by the next pattern is one failure
        else:
            found.append((path, None))
    return iter(sorted(found, key=lambda t: str(t[0])) + list(errors.items()))


def _match(folder: Path, parts: tuple, seen: _Seen, walked: set) -> Iterator[tuple[Path, Optional[str]]]:
    """What `parts` (one pattern per path component) match under `folder`; `walked` holds the (folder,
    pattern position) pairs `**` has already expanded."""
    if not parts:
        yield folder, None
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        ident = _identity(folder)
        if (ident, len(parts)) in walked:
            return
        walked.add((ident, len(parts)))
        yield from _match(folder, rest, seen, walked)
        names = _listing(folder)
        if isinstance(names, str):
            yield folder, names
            return
        for e in names[0]:
            if not e.name.startswith("."):
                yield from _match(Path(e.path), parts, seen, walked)
        if not rest:  # a trailing ** matches files too
            yield from ((Path(e.path), None) for e in names[1] if not e.name.startswith("."))
        return
    names = _listing(folder)
    if isinstance(names, str):
        yield folder, names
        return
    for e in (names[0] if rest else names[0] + names[1]):
        if fnmatch.fnmatchcase(e.name, head) and (head.startswith(".") or not e.name.startswith(".")):
            yield from _match(Path(e.path), rest, seen, walked)


def _listing(folder: Path):
    """_entries(folder), or the reason it cannot be listed."""
    try:
        return _entries(folder or Path("."))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return f"cannot read folder: {_reason(exc)}"


def _discover(inputs: Iterable[str]) -> Iterator[tuple[str, Optional[Path], Optional[str], Optional[str]]]:
    """(input, file, error, skip reason) for every file the inputs name: files in the order given, folders walked
    recursively in sorted order, globs expanded sorted; an input naming nothing, or a folder that cannot be
    listed, comes with its error. A real file is listed once, under the first name that leads to it."""
    seen = _Seen()
    for raw in inputs:
        raw = raw.strip()
        if not raw:
            continue
        p = Path(raw)
        if p.is_dir():
            for fp, error, skip in _folder_files(p, seen):
                yield raw, fp, error, skip
        elif p.exists():
            if seen.first(seen.files, p):
                yield raw, p, None, None
        elif any(ch in raw for ch in "*?["):
            yield from _glob_inputs(raw, seen)
        else:
            yield raw, None, "no such file or folder", None


def _glob_inputs(raw: str, seen: _Seen) -> Iterator[tuple[str, Optional[Path], Optional[str], Optional[str]]]:
    matched = 0
    for path, error in _glob(raw, seen):
        if error:
            matched += 1
            yield raw, path, error, None
        elif path.is_file():
            matched += 1
            if seen.first(seen.files, path):
                yield raw, path, None, None
    if not matched:
        yield raw, None, "no file matches this pattern", None


def expand(inputs: Iterable[str]) -> Iterator[Unit]:
    """Every unit of work the inputs name, streamed (see _discover for the order)."""
    for raw, path, error, skip in _discover(inputs):
        if error:
            key = raw if path is None else str(path)
            yield Unit(key=key, path=key, error=error)
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
