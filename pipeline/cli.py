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


# Exit codes, the same for every command (README.md, "Exit codes and errors").
EXIT_OK = 0  # all done
EXIT_FAILED = 1  # some inputs failed, nothing was processed, or a file or folder named is missing
EXIT_USAGE = 2  # the command line is wrong: unknown option, bad value, unreadable --config, --host without --token


class CommandError(Exception):
    """A failure the command reports as one line on stderr ("error: FILE: reason") and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1–65535."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {n}")
    return n


def out_folder(text: str) -> str:
    """argparse type: an output folder, existing or not, but neither a file nor inside one."""
    for path in (Path(text), *Path(text).parents):
        if path.exists():
            if not path.is_dir():
                raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
            break
    return text


def out_file(text: str) -> str:
    """argparse type: an output file, existing or not, but not a folder."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    return text


def _add_global_flags(p: argparse.ArgumentParser, on_command: bool) -> None:
    """--config and -v, on the main parser and on every command, so that they go before or after the command. On a
    command their default is SUPPRESS: a flag given before the command is not reset by the command's parser."""
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS if on_command else None,
                   help="TOML file overlaying configs/default.toml")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if on_command else False,
                   help="log debug messages")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policyminer", description="Text mining for Chinese policy documents.",
                                epilog="exit codes: 0 all done; 1 some inputs failed, nothing processed, or a file "
                                       "or folder is missing; 2 usage error")
    _add_global_flags(p, on_command=False)
    p.add_argument("--version", action="version", version=f"policyminer {_version()}")
    common = argparse.ArgumentParser(add_help=False)
    _add_global_flags(common, on_command=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    # In this order in `policyminer --help`.
    for add_commands in (_add_run, _add_document_commands, _add_model_commands, _add_folder_commands):
        add_commands(command)
    return p


def _add_run(command) -> None:
    """run. (Each _add_ function gets `command(name, help)`, which makes a command's parser.)"""
    r = command("run", "process a batch of files, folders, globs, JSONL or WARC into an output folder")
    r.add_argument("inputs", nargs="*", help="files, folders (recursive), globs; '-' reads paths from stdin")
    r.add_argument("-o", "--out", required=True, type=out_folder, help="output folder")
    r.add_argument("--from-list", metavar="FILE", help="file listing one input per line ('-' for stdin)")
    r.add_argument("-w", "--workers", type=positive_int, help="worker processes, at least 1 (default: all cores)")
    r.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="where workers run: local processes (default) or a Dask cluster (--scheduler)")
    r.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--force", action="store_true", help="re-process inputs already done")
    r.add_argument("--strict", action="store_true",
                   help="kept for old scripts: any failed input now exits 1 without it")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary, errors only")
    r.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")


def _add_document_commands(command) -> None:
    """process, annotate, schema, validate."""
    pr = command("process", "print one document's JSON ('-' reads stdin)")
    pr.add_argument("file", help="an HTML or text file ('-' reads stdin)")
    pr.add_argument("--url", help="the page's URL (for site and date)")
    pr.add_argument("--pretty", action="store_true", help="indent the JSON")

    a = command("annotate", "tag passages given as JSONL records {id, text[, doc, heading]}")
    a.add_argument("input", help="JSONL file ('-' for stdin)")
    a.add_argument("-o", "--out", type=out_file, help="output JSONL (default stdout)")

    command("schema", "print the JSON Schema of documents.jsonl lines")

    v = command("validate", "check a run folder: documents.jsonl against the schema, the tables and run.json "
                            "against documents.jsonl")
    v.add_argument("out_dir", help="a `policyminer run` output folder")
    v.add_argument("-q", "--quiet", action="store_true", help="no summary line when the folder is valid")


def _add_model_commands(command) -> None:
    """train, evaluate."""
    t = command("train", "train a model from corpora/")
    t.add_argument("what", choices=["classifier", "ner"], help="the model to train")
    t.add_argument("--with-corrections", nargs="*", default=[], metavar="DIR",
                   help="run folders whose review corrections join the training data")
    t.add_argument("-o", "--out", type=out_folder, help="model folder (default models/<what>)")
    t.add_argument("--pool", help="the real document pool the stand-off labels point into "
                                  "(default: $POLICYMINER_POOL or ../shared/corpus/policy)")

    e = command("evaluate", "score against gold")
    e.add_argument("what", choices=["ingest", "ingest-disagreement", "classifier", "entities", "agreement"],
                   help="what to score (ingest-disagreement: raw pages without gold, ours against the libraries)")
    e.add_argument("gold", nargs="?", help="ingest: a folder of X.html/X.txt with X.gold.txt; classifier/entities: "
                                         "gold JSONL (not with --cv / --pool); ingest-disagreement: folders of raw "
                                         "HTML pages")
    e.add_argument("more", nargs="*", help=argparse.SUPPRESS)
    e.add_argument("--cv", action="store_true", help="classifier: grouped cross-validation by document on the "
                                                     "pool's stand-off labels (corpora/labels)")
    e.add_argument("--pool", help="the real document pool (default: $POLICYMINER_POOL or ../shared/corpus/policy)")
    e.add_argument("--save", action="store_true", help="classifier --cv: write the table to models/classifier/cv.json")
    e.add_argument("--compare", action="store_true", help="ingest: also score readability, trafilatura, resiliparse, "
                                                          "newspaper4k, magic-html (Python >= 3.12), GNE, jusText")
    e.add_argument("--texts", help="classifier: folder with each gold 'doc' as <doc>.txt, to score end to end")
    e.add_argument("--format", choices=["auto", "policyminer", "msra", "peoples_daily", "cluener"], default="auto",
                   help="entities: gold format")
    e.add_argument("--limit", type=positive_int, help="entities: score at most this many records")
    e.add_argument("--json", action="store_true", help="print the scores as JSON")


def _add_folder_commands(command) -> None:
    """The commands over a run folder: review, export-corrections, report."""
    rv = command("review", "serve the review web app over a run folder")
    rv.add_argument("out_dir", help="a `policyminer run` output folder")
    rv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    rv.add_argument("--port", type=port_number, default=8765, help="port, 1-65535 (default 8765)")
    rv.add_argument("--token", help="access token (required when binding to a non-loopback host)")
    rv.add_argument("--reviewer", default=None, help="name recorded with corrections")

    ec = command("export-corrections", "write reviewed corrections as training JSONL")
    ec.add_argument("out_dir", help="a `policyminer run` output folder")
    ec.add_argument("-o", "--out", type=out_folder, help="output folder (default OUT_DIR/corrections)")

    rp = command("report", "write a self-contained HTML report with charts")
    rp.add_argument("out_dir", help="a `policyminer run` output folder")
    rp.add_argument("-o", "--out", type=out_folder, help="report folder (default OUT_DIR/report)")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "quiet", False))
    try:
        return _dispatch(args, argv)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _dispatch(args, argv) -> int:
    """Run the command, turning the errors a user can meet into CommandError (one line, an exit code)."""
    from pipeline.config import ConfigError
    from pipeline.modelio import ModelError
    from pipeline.review.data import RunFolderError

    try:
        return COMMANDS[args.command](args, argv)
    except ConfigError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except (ModelError, RunFolderError) as exc:
        raise CommandError(str(exc)) from None
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CommandError(os_error_text(exc)) from None


def os_error_text(exc: OSError) -> str:
    """'FILE: reason' for an OSError ('x.txt: no such file or directory'), without the '[Errno N]' prefix."""
    if not exc.strerror:
        return str(exc)
    reason = exc.strerror[0].lower() + exc.strerror[1:]
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _need_folder(path: str) -> Path:
    """A folder named on the command line, or CommandError naming it."""
    folder = Path(path)
    if not folder.is_dir():
        raise CommandError(f"{path}: {'not a folder' if folder.exists() else 'no such folder'}")
    return folder


def cmd_run(args, argv) -> int:
    from pipeline.run import run

    inputs = _run_inputs(args)
    progress = not args.quiet and not args.json and sys.stderr.isatty()
    try:
        summary = run(inputs, args.out, config=args.config, workers=args.workers, force=args.force,
                      executor=args.executor, scheduler=args.scheduler, progress=progress,
                      argv=["policyminer", *argv])
    except RuntimeError as exc:  # RunError names the file and reason (OSErrors: see _dispatch)
        raise CommandError(str(exc)) from None
    if summary.processed + summary.skipped + summary.failed == 0:
        raise CommandError(f"no input documents found in {' '.join(inputs)}")
    _print_outcomes(summary, args.out, args.quiet)
    if args.json:
        print(json.dumps({"out_dir": summary.out_dir, "processed": summary.processed, "skipped": summary.skipped,
                          "failed": summary.failed, "reused": summary.reused, "seconds": summary.seconds}))
    elif not args.quiet:
        print(f"{summary.processed} processed, {summary.skipped} skipped, {summary.failed} failed "
              f"({summary.reused} already done) in {summary.seconds:.1f}s → {args.out}", file=sys.stderr)
    return EXIT_FAILED if summary.failed or not summary.processed else EXIT_OK


def _run_inputs(args) -> list[str]:
    """The inputs named on the command line, on stdin ('-') and in --from-list."""
    from pipeline.inputs import read_list

    inputs = list(args.inputs)
    if "-" in inputs:
        inputs.remove("-")
        inputs += list(read_list("-"))
    if args.from_list:
        inputs += list(read_list(args.from_list))
    if not inputs:
        raise CommandError("run: no inputs given", EXIT_USAGE)
    return inputs


SKIPPED_SHOWN = 10  # skipped inputs listed on stderr; run.json lists them all


def _print_outcomes(summary, out_dir: str, quiet: bool) -> None:
    """One line per failed input (always), per skipped input (unless quiet, or when nothing was processed: then
    they are why the run exits 1), and one error line when nothing was processed and nothing failed."""
    for o in summary.outcomes:
        if o.status == "failed":
            print(f"error: {o.input}: {o.reason}", file=sys.stderr)
    if not quiet or not summary.processed:
        skipped = [o for o in summary.outcomes if o.status == "skipped"]
        for o in skipped[:SKIPPED_SHOWN]:
            print(f"skipped: {o.input}: {o.reason}", file=sys.stderr)
        if len(skipped) > SKIPPED_SHOWN:
            print(f"skipped: {len(skipped) - SKIPPED_SHOWN} more, listed in {Path(out_dir) / 'run.json'}",
                  file=sys.stderr)
    if not summary.processed and not summary.failed:
        print("error: nothing processed: every input was skipped", file=sys.stderr)


def cmd_process(args, argv) -> int:
    from pipeline.config import load_config
    from pipeline.export import document_json
    from pipeline.ingest import IngestError
    from pipeline.pipeline import Pipeline
    from pipeline.workers import Alarm, DocTimeout

    config = load_config(args.config)
    if args.file != "-" and not Path(args.file).is_file():
        raise CommandError(f"{args.file}: no such file")
    source = sys.stdin.buffer.read() if args.file == "-" else Path(args.file)
    name = "<stdin>" if args.file == "-" else None
    try:
        # The same per-document limit as batch workers (limits.doc_timeout).
        pipe = Pipeline.from_config(config)
        with Alarm(config.limits.doc_timeout):
            doc = pipe.process(source, name=name, url=args.url)
    except IngestError as exc:
        raise CommandError(str(exc)) from None
    except DocTimeout as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    print(json.dumps(document_json(doc), ensure_ascii=False, indent=2 if args.pretty else None))
    return EXIT_OK


def cmd_annotate(args, argv) -> int:
    """Tag the good records; each bad one fails alone, with one line 'error: FILE:LINE: reason' (exit 1)."""
    from pipeline.config import load_config
    from pipeline.pipeline import Pipeline

    config = load_config(args.config)
    records, failed = _read_records(args.input, config.limits.annotate_max_chars)
    out = Pipeline.from_config(config).annotate(records) if records else []
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    if args.out:
        from pipeline.export import atomic_write

        atomic_write(Path(args.out), lambda f: f.write(text))
    else:
        sys.stdout.write(text)
    for where, reason in failed:
        print(f"error: {where}: {reason}", file=sys.stderr)
    if not records and not failed:
        raise CommandError(f"{args.input}: no records")
    return EXIT_FAILED if failed else EXIT_OK


def _read_records(path: str, max_chars: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """annotate's JSONL records ('-' reads stdin), and (FILE:LINE, reason) of each line that is not one."""
    fh = sys.stdin.buffer if path == "-" else open(path, "rb")
    records, failed = [], []
    with fh:
        for no, raw in enumerate(fh, 1):
            if raw.strip():
                rec, problem = _record(raw, max_chars)
                if problem:
                    failed.append((f"{path}:{no}", problem))
                else:
                    records.append(rec)
    return records, failed


def _record(raw: bytes, max_chars: int) -> tuple[Optional[dict], Optional[str]]:
    """One JSONL line → (record, None), or (…, why it cannot be tagged)."""
    from pipeline.core import annotate_problem

    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    except (RecursionError, ValueError) as exc:
        return None, f"unreadable JSON ({type(exc).__name__})"
    return rec, annotate_problem(rec, max_chars)


def cmd_schema(args, argv) -> int:
    from pipeline.export import schema

    print(json.dumps(schema(), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_validate(args, argv) -> int:
    """One line per problem on stdout (FILE:LINE: reason), exit 1 if any; a summary line on stderr."""
    from pipeline.validate import validate_run

    problems = validate_run(_need_folder(args.out_dir))
    for line in problems.lines():
        print(line)
    if len(problems):
        raise CommandError(f"{args.out_dir}: {len(problems)} problem{'s' if len(problems) > 1 else ''} found")
    if not args.quiet:
        checked = problems.checked
        print(f"{args.out_dir}: valid ({checked['documents']} documents, {checked['passages']} passage rows, "
              f"{checked['entities']} entity rows)", file=sys.stderr)
    return EXIT_OK


def cmd_train(args, argv) -> int:
    from pipeline.config import load_config

    config = load_config(args.config)
    if args.what == "classifier":
        from pipeline.retrain import train_classifier_with_corrections
        from pipeline.train import train_classifier

        if args.with_corrections:
            report = train_classifier_with_corrections(args.with_corrections, config=config,
                                                       out_dir=Path(args.out) if args.out else None, pool=args.pool)
            print(report)
            return EXIT_OK
        meta = train_classifier(config=config, out_dir=Path(args.out) if args.out else None, pool=args.pool)
        h, b = meta["heldout"], meta["baseline_tfidf_lr_no_context"]
        print(f"classifier: {meta['data']['records']} passages; held-out macro-F1 {h['macro_f1']:.3f} "
              f"(baseline {b['macro_f1']:.3f}) → {args.out or 'models/classifier'}")
        return EXIT_OK
    from pipeline.nlp.tagger_training import train_tagger

    meta = train_tagger(config=config, out_dir=Path(args.out) if args.out else None, pool=args.pool,
                        corrections=args.with_corrections)
    print(f"name tagger: {meta['data']['pool_paragraphs']} pool paragraphs + {meta['data']['public_records']} public "
          f"records → {args.out or 'models/ner'}")
    return EXIT_OK


def cmd_evaluate(args, argv) -> int:
    from pipeline import evaluate

    return evaluate.main(args)


def cmd_review(args, argv) -> int:
    from pipeline.review import settings as review_settings
    from pipeline.review.app import serve

    config = review_settings.load(args.config)  # [review] of the user's --config over configs/review.toml
    try:
        return serve(args.out_dir, host=args.host, port=args.port, token=args.token, reviewer=args.reviewer,
                     config=config)
    except OSError as exc:  # the address is in use or cannot be bound
        raise CommandError(f"review: {args.host}:{args.port}: {os_error_text(exc)}") from None


def cmd_export_corrections(args, argv) -> int:
    from pipeline.review.corrections import export_corrections

    paths = export_corrections(_need_folder(args.out_dir), Path(args.out) if args.out else None)
    for p in paths:
        print(p)
    return EXIT_OK


def cmd_report(args, argv) -> int:
    from pipeline.report import write_report
    from pipeline.review import settings as review_settings

    link_base = review_settings.load(args.config)["report_link_base"]  # [review] of --config, if any
    path = write_report(_need_folder(args.out_dir), Path(args.out) if args.out else None, review_url=link_base)
    print(path)
    return EXIT_OK


COMMANDS = {"run": cmd_run, "process": cmd_process, "annotate": cmd_annotate, "schema": cmd_schema,
            "validate": cmd_validate,
            "train": cmd_train, "evaluate": cmd_evaluate, "review": cmd_review,
            "export-corrections": cmd_export_corrections, "report": cmd_report}


if __name__ == "__main__":
    sys.exit(main())
