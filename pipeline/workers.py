"""The work a batch does in worker processes, one step per function: the site pre-pass, ingest, analysis.

Every step takes one argument tuple and returns an outcome dict ({"key", "status", "reason"?, "seconds", …}); it
never raises for a bad input. `STEPS` names them for the executors (pipeline.executors). Each step also has a
soft time limit here (`Alarm`, SIGALRM: it interrupts Python code); the parent process enforces the hard one,
which C code cannot escape, by killing the worker (executors.WorkerPool)."""
from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

from pipeline.config import Config, load_config
from pipeline.inputs import Unit

log = logging.getLogger(__name__)


class DocTimeout(Exception):
    pass


def timeout_reason(seconds: float) -> str:
    return f"timed out after {seconds:g}s (limits.doc_timeout)"


class Alarm:
    """A soft time limit on the code inside the `with` block (SIGALRM, main thread only: elsewhere, e.g. in a
    threaded Dask worker, there is none)."""

    def __init__(self, seconds: float):
        self.seconds = int(seconds)

    def _raise(self, *_):
        raise DocTimeout(timeout_reason(self.seconds))

    def __enter__(self):
        self.ok = self.seconds > 0 and hasattr(signal, "SIGALRM")
        try:
            if self.ok:
                self.old = signal.signal(signal.SIGALRM, self._raise)
                signal.alarm(self.seconds)
        except ValueError:  # not in the main thread
            self.ok = False
        return self

    def __exit__(self, *exc):
        if self.ok:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.old)
        return False


# This process's Pipeline per config file: built once (worker_init, or the first step of an in-process run) and
# used by every step after. Steps name the config file, not the Pipeline, so that they pickle small.
_PIPELINES: dict = {}


def config_for(config_file: Optional[str]) -> Config:
    return pipeline_for(config_file).config


def pipeline_for(config_file: Optional[str]):
    from pipeline.pipeline import Pipeline

    pipe = _PIPELINES.get(config_file)
    if pipe is None:
        pipe = _PIPELINES[config_file] = Pipeline.from_config(load_config(config_file))
    return pipe


def worker_init(config_file: Optional[str]) -> None:
    """Build the Pipeline (load the models) once per worker process, and warm the worker up (warm_up). Raises
    ModelError and the like: the caller reports it (a worker that cannot load its models can do nothing)."""
    pipeline_for(config_file)
    warm_up(config_file)


# A small page of our own, in HTML and as flattened text, for warm_up.
_WARM_UP_TITLE = "示范区科技创新工作情况通报"
_WARM_UP_PARAGRAPHS = (
    "2024年3月，示范区科技局安排专项资金1.5亿元，支持量子计算等前沿研究，全年新增高新技术企业120家。",
    "但是，核心器件仍依赖进口，高端人才短缺的问题较为突出。",
    "下一步，建议加大财政投入，完善《示范区科技创新促进条例》配套政策。")


def warm_up(config_file: Optional[str]) -> None:
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
                analyse_units([(unit.key, res["clean"], config_file)])
    except Exception:  # noqa: BLE001
        log.debug("worker warm-up failed", exc_info=True)


def source_of(unit: Unit) -> tuple:
    """What ingest reads for a unit, and the name its messages and outputs carry."""
    if unit.content is not None:
        return unit.content, unit.key
    return Path(unit.path), unit.path


def _failure(key: str, exc: BaseException, started: float) -> dict:
    """A failed outcome naming the error (one bad document must not end the batch)."""
    reason = str(exc) if isinstance(exc, DocTimeout) else f"{type(exc).__name__}: {exc}"[:300]
    return {"key": key, "status": "failed", "reason": reason, "seconds": time.perf_counter() - started}


def site_keys_unit(args: tuple) -> dict:
    """Pre-pass: a unit → its site and the keys of its countable lines (siterepeat)."""
    unit, config_file = args
    pipe = pipeline_for(config_file)
    started = time.perf_counter()
    try:
        with Alarm(pipe.config.limits.doc_timeout):
            source, name = source_of(unit)
            site, keys, page_hash = pipe.ingester.page_keys(source, name=name, url=unit.url, kind=unit.kind)
    except Exception as exc:  # the main pass reports why this input fails (a timeout is kept: see run.py)
        return _failure(unit.key, exc, started)
    return {"key": unit.key, "status": "ok", "site": site, "keys": keys, "page_hash": page_hash}


def _cut_by_max_blocks(clean, config: Config) -> Optional[str]:
    """The document's blocks (kept, removed or joined into a paragraph) reached limits.max_blocks: what came
    after was never looked at. Said on the document and in run.json."""
    limit = config.limits.max_blocks
    blocks = len(clean.paragraphs) + len(clean.removed) + clean.joined_breaks
    return f"max_blocks: only the first {limit} blocks were read (limits.max_blocks)" if blocks >= limit else None


def ingest_unit(args: tuple) -> dict:
    """Ingest: a unit → its CleanDocument and MinHash signature, or a failure. `site_repeats` are the keys of
    lines repeated on other pages of its site (see run.collect_site_repeats)."""
    unit, config_file, site_repeats = args
    from pipeline.ingest import IngestError
    from pipeline.ingest.dedup import signature

    pipe = pipeline_for(config_file)
    started = time.perf_counter()
    try:
        with Alarm(pipe.config.limits.doc_timeout):
            source, name = source_of(unit)
            clean = pipe.ingest(source, name=name, url=unit.url, kind=unit.kind, site_repeats=site_repeats)
            if unit.content is not None:
                clean.source.path = unit.key
            dd = pipe.config.dedup
            sig = signature(clean.body, num_perm=dd.num_perm, k=dd.shingle_chars) if dd.enabled else None
    except IngestError as exc:
        return {"key": unit.key, "status": "failed" if not exc.reason.startswith("not a Chinese") else "skipped",
                "reason": exc.reason, "seconds": time.perf_counter() - started}
    except Exception as exc:  # DocTimeout included
        log.debug("ingest of %s failed", unit.key, exc_info=True)
        return _failure(unit.key, exc, started)
    clean.truncated = "; ".join(t for t in (unit.truncated, _cut_by_max_blocks(clean, pipe.config)) if t) or None
    return {"key": unit.key, "status": "ok", "clean": clean, "minhash": None if sig is None else sig.tobytes(),
            "seconds": time.perf_counter() - started}


def analyse_units(batch: Sequence[tuple]) -> list[dict]:
    """Analysis of a batch of units (key, CleanDocument, config file) with one Pipeline.analyse call: the
    classifier's cost per call is shared, and each document comes out as analyse() makes it alone. Each unit's
    seconds are the batch's shared equally. Should the batch fail or run out of time (the documents' timeouts
    added up), each unit is analysed again alone, so that only a bad unit fails, with its own reason. Each
    outcome holds the Document; the main process writes its JSON line and table parts (see serialised): it has
    time to spare while the workers analyse, and a Document crosses the pipe in a third of their bytes."""
    pipe = pipeline_for(batch[0][2])
    started = time.perf_counter()
    try:
        with Alarm(pipe.config.limits.doc_timeout * len(batch)):
            docs = pipe.analyse([clean for _, clean, _ in batch])
    except Exception as exc:  # DocTimeout included
        if len(batch) > 1:
            return [out for args in batch for out in analyse_units([args])]
        if not isinstance(exc, DocTimeout):
            log.debug("analysis of %s failed", batch[0][0], exc_info=True)
        return [_failure(batch[0][0], exc, started)]
    seconds = (time.perf_counter() - started) / len(batch)
    return [{"key": key, "status": "processed", "document": doc, "seconds": seconds}
            for (key, _, _), doc in zip(batch, docs)]


def serialised(document) -> tuple[str, str, tuple]:
    """(doc_id, JSON line, table parts) of an analysed Document, as the outputs take them."""
    from pipeline.export import dumps_dict, table_chunks

    as_dict = document.to_dict()
    return document.doc_id, dumps_dict(as_dict), table_chunks(as_dict)


class Step(NamedTuple):
    """A step as the executors see it: `run` takes a list of arguments and returns their outcomes in order;
    `together` says the list runs as one call (analysis), else one argument after the other."""
    run: Callable[[list], list]
    together: bool
    key: Callable[[tuple], str]  # the unit key of an argument, for the outcome of a call the parent cut short


def _one_by_one(fn: Callable) -> Callable[[list], list]:
    return lambda args: [fn(a) for a in args]


STEPS: dict[str, Step] = {
    "site_keys": Step(_one_by_one(site_keys_unit), False, lambda a: a[0].key),
    "ingest": Step(_one_by_one(ingest_unit), False, lambda a: a[0].key),
    "analyse": Step(analyse_units, True, lambda a: a[0]),
}


def call_step(step: str, arg: tuple) -> dict:
    """One call of a step (what a Dask task runs)."""
    return STEPS[step].run([arg])[0]


def cut_short(step: str, arg: tuple, reason: str) -> dict:
    """The outcome of a call the parent process cut short (it killed the worker, or the worker died)."""
    return {"key": STEPS[step].key(arg), "status": "failed", "reason": reason, "seconds": 0.0}
