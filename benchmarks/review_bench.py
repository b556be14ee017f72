"""Benchmark (not a test) of the review app and the report on a generated run of >= 20,000 passages.

    python benchmarks/review_bench.py                      # 400 documents x 50 passages, 50 requests of each kind
    python benchmarks/review_bench.py --docs 60 --repeat 20  # a quick look
    python benchmarks/review_bench.py --screenshots outputs/examples   # also PNGs of the list and the report

The run is synthetic (pipeline/review/synthetic.py: invented text of the pipeline's shape). Prints the index
build time (first start-up) and the start-up time with the index in place, then the median and 95th percentile
of the server time of each request kind (measured in-process around Flask's test client: routing, our code and
SQLite; no network), then the report's build time and size."""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.records import LABELS  # noqa: E402
from pipeline.review.app import create_app  # noqa: E402
from pipeline.review.synthetic import make_run  # noqa: E402


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(client, token: str, docs: list[tuple[str, int]], repeat: int, rng: random.Random) -> dict:
    """Server times (ms) of each request kind over `repeat` requests on random passages and pages. A kind is
    (untimed preparation, timed request); the list is measured twice: as it comes (its label counts cached) and
    right after a label POST (the counts recomputed, as a reviewer going back to the list sees it)."""
    label = lambda: _label(client, token, *rng.choice(docs), rng.choice(LABELS))  # noqa: E731
    nothing = lambda: None  # noqa: E731
    kinds = {
        "list (least confident, random page)": (nothing, lambda: client.get(f"/?page={rng.randint(1, 300)}")),
        "list right after a label POST": (label, lambda: client.get(f"/?page={rng.randint(1, 300)}")),
        "filtered search (q + label + kind)": (nothing, lambda: client.get(
            f"/?q={rng.choice(['晨光计划', '星河市科技局', '示范项目', '云岭'])}&label={rng.choice(LABELS)}&kind=all")),
        "passage page (HTML + its JSON)": (nothing, lambda: _passage(client, *rng.choice(docs))),
        "label POST": (nothing, label),
    }
    out = {}
    for name, (prepare, call) in kinds.items():
        call()  # warm
        times = []
        for _ in range(repeat):
            prepare()
            ms, resp = timed(call)
            assert all(r.status_code == 200 for r in (resp if isinstance(resp, tuple) else (resp,))), name
            times.append(ms)
        out[name] = times
    return out


def _passage(client, doc_id: str, index: int):
    return client.get(f"/p/{doc_id}/{index}"), client.get(f"/api/passage/{doc_id}/{index}?sort=confidence")


def _label(client, token: str, doc_id: str, index: int, label: str):
    return client.post("/api/label", json={"doc_id": doc_id, "index": index, "label": label},
                       headers={"X-CSRF-Token": token})


def report_figures(out: Path) -> tuple[float, float, float]:
    from pipeline.report import write_report

    ms, path = timed(lambda: write_report(out))
    html_mb = path.stat().st_size / 1e6
    all_mb = sum(p.stat().st_size for p in path.parent.iterdir()) / 1e6
    return ms / 1000, html_mb, all_mb


def screenshots(out: Path, dest: Path, client_url: str) -> None:
    """review-list.png (a search, page 2) and report-scale.png (the report's documents table), viewport-sized."""
    from playwright.sync_api import sync_playwright

    dest.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        ctx = b.new_context(viewport={"width": 1200, "height": 800})
        ctx.add_cookies([{"name": "pm_reviewer", "value": "analyst", "domain": "127.0.0.1", "path": "/"}])
        pg = ctx.new_page()
        pg.goto(client_url + "/?q=晨光计划&page=2")
        pg.screenshot(path=str(dest / "review-list.png"))
        pg.goto((out / "report" / "report.html").as_uri() + "#documents")
        pg.screenshot(path=str(dest / "report-scale.png"))
        b.close()


def serve_in_thread(app):
    import threading

    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_port}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--passages", type=int, default=50, help="passages per document")
    ap.add_argument("--repeat", type=int, default=50, help="requests of each kind")
    ap.add_argument("--out", help="run folder to create (default: a temporary folder)")
    ap.add_argument("--screenshots", help="folder for PNG screenshots of the app and the report")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pm-review-bench-")) / "run"
    rng = random.Random(1)
    gen_s, _ = timed(lambda: make_run(out, args.docs, args.passages))
    cold_ms, app = timed(lambda: create_app(out))
    warm_ms, _ = timed(lambda: create_app(out))
    state = app.config["REVIEW_STATE"]
    with state.index.read() as db:
        n_passages = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        docs = db.execute("SELECT doc_id, idx FROM passages WHERE length >= 25").fetchall()
    client = app.test_client()
    client.set_cookie("pm_reviewer", "bench")
    token = re.search(r'csrf-token" content="([^"]+)"', client.get("/who").get_data(as_text=True)).group(1)
    times = measure(client, token, docs, args.repeat, rng)
    print(f"run: {args.docs} documents, {n_passages} passages, documents.jsonl "
          f"{(out / 'documents.jsonl').stat().st_size / 1e6:.1f} MB (generated in {gen_s / 1000:.1f} s)")
    print(f"start-up: index built in {cold_ms / 1000:.2f} s (first start); {warm_ms / 1000:.2f} s with the index "
          f"in place; index file {(out / 'review-index.sqlite').stat().st_size / 1e6:.1f} MB")
    print(f"\n| request ({args.repeat} each) | median ms | p95 ms |\n|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} |")
    report_s, html_mb, all_mb = report_figures(out)
    print(f"\nreport: written in {report_s:.1f} s; report.html {html_mb:.2f} MB; folder with PNGs and CSVs "
          f"{all_mb:.2f} MB")
    if args.screenshots:
        srv, url = serve_in_thread(app)
        screenshots(out, Path(args.screenshots), url)
        srv.shutdown()
        print(f"screenshots in {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
