"""Batch runs: input discovery, the run store, workers (local processes or Dask), progress, outputs.

Work is done in chunks of units in discovery order. For each chunk: ingest in parallel, near-duplicate check
in the parent (in order, so the first copy wins), analyse the non-duplicates in parallel, commit each unit to
the store. Outputs are then written from the store, atomically. Memory is bounded by the chunk size."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from pipeline.config import MODELS_DIR, Settings, load_settings
from pipeline.inputs import Unit, expand
from pipeline.records import InputOutcome, RunSummary
from pipeline.store import RunStore

log = logging.getLogger(__name__)
STORE_NAME = "run.sqlite"


class DocTimeout(Exception):
    pass


def _fingerprint(unit: Unit) -> str:
    if unit.content is not None:
        data = unit.content if isinstance(unit.content, bytes) else unit.content.encode("utf-8", "replace")
        return "sha1:" + hashlib.sha1(data).hexdigest()
    try:
        st = os.stat(unit.path)
        return f"stat:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


# -- work done in workers ---------------------------------------------------------------------------------

_WORKER_SETTINGS: dict = {}


def _settings_for(config_file: Optional[str]) -> Settings:
    s = _WORKER_SETTINGS.get(config_file)
    if s is None:
        s = _WORKER_SETTINGS[config_file] = load_settings(config_file)
    return s


def worker_init(config_file: Optional[str]) -> None:
    """Load models once per worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = _settings_for(config_file)
    from pipeline.core import _stages

    _stages(settings)


class _Alarm:
    def __init__(self, seconds: int):
        self.seconds = int(seconds)

    def _raise(self, *_):
        raise DocTimeout(f"timed out after {self.seconds}s (limits.doc_timeout)")

    def __enter__(self):
        self.ok = self.seconds > 0 and hasattr(signal, "SIGALRM")
        try:
            if self.ok:
                self.old = signal.signal(signal.SIGALRM, self._raise)
                signal.alarm(self.seconds)
        except ValueError:  # not in the main thread (e.g. a threaded Dask worker): no alarm
            self.ok = False
        return self

    def __exit__(self, *exc):
        if self.ok:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.old)
        return False


def ingest_unit(args: tuple) -> dict:
    """Phase 1 in a worker: a unit → its CleanDocument (as a dict) and MinHash, or a failure."""
    unit, config_file = args
    from pipeline.ingest import IngestError, ingest
    from pipeline.ingest.dedup import signature

    settings = _settings_for(config_file)
    started = time.perf_counter()
    try:
        with _Alarm(settings["limits"]["doc_timeout"]):
            source = unit.content if unit.content is not None else Path(unit.path)
            clean = ingest(source, name=unit.path if unit.content is None else unit.key, url=unit.url, kind=unit.kind,
                           settings=settings)
            if unit.content is not None:
                clean.source.path = unit.key
            dd = settings["dedup"]
            sig = signature(clean.body, num_perm=dd["num_perm"], k=dd["shingle_chars"]) if dd["enabled"] else None
    except IngestError as exc:
        return {"key": unit.key, "status": "failed" if not exc.reason.startswith("not a Chinese") else "skipped",
                "reason": exc.reason, "seconds": time.perf_counter() - started}
    except DocTimeout as exc:
        return {"key": unit.key, "status": "failed", "reason": str(exc), "seconds": time.perf_counter() - started}
    except (MemoryError, RecursionError, ValueError, UnicodeError, OSError) as exc:
        return {"key": unit.key, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300],
                "seconds": time.perf_counter() - started}
    return {"key": unit.key, "status": "ok", "clean": clean, "minhash": None if sig is None else sig.tobytes(),
            "seconds": time.perf_counter() - started}


def analyse_unit(args: tuple) -> dict:
    """Phase 2 in a worker: CleanDocument → Document dict."""
    key, clean, config_file = args
    from pipeline.core import analyse

    settings = _settings_for(config_file)
    started = time.perf_counter()
    try:
        with _Alarm(settings["limits"]["doc_timeout"]):
            doc = analyse(clean, settings)
    except DocTimeout as exc:
        return {"key": key, "status": "failed", "reason": str(exc), "seconds": time.perf_counter() - started}
    except (MemoryError, RecursionError, ValueError) as exc:
        return {"key": key, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300],
                "seconds": time.perf_counter() - started}
    return {"key": key, "status": "processed", "doc": doc.to_dict(), "seconds": time.perf_counter() - started}


# -- executors ----------------------------------------------------------------------------------------------

class LocalExecutor:
    """In-process for one worker (no pickling), a process pool otherwise."""

    def __init__(self, workers: int, config_file: Optional[str]):
        self.workers = workers
        self.config_file = config_file
        self.pool = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_init, initargs=(config_file,))

    def map(self, fn: Callable, items: Sequence) -> list:
        if self.pool is None:
            return [fn(x) for x in items]
        return list(self.pool.map(fn, items, chunksize=max(1, len(items) // (self.workers * 4) or 1)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """The same functions on a Dask distributed cluster. Each worker loads the models once (cached getters)."""

    def __init__(self, scheduler: Optional[str], config_file: Optional[str]):
        from distributed import Client

        self.client = Client(scheduler) if scheduler else Client(processes=True, dashboard_address=None)
        self.config_file = config_file

    def map(self, fn: Callable, items: Sequence) -> list:
        futures = self.client.map(fn, list(items), pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()


# -- the batch ----------------------------------------------------------------------------------------------

def _chunks(it: Iterable, n: int):
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def run(inputs: Iterable[str], out_dir, *, config: Optional[str] = None, workers: Optional[int] = None,
        force: bool = False, executor: str = "local", scheduler: Optional[str] = None, progress: bool = False,
        strict: bool = False, argv: Optional[list[str]] = None, chunk: int = 64) -> RunSummary:
    """Process a batch into out_dir. See the module docstring; returns the RunSummary also written to run.json."""
    from pipeline.ingest.dedup import DuplicateIndex

    settings = load_settings(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(out_dir / STORE_NAME)
    run_id = uuid.uuid4().hex[:12]
    store.start_run(run_id, argv or [])
    started = time.time()
    workers = workers if workers is not None else (settings["run"]["workers"] or os.cpu_count() or 1)
    dd = settings["dedup"]
    index = DuplicateIndex(num_perm=dd["num_perm"], threshold=dd["threshold"]) if dd["enabled"] else None
    if index is not None and not force:
        for key, blob in store.signatures():
            index.check_and_add(key, np.frombuffer(blob, dtype=np.uint64))
    ex = DaskExecutor(scheduler, config) if executor == "dask" else LocalExecutor(workers, config)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="doc", desc="policyminer", file=sys.stderr, dynamic_ncols=True)
    counts = {"processed": 0, "skipped": 0, "failed": 0, "reused": 0}
    seq = 0
    try:
        for units in _chunks(expand(inputs), chunk):
            todo = []
            for unit in units:
                seq += 1
                fp = _fingerprint(unit)
                if unit.error:
                    store.put(unit.key, fingerprint=fp, status="failed", reason=unit.error, run_id=run_id, seq=seq)
                    counts["failed"] += 1
                    log.error("%s: %s", unit.key, unit.error)
                    continue
                row = None if force else store.get(unit.key)
                if row is not None and row["fingerprint"] == fp and fp != "missing":
                    store.mark_seen(unit.key, run_id, seq)
                    counts["reused"] += 1
                    continue
                todo.append((unit, fp, seq))
            if not todo:
                if bar:
                    bar.update(len(units))
                continue
            ingested = ex.map(ingest_unit, [(u, config) for u, _, _ in todo])
            to_analyse = []
            meta = {}
            for (unit, fp, s), res in zip(todo, ingested):
                meta[unit.key] = (fp, s, res)
                if res["status"] != "ok":
                    store.put(unit.key, fingerprint=fp, status=res["status"], reason=res["reason"], run_id=run_id,
                              seq=s, seconds_ingest=res["seconds"])
                    counts[res["status"]] += 1
                    log.error("%s: %s", unit.key, res["reason"])
                    continue
                clean = res["clean"]
                dup = index.check_and_add(unit.key, np.frombuffer(res["minhash"], dtype=np.uint64)) if index else None
                if dup:
                    part = {"source": asdict(clean.source), "title": clean.title, "title_raw": clean.title_raw,
                            "title_restored": clean.title_restored, "published_at": clean.published_at,
                            "removed": [asdict(r) for r in clean.removed], "author": clean.author,
                            "publisher": clean.publisher}
                    store.put(unit.key, fingerprint=fp, status="skipped", reason=f"near-duplicate of {dup}",
                              duplicate_of=dup, content_hash=clean.content_hash, doc=part, run_id=run_id, seq=s,
                              seconds_ingest=res["seconds"], chars=len(clean.body))
                    counts["skipped"] += 1
                    continue
                to_analyse.append((unit.key, clean, config))
            analysed = ex.map(analyse_unit, to_analyse) if to_analyse else []
            for (key, clean, _), res in zip(to_analyse, analysed):
                fp, s, ires = meta[key]
                if res["status"] != "processed":
                    store.put(key, fingerprint=fp, status="failed", reason=res["reason"], run_id=run_id, seq=s,
                              seconds_ingest=ires["seconds"], seconds_analyse=res["seconds"])
                    counts["failed"] += 1
                    continue
                store.put(key, fingerprint=fp, status="processed", content_hash=clean.content_hash,
                          doc_id=res["doc"]["doc_id"], doc=res["doc"], minhash=ires["minhash"], run_id=run_id, seq=s,
                          seconds_ingest=ires["seconds"], seconds_analyse=res["seconds"], chars=len(clean.body))
                counts["processed"] += 1
            if bar:
                bar.update(len(units))
                bar.set_postfix(failed=counts["failed"], skipped=counts["skipped"])
    finally:
        ex.close()
        if bar:
            bar.close()
    summary = write_outputs(store, run_id, out_dir, settings, started=started, counts=counts, workers=workers,
                            executor=executor, argv=argv)
    store.finish_run(run_id, {k: v for k, v in asdict(summary).items() if k != "outcomes"})
    store.close()
    return summary


def _model_versions() -> dict:
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


def write_outputs(store: RunStore, run_id: str, out_dir: Path, settings: Settings, *, started: float, counts: dict,
                  workers: int, executor: str, argv: Optional[list[str]]) -> RunSummary:
    from pipeline.core import PIPELINE_VERSION
    from pipeline.export import SCHEMA_VERSION, dumps_dict, write_documents, write_json, write_tables_streaming

    outcomes: list[InputOutcome] = []
    stage_seconds = {"ingest": 0.0, "analyse": 0.0}
    chars = 0

    def doc_lines():
        nonlocal chars
        key_to_docid = {}
        for key, status, reason, doc_id, dup, doc_json, chash, s_in, s_an, n_chars in store.rows_for_run(run_id):
            stage_seconds["ingest"] += s_in or 0.0
            stage_seconds["analyse"] += s_an or 0.0
            chars += n_chars or 0
            out_doc = None
            if status == "processed" and doc_json:
                out_doc = json.loads(doc_json)
                key_to_docid[key] = out_doc["doc_id"]
            elif status == "skipped" and dup and doc_json:
                original = store.doc_of(dup)
                if original:
                    out_doc = dict(original)
                    out_doc.update(json.loads(doc_json))
                    out_doc["duplicate_of"] = original["doc_id"]
                    doc_id = original["doc_id"]
            outcomes.append(InputOutcome(input=key, status=status, reason=reason, doc_id=doc_id,
                                         duplicate_of=dup, content_hash=chash,
                                         seconds=round((s_in or 0) + (s_an or 0), 4)))
            if out_doc is not None:
                yield out_doc

    docs_path = out_dir / "documents.jsonl"
    n_docs = write_documents((dumps_dict(d) for d in doc_lines()), docs_path)
    write_tables_streaming(docs_path, out_dir)
    processed = sum(o.status == "processed" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    elapsed = time.time() - started
    summary = RunSummary(out_dir=str(out_dir), processed=processed, skipped=skipped, failed=failed, outcomes=outcomes,
                         seconds=round(elapsed, 3), reused=counts["reused"])
    run_json = {
        "run_id": run_id, "argv": argv, "schema_version": SCHEMA_VERSION, "pipeline_version": PIPELINE_VERSION,
        "config_version": settings.version, "config_file": settings.source, "models": _model_versions(),
        "executor": executor, "workers": workers,
        "counts": {"inputs": len(outcomes), "processed": processed, "skipped": skipped, "failed": failed,
                   "documents_written": n_docs, "done_this_run": counts["processed"] + counts["skipped"] + counts["failed"],
                   "reused_from_store": counts["reused"]},
        "timings": {"wall_seconds": round(elapsed, 3), "ingest_cpu_seconds": round(stage_seconds["ingest"], 3),
                    "analyse_cpu_seconds": round(stage_seconds["analyse"], 3), "body_chars": chars},
        "skipped": [{"input": o.input, "reason": o.reason, "duplicate_of": o.duplicate_of} for o in outcomes if o.status == "skipped"],
        "failed": [{"input": o.input, "reason": o.reason} for o in outcomes if o.status == "failed"],
        "inputs": [asdict(o) for o in outcomes],
    }
    write_json(run_json, out_dir / "run.json")
    return summary
