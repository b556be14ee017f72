"""Run one fuzz case in this process and report how it ended, as one JSON line on stdout.

    python tests/fuzz/run_case.py FILE [--analyse] [--max-as-mb N]

Outcomes: {"outcome": "doc", ...} when a CleanDocument (or, with --analyse, a Document) came out,
{"outcome": "ingest_error", "reason": ...} for a clear IngestError. Anything else is a bug: the traceback goes
to stderr and the exit status is 2. The address-space limit makes a runaway allocation fail here instead of
taking the machine down; ru_maxrss is reported so the caller can check peak memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--analyse", action="store_true", help="also run NLP and classification (slow to start)")
    ap.add_argument("--max-as-mb", type=int, default=0, help="RLIMIT_AS in MiB (0: no limit)")
    args = ap.parse_args(argv)
    if args.max_as_mb:
        limit = args.max_as_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    from pipeline.config import load_config
    from pipeline.ingest import IngestError, Ingester

    config = load_config()
    ingester = Ingester(config)
    started = time.perf_counter()
    report: dict = {"file": str(args.file)}
    try:
        clean = ingester.ingest(args.file)
        report.update(outcome="doc", title=clean.title, paragraphs=len(clean.paragraphs), body_chars=len(clean.body),
                      encoding=clean.encoding, kind=clean.input_kind,
                      max_paragraph_chars=max((len(p.text) for p in clean.paragraphs), default=0))
        report["ingest_seconds"] = round(time.perf_counter() - started, 3)
        # The body is checked by the caller for forbidden and required snippets; keep the line bounded.
        report["body_head"] = clean.body[:20000]
        report["body_tail"] = clean.body[-2000:]
        report["removed_reasons"] = sorted({r.reason for r in clean.removed})
        if args.analyse:
            from pipeline.pipeline import Pipeline

            doc = Pipeline.from_config(config).analyse([clean])[0]
            report.update(passages=len(doc.passages), entities=len(doc.entities))
    except IngestError as exc:
        report.update(outcome="ingest_error", reason=exc.reason, message=str(exc))
    except BaseException:
        traceback.print_exc()
        report.update(outcome="crash")
        print(json.dumps(report, ensure_ascii=False))
        return 2
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
