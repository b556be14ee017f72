"""`policyminer validate OUT_DIR`: check a run folder against its own contract. Every line of documents.jsonl
validates against the JSON Schema (export.schema) and keeps its own offsets; the passages and entities tables
(CSV and Parquet) hold exactly the rows the documents give (export.table_chunks, the code the run writes them
with); run.json's counts are those of the inputs it lists, and its generation is the published one.

Every problem is one `Problem` (file, line, reason). Line numbers are 1-based lines of the file; for Parquet they
are row numbers counted like CSV lines (the header is line 1). The folder's published set (OUT/current) is
resolved once, so a run publishing meanwhile does not mix two sets."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from pipeline.export import ENTITY_COLUMNS, PASSAGE_COLUMNS, schema, table_chunks
from pipeline.outdir import current_folder, current_generation

DOCS = "documents.jsonl"
TABLE_NAMES = (("passages", PASSAGE_COLUMNS), ("entities", ENTITY_COLUMNS))  # in table_chunks' order
DOC_ID = re.compile(rb'"doc_id"\s*:\s*"([0-9a-f]{16})"')  # read from a line that is not valid JSON
MAX_REASON = 240  # characters of a reason shown (jsonschema quotes whole instances)
SHOWN_PER_FILE = 100  # problems listed per file; the rest are counted in one last line


@dataclass
class Problem:
    file: str
    line: Optional[int]
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


@dataclass
class Problems:
    """The problems found, at most SHOWN_PER_FILE per file (the others counted)."""
    shown: list[Problem] = field(default_factory=list)
    hidden: Counter = field(default_factory=Counter)
    per_file: Counter = field(default_factory=Counter)
    checked: dict = field(default_factory=dict)  # what was read: documents and table rows

    def add(self, file: str, line: Optional[int], reason: str) -> None:
        self.per_file[file] += 1
        if self.per_file[file] > SHOWN_PER_FILE:
            self.hidden[file] += 1
        else:
            reason = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"
            self.shown.append(Problem(file, line, reason))

    def lines(self) -> list[str]:
        return [str(p) for p in self.shown] + [f"{f}: {n} more problems not listed" for f, n in self.hidden.items()]

    def __len__(self) -> int:
        return sum(self.per_file.values())


@dataclass
class ExpectedRow:
    """A table row the documents give: where its document is, and digests of its CSV cells and typed values."""
    order: int
    doc_line: int
    doc_offset: int
    csv_digest: bytes
    value_digest: bytes


@dataclass
class Expected:
    """What the documents say the tables and run.json must hold."""
    rows: dict = field(default_factory=lambda: {name: {} for name, _ in TABLE_NAMES})
    lines: int = 0
    doc_ids: set = field(default_factory=set)
    unchecked: set = field(default_factory=set)  # doc_ids of lines that do not validate: their rows are not compared


def validate_run(out_dir) -> Problems:
    """Every problem of a run folder (empty when it keeps its contract)."""
    out_dir = Path(out_dir)
    folder = current_folder(out_dir)  # resolved once
    problems = Problems()
    docs_path = folder / DOCS
    if not docs_path.is_file():
        problems.add(str(out_dir / DOCS), None, "missing")
        return problems
    expected = check_documents(docs_path, str(out_dir / DOCS), problems)
    with open(docs_path, "rb") as docs:
        for name, columns in TABLE_NAMES:
            for suffix in ("csv", "parquet"):
                path, shown = folder / f"{name}.{suffix}", str(out_dir / f"{name}.{suffix}")
                if not path.is_file():
                    problems.add(shown, None, "missing")
                    continue
                rows = _csv_rows(path, columns, shown, problems) if suffix == "csv" else \
                    _parquet_rows(path, columns, shown, problems)
                _compare_table(name, suffix, rows, expected.rows[name], expected.unchecked, docs, shown, problems)
    check_run_json(out_dir, folder, expected, problems)
    problems.checked = {"documents": expected.lines, **{name: len(rows) for name, rows in expected.rows.items()}}
    return problems


def _digest(values) -> bytes:
    return hashlib.blake2b(repr(tuple(values)).encode("utf-8"), digest_size=12).digest()


def _row_keys(name: str, rows: list[list], seen: Counter) -> Iterator[tuple]:
    """The key of each row of one table: passages by (doc_id, index), entities by (doc_id, passage, start, end,
    type), each with how many rows of that key came before (a duplicate's document repeats its original's)."""
    for row in rows:
        base = (row[0], row[1]) if name == "passages" else (row[0], row[1], row[4], row[5], row[3])
        key = (*map(str, base), seen[base])
        seen[base] += 1
        yield key


def _table_rows(doc: dict) -> dict:
    """A document's rows per table: (typed values, CSV cells), as the run writes them."""
    out = {}
    for (name, _), chunk in zip(TABLE_NAMES, table_chunks(doc)):
        values = [list(r) for r in zip(*chunk.columns)] if chunk.columns and chunk.columns[0] else []
        cells = list(csv.reader(io.StringIO(chunk.csv))) if chunk.csv else []
        out[name] = list(zip(values, cells))
    return out


def check_documents(path: Path, shown: str, problems: Problems) -> Expected:
    """Schema and offsets of every line of documents.jsonl, and the table rows the lines give."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    expected, seen = Expected(), {name: Counter() for name, _ in TABLE_NAMES}
    counters = Counter()
    with open(path, "rb") as fh:
        offset = 0
        for no, raw in enumerate(fh, 1):
            line_offset, offset = offset, offset + len(raw)
            if not raw.strip():
                problems.add(shown, no, "empty line")
                continue
            expected.lines += 1
            doc = _parse_line(raw, shown, no, problems)
            errors = [] if doc is None else sorted(validator.iter_errors(doc),
                                                   key=lambda e: list(map(str, e.absolute_path)))
            for err in errors:
                where = "/".join(map(str, err.absolute_path)) or "(document)"
                problems.add(shown, no, f"{where}: {err.message}")
            if doc is None or errors:
                # Its rows cannot be derived: the tables' rows of its doc_id (if it can be read) are left unchecked,
                # so that one bad line is reported once, on its line.
                found = DOC_ID.search(raw)
                if found:
                    expected.unchecked.add(found.group(1).decode())
                continue
            _check_offsets(doc, shown, no, problems)
            expected.doc_ids.add(doc["doc_id"])
            for name, rows in _table_rows(doc).items():
                for key, (values, cells) in zip(_row_keys(name, [v for v, _ in rows], seen[name]), rows):
                    expected.rows[name][key] = ExpectedRow(counters[name], no, line_offset, _digest(cells),
                                                           _digest(values))
                    counters[name] += 1
    return expected


def _parse_line(raw: bytes, shown: str, no: int, problems: Problems) -> Optional[dict]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        problems.add(shown, no, "not UTF-8 text")
        return None
    except json.JSONDecodeError as exc:
        problems.add(shown, no, f"invalid JSON ({exc.msg}, column {exc.colno})")
        return None
    except (RecursionError, ValueError) as exc:
        problems.add(shown, no, f"unreadable JSON ({type(exc).__name__})")
        return None
    if not isinstance(doc, dict):
        problems.add(shown, no, f"a line must be a JSON object, not {type(doc).__name__}")
        return None
    return doc


def _check_offsets(doc: dict, shown: str, no: int, problems: Problems) -> None:
    """What the schema cannot say: passages numbered in order, sentences and entities cut from their passage."""
    passages = doc["passages"]
    for i, p in enumerate(passages):
        if p["index"] != i:
            problems.add(shown, no, f"passages/{i}: index is {p['index']}, not its position {i}")
        for j, s in enumerate(p["sentences"]):
            if p["text"][s["start"]:s["end"]] != s["text"]:
                problems.add(shown, no, f"passages/{i}/sentences/{j}: text is not the passage's "
                                        f"[{s['start']}:{s['end']}]")
    for k, e in enumerate(doc["entities"]):
        if not 0 <= e["passage"] < len(passages):
            problems.add(shown, no, f"entities/{k}: passage {e['passage']} does not exist")
        elif passages[e["passage"]]["text"][e["start"]:e["end"]] != e["text"]:
            problems.add(shown, no, f"entities/{k}: text is not passage {e['passage']}'s [{e['start']}:{e['end']}]")


def _csv_rows(path: Path, columns: list[str], shown: str, problems: Problems) -> Iterator[tuple[int, list, list]]:
    """(line, row, digest source) of each CSV row after a header that must be `columns`."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != columns:
            problems.add(shown, 1, f"header is {header}, expected {columns}")
            return
        line = reader.line_num + 1
        for row in reader:
            yield line, row, row
            line = reader.line_num + 1


def _parquet_rows(path: Path, columns: list[str], shown: str, problems: Problems) -> Iterator[tuple[int, list, list]]:
    """(row number counted like a CSV line, row, typed values) of each Parquet row, if its columns are `columns`."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one problem
        problems.add(shown, None, f"unreadable Parquet ({type(exc).__name__}: {exc})")
        return
    names = pf.schema_arrow.names
    if names != columns:
        problems.add(shown, 1, f"columns are {names}, expected {columns}")
        return
    line = 2
    for batch in pf.iter_batches(batch_size=10_000):
        for rec in batch.to_pylist():
            row = [rec[c] for c in columns]
            yield line, row, row
            line += 1


def _compare_table(name: str, suffix: str, rows, expected: dict, unchecked: set, docs, shown: str,
                   problems: Problems) -> None:
    """Every row of one table file against the rows the documents give: none missing, none extra, none
    different, in the documents' order."""
    found, seen, last_order = set(), Counter(), -1
    for line, row, digest_source in rows:
        if len(row) < 6:
            problems.add(shown, line, f"row has {len(row)} cells")
            continue
        if row[0] in unchecked:
            continue
        key = next(_row_keys(name, [row], seen))
        exp = expected.get(key)
        if exp is None:
            problems.add(shown, line, f"{_describe(name, key)}: no such row in {DOCS}")
            continue
        found.add(key)
        digest = exp.csv_digest if suffix == "csv" else exp.value_digest
        if _digest(digest_source) != digest:
            problems.add(shown, line, _difference(name, suffix, key, row, exp, docs))
        if exp.order < last_order:
            problems.add(shown, line, f"{_describe(name, key)}: out of order ({DOCS}:{exp.doc_line})")
        last_order = max(last_order, exp.order)
    for key, exp in expected.items():
        if key not in found:
            # The line where it belongs (the header is line 1; no cell holds a line break: passages are lines).
            problems.add(shown, exp.order + 2, f"missing the row of {_describe(name, key)} ({DOCS}:{exp.doc_line})")


def _describe(name: str, key: tuple) -> str:
    if name == "passages":
        return f"doc_id {key[0]} passage {key[1]}"
    return f"doc_id {key[0]} entity {key[4]} at passage {key[1]} [{key[2]}:{key[3]}]"


def _difference(name: str, suffix: str, key: tuple, row: list, exp: ExpectedRow, docs) -> str:
    """Which cells of a row differ from what its document says (the document is read again, at its offset)."""
    docs.seek(exp.doc_offset)
    doc = json.loads(docs.readline().decode("utf-8"))
    columns = dict(TABLE_NAMES)[name]
    for values, cells in _table_rows(doc)[name]:
        want = cells if suffix == "csv" else values
        if next(_row_keys(name, [values], Counter()))[:-1] == key[:-1]:
            diffs = [f"{c} is {got!r}, not {w!r}" for c, got, w in zip(columns, row, want) if got != w]
            if len(row) != len(want):
                diffs.append(f"{len(row)} cells, not {len(want)}")
            return f"{_describe(name, key)}: {'; '.join(diffs) or 'differs'} ({DOCS}:{exp.doc_line})"
    return f"{_describe(name, key)}: differs from {DOCS}:{exp.doc_line}"


def _json_line(text_lines: list[str], needle: str, start: int = 0) -> Optional[int]:
    """The 1-based number of the first line from `start` holding `needle` (run.json puts each count and each
    listed input on its own line)."""
    for i in range(start, len(text_lines)):
        if needle in text_lines[i]:
            return i + 1
    return None


def check_run_json(out_dir: Path, folder: Path, expected: Expected, problems: Problems) -> None:
    """run.json: readable, its counts those of the inputs it lists and of documents.jsonl, its skipped and
    failed lists those inputs, its generation the published one, every document one of its inputs'."""
    path, shown = folder / "run.json", str(out_dir / "run.json")
    try:
        text = path.read_text(encoding="utf-8")
        run = json.loads(text)
    except FileNotFoundError:
        problems.add(shown, None, "missing")
        return
    except (OSError, ValueError) as exc:
        problems.add(shown, None, f"unreadable ({exc})")
        return
    lines = text.splitlines()
    generation = current_generation(out_dir)
    if generation is not None and run.get("generation") != generation:
        problems.add(shown, _json_line(lines, '"generation"'),
                     f"generation is {run.get('generation')!r}, but {out_dir / 'current'} points at {generation!r}")
    inputs = run.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        problems.add(shown, _json_line(lines, '"inputs"'), "inputs is not a list of objects")
        return
    _check_counts(run, inputs, expected, lines, shown, problems)
    _check_lists(run, inputs, lines, shown, problems)
    _check_doc_ids(inputs, expected, lines, shown, problems)


def _check_counts(run: dict, inputs: list, expected: Expected, lines: list[str], shown: str, problems) -> None:
    statuses = Counter(i.get("status") for i in inputs)
    for status in statuses.keys() - {"processed", "skipped", "failed"}:
        problems.add(shown, _json_line(lines, f'"status": {json.dumps(status)}'), f"unknown status {status!r}")
    counts = run.get("counts") if isinstance(run.get("counts"), dict) else {}
    truncated = run.get("truncated") if isinstance(run.get("truncated"), list) else []
    want = {"inputs": (len(inputs), "inputs are listed"),
            "processed": (statuses["processed"], "inputs are listed as processed"),
            "skipped": (statuses["skipped"], "inputs are listed as skipped"),
            "failed": (statuses["failed"], "inputs are listed as failed"),
            "truncated": (len(truncated), "inputs are listed as truncated"),
            "documents_written": (expected.lines, f"lines are in {DOCS}")}
    start = (_json_line(lines, '"counts"') or 1) - 1
    for key, (n, what) in want.items():
        if counts.get(key) != n:
            problems.add(shown, _json_line(lines, f'"{key}"', start) if key in counts else start + 1,
                         f"counts.{key} is {counts.get(key)!r}, but {n} {what}")


def _check_lists(run: dict, inputs: list, lines: list[str], shown: str, problems) -> None:
    """run.json's skipped and failed lists: the inputs of that status, in order."""
    for status in ("skipped", "failed"):
        listed = run.get(status)
        names = [i.get("input") for i in listed] if isinstance(listed, list) and all(
            isinstance(i, dict) for i in listed) else None
        want = [i.get("input") for i in inputs if i.get("status") == status]
        if names != want:
            extra = sorted(set(names or []) - set(want))[:3]
            missing = sorted(set(want) - set(names or []))[:3]
            detail = "; ".join(filter(None, [f"not {status} in inputs: {extra}" if extra else "",
                                            f"missing: {missing}" if missing else ""])) or "in another order"
            problems.add(shown, _json_line(lines, f'"{status}"'), f"the {status} list differs from the inputs "
                                                                   f"listed as {status} ({detail})")


def _check_doc_ids(inputs: list, expected: Expected, lines: list[str], shown: str, problems) -> None:
    """Every processed input's document is in documents.jsonl, and every document is some input's."""
    listed = {i.get("doc_id") for i in inputs if i.get("status") in ("processed", "skipped")}
    known = expected.doc_ids | expected.unchecked
    for i in inputs:
        if i.get("status") == "processed" and i.get("doc_id") not in known:
            problems.add(shown, _json_line(lines, json.dumps(i.get("input"), ensure_ascii=False)),
                         f"{i.get('input')}: processed, but its doc_id {i.get('doc_id')!r} is not in {DOCS}")
    for doc_id in sorted(expected.doc_ids - listed):
        problems.add(shown, None, f"{DOCS} holds doc_id {doc_id}, which no input lists")
