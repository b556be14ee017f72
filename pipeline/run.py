"""Batch runs: the control flow from inputs to the run store and the outputs.

Units stream from `inputs.expand` through a bounded window (Batch): ingest in a worker, near-duplicate check here
in input order (the first copy wins), analysis in a worker, commit to the store in input order. The outputs are
written as units are committed and published together at the end (runoutputs). Memory is bounded by the window,
not the batch. The work itself is in pipeline.workers; where it runs, in pipeline.executors."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from pipeline.config import Config, load_config
from pipeline.executors import DaskExecutor, WorkerError, WorkerPool
from pipeline.inputs import Unit, expand
from pipeline.outdir import OutputLock, clear_unpublished
from pipeline.records import RunSummary
from pipeline.runoutputs import RunInfo, StreamedOutputs, model_versions, quietly, write_outputs
from pipeline.store import RunStore, StoreError
from pipeline.workers import serialised

log = logging.getLogger(__name__)
STORE_NAME = "run.sqlite"
TRANSIENT = ("timed out", "worker error")  # failures retried by the next run instead of being reused


class RunError(RuntimeError):
    """The batch could not go on (the workers cannot start, the store or outputs cannot be written)."""


@dataclass
class RunOptions:
    """How to run a batch (run()'s keyword arguments)."""
    config: Optional[str] = None
    workers: Optional[int] = None
    force: bool = False
    executor: str = "local"
    scheduler: Optional[str] = None
    progress: bool = False
    argv: Optional[list[str]] = None
    window: Optional[int] = None


def fingerprint(unit: Unit) -> str:
    """What says an input changed: a content hash for records, size and mtime for files."""
    if unit.content is not None:
        data = unit.content if isinstance(unit.content, bytes) else unit.content.encode("utf-8", "replace")
        return "sha1:" + hashlib.sha1(data).hexdigest()
    try:
        st = os.stat(unit.path)
        return f"stat:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


def input_size(unit: Unit) -> int:
    """Bytes the unit brings into the window (its record, or its file): what limits.window_bytes counts."""
    if unit.content is not None:
        return len(unit.content)
    try:
        return os.stat(unit.path).st_size
    except OSError:
        return 0


def stack_fingerprint(cfg: Config) -> str:
    """What a unit's result depends on besides its input: the effective configuration and the models' checksums."""
    blob = json.dumps([cfg.version, {k: (v or {}).get("sha256") for k, v in model_versions().items()}],
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def outcome_of(future) -> dict:
    """A future's outcome; a task that crashed on its own (a Dask worker died) fails its unit, not the batch."""
    try:
        return future.result()
    except WorkerError:
        raise
    except Exception as exc:  # noqa: BLE001
        return {"status": "failed", "reason": f"worker error: {type(exc).__name__}: {exc}"[:300], "seconds": 0.0}


def default_window(slots: int, batch: int) -> int:
    """Enough units in flight for two batches per worker in each phase."""
    return max(8, 8 * slots, 4 * batch * slots)


def reusable(row, fp: str, force: bool) -> bool:
    """A unit's stored result can stand: same fingerprint (input, config, models), and not a failure the next
    run retries (a timeout, a worker that died)."""
    return (not force and row is not None and row["fingerprint"] == fp and not fp.startswith("missing")
            and not (row["status"] == "failed" and (row["reason"] or "").startswith(TRANSIENT)))


class Entry:
    """One unit on its way through the window: ingest → duplicate check → analysis → commit."""

    __slots__ = ("unit", "fp", "seq", "stage", "future", "ingest", "result", "chunks", "size")

    def __init__(self, unit: Unit, fp: str, seq: int):
        self.unit, self.fp, self.seq = unit, fp, seq
        self.stage = "new"  # new | ingest | analyse | reused | final
        self.future = None
        self.ingest: Optional[dict] = None  # the ingest outcome, until the analysis is done
        self.result: Optional[dict] = None  # what to commit
        self.chunks = None  # the document's table parts, made beside its JSON line
        self.size = 0  # bytes of input held in the window

    def finish(self, result: dict) -> None:
        self.result, self.stage, self.future = result, "final", None


class Progress:
    """The bar on stderr: documents/s, failures and skipped so far, and an ETA only once `eta_after` units were
    worked in this run (before that, the rate, and so any ETA, means nothing)."""

    NO_ETA = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]"

    def __init__(self, inputs: list, eta_after: int):
        from tqdm import tqdm

        from pipeline.inputs import count_units

        self.bar = tqdm(total=count_units(inputs), unit=" docs", desc="policyminer", file=sys.stderr,
                        dynamic_ncols=True, smoothing=0.1, bar_format=self.NO_ETA)
        self.eta_after, self.worked = eta_after, 0

    def update(self, worked: bool, counts: dict) -> None:
        self.worked += worked
        if worked and self.worked == self.eta_after:
            self.bar.bar_format = None  # tqdm's own format, with the ETA
        self.bar.update(1)
        if counts["failed"] or counts["skipped"]:
            self.bar.set_postfix(failed=counts["failed"], skipped=counts["skipped"], refresh=False)

    def close(self) -> None:
        self.bar.close()


@dataclass
class SiteRepeatsFound:
    """The pre-pass's findings: per site, the lines repeated on several of its pages; the site of each unit; and
    the units the pre-pass had to cut short (timed out, or their worker died), failed without a second try."""
    repeats: object = None  # siterepeat.SiteRepeats
    site_of: dict = field(default_factory=dict)
    cut_short: dict = field(default_factory=dict)

    def repeated_for(self, key: str) -> frozenset:
        if self.repeats is None or key not in self.site_of:
            return frozenset()
        return self.repeats.repeated(self.site_of[key])


def collect_site_repeats(units: Iterable[Unit], ex, config_file: Optional[str], cfg: Config,
                         window: int) -> SiteRepeatsFound:
    """The batch pre-pass on the executor's workers, at most `window` units (and about limits.window_bytes of
    their input) in flight."""
    from pipeline.ingest.siterepeat import SiteRepeats

    found = SiteRepeatsFound(SiteRepeats(cfg.boilerplate.site_repeat_min_pages), {}, {})
    budget, held = cfg.limits.window_bytes, 0
    in_flight: deque = deque()  # (key, size, future)
    for unit in units:
        if unit.error or unit.skip:
            continue
        in_flight.append((unit.key, input_size(unit), ex.submit("site_keys", (unit, config_file))))
        held += in_flight[-1][1]
        while len(in_flight) >= window or (held >= budget and in_flight):
            held -= _take_site_keys(in_flight.popleft(), found)
    while in_flight:
        _take_site_keys(in_flight.popleft(), found)
    return found


def _take_site_keys(flight: tuple, found: SiteRepeatsFound) -> int:
    """Record one pre-pass outcome; returns the bytes it held."""
    key, size, future = flight
    res = outcome_of(future)
    if res.get("status") == "ok":
        found.site_of[key] = res["site"]
        found.repeats.add(res["site"], res["keys"], res["page_hash"])
    elif (res.get("reason") or "").startswith(TRANSIENT):
        found.cut_short[key] = res["reason"]
    return size


class Batch:
    """The window over a run's units. Each unit is planned (failed or skipped as named by the inputs, reused
    from the store, or sent to ingest), checked for near-duplicates in input order once ingested, sent to
    analysis unless it is a copy, and committed to the store in input order. At most `window` units, and about
    limits.window_bytes of their input, are in flight. The executor is made on first use: a run whose every
    input is reused starts no worker."""

    def __init__(self, store: RunStore, run_id: str, cfg: Config, options: RunOptions,
                 make_executor: Callable[[], object], streamed: StreamedOutputs, window: int,
                 progress: Optional[Progress] = None):
        self.store, self.run_id, self.cfg, self.options = store, run_id, cfg, options
        self.make_executor, self._executor = make_executor, None
        self.streamed, self.progress, self.window = streamed, progress, window
        self.stack = "|" + stack_fingerprint(cfg)  # a changed config or model redoes what it changes
        self.index = duplicate_index(store, cfg, options.force)
        self.budget = cfg.limits.window_bytes
        self.sites = SiteRepeatsFound()
        self.counts = {"processed": 0, "skipped": 0, "failed": 0, "reused": 0}
        self.pending: deque[Entry] = deque()
        self.keys: set[str] = set()  # keys in the window (an input named twice is done once)
        self.cursor = 0  # pending[:cursor] have passed the duplicate check
        self.held = 0  # input bytes of the units in the window
        self.seq = 0

    @property
    def executor(self):
        if self._executor is None:
            self._executor = self.make_executor()
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def needs_work(self, inputs: list) -> bool:
        """Some input must be ingested (decided from the store alone, before any worker starts)."""
        for unit in expand(inputs):
            if not (unit.error or unit.skip) and not reusable(self.store.get(unit.key),
                                                             fingerprint(unit) + self.stack, self.options.force):
                return True
        return False

    def find_site_repeats(self, inputs: list) -> None:
        """The pre-pass, when the config asks for it and some input needs work (reused ones need none)."""
        if self.cfg.boilerplate.site_repeat_min_pages > 0 and self.needs_work(inputs):
            self.sites = collect_site_repeats(expand(inputs), self.executor, self.options.config, self.cfg,
                                              self.window)

    def add(self, unit: Unit) -> None:
        e = self.plan(unit)
        if e is not None:
            self.pending.append(e)
            self.keys.add(unit.key)
            self.advance(block=len(self.pending) >= self.window or self.held >= self.budget)

    def drain(self) -> None:
        while self.pending:
            self.advance(block=True)

    def plan(self, unit: Unit) -> Optional[Entry]:
        """The unit's entry in the window, with what to do with it; None for an input already in this run."""
        if unit.key in self.keys:
            return None
        row = self.store.get(unit.key)
        if row is not None and row["run_id"] == self.run_id:
            return None
        self.seq += 1
        e = Entry(unit, fingerprint(unit) + self.stack, self.seq)
        if unit.error:
            e.finish(dict(status="failed", reason=unit.error))
        elif unit.skip:
            e.finish(dict(status="skipped", reason=unit.skip))
        elif reusable(row, e.fp, self.options.force):
            e.stage = "reused"
        elif unit.key in self.sites.cut_short:
            e.finish(dict(status="failed", reason=self.sites.cut_short[unit.key]))
        else:
            e.size = input_size(unit)
            self.held += e.size
            e.future = self.executor.submit("ingest", (unit, self.options.config, self.sites.repeated_for(unit.key)))
            e.stage = "ingest"
        return e

    def advance(self, block: bool) -> None:
        """Duplicate checks in input order, analyses collected, then the finished head committed. With `block`,
        wait until at least one unit is committed."""
        while True:
            if self._executor is not None:
                self._executor.poll()
            self.check_ingested()
            self.collect_analyses()
            if self.commit_head() or not block or not self.pending:
                return
            # Wait for a future still running: ones already done (an ingest behind the one the duplicate check
            # waits for) would make wait() return at once, and the loop would spin, taking a core from the workers.
            running = [e.future for e in self.pending if e.future is not None and not e.future.done()]
            if running:
                self.executor.wait(running)

    def check_ingested(self) -> None:
        while self.cursor < len(self.pending):
            e = self.pending[self.cursor]
            if e.stage == "ingest":
                if not e.future.done():
                    break
                self.after_ingest(e)
            self.cursor += 1

    def collect_analyses(self) -> None:
        for e in self.pending:
            if e.stage == "analyse" and e.future.done():
                self.after_analysis(e)

    def after_ingest(self, e: Entry) -> None:
        """Record a failure, or check the document for duplicates and send it to analysis."""
        res = e.ingest = outcome_of(e.future)
        e.unit.content = None  # the record's text is in the clean document now
        if res["status"] != "ok":
            e.finish(dict(status=res["status"], reason=res["reason"], seconds_ingest=res["seconds"]))
            return
        clean = res["clean"]
        dup = self.duplicate_of(e.unit.key, res["minhash"])
        if dup:
            e.finish(duplicate_result(clean, dup, res))
            return
        e.future = self.executor.submit("analyse", (e.unit.key, clean, self.options.config))
        e.stage = "analyse"

    def duplicate_of(self, key: str, minhash: Optional[bytes]) -> Optional[str]:
        if self.index is None or minhash is None:
            return None
        if key in self.index:  # redone because it changed: its old signature must not match it
            self.index.remove(key)
        return self.index.check_and_add(key, np.frombuffer(minhash, dtype=np.uint64))

    def after_analysis(self, e: Entry) -> None:
        res, ires = outcome_of(e.future), e.ingest
        clean = ires["clean"]
        common = dict(content_hash=clean.content_hash, minhash=ires["minhash"], seconds_ingest=ires["seconds"],
                      seconds_analyse=res["seconds"], chars=len(clean.body), truncated=clean.truncated)
        if res["status"] != "processed":
            e.finish(dict(status="failed", reason=res["reason"], **common))
        else:
            doc_id, line, e.chunks = serialised(res["document"])
            e.finish(dict(status="processed", doc_id=doc_id, doc=line, **common))
        e.ingest = None

    def commit_head(self) -> int:
        """Commit the finished units at the head of the window, in one transaction; returns how many."""
        done = 0
        if self.pending and self.pending[0].stage in ("final", "reused"):
            with self.store.transaction():
                while self.pending and self.pending[0].stage in ("final", "reused"):
                    self.commit(self.pending.popleft())
                    self.cursor -= 1
                    done += 1
        return done

    def commit(self, e: Entry) -> None:
        self.keys.discard(e.unit.key)
        self.held -= e.size
        if e.stage == "reused":
            self.store.mark_seen(e.unit.key, self.run_id, e.seq)
            self.counts["reused"] += 1
            if self.streamed.failed is None:
                self.streamed.add_unit(self.store, *self.store.output_of(e.unit.key))
        else:
            r = e.result
            self.store.put(e.unit.key, fingerprint=e.fp, run_id=self.run_id, seq=e.seq, **r)
            self.counts[r["status"]] += 1
            if r["status"] == "failed":
                log.info("%s: %s", e.unit.key, r["reason"])
            self.streamed.add_unit(self.store, r["status"], r.get("duplicate_of"), r.get("doc"), e.chunks)
        if self.progress is not None:
            self.progress.update(e.stage != "reused", self.counts)


def duplicate_result(clean, dup: str, res: dict) -> dict:
    """The stored result of a near-duplicate: its own ingest-only part (source, title, removed lines…), the line
    taking the rest from its original."""
    part = {"source": asdict(clean.source), "title": clean.title, "title_raw": clean.title_raw,
            "title_restored": clean.title_restored, "published_at": clean.published_at,
            "removed": [asdict(r) for r in clean.removed], "author": clean.author, "publisher": clean.publisher,
            "subtitle": clean.subtitle}
    return dict(status="skipped", reason=f"near-duplicate of {dup}", duplicate_of=dup,
                content_hash=clean.content_hash, doc=part, seconds_ingest=res["seconds"], chars=len(clean.body),
                truncated=clean.truncated)


def duplicate_index(store: RunStore, cfg: Config, force: bool):
    """The near-duplicate index, holding the signatures of earlier runs (unless `force`); None when off."""
    from pipeline.ingest.dedup import SIGNATURE_SCHEME, DuplicateIndex

    dd = cfg.dedup
    if not dd.enabled:
        return None
    index = DuplicateIndex(num_perm=dd.num_perm, threshold=dd.threshold)
    dropped = store.use_signature_scheme(SIGNATURE_SCHEME)
    if dropped:
        log.warning("%s: %d near-duplicate signatures of earlier runs were made under another scheme and are "
                    "dropped; re-run with --force to compare the new documents with those", store.path, dropped)
    if not force:
        for key, blob in store.signatures():
            index.check_and_add(key, np.frombuffer(blob, dtype=np.uint64))
    return index


def run(inputs: Iterable[str], out_dir, *, config: Optional[str] = None, workers: Optional[int] = None,
        force: bool = False, executor: str = "local", scheduler: Optional[str] = None, progress: bool = False,
        argv: Optional[list[str]] = None, window: Optional[int] = None) -> RunSummary:
    """Process a batch into out_dir and return its summary (also written to run.json).

    Inputs stream through a window of at most `window` units (default 8 per worker): each is ingested in a
    worker, checked for near-duplicates here in input order (the first copy wins), analysed in a worker unless
    it is a copy, and committed to the run store in input order. Memory is bounded by the window, and after a
    kill the store holds a prefix of the inputs, so the next run resumes where this one stopped and ends with
    the same outputs. Inputs whose fingerprint (size and mtime, or content hash; the config and models) is in
    the store are not redone unless `force`. One run at a time writes to an output folder (FolderBusy)."""
    options = RunOptions(config, workers, force, executor, scheduler, progress, argv, window)
    run_config = load_config(config)
    out_dir = Path(out_dir)
    with OutputLock(out_dir):
        store = open_store(out_dir, force)
        try:
            return run_batch(list(inputs), out_dir, store, run_config, options)
        finally:
            quietly(store.close)


def open_store(out_dir: Path, force: bool) -> RunStore:
    """The folder's run store. A damaged one stops the run with a message saying `--force` rebuilds it; with
    `force` it is set aside (as run.sqlite.damaged, for whoever wants to look into it) and a new one started."""
    path = out_dir / STORE_NAME
    try:
        return RunStore(path, check=force)
    except StoreError as exc:
        if not (force and exc.damaged):
            raise
    log.warning("%s is damaged; it is kept as %s.damaged and a new run store is started", path, path.name)
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, path.with_name(path.name + ".damaged" + suffix))
    return RunStore(path)


def worker_count(options: RunOptions, cfg: Config) -> int:
    return max(1, int(options.workers if options.workers is not None
                      else (cfg.run.workers or os.cpu_count() or 1)))


def new_executor(options: RunOptions, cfg: Config, workers: int):
    """The executor the options name: local worker processes, or a Dask cluster."""
    if options.executor == "dask":
        return DaskExecutor(options.scheduler, workers)
    limits = cfg.limits
    return WorkerPool(workers, options.config, batch=cfg.run.chunk_size, doc_timeout=limits.doc_timeout,
                      kill_grace=limits.kill_grace)


def run_batch(inputs: list, out_dir: Path, store: RunStore, cfg: Config, options: RunOptions,
              make_executor: Optional[Callable[[], object]] = None) -> RunSummary:
    """run() inside the folder's lock, with its store open. `make_executor` (a function making the executor
    when the first unit needs one) defaults to the one the options name."""
    run_id, started = uuid.uuid4().hex[:12], time.time()
    store.start_run(run_id, options.argv or [])
    clear_unpublished(out_dir)  # left by a run killed or failed before it published its outputs
    workers = worker_count(options, cfg)
    make_executor = make_executor or (lambda: new_executor(options, cfg, workers))
    window = options.window or default_window(workers, 1 if options.executor == "dask" else cfg.run.chunk_size)
    progress = Progress(inputs, cfg.run.eta_after) if options.progress else None
    streamed = StreamedOutputs(out_dir)
    batch = Batch(store, run_id, cfg, options, make_executor, streamed, window, progress)
    try:
        batch.find_site_repeats(inputs)
        for unit in expand(inputs):
            batch.add(unit)
        batch.drain()
    except BaseException:
        quietly(streamed.discard)
        raise
    finally:
        quietly(batch.close)
        if progress is not None:
            quietly(progress.close)
    info = RunInfo(run_id, cfg, started, batch.counts, workers, options.executor, options.argv)
    summary = write_outputs(store, out_dir, info, streamed if streamed.finish(store) else None)
    store.finish_run(run_id, {k: v for k, v in asdict(summary).items() if k != "outcomes"})
    return summary
