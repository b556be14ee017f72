"""Writers for a run's outputs: documents.jsonl, passages and entities as CSV and Parquet, run.json.
Every file is written to a temporary name and renamed, so a crash or a full disk leaves the previous
outputs intact. Export computes nothing the stages did not."""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.records import Document

SCHEMA_VERSION = "1.4.0"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
PASSAGE_COLUMNS = ["doc_id", "index", "kind", "heading", "text", "start", "end", "label", "secondary", "actor",
                   "score_achievement", "score_challenge", "score_recommendation", "score_background",
                   "title", "published_at", "source_path", "site"]
ENTITY_COLUMNS = ["doc_id", "passage", "text", "type", "start", "end", "canonical", "source", "value", "unit", "approx",
                  "bound", "low", "date_iso", "date_precision"]

TABLES = (("passages", PASSAGE_COLUMNS), ("entities", ENTITY_COLUMNS))
# The columns that are not strings (schema.json describes them); the Parquet files carry these types.
COLUMN_TYPES = {
    "passages": {"index": "int", "start": "int", "end": "int", "score_achievement": "float",
                 "score_challenge": "float", "score_recommendation": "float", "score_background": "float"},
    "entities": {"passage": "int", "start": "int", "end": "int", "value": "float", "low": "float", "approx": "bool"},
}
_FLOAT_COLUMNS = {name: tuple(COLUMN_TYPES[name].get(c) == "float" for c in cols) for name, cols in TABLES}

class ExportError(OSError):
    """An output could not be written (disk full, permission denied); the message names the file."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def document_json(doc: Document) -> dict:
    return doc.to_dict()


def dumps(doc: Document) -> str:
    return dumps_dict(document_json(doc))


def dumps_dict(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def validate(record: dict) -> None:
    import jsonschema

    jsonschema.validate(record, schema(), cls=jsonschema.Draft202012Validator)


def _export_error(path, exc: OSError) -> ExportError:
    return ExportError(f"{path}: cannot write output: {exc.strerror or exc}")


def write_synced(path: str, shown: Path, write) -> None:
    """Call write(fh) on the text file `path` and fsync it; an OSError becomes an ExportError naming `shown`
    (the output's public name). The staged sets of export and of a run's generation both write this way."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _export_error(shown, exc) from None


def atomic_write(path: Path, write) -> None:
    """Call write(fh) on a temp file beside `path`, fsync, then rename over `path`."""
    with StagedOutputs(Path(path).parent) as staged:
        staged.write_text(Path(path).name, write)


def _new_temp_file(folder: Path, name: str) -> str:
    """A new empty file `.NAME.XXXXXXXX.tmp` in `folder`, with the mode the umask gives (0644 under the usual
    022), as the final file would get; tempfile.mkstemp's files are private (0600)."""
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(tmp)


class StagedOutputs:
    """A set of outputs written under temporary names in one folder and renamed over the final names together
    at `commit()`, so a crash or a full disk while writing leaves every previous output as it was. Leaving the
    `with` block commits; an exception discards the temporary files."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.temps: dict[str, str] = {}  # final name → temp path, in the order the files were staged

    def temp(self, name: str) -> str:
        """A fresh temporary path for output `name` (created empty)."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            tmp = _new_temp_file(self.out_dir, name)
        except OSError as exc:
            raise _export_error(self.out_dir / name, exc) from None
        self.temps[name] = tmp
        return tmp

    def write_text(self, name: str, write) -> None:
        """Call write(fh) on the staged text file for `name` and fsync it."""
        write_synced(self.temp(name), self.out_dir / name, write)

    def commit(self) -> None:
        for name, tmp in list(self.temps.items()):
            try:
                os.replace(tmp, self.out_dir / name)
            except OSError as exc:
                raise _export_error(self.out_dir / name, exc) from None
            del self.temps[name]

    def discard(self) -> None:
        for tmp in self.temps.values():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self.temps.clear()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.commit()
            finally:
                self.discard()
        else:
            self.discard()
        return False


def passage_values(doc: dict) -> list[list]:
    """One document's rows of the passages table, as lists in PASSAGE_COLUMNS order."""
    title, published, source = doc.get("title"), doc.get("published_at"), doc.get("source") or {}
    path, site = source.get("path"), source.get("site")
    rows = []
    for p in doc["passages"]:
        scores = p.get("scores") or {}
        rows.append([doc["doc_id"], p["index"], p.get("kind"), p.get("heading"), p["text"], p["start"], p["end"],
                     p["label"], p.get("secondary"), p.get("actor"), scores.get("achievement"),
                     scores.get("challenge"), scores.get("recommendation"), scores.get("background"), title,
                     published, path, site])
    return rows


_ENTITY_FIELDS = ENTITY_COLUMNS[1:]  # after doc_id, the entity's own fields under the same names


def entity_values(doc: dict) -> list[list]:
    """One document's rows of the entities table, as lists in ENTITY_COLUMNS order."""
    doc_id = doc["doc_id"]
    return [[doc_id, *(e.get(k) for k in _ENTITY_FIELDS)] for e in doc["entities"]]


@dataclass
class TableChunk:
    """One document's part of a table: its CSV lines and its values column by column (for Arrow)."""
    csv: str
    columns: list[list]


def _csv_column(values: tuple, is_float: bool) -> list[str]:
    # What pandas' to_csv writes for the column's dtype: NaN/None as "", float64 as numpy's shortest repr (the
    # same digits as Python's repr), other values as str. tests/test_export.py checks this against pandas.
    if is_float:
        return ["" if v is None else repr(float(v)) for v in values]
    return [v if type(v) is str else ("" if v is None else str(v)) for v in values]


def _table_chunk(rows: list[list], float_columns: tuple[bool, ...]) -> TableChunk:
    if not rows:
        return TableChunk("", [[] for _ in float_columns])
    columns = list(zip(*rows))
    buf = io.StringIO()
    # The dialect pandas' to_csv uses (csv.writer, QUOTE_MINIMAL, "\n" line ends on POSIX).
    csv.writer(buf, lineterminator="\n").writerows(
        zip(*(_csv_column(col, f) for col, f in zip(columns, float_columns))))
    return TableChunk(buf.getvalue(), [list(col) for col in columns])


def table_chunks(doc: dict) -> tuple[TableChunk, TableChunk]:
    """One document's parts of the passages and entities tables (TableWriter.add_chunks). A run's workers make
    them, so the main process only joins CSV text and column lists."""
    return (_table_chunk(passage_values(doc), _FLOAT_COLUMNS["passages"]),
            _table_chunk(entity_values(doc), _FLOAT_COLUMNS["entities"]))


def iter_documents(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


class TableWriter:
    """The passages and entities tables (CSV and Parquet), written batch by batch into a staged set: documents
    go in one at a time (`add`, or `add_chunks` with the parts a worker made), every `batch` documents become one
    CSV chunk and one Parquet row group, so memory does not grow with the run. `close` finishes the files (the
    caller commits the staged set)."""

    def __init__(self, staged: "StagedOutputs", batch: int = 200):
        import pyarrow.parquet as pq

        self.batch, self.out_dir = batch, staged.out_dir
        self.buffer: list[tuple[list[str], list[list]]] = []  # per table: CSV parts, columns not yet written
        self.pending = 0  # documents in the buffer
        self.header = True
        self.tables = []  # (name, columns, Arrow schema, CSV file, Parquet writer), in table_chunks' order
        try:
            for name, cols in TABLES:
                csv_tmp, pq_tmp = staged.temp(f"{name}.csv"), staged.temp(f"{name}.parquet")
                schema_pa = _arrow_schema(name)
                fh = open(csv_tmp, "w", encoding="utf-8", newline="")
                self.tables.append((name, cols, schema_pa, fh, pq.ParquetWriter(pq_tmp, schema_pa)))
        except OSError as exc:
            self.abort()
            raise _export_error(self.out_dir / name, exc) from None

    def add(self, doc: dict) -> None:
        # The documents' table parts are kept, not the documents (a run holds a batch of them while its workers
        # are at their peak memory).
        self.add_chunks(table_chunks(doc))

    def add_chunks(self, chunks: Iterable[TableChunk]) -> None:
        """One document's parts, per table in the order of `tables` (passages, entities: table_chunks)."""
        if not self.buffer:
            self.buffer = [([], [[] for _ in cols]) for _, cols, *_ in self.tables]
        for (parts, columns), chunk in zip(self.buffer, chunks):
            parts.append(chunk.csv)
            for column, values in zip(columns, chunk.columns):
                column.extend(values)
        self.pending += 1
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        import pyarrow as pa

        for (parts, columns), (name, cols, schema_pa, fh, writer) in zip(self.buffer, self.tables):
            try:
                if self.header:
                    fh.write(_csv_header(cols))
                fh.write("".join(parts))
                writer.write_table(pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema_pa)],
                                                        schema=schema_pa))
            except OSError as exc:
                raise _export_error(self.out_dir / name, exc) from None
        self.header = False
        self.buffer, self.pending = [], 0

    def close(self) -> None:
        self.flush()
        for name, cols, _, fh, writer in self.tables:
            try:
                if self.header:
                    fh.write(_csv_header(cols))
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                writer.close()
            except OSError as exc:
                raise _export_error(self.out_dir / name, exc) from None
        self.tables = []

    def abort(self) -> None:
        """Close the files without finishing them (the staged set is being discarded)."""
        for _, _, _, fh, writer in self.tables:
            for closer in (fh.close, writer.close):
                try:
                    closer()
                except Exception:  # noqa: BLE001 - the files are discarded anyway
                    pass
        self.tables = []


def _csv_header(columns: list[str]) -> str:
    return ",".join(columns) + "\n"  # the column names need no quoting


def write_tables_streaming(docs_path: Path, out_dir: Path, batch: int = 200, *,
                           staged: "StagedOutputs | None" = None) -> None:
    """passages and entities tables (CSV and Parquet) from a documents.jsonl file, in one pass and in batches:
    memory does not grow with the run. With `staged`, the files join that set (the caller commits); else they
    are committed here."""
    if staged is None:
        with StagedOutputs(out_dir) as own:
            return write_tables_streaming(docs_path, out_dir, batch, staged=own)
    tables = TableWriter(staged, batch)
    try:
        for doc in iter_documents(docs_path):
            tables.add(doc)
        tables.close()
    except BaseException:
        tables.abort()
        raise


def _arrow_schema(name: str):
    import pyarrow as pa

    arrow = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(c, arrow[COLUMN_TYPES[name].get(c, "string")]) for c in dict(TABLES)[name]])


def write_documents(lines: Iterable[str], path: Path, *, staged: "StagedOutputs | None" = None) -> int:
    """documents.jsonl from JSON lines; returns the number of lines. With `staged`, the caller commits."""
    count = 0

    def write(fh):
        nonlocal count
        for line in lines:
            fh.write(line)
            fh.write("\n")
            count += 1

    if staged is None:
        atomic_write(path, write)
    else:
        staged.write_text(Path(path).name, write)
    return count


def write_json(obj: dict, path: Path, *, staged: "StagedOutputs | None" = None) -> None:
    """A JSON object, indented. Values that are iterators (generators) are streamed as arrays, one compact item
    per line, so a run.json listing a million inputs is written without holding them."""

    def write(fh):
        fh.write("{")
        for i, (key, value) in enumerate(obj.items()):
            fh.write(("," if i else "") + "\n  " + json.dumps(key) + ": ")
            if isinstance(value, Iterator):
                fh.write("[")
                n = 0
                for item in value:
                    fh.write(("," if n else "") + "\n    " + json.dumps(item, ensure_ascii=False))
                    n += 1
                fh.write("\n  ]" if n else "]")
            else:
                text = json.dumps(value, ensure_ascii=False, indent=2)
                fh.write(text.replace("\n", "\n  "))
        fh.write("\n}\n")

    if staged is None:
        atomic_write(path, write)
    else:
        staged.write_text(Path(path).name, write)
