"""Batch runs: the run store, workers (in-process, local processes or Dask), progress, outputs.

Units stream from `inputs.expand` through a bounded window: ingest in a worker, near-duplicate check here in
input order (the first copy wins), analysis in a worker, commit to the store in input order. Outputs are then
written from the store, staged and renamed together. Memory is bounded by the window, not the batch."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from pipeline.config import MODELS_DIR, Settings, load_settings
from pipeline.inputs import Unit, expand
from pipeline.outdir import Generation, OutputLock, clear_unpublished
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
    """Load models once per worker process, and warm the worker up (_warm_up)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = _settings_for(config_file)
    from pipeline.core import _stages

    _stages(settings)
    _warm_up(config_file)


# A small page of our own, in HTML and as flattened text, for _warm_up.
_WARM_UP_TITLE = "示范区科技创新工作情况通报"
_WARM_UP_PARAGRAPHS = (
    "2024年3月，示范区科技局安排专项资金1.5亿元，支持量子计算等前沿研究，全年新增高新技术企业120家。",
    "但是，核心器件仍依赖进口，高端人才短缺的问题较为突出。",
    "下一步，建议加大财政投入，完善《示范区科技创新促进条例》配套政策。")


def _warm_up(config_file: Optional[str]) -> None:
    """One small page of each kind through every step a batch takes (pre-pass, ingest, duplicate signature,
    analysis). What loads on first use (the repair POS tagger, the gazetteer automaton, compiled patterns, lazy
    imports) then loads while the worker starts, alongside the other workers, instead of on each worker's first
    document. Never fails the worker: a warm-up that goes wrong only leaves that loading to the first document."""
    html = (f"<html><head><meta charset='utf-8'><title>{_WARM_UP_TITLE}</title></head><body><div><h1>"
            f"{_WARM_UP_TITLE}</h1>" + "".join(f"<p>{p}</p>" for p in _WARM_UP_PARAGRAPHS) + "</div></body></html>")
    text = "\n".join((_WARM_UP_TITLE, *_WARM_UP_PARAGRAPHS))
    try:
        for kind, content in (("html", html), ("text", text)):
            unit = Unit(key=f"warm-up.{kind}", path=f"warm-up.{kind}", content=content.encode("utf-8"), kind=kind)
            site_keys_unit((unit, config_file))
            res = ingest_unit((unit, config_file, frozenset()))
            if res["status"] == "ok":
                analyse_unit((unit.key, res["clean"], config_file))
    except Exception:  # noqa: BLE001
        log.debug("worker warm-up failed", exc_info=True)


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


def _source_of(unit: Unit) -> tuple:
    """What ingest reads for a unit, and the name its messages and outputs carry."""
    if unit.content is not None:
        return unit.content, unit.key
    return Path(unit.path), unit.path


def site_keys_unit(args: tuple) -> dict:
    """Pre-pass in a worker: a unit → its site and the keys of its countable lines (siterepeat)."""
    unit, config_file = args
    from pipeline.ingest.siterepeat import page_keys

    settings = _settings_for(config_file)
    try:
        source, name = _source_of(unit)
        site, keys, page_hash = page_keys(source, name=name, url=unit.url, kind=unit.kind, settings=settings)
    except Exception:  # the main pass reports why this input fails
        return {"key": unit.key, "status": "failed"}
    return {"key": unit.key, "status": "ok", "site": site, "keys": keys, "page_hash": page_hash}


def collect_site_repeats(units: Iterable[Unit], ex, config_file: Optional[str], settings: Settings, window: int):
    """The batch pre-pass: per site, the lines repeated on several of its pages. Returns (SiteRepeats, the site
    of each unit key). Runs on the executor's workers, at most `window` units in flight."""
    from pipeline.ingest.siterepeat import SiteRepeats

    repeats = SiteRepeats(settings["boilerplate"]["site_repeat_min_pages"])
    sites: dict[str, str] = {}
    in_flight: deque = deque()

    def take() -> None:
        res = _outcome_of(in_flight.popleft())
        if res.get("status") == "ok":
            sites[res["key"]] = res["site"]
            repeats.add(res["site"], res["keys"], res["page_hash"])

    for unit in units:
        if unit.error or unit.skip:
            continue
        in_flight.append(ex.submit(site_keys_unit, (unit, config_file)))
        while len(in_flight) >= window:
            take()
    while in_flight:
        take()
    return repeats, sites


def ingest_unit(args: tuple) -> dict:
    """Phase 1 in a worker: a unit → its CleanDocument and MinHash signature, or a failure. `site_repeats` are
    the keys of lines repeated on other pages of its site (see collect_site_repeats)."""
    unit, config_file, site_repeats = args
    from pipeline.ingest import IngestError, ingest
    from pipeline.ingest.dedup import signature

    settings = _settings_for(config_file)
    started = time.perf_counter()
    try:
        with _Alarm(settings["limits"]["doc_timeout"]):
            source, name = _source_of(unit)
            clean = ingest(source, name=name, url=unit.url, kind=unit.kind, settings=settings,
                           site_repeats=site_repeats)
            if unit.content is not None:
                clean.source.path = unit.key
            dd = settings["dedup"]
            sig = signature(clean.body, num_perm=dd["num_perm"], k=dd["shingle_chars"]) if dd["enabled"] else None
    except IngestError as exc:
        return {"key": unit.key, "status": "failed" if not exc.reason.startswith("not a Chinese") else "skipped",
                "reason": exc.reason, "seconds": time.perf_counter() - started}
    except DocTimeout as exc:
        return {"key": unit.key, "status": "failed", "reason": str(exc), "seconds": time.perf_counter() - started}
    except Exception as exc:  # one bad document must not end the batch; the reason names the error
        log.debug("ingest of %s failed", unit.key, exc_info=True)
        return {"key": unit.key, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300],
                "seconds": time.perf_counter() - started}
    return {"key": unit.key, "status": "ok", "clean": clean, "minhash": None if sig is None else sig.tobytes(),
            "seconds": time.perf_counter() - started}


def analyse_unit(args: tuple) -> dict:
    """Phase 2 in a worker: CleanDocument → the Document's JSON line and its parts of the passages and entities
    tables (made here, in parallel, from the dict the line is made of: the main process only appends them)."""
    return analyse_units([args])[0]


def analyse_units(batch: Sequence[tuple]) -> list[dict]:
    """analyse_unit for a batch of units (a worker's chunk), with one analyse_many call: the classifier's cost per
    call is shared, and each document comes out as analyse() makes it alone. Each unit's seconds are the batch's
    shared equally. Should the batch fail or run out of time (the documents' timeouts added up), each unit is
    analysed again alone, so that only a bad unit fails, with its own reason."""
    from pipeline.core import analyse_many
    from pipeline.export import dumps_dict, table_chunks

    settings = _settings_for(batch[0][2])
    started = time.perf_counter()
    try:
        with _Alarm(settings["limits"]["doc_timeout"] * len(batch)):
            docs = analyse_many([clean for _, clean, _ in batch], settings)
            parts = []
            for doc in docs:
                as_dict = doc.to_dict()
                parts.append((doc.doc_id, dumps_dict(as_dict), table_chunks(as_dict)))
    except Exception as exc:  # DocTimeout included
        if len(batch) > 1:
            return [out for args in batch for out in analyse_units([args])]
        key = batch[0][0]
        if not isinstance(exc, DocTimeout):
            log.debug("analysis of %s failed", key, exc_info=True)
        reason = str(exc) if isinstance(exc, DocTimeout) else f"{type(exc).__name__}: {exc}"[:300]
        return [{"key": key, "status": "failed", "reason": reason, "seconds": time.perf_counter() - started}]
    seconds = (time.perf_counter() - started) / len(batch)
    return [{"key": key, "status": "processed", "doc_id": doc_id, "doc_json": line, "chunks": chunks,
             "seconds": seconds} for (key, _, _), (doc_id, line, chunks) in zip(batch, parts)]


# The steps whose calls run together when they come as a batch (a worker's chunk, or the in-process executor's
# waiting calls): step → its batch function (list of arguments → list of results, in order).
_BATCHED: dict[Callable, Callable] = {analyse_unit: analyse_units}


# -- executors: submit(fn, arg) → a future with done()/result(); wait(futures) blocks until one is done --------

class _Deferred:
    """The in-process 'future': computed when first asked for, so one worker does no work ahead of need. A call of
    a batched step runs together with the others of that step waiting in the executor (up to its batch size)."""

    __slots__ = ("fn", "arg", "value", "owner")
    _UNSET = object()

    def __init__(self, fn: Callable, arg, owner: "InlineExecutor"):
        self.fn, self.arg, self.value, self.owner = fn, arg, self._UNSET, owner

    def done(self) -> bool:
        return self.value is not self._UNSET

    def result(self):
        if self.value is self._UNSET:
            if self.fn in _BATCHED:
                self.owner.run_batch(self)
            else:
                self.value = self.fn(self.arg)
            self.fn = self.arg = None
        return self.value


class InlineExecutor:
    """One worker: the functions run in this process (models load here, once). Calls of a batched step (analysis)
    wait until one is needed, and then up to `batch` of them run together, as in a worker's chunk."""

    slots = 1

    def __init__(self, batch: int = 1):
        self.batch = max(1, int(batch))
        self._waiting: list[_Deferred] = []  # calls of batched steps not run yet, in the order submitted

    def submit(self, fn: Callable, arg) -> _Deferred:
        d = _Deferred(fn, arg, self)
        if fn in _BATCHED:
            self._waiting.append(d)
        return d

    def run_batch(self, first: _Deferred) -> None:
        """Run `first` with the calls of its step that wait after it (up to the batch size)."""
        group = [d for d in self._waiting if d.fn is first.fn and d is not first][:self.batch - 1]
        group.insert(0, first)
        values = _BATCHED[first.fn]([d.arg for d in group])
        for d, value in zip(group, values):
            d.value = value
        self._waiting = [d for d in self._waiting if not d.done()]
        for d in group[1:]:
            d.fn = d.arg = None

    def wait(self, futures: Sequence[_Deferred]) -> None:
        # A call of an unbatched step first (an ingest): finishing it can add one more analysis to the next batch.
        todo = [f for f in futures if not f.done()]
        first = next((f for f in todo if f.fn not in _BATCHED), todo[0] if todo else None)
        if first is not None:
            first.result()

    def close(self) -> None:
        pass


def _call_each(fn: Callable, args: list) -> list:
    """In a worker: a batch of calls of one function (together, when the step is batched)."""
    batched = _BATCHED.get(fn)
    if batched is not None:
        return batched(args)
    return [fn(arg) for arg in args]


class _Part:
    """One call's place in a batch: done() and result() as a future's, once its batch is sent."""

    __slots__ = ("owner", "future", "index")

    def __init__(self, owner: "LocalExecutor"):
        self.owner, self.future, self.index = owner, None, 0

    def done(self) -> bool:
        return self.future is not None and self.future.done()

    def result(self):
        if self.future is None:
            self.owner.flush()
        return self.future.result()[self.index]


class LocalExecutor:
    """A pool of worker processes, each loading the models once (worker_init). Calls go to the pool in batches
    of up to `batch` calls of one function ([run] chunk_size): one round trip through the pool per batch instead
    of per document. A batch leaves when it is full, or when the caller waits or asks for a result."""

    def __init__(self, workers: int, config_file: Optional[str], batch: int = 1):
        self.slots = workers
        self.batch = max(1, int(batch))
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_init, initargs=(config_file,))
        self._open: dict[Callable, list[tuple[object, _Part]]] = {}

    def submit(self, fn: Callable, arg) -> _Part:
        part = _Part(self)
        group = self._open.setdefault(fn, [])
        group.append((arg, part))
        if len(group) >= self.batch:
            self._send(fn)
        return part

    def _send(self, fn: Callable) -> None:
        group = self._open.pop(fn, [])
        if group:
            future = self.pool.submit(_call_each, fn, [arg for arg, _ in group])
            for i, (_, part) in enumerate(group):
                part.future, part.index = future, i

    def flush(self) -> None:
        for fn in list(self._open):
            self._send(fn)

    def wait(self, futures) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait

        self.flush()
        wait({p.future for p in futures}, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """The same functions on a Dask distributed cluster: `scheduler` is its address; without one a local cluster
    of `workers` processes is started. Workers need the package (and models/, configs/) installed; each loads the
    models once, on its first task."""

    def __init__(self, scheduler: Optional[str], workers: int):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable, arg):
        return self.client.submit(fn, arg, pure=False)

    def wait(self, futures) -> None:
        from distributed import wait

        wait(list(futures), return_when="FIRST_COMPLETED")

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class RunError(RuntimeError):
    """The batch could not go on (a worker pool died, the store or outputs cannot be written)."""


# -- the batch ----------------------------------------------------------------------------------------------

_TRANSIENT = ("timed out", "worker error")  # failures retried by the next run instead of being reused


class _Entry:
    """One unit on its way through the window: ingest → duplicate check → analysis → commit."""

    __slots__ = ("unit", "fp", "seq", "stage", "future", "ingest", "result", "chunks")

    def __init__(self, unit: Unit, fp: str, seq: int):
        self.unit, self.fp, self.seq = unit, fp, seq
        self.stage = "new"  # new | ingest | analyse | final
        self.future = None
        self.ingest: Optional[dict] = None
        self.result: Optional[dict] = None  # what to commit
        self.chunks = None  # the document's table parts, made by the worker beside its JSON line


def _outcome_of(future) -> dict:
    try:
        return future.result()
    except Exception as exc:  # the task itself crashed (a Dask worker died, an unpicklable result)
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(exc, BrokenProcessPool):
            raise RunError("a worker process died (out of memory?); re-run the same command to resume") from exc
        return {"status": "failed", "reason": f"worker error: {type(exc).__name__}: {exc}"[:300], "seconds": 0.0}


DOCS_NAME = "documents.jsonl"
OUTPUT_NAMES = (DOCS_NAME, "passages.csv", "passages.parquet", "entities.csv", "entities.parquet", "run.json")


class _StreamedOutputs:
    """documents.jsonl and the passages/entities tables, written while the batch goes on: each unit's line as it
    is committed (in input order), so that the main process turns documents into tables while the workers
    compute, not in one serial pass after the last unit. The files are staged and committed with run.json by
    write_outputs. Any error here only gives the streaming up: write_outputs then writes every file from the
    store as before (and reports the error if it recurs). So does a duplicate whose line was written from an
    original that this run re-processed afterwards (the end-of-run files take the final original)."""

    def __init__(self, out_dir: Path, batch: int = 200):
        from pipeline.export import TableWriter

        self.staged = Generation(out_dir)
        self.lines = 0
        self.originals: dict[str, str] = {}  # key of an original → the doc_id its duplicates' lines were built from
        self.failed: Optional[str] = None
        self.docs = None
        try:
            self.docs = open(self.staged.temp(DOCS_NAME), "w", encoding="utf-8", newline="")
            self.tables = TableWriter(self.staged, batch)
        except OSError as exc:
            self.tables = None
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

    def give_up(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = f"{type(exc).__name__}: {exc}"
            log.debug("streamed outputs given up (%s); writing them after the run", self.failed)
            self.discard()

    def finish(self, store: RunStore) -> bool:
        """Close the files; True when they can be committed as this run's outputs."""
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
        if self.docs is not None:
            self.docs.close()
        if self.tables is not None:
            self.tables.abort()
        self.staged.discard()


def _output_line(store: RunStore, status: str, duplicate_of: Optional[str], doc) -> tuple[Optional[str], Optional[dict]]:
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


def run(inputs: Iterable[str], out_dir, *, config: Optional[str] = None, workers: Optional[int] = None,
        force: bool = False, executor: str = "local", scheduler: Optional[str] = None, progress: bool = False,
        argv: Optional[list[str]] = None, window: Optional[int] = None) -> RunSummary:
    """Process a batch into out_dir and return its summary (also written to run.json).

    Inputs stream through a window of at most `window` units (default 8 per worker): each is ingested in a
    worker, checked for near-duplicates here in input order (the first copy wins), analysed in a worker unless
    it is a copy, and committed to the run store in input order. Memory is bounded by the window, and after a
    kill the store holds a prefix of the inputs, so the next run resumes where this one stopped and ends with
    the same outputs. Inputs whose fingerprint (size and mtime, or content hash) is in the store are not redone
    unless `force`. One run at a time writes to an output folder (FolderBusy otherwise)."""

    settings = load_settings(config)
    out_dir = Path(out_dir)
    with OutputLock(out_dir):  # one writer per output folder
        return _run_locked(inputs, out_dir, settings, config=config, workers=workers, force=force, executor=executor,
                           scheduler=scheduler, progress=progress, argv=argv, window=window)


def _run_locked(inputs, out_dir: Path, settings: Settings, *, config, workers, force, executor, scheduler, progress,
                argv, window) -> RunSummary:
    from pipeline.ingest.dedup import SIGNATURE_SCHEME, DuplicateIndex

    stack = "|" + _stack_fingerprint(settings)  # a changed config or model redoes what it changes
    store = RunStore(out_dir / STORE_NAME)
    run_id = uuid.uuid4().hex[:12]
    store.start_run(run_id, argv or [])
    started = time.time()
    workers = workers if workers is not None else (settings["run"]["workers"] or os.cpu_count() or 1)
    workers = max(1, int(workers))
    dd = settings["dedup"]
    clear_unpublished(out_dir)  # left by a run killed or failed before it published its outputs
    index = DuplicateIndex(num_perm=dd["num_perm"], threshold=dd["threshold"]) if dd["enabled"] else None
    if index is not None:
        dropped = store.use_signature_scheme(SIGNATURE_SCHEME)
        if dropped:
            log.warning("%s: %d near-duplicate signatures of earlier runs were made under another scheme and are "
                        "dropped; re-run with --force to compare the new documents with those", out_dir, dropped)
    if index is not None and not force:
        for key, blob in store.signatures():
            index.check_and_add(key, np.frombuffer(blob, dtype=np.uint64))
    if executor == "dask":
        ex = DaskExecutor(scheduler, workers)
    elif workers == 1:
        ex = InlineExecutor(batch=settings["run"]["chunk_size"])
    else:
        ex = LocalExecutor(workers, config, batch=settings["run"]["chunk_size"])
    # Enough units in flight for two batches per worker in each phase.
    window = window or max(8, 8 * ex.slots, 4 * getattr(ex, "batch", 1) * ex.slots)
    bar = None
    if progress:
        from tqdm import tqdm

        from pipeline.inputs import count_units

        if not isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
        bar = tqdm(total=count_units(inputs), unit=" docs", desc="policyminer", file=sys.stderr, dynamic_ncols=True,
                   smoothing=0.1)
    site_of_unit: dict[str, str] = {}
    repeats = None
    if settings["boilerplate"]["site_repeat_min_pages"] > 0:
        if not isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
        repeats, site_of_unit = collect_site_repeats(expand(inputs), ex, config, settings, window)

    def repeated_for(key: str) -> frozenset:
        if repeats is None or key not in site_of_unit:
            return frozenset()
        return repeats.repeated(site_of_unit[key])

    counts = {"processed": 0, "skipped": 0, "failed": 0, "reused": 0}
    pending: deque[_Entry] = deque()
    pending_keys: set[str] = set()
    cursor = 0  # pending[:cursor] have passed the duplicate check

    def check(e: _Entry) -> None:
        """The entry's ingest is done: record a failure, or check it for duplicates and submit its analysis."""
        res = e.ingest = _outcome_of(e.future)
        e.future = None
        if res["status"] != "ok":
            e.result = dict(status=res["status"], reason=res["reason"], seconds_ingest=res["seconds"])
            e.stage = "final"
            return
        clean = res["clean"]
        sig = np.frombuffer(res["minhash"], dtype=np.uint64) if res["minhash"] is not None else None
        dup = None
        if index is not None and sig is not None:
            if e.unit.key in index:  # redone because it changed: its old signature must not match it
                index.remove(e.unit.key)
            dup = index.check_and_add(e.unit.key, sig)
        if dup:
            part = {"source": asdict(clean.source), "title": clean.title, "title_raw": clean.title_raw,
                    "title_restored": clean.title_restored, "published_at": clean.published_at,
                    "removed": [asdict(r) for r in clean.removed], "author": clean.author,
                    "publisher": clean.publisher, "subtitle": clean.subtitle}
            e.result = dict(status="skipped", reason=f"near-duplicate of {dup}", duplicate_of=dup,
                            content_hash=clean.content_hash, doc=part, seconds_ingest=res["seconds"],
                            chars=len(clean.body))
            e.stage = "final"
            return
        e.future = ex.submit(analyse_unit, (e.unit.key, clean, config))
        e.stage = "analyse"

    def finish(e: _Entry) -> None:
        res = _outcome_of(e.future)
        e.future = None
        ires, clean = e.ingest, e.ingest["clean"]
        common = dict(content_hash=clean.content_hash, minhash=ires["minhash"], seconds_ingest=ires["seconds"],
                      seconds_analyse=res["seconds"], chars=len(clean.body))
        if res["status"] != "processed":
            e.result = dict(status="failed", reason=res["reason"], **common)
        else:
            e.result = dict(status="processed", doc_id=res["doc_id"], doc=res["doc_json"], **common)
            e.chunks = res.get("chunks")
        e.stage = "final"

    def pump(block: bool) -> None:
        """Advance the window: duplicate checks in input order, then commit the finished head. With `block`,
        wait until at least one unit is committed."""
        nonlocal cursor
        while True:
            while cursor < len(pending):
                e = pending[cursor]
                if e.stage == "ingest":
                    if not e.future.done():
                        break
                    check(e)
                cursor += 1
            for e in pending:
                if e.stage == "analyse" and e.future.done():
                    finish(e)
            done = 0
            if pending and pending[0].stage in ("final", "reused"):
                with store.transaction():
                    while pending and pending[0].stage in ("final", "reused"):
                        commit(pending.popleft())
                        cursor -= 1
                        done += 1
            if done or not block or not pending:
                return
            # Wait for a future that is still running: ones already done (an ingest behind the one the duplicate
            # check waits for) would make wait() return at once, and the loop would spin, taking a core from
            # the workers.
            running = [e.future for e in pending if e.future is not None and not e.future.done()]
            if running:
                ex.wait(running)

    def commit(e: _Entry) -> None:
        pending_keys.discard(e.unit.key)
        if e.stage == "reused":
            store.mark_seen(e.unit.key, run_id, e.seq)
            counts["reused"] += 1
        else:
            r = e.result
            store.put(e.unit.key, fingerprint=e.fp, run_id=run_id, seq=e.seq, **r)
            counts[r["status"]] += 1
            if r["status"] == "failed":
                log.info("%s: %s", e.unit.key, r["reason"])
        if streamed.failed is None:
            if e.stage == "reused":
                status, dup, doc = store.db.execute("SELECT status, duplicate_of, doc FROM units WHERE key=?",
                                                    (e.unit.key,)).fetchone()
            else:
                status, dup, doc = e.result["status"], e.result.get("duplicate_of"), e.result.get("doc")
            line, original = _output_line(store, status, dup, doc)
            if line is not None:
                streamed.add(line, e.chunks)  # only a unit processed in this run has them
            if original is not None:
                streamed.originals[dup] = original["doc_id"]
        if bar is not None:
            bar.update(1)
            if counts["failed"] or counts["skipped"]:
                bar.set_postfix(failed=counts["failed"], skipped=counts["skipped"], refresh=False)

    streamed = _StreamedOutputs(out_dir)
    try:
        seq = 0
        for unit in expand(inputs):
            if unit.key in pending_keys:
                continue  # the same input named twice
            row = store.get(unit.key)
            if row is not None and row["run_id"] == run_id:
                continue
            seq += 1
            fp = _fingerprint(unit) + stack
            e = _Entry(unit, fp, seq)
            if unit.error:
                e.result, e.stage = dict(status="failed", reason=unit.error), "final"
            elif unit.skip:
                e.result, e.stage = dict(status="skipped", reason=unit.skip), "final"
            elif (not force and row is not None and row["fingerprint"] == fp and not fp.startswith("missing")
                  and not (row["status"] == "failed" and _transient(store, unit.key))):
                e.stage = "reused"
            else:
                e.future, e.stage = ex.submit(ingest_unit, (unit, config, repeated_for(unit.key))), "ingest"
            pending.append(e)
            pending_keys.add(unit.key)
            pump(block=len(pending) >= window)
        while pending:
            pump(block=True)
    except BaseException:
        streamed.discard()
        raise
    finally:
        ex.close()
        if bar is not None:
            bar.close()
    try:
        summary = write_outputs(store, run_id, out_dir, settings, started=started, counts=counts, workers=workers,
                                executor=executor, argv=argv, streamed=streamed if streamed.finish(store) else None)
        store.finish_run(run_id, {k: v for k, v in asdict(summary).items() if k != "outcomes"})
    finally:
        store.close()
    return summary


def _transient(store: RunStore, key: str) -> bool:
    row = store.db.execute("SELECT reason FROM units WHERE key=?", (key,)).fetchone()
    return bool(row and row[0] and row[0].startswith(_TRANSIENT))


def _stack_fingerprint(settings: Settings) -> str:
    """What a unit's result depends on besides its input: the effective settings and the models' checksums."""
    blob = json.dumps([settings.version, {k: (v or {}).get("sha256") for k, v in _model_versions().items()}],
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


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
                  workers: int, executor: str, argv: Optional[list[str]],
                  streamed: Optional[_StreamedOutputs] = None) -> RunSummary:
    """documents.jsonl, passages and entities (CSV, Parquet) and run.json, from the store's rows of this run in
    input order (or, with `streamed`, the first five as already written during the run). All files go into a
    fresh generation folder published at the end in one step (outdir.Generation): a failure leaves the previous
    set."""
    from pipeline.core import PIPELINE_VERSION
    from pipeline.export import SCHEMA_VERSION, write_documents, write_json, write_tables_streaming

    outcomes: list[InputOutcome] = []
    stage_seconds = {"ingest": 0.0, "analyse": 0.0}
    chars = 0

    def doc_lines(build: bool):
        nonlocal chars
        for key, status, reason, doc_id, dup, doc_json, chash, s_in, s_an, n_chars in store.rows_for_run(run_id):
            stage_seconds["ingest"] += s_in or 0.0
            stage_seconds["analyse"] += s_an or 0.0
            chars += n_chars or 0
            line = None
            if build:
                line, original = _output_line(store, status, dup, doc_json)
                if original is not None:
                    doc_id = original["doc_id"]
            elif status == "skipped" and dup and doc_json:
                doc_id = store.doc_id_of(dup) or doc_id
            outcomes.append(InputOutcome(input=key, status=status, reason=reason, doc_id=doc_id,
                                         duplicate_of=dup, content_hash=chash,
                                         seconds=round((s_in or 0) + (s_an or 0), 4)))
            if line is not None:
                yield line

    def listed(status: str):
        return ({"input": o.input, "reason": o.reason, **({"duplicate_of": o.duplicate_of} if status == "skipped" else {})}
                for o in outcomes if o.status == status)

    try:  # run() cleared temporary files left by a killed run before it staged its own
        with (streamed.staged if streamed is not None else Generation(out_dir)) as staged:
            if streamed is not None:
                for _ in doc_lines(build=False):
                    pass
                n_docs = streamed.lines
            else:
                n_docs = write_documents(doc_lines(build=True), out_dir / DOCS_NAME, staged=staged)
                write_tables_streaming(Path(staged.temps[DOCS_NAME]), out_dir, staged=staged)
            processed = sum(o.status == "processed" for o in outcomes)
            skipped = sum(o.status == "skipped" for o in outcomes)
            failed = sum(o.status == "failed" for o in outcomes)
            elapsed = time.time() - started
            run_json = {
                "run_id": run_id, "generation": staged.gen_id, "argv": argv, "schema_version": SCHEMA_VERSION, "pipeline_version": PIPELINE_VERSION,
                "config_version": settings.version, "config_file": settings.source, "models": _model_versions(),
                "executor": executor, "workers": workers,
                "counts": {"inputs": len(outcomes), "processed": processed, "skipped": skipped, "failed": failed,
                           "documents_written": n_docs,
                           "done_this_run": counts["processed"] + counts["skipped"] + counts["failed"],
                           "reused_from_store": counts["reused"]},
                "timings": {"wall_seconds": round(elapsed, 3), "ingest_cpu_seconds": round(stage_seconds["ingest"], 3),
                            "analyse_cpu_seconds": round(stage_seconds["analyse"], 3), "body_chars": chars},
                "skipped": listed("skipped"),
                "failed": listed("failed"),
                "inputs": (asdict(o) for o in outcomes),
            }
            write_json(run_json, out_dir / "run.json", staged=staged)
    except OSError as exc:
        log.error("%s", exc)
        raise
    return RunSummary(out_dir=str(out_dir), processed=processed, skipped=skipped, failed=failed, outcomes=outcomes,
                      seconds=round(elapsed, 3), reused=counts["reused"])
