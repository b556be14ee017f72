"""A run's outputs, made from the run store: documents.jsonl, the passages and entities tables (CSV, Parquet) and
run.json, written into one generation folder (outdir.Generation) and published together."""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

from pipeline.config import MODELS_DIR, Config
from pipeline.outdir import Generation
from pipeline.records import InputOutcome, RunSummary
from pipeline.store import RunStore

log = logging.getLogger(__name__)

DOCS_NAME = "documents.jsonl"
OUTPUT_NAMES = (DOCS_NAME, "passages.csv", "passages.parquet", "entities.csv", "entities.parquet", "run.json")


def model_versions() -> dict:
    """Format version, training time and checksums of each shipped model (None when absent)."""
    out = {}
    for name in ("classifier", "ner"):
        meta_path = MODELS_DIR / name / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            out[name] = {"format_version": meta.get("format_version"), "trained_at": meta.get("trained_at"),
                         "sha256": meta.get("sha256")}
        else:
            out[name] = None
    return out


def output_line(store: RunStore, status: str, duplicate_of: Optional[str], doc) -> tuple[Optional[str], Optional[dict]]:
    """A unit's line in documents.jsonl (None when it has none) and, for a duplicate, the original it was built
    from. A processed unit's line is its document; a near-duplicate's is its original's document with its own
    source, title and removed lines, and duplicate_of."""
    from pipeline.export import dumps_dict

    if status == "processed" and doc:
        return (doc if isinstance(doc, str) else dumps_dict(doc)), None
    if status == "skipped" and duplicate_of and doc:
        original = store.doc_of(duplicate_of)
        if original:
            out_doc = dict(original)
            out_doc.update(json.loads(doc) if isinstance(doc, str) else doc)
            out_doc["duplicate_of"] = original["doc_id"]
            return dumps_dict(out_doc), original
    return None, None


def quietly(cleanup, *args) -> None:
    """Run a clean-up step while an error unwinds: its own failure is logged, never raised, so that the error
    that stopped the run (which names its file) is the one reported."""
    try:
        cleanup(*args)
    except Exception as exc:  # noqa: BLE001
        log.debug("clean-up %s failed: %s", getattr(cleanup, "__qualname__", cleanup), exc)


class StreamedOutputs:
    """documents.jsonl and the passages/entities tables, written while the batch goes on: each unit's line as it
    is committed (in input order), so that the main process turns documents into tables while the workers
    compute, not in one serial pass after the last unit. The files are published with run.json by
    write_outputs. Any error here only gives the streaming up: write_outputs then writes every file from the
    store (and reports the error if it recurs). So does a duplicate whose line was written from an original that
    this run re-processed afterwards (the end-of-run files take the final original)."""

    def __init__(self, out_dir: Path, batch: int = 200):
        from pipeline.export import TableWriter

        self.staged = Generation(out_dir)
        self.lines = 0
        self.originals: dict[str, str] = {}  # key of an original → the doc_id its duplicates' lines were built from
        self.failed: Optional[str] = None
        self.docs = self.tables = None
        try:
            self.docs = open(self.staged.temp(DOCS_NAME), "w", encoding="utf-8", newline="")
            self.tables = TableWriter(self.staged, batch)
        except OSError as exc:
            self.give_up(exc)

    def add(self, line: str, chunks: Optional[tuple] = None) -> None:
        """A document's line, and its table parts when the worker made them (else they come from the line)."""
        if self.failed is not None:
            return
        try:
            self.docs.write(line)
            self.docs.write("\n")
            if chunks is None:
                self.tables.add(json.loads(line))
            else:
                self.tables.add_chunks(chunks)
            self.lines += 1
        except Exception as exc:  # noqa: BLE001 - write_outputs redoes the files and reports a lasting error
            self.give_up(exc)

    def add_unit(self, store: RunStore, status: str, duplicate_of: Optional[str], doc, chunks=None) -> None:
        """A committed unit's line, if it has one."""
        if self.failed is not None:
            return
        line, original = output_line(store, status, duplicate_of, doc)
        if line is not None:
            self.add(line, chunks)
        if original is not None:
            self.originals[duplicate_of] = original["doc_id"]

    def give_up(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = f"{type(exc).__name__}: {exc}"
            log.debug("streamed outputs given up (%s); writing them after the run", self.failed)
            self.discard()

    def finish(self, store: RunStore) -> bool:
        """Close the files; True when they can be published as this run's outputs."""
        if self.failed is None:
            changed = [k for k, doc_id in self.originals.items() if store.doc_id_of(k) != doc_id]
            if changed:
                self.give_up(RuntimeError(f"{len(changed)} originals re-processed after their duplicates"))
        if self.failed is not None:
            return False
        try:
            self.docs.flush()
            os.fsync(self.docs.fileno())
            self.docs.close()
            self.tables.close()
        except Exception as exc:  # noqa: BLE001
            self.give_up(exc)
            return False
        return True

    def discard(self) -> None:
        """Drop the files. Never raises (closing a file on a full disk can): it runs while an error unwinds."""
        if self.docs is not None:
            quietly(self.docs.close)
        if self.tables is not None:
            quietly(self.tables.abort)
        self.staged.discard()


@dataclass
class RunInfo:
    """What run.json says about the run besides its inputs."""
    run_id: str
    config: Config
    started: float
    counts: dict  # done this run: processed, skipped, failed, reused
    workers: int
    executor: str
    argv: Optional[list[str]]


class Tally:
    """The outcomes of a run's units (from the store, in input order) and their sums, gathered as the lines of
    documents.jsonl are made."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.outcomes: list[InputOutcome] = []
        self.ingest_seconds = self.analyse_seconds = 0.0
        self.chars = 0
        self.truncated: list[dict] = []  # {"input", "truncated"} of the units a limit cut

    def lines(self, build: bool = True) -> Iterator[str]:
        """Each unit's documents.jsonl line, if it has one (with `build` False, only the outcomes are gathered)."""
        for key, status, reason, doc_id, dup, doc_json, chash, s_in, s_an, n_chars, cut in self.store.rows_for_run(
                self.run_id):
            if cut:
                self.truncated.append({"input": key, "truncated": cut})
            self.ingest_seconds += s_in or 0.0
            self.analyse_seconds += s_an or 0.0
            self.chars += n_chars or 0
            line = None
            if build:
                line, original = output_line(self.store, status, dup, doc_json)
                if original is not None:
                    doc_id = original["doc_id"]
            elif status == "skipped" and dup and doc_json:
                doc_id = self.store.doc_id_of(dup) or doc_id
            self.outcomes.append(InputOutcome(input=key, status=status, reason=reason, doc_id=doc_id,
                                              duplicate_of=dup, content_hash=chash,
                                              seconds=round((s_in or 0) + (s_an or 0), 4)))
            if line is not None:
                yield line

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def listed(self, status: str) -> Iterator[dict]:
        return ({"input": o.input, "reason": o.reason,
                 **({"duplicate_of": o.duplicate_of} if status == "skipped" else {})}
                for o in self.outcomes if o.status == status)


def run_json(info: RunInfo, tally: Tally, generation: str, documents: int, elapsed: float) -> dict:
    from pipeline.core import PIPELINE_VERSION
    from pipeline.export import SCHEMA_VERSION

    done = info.counts
    return {
        "run_id": info.run_id, "generation": generation, "argv": info.argv, "schema_version": SCHEMA_VERSION,
        "pipeline_version": PIPELINE_VERSION, "config_version": info.config.version,
        "config_file": info.config.source, "models": model_versions(), "executor": info.executor,
        "workers": info.workers,
        "counts": {"inputs": len(tally.outcomes), "processed": tally.count("processed"),
                   "skipped": tally.count("skipped"), "failed": tally.count("failed"), "documents_written": documents,
                   "done_this_run": done["processed"] + done["skipped"] + done["failed"],
                   "reused_from_store": done["reused"], "truncated": len(tally.truncated)},
        "timings": {"wall_seconds": round(elapsed, 3), "ingest_cpu_seconds": round(tally.ingest_seconds, 3),
                    "analyse_cpu_seconds": round(tally.analyse_seconds, 3), "body_chars": tally.chars},
        "skipped": tally.listed("skipped"),
        "failed": tally.listed("failed"),
        "truncated": iter(tally.truncated),
        "inputs": (asdict(o) for o in tally.outcomes),
    }


def write_outputs(store: RunStore, out_dir: Path, info: RunInfo,
                  streamed: Optional[StreamedOutputs] = None) -> RunSummary:
    """documents.jsonl, the passages and entities tables and run.json, from the store's rows of this run in input
    order (or, with `streamed`, the files already written during the run, and run.json). All of them go into a
    fresh generation folder published at the end in one step (outdir.Generation): a failure leaves the previous
    set."""
    from pipeline.export import write_documents, write_json, write_tables_streaming

    tally = Tally(store, info.run_id)
    with (streamed.staged if streamed is not None else Generation(out_dir)) as staged:
        if streamed is not None:
            for _ in tally.lines(build=False):
                pass
            documents = streamed.lines
        else:
            documents = write_documents(tally.lines(), out_dir / DOCS_NAME, staged=staged)
            write_tables_streaming(Path(staged.temps[DOCS_NAME]), out_dir, staged=staged)
        elapsed = time.time() - info.started
        write_json(run_json(info, tally, staged.gen_id, documents, elapsed), out_dir / "run.json", staged=staged)
    return RunSummary(out_dir=str(out_dir), processed=tally.count("processed"), skipped=tally.count("skipped"),
                      failed=tally.count("failed"), outcomes=tally.outcomes, seconds=round(elapsed, 3),
                      reused=info.counts["reused"])
