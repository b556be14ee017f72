"""Flat-mode ingest against a silver set: the tuning aid for main-content extraction from flattened text.

The pages with gold (../shared/eval/flat, ../shared/eval/html) are a final report and are never read here. Instead,
the raw HTML pages WITHOUT gold (default: ../shared/eval/html/{gne_tests_zh,gerapy_detail_samples_zh,
cx_extractor_163_zh}) are
 1. flattened the way the flat eval set was made: BeautifulSoup (lxml) get_text("\\n") with script, style and
    noscript dropped, every line stripped, runs of blank lines cut to one (this reproduces 67 of the 69 flat
    eval inputs byte for byte; the other two were decoded with the wrong charset there);
 2. given a silver gold: our own HTML-mode ingest of the same page (its body), which scores far above flat mode
    on the pages with gold.
Flat-mode ingest of the flattened text is then scored against the silver body (bag-of-characters F1, as
`policyminer evaluate ingest`). Pages whose HTML-mode ingest fails (not a Chinese article) are left out.

The flattened text and silver bodies live in a temporary folder only (the client's data never enters the repo);
`--keep DIR` keeps them in DIR (outside the repository) to look at a page.

    python benchmarks/flat_silver.py                 # mean char-F1 and the 12 worst pages (~30 s on 2 cores)
    python benchmarks/flat_silver.py --worst 30 --json /tmp/silver.json

Pages are split into halves by a hash of their name ("a" and "b"); the mean of each half is printed too, so that
a change tuned while looking at one half can be checked on the other.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.evaluate import char_prf, raw_pages  # noqa: E402
from pipeline.ingest import IngestError, Ingester  # noqa: E402
from pipeline.ingest.detect import decode_bytes  # noqa: E402

DEFAULT_DIRS = [ROOT.parent / "shared" / "eval" / "html" / d
                for d in ("gne_tests_zh", "gerapy_detail_samples_zh", "cx_extractor_163_zh")]


def flatten(html: str) -> str:
    """A naive scraper's text of a page: what the flat eval inputs are."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    lines = [line.strip() for line in soup.get_text("\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def half_of(name: str) -> str:
    return "ab"[hashlib.sha256(name.encode("utf-8")).digest()[0] % 2]


def build_silver(dirs: list[Path], out: Path, ingester) -> list[tuple[str, Path, str]]:
    """(page id, flattened text file, silver body) for every raw page that HTML-mode ingest accepts."""
    pages, _ = raw_pages(dirs)
    rows = []
    for page in pages:
        page_id = f"{page.parent.name}/{page.stem}"
        try:
            silver = ingester.ingest(page).body
        except IngestError:
            continue
        flat = out / f"{page.parent.name}__{page.stem}.txt"
        flat.write_text(flatten(decode_bytes(page.read_bytes()).text), encoding="utf-8")
        (out / f"{page.parent.name}__{page.stem}.silver.txt").write_text(silver, encoding="utf-8")
        rows.append((page_id, flat, silver))
    return rows


def score(rows, ingester) -> list[dict]:
    results = []
    for page_id, flat, silver in rows:
        try:
            body = ingester.ingest(flat).body
        except IngestError:
            body = ""
        p, r, f = char_prf(body, silver)
        results.append({"page": page_id, "half": half_of(page_id), "precision": round(p, 4), "recall": round(r, 4),
                        "f1": round(f, 4), "silver_chars": len(silver), "flat_chars": len(body)})
    return results


def report(results: list[dict], worst: int) -> None:
    n = len(results)
    mean = {k: sum(r[k] for r in results) / n for k in ("precision", "recall", "f1")}
    print(f"{'page':<34}{'P':>7}{'R':>7}{'F1':>7}{'silver':>8}{'flat':>8}")
    for r in sorted(results, key=lambda r: r["f1"])[:worst]:
        print(f"{r['page']:<34}{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}"
              f"{r['silver_chars']:>8}{r['flat_chars']:>8}")
    for half in "ab":
        part = [r["f1"] for r in results if r["half"] == half]
        print(f"half {half}: {len(part)} pages, mean char-F1 {sum(part) / max(len(part), 1):.4f}")
    print(f"silver flat mean over {n} pages: P {mean['precision']:.4f} R {mean['recall']:.4f} F1 {mean['f1']:.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", type=Path, default=DEFAULT_DIRS, help="folders of raw pages without gold")
    ap.add_argument("--worst", type=int, default=12, help="how many of the worst pages to list")
    ap.add_argument("--json", type=Path, help="write the per-page results here")
    ap.add_argument("--keep", type=Path, help="keep the flattened pages and silver bodies in this folder")
    args = ap.parse_args(argv)
    if not any(d.exists() for d in args.dirs):
        print(f"error: none of {', '.join(map(str, args.dirs))} exists", file=sys.stderr)
        return 1
    ingester = Ingester(load_config())
    with tempfile.TemporaryDirectory(prefix="flat_silver_") as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        results = score(build_silver(args.dirs, out, ingester), ingester)
    report(results, args.worst)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
