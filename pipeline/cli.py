"""`policyminer` command line: thin argument parsing over the public API. Imports are lazy so that
`policyminer --help` is instant."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("policyminer")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyminer", description="Text mining for Chinese policy documents.")
    p.add_argument("--config", help="TOML file overlaying configs/default.toml")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"policyminer {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="process a batch of files, folders, globs, JSONL or WARC into an output folder")
    r.add_argument("inputs", nargs="*", help="files, folders (recursive), globs; '-' reads paths from stdin")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--from-list", help="file listing one input per line ('-' for stdin)")
    r.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    r.add_argument("--executor", choices=["local", "dask"], default="local")
    r.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--force", action="store_true", help="re-process inputs already done")
    r.add_argument("--strict", action="store_true", help="exit non-zero if any input failed")
    r.add_argument("--quiet", action="store_true", help="no progress bar, errors only")
    r.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")

    pr = sub.add_parser("process", help="print one document's JSON ('-' reads stdin)")
    pr.add_argument("file")
    pr.add_argument("--url", help="the page's URL (for site and date)")
    pr.add_argument("--pretty", action="store_true")

    a = sub.add_parser("annotate", help="tag passages given as JSONL records {id, text[, doc, heading]}")
    a.add_argument("input", help="JSONL file ('-' for stdin)")
    a.add_argument("--out", help="output JSONL (default stdout)")

    sub.add_parser("schema", help="print the JSON Schema of documents.jsonl lines")

    t = sub.add_parser("train", help="train a model from corpora/")
    t.add_argument("what", choices=["classifier", "ner"])
    t.add_argument("--with-corrections", nargs="*", default=[], metavar="DIR",
                   help="run folders whose review corrections join the training data")
    t.add_argument("--out", help="model folder (default models/<what>)")
    t.add_argument("--pool", help="the real document pool the stand-off labels point into "
                                  "(default: $POLICYMINER_POOL or ../shared/corpus/policy)")

    e = sub.add_parser("evaluate", help="score against gold")
    e.add_argument("what", choices=["ingest", "classifier", "entities", "agreement"])
    e.add_argument("gold", nargs="?", help="ingest: a folder of X.html/X.txt with X.gold.txt; classifier/entities: "
                                         "gold JSONL (not with --cv / --pool)")
    e.add_argument("--cv", action="store_true", help="classifier: grouped cross-validation by document on the "
                                                     "pool's stand-off labels (corpora/labels)")
    e.add_argument("--pool", help="the real document pool (default: $POLICYMINER_POOL or ../shared/corpus/policy)")
    e.add_argument("--save", action="store_true", help="classifier --cv: write the table to models/classifier/cv.json")
    e.add_argument("--compare", action="store_true", help="ingest: also score readability, trafilatura, GNE, jusText")
    e.add_argument("--texts", help="classifier: folder with each gold 'doc' as <doc>.txt, to score end to end")
    e.add_argument("--format", choices=["auto", "policyminer", "msra", "peoples_daily", "cluener"], default="auto",
                   help="entities: gold format")
    e.add_argument("--limit", type=int, help="entities: score at most this many records")
    e.add_argument("--json", action="store_true")

    rv = sub.add_parser("review", help="serve the review web app over a run folder")
    rv.add_argument("out_dir")
    rv.add_argument("--host", default="127.0.0.1")
    rv.add_argument("--port", type=int, default=8765)
    rv.add_argument("--token", help="access token (required when binding to a non-loopback host)")
    rv.add_argument("--reviewer", default=None, help="name recorded with corrections")

    ec = sub.add_parser("export-corrections", help="write reviewed corrections as training JSONL")
    ec.add_argument("out_dir")
    ec.add_argument("--out", help="output folder (default OUT_DIR/corrections)")

    rp = sub.add_parser("report", help="write a self-contained HTML report with charts")
    rp.add_argument("out_dir")
    rp.add_argument("--out", help="report folder (default OUT_DIR/report)")
    return p


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "quiet", False))
    from pipeline.config import ConfigError
    from pipeline.modelio import ModelError

    try:
        return COMMANDS[args.command](args, argv)
    except (ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def cmd_run(args, argv) -> int:
    from pipeline.inputs import read_list
    from pipeline.run import run

    inputs = list(args.inputs)
    if "-" in inputs:
        inputs.remove("-")
        inputs += list(read_list("-"))
    if args.from_list:
        inputs += list(read_list(args.from_list))
    if not inputs:
        print("policyminer run: no inputs given", file=sys.stderr)
        return 2
    progress = not args.quiet and not args.json and sys.stderr.isatty()
    try:
        summary = run(inputs, args.out, config=args.config, workers=args.workers, force=args.force,
                      executor=args.executor, scheduler=args.scheduler, progress=progress,
                      argv=["policyminer", *argv])
    except (OSError, RuntimeError) as exc:  # ExportError/StoreError (OSError) and RunError name file and reason
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if summary.processed + summary.skipped + summary.failed == 0:
        print(f"error: no input documents found in {' '.join(inputs)}", file=sys.stderr)
        return 1
    for o in summary.outcomes:
        if o.status == "failed" and not args.quiet:
            print(f"error: {o.input}: {o.reason}", file=sys.stderr)
    line = (f"{summary.processed} processed, {summary.skipped} skipped, {summary.failed} failed "
            f"({summary.reused} already done) in {summary.seconds:.1f}s → {args.out}")
    if args.json:
        print(json.dumps({"out_dir": summary.out_dir, "processed": summary.processed, "skipped": summary.skipped,
                          "failed": summary.failed, "reused": summary.reused, "seconds": summary.seconds}))
    elif not args.quiet:
        print(line, file=sys.stderr)
    if summary.processed + summary.skipped == 0 and summary.failed > 0:
        return 1
    if args.strict and summary.failed:
        return 1
    return 0


def cmd_process(args, argv) -> int:
    from pipeline.config import load_settings
    from pipeline.core import process
    from pipeline.export import document_json
    from pipeline.ingest import IngestError
    from pipeline.run import DocTimeout, _Alarm

    settings = load_settings(args.config)
    if args.file != "-" and not Path(args.file).is_file():
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 1
    source = sys.stdin.buffer.read() if args.file == "-" else Path(args.file)
    name = "<stdin>" if args.file == "-" else None
    try:
        # The same per-document limit as batch workers (limits.doc_timeout).
        with _Alarm(settings["limits"]["doc_timeout"]):
            doc = process(source, name=name, url=args.url, settings=settings)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DocTimeout as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(document_json(doc), ensure_ascii=False, indent=2 if args.pretty else None))
    return 0


def cmd_annotate(args, argv) -> int:
    from pipeline.config import load_settings
    from pipeline.core import annotate

    fh = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    records = []
    with fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                print(f"error: {args.input}:{no}: invalid JSON ({exc.msg})", file=sys.stderr)
                return 1
            if not isinstance(rec, dict) or "text" not in rec:
                print(f"error: {args.input}:{no}: record needs a 'text' field", file=sys.stderr)
                return 1
            records.append(rec)
    out = annotate(records, settings=load_settings(args.config))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    if args.out:
        from pipeline.export import atomic_write

        atomic_write(Path(args.out), lambda f: f.write(text))
    else:
        sys.stdout.write(text)
    return 0


def cmd_schema(args, argv) -> int:
    from pipeline.export import schema

    print(json.dumps(schema(), ensure_ascii=False, indent=2))
    return 0


def cmd_train(args, argv) -> int:
    from pipeline.config import load_settings

    settings = load_settings(args.config)
    if args.what == "classifier":
        from pipeline.retrain import train_classifier_with_corrections
        from pipeline.train import train_classifier

        if args.with_corrections:
            report = train_classifier_with_corrections(args.with_corrections, settings=settings,
                                                       out_dir=Path(args.out) if args.out else None)
            print(report)
            return 0
        meta = train_classifier(settings=settings, out_dir=Path(args.out) if args.out else None, pool=args.pool)
        h, b = meta["heldout"], meta["baseline_tfidf_lr_no_context"]
        print(f"classifier: {meta['data']['records']} passages; held-out macro-F1 {h['macro_f1']:.3f} "
              f"(baseline {b['macro_f1']:.3f}) → {args.out or 'models/classifier'}")
        return 0
    from pipeline.nlp.tagger_training import train_tagger

    meta = train_tagger(settings=settings, out_dir=Path(args.out) if args.out else None, pool=args.pool,
                        corrections=args.with_corrections)
    print(f"name tagger: {meta['data']['pool_paragraphs']} pool paragraphs + {meta['data']['public_records']} public "
          f"records → {args.out or 'models/ner'}")
    return 0


def cmd_evaluate(args, argv) -> int:
    from pipeline import evaluate

    return evaluate.main(args)


def cmd_review(args, argv) -> int:
    from pipeline.review.app import serve

    return serve(args.out_dir, host=args.host, port=args.port, token=args.token, reviewer=args.reviewer)


def cmd_export_corrections(args, argv) -> int:
    from pipeline.review.corrections import export_corrections

    paths = export_corrections(Path(args.out_dir), Path(args.out) if args.out else None)
    for p in paths:
        print(p)
    return 0


def cmd_report(args, argv) -> int:
    from pipeline.report import write_report

    path = write_report(Path(args.out_dir), Path(args.out) if args.out else None)
    print(path)
    return 0


COMMANDS = {"run": cmd_run, "process": cmd_process, "annotate": cmd_annotate, "schema": cmd_schema,
            "train": cmd_train, "evaluate": cmd_evaluate, "review": cmd_review,
            "export-corrections": cmd_export_corrections, "report": cmd_report}


if __name__ == "__main__":
    sys.exit(main())
