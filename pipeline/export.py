"""Writers for a run's outputs: documents.jsonl, passages and entities as CSV and Parquet, run.json.
Every file is written to a temporary name and renamed, so a crash or a full disk leaves the previous
outputs intact. Export computes nothing the stages did not."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.records import Document

SCHEMA_VERSION = "1.0.0"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
PASSAGE_COLUMNS = ["doc_id", "index", "kind", "heading", "text", "start", "end", "label", "secondary", "actor",
                   "score_achievement", "score_challenge", "score_recommendation", "score_background",
                   "title", "published_at", "source_path", "site"]
ENTITY_COLUMNS = ["doc_id", "passage", "text", "type", "start", "end", "canonical", "source", "value", "unit", "approx",
                  "bound", "date_iso", "date_precision"]


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


def atomic_write(path: Path, write) -> None:
    """Call write(fh) on a temp file beside `path`, fsync, then rename over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write output: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ExportError(f"{path}: cannot write output: {exc.strerror or exc}") from None


def passage_rows(docs: Iterable[dict]) -> Iterator[dict]:
    for d in docs:
        for p in d["passages"]:
            scores = p.get("scores") or {}
            yield {"doc_id": d["doc_id"], "index": p["index"], "kind": p.get("kind"), "heading": p.get("heading"),
                   "text": p["text"], "start": p["start"], "end": p["end"], "label": p["label"],
                   "secondary": p.get("secondary"), "actor": p.get("actor"),
                   **{f"score_{k}": scores.get(k) for k in ("achievement", "challenge", "recommendation", "background")},
                   "title": d.get("title"), "published_at": d.get("published_at"),
                   "source_path": (d.get("source") or {}).get("path"), "site": (d.get("source") or {}).get("site")}


def entity_rows(docs: Iterable[dict]) -> Iterator[dict]:
    for d in docs:
        for e in d["entities"]:
            yield {"doc_id": d["doc_id"], **{k: e.get(k) for k in ENTITY_COLUMNS if k != "doc_id"}}


def write_tables(docs: list[dict], out_dir: Path) -> None:
    """passages.csv/.parquet and entities.csv/.parquet from the documents' dicts."""
    import pandas as pd

    for name, rows, cols in (("passages", passage_rows(docs), PASSAGE_COLUMNS), ("entities", entity_rows(docs), ENTITY_COLUMNS)):
        frame = pd.DataFrame(list(rows), columns=cols)
        atomic_write(out_dir / f"{name}.csv", lambda fh, f=frame: f.to_csv(fh, index=False))
        _atomic_parquet(frame, out_dir / f"{name}.parquet")


def iter_documents(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_tables_streaming(docs_path: Path, out_dir: Path, batch: int = 500) -> None:
    """passages and entities tables from documents.jsonl, in batches: memory does not grow with the run."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, row_fn, cols in (("passages", passage_rows, PASSAGE_COLUMNS), ("entities", entity_rows, ENTITY_COLUMNS)):
        csv_path, pq_path = out_dir / f"{name}.csv", out_dir / f"{name}.parquet"
        try:
            fd, csv_tmp = tempfile.mkstemp(prefix=f".{csv_path.name}.", dir=out_dir)
            os.close(fd)
            fd, pq_tmp = tempfile.mkstemp(prefix=f".{pq_path.name}.", dir=out_dir)
            os.close(fd)
            writer = None
            schema_pa = _arrow_schema(name)
            with open(csv_tmp, "w", encoding="utf-8", newline="") as fh:
                header = True
                docs = iter_documents(docs_path)
                while True:
                    chunk = [d for _, d in zip(range(batch), docs)]
                    if not chunk:
                        break
                    frame = pd.DataFrame(list(row_fn(chunk)), columns=cols)
                    frame.to_csv(fh, index=False, header=header)
                    header = False
                    table = pa.Table.from_pandas(frame, schema=schema_pa, preserve_index=False)
                    writer = writer or pq.ParquetWriter(pq_tmp, schema_pa)
                    writer.write_table(table)
                if header:
                    pd.DataFrame(columns=cols).to_csv(fh, index=False)
            if writer is None:
                writer = pq.ParquetWriter(pq_tmp, schema_pa)
            writer.close()
            os.replace(csv_tmp, csv_path)
            os.replace(pq_tmp, pq_path)
        except OSError as exc:
            for tmp in (csv_tmp, pq_tmp):
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            raise ExportError(f"{out_dir / name}: cannot write output: {exc.strerror or exc}") from None


def _arrow_schema(name: str):
    import pyarrow as pa

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    if name == "passages":
        types = {"index": i, "start": i, "end": i, "score_achievement": f, "score_challenge": f,
                 "score_recommendation": f, "score_background": f}
        return pa.schema([(c, types.get(c, s)) for c in PASSAGE_COLUMNS])
    types = {"passage": i, "start": i, "end": i, "value": f, "approx": b}
    return pa.schema([(c, types.get(c, s)) for c in ENTITY_COLUMNS])


def _atomic_parquet(frame, path: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write output: {exc.strerror or exc}") from None


def write_documents(lines: Iterable[str], path: Path) -> int:
    count = 0

    def write(fh):
        nonlocal count
        for line in lines:
            fh.write(line)
            fh.write("\n")
            count += 1

    atomic_write(path, write)
    return count


def write_json(obj: dict, path: Path) -> None:
    atomic_write(path, lambda fh: json.dump(obj, fh, ensure_ascii=False, indent=2))
