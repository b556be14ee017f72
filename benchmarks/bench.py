"""Throughput and memory of batch runs. One command: `python benchmarks/bench.py --n 200`.

Builds a corpus of N articles from this project's fixtures (tests/fixtures/batch), plus ../shared/seed/*.txt and
../shared/eval/policy_text/*.txt when present (read at run time, never copied into the repo); then measures
 - per stage, in this process: ingest, segment, entities, classify, export (docs/s, chars/s of body text);
 - bare `jieba.lcut` (an own jieba.Tokenizer, default dictionary) on the same body characters;
 - the whole pipeline (`policyminer run`) at 1 and 2 workers, start-up (a run of one article) subtracted, in
   --repeat (default 3) interleaved rounds, each also timing bare jieba.lcut: the fastest of each kind is
   reported, and each round's own ratios with their median;
 - peak RSS of the run's process tree at two corpus sizes 10x apart;
 - our ingest against trafilatura.extract on the same HTML pages.
Prints a table and writes outputs/benchmarks/bench-<n>.json."""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def paragraph_pool() -> tuple[list[str], list[str]]:
    """(titles, paragraphs) from the fixtures and, when present, ../shared texts."""
    titles, paras = [], []
    for path in sorted((ROOT / "tests" / "fixtures" / "batch").iterdir()):
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".html":
            titles += re.findall(r"<h[12]>(.*?)</h[12]>", raw)
            paras += re.findall(r"<p>(.*?)</p>", raw)
        else:
            lines = [x.strip() for x in raw.splitlines() if x.strip()]
            titles.append(lines[0])
            paras += lines[1:]
    for folder in (SHARED / "seed", SHARED / "eval" / "policy_text"):
        for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
            lines = [x.strip() for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
            if lines:
                titles.append(lines[0][:60])
                paras += [x for x in lines[1:] if len(x) >= 20]
    return titles, paras


def varied(paragraph: str, round_no: int) -> str:
    """The paragraph as another article of a later round would word it: its figures moved by the round number, or
    (without figures) a round marker in front. Round 0 is the paragraph itself."""
    if round_no == 0:
        return paragraph
    moved, count = re.subn(r"\d+", lambda m: str(int(m.group()) + round_no), paragraph)
    return moved if count else f"（{round_no}）{paragraph}"


def paragraph_deck(paras: list[str], rng: random.Random):
    """Paragraphs dealt without replacement; each new round over the pool varies them (`varied`), so no body line
    occurs on two articles. (A real crawl does not repeat article bodies across pages; a line on several pages of a
    folder is site chrome to ingest, and removing it would leave the run fewer characters than jieba.lcut gets.)"""
    round_no = 0
    while True:
        order = list(range(len(paras)))
        rng.shuffle(order)
        for i in order:
            yield varied(paras[i], round_no)
        round_no += 1


def make_corpus(folder: Path, n: int, seed: int = 7) -> Path:
    titles, paras = paragraph_pool()
    rng = random.Random(seed)
    deck = paragraph_deck(paras, rng)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        title = f"{rng.choice(titles)}（{k + 1}）"
        body = [next(deck) for _ in range(rng.randint(6, 12))]
        body.append(f"截至{2018 + k % 6}年底，累计完成投资{100 + 7 * k}亿元，带动就业{400 + 37 * k}人，第{k + 1}批项目全部开工。")
        if k % 2:
            html = (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><div class='nav'><a href='/'>首页"
                    f"</a> <a href='/xw'>新闻</a></div><div class='article'><h1>{title}</h1>"
                    + "".join(f"<p>{p}</p>" for p in body) + "</div><div class='footer'>版权所有 网站地图</div></body></html>")
            (folder / f"a{k:06d}.html").write_text(html, encoding="utf-8")
        else:
            (folder / f"a{k:06d}.txt").write_text("\n".join([title, *body]) + "\n", encoding="utf-8")
    return folder


def stage_timings(folder: Path, limit: int, repeat: int = 1) -> tuple[dict, Callable[[], float]]:
    """Per-stage throughput in this process, models loaded before timing; and a function timing one bare
    jieba.lcut pass over the same texts (for the rounds of the whole-pipeline runs)."""
    import jieba

    from pipeline.config import load_config
    from pipeline.core import tag_passages
    from pipeline.export import dumps_dict
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_config(load_config())
    nlp = pipe.entities
    files = sorted(folder.iterdir())[:limit]
    t = {}
    start = time.perf_counter()
    cleans = [pipe.ingest(p) for p in files]
    t["ingest"] = time.perf_counter() - start
    texts = [[p.text for p in c.paragraphs] for c in cleans]
    chars = sum(len(x) for ts in texts for x in ts)
    start = time.perf_counter()
    for ts in texts:
        for x in ts:
            nlp.segmenter.cut(x)
    t["segment"] = time.perf_counter() - start
    # The stages as analyse() runs them: one pass gives the entities and the token spans, and the classifier
    # reuses those tokens instead of segmenting again.
    start = time.perf_counter()
    token_spans = [nlp.analyse(ts)[1] for ts in texts]
    t["entities"] = time.perf_counter() - start
    if nlp.tagger is not None:  # the same without the name tagger: what the trained model costs
        tagger, nlp.tagger = nlp.tagger, None
        try:
            start = time.perf_counter()
            for ts in texts:
                nlp.analyse(ts)
            t["entities_rules_only"] = time.perf_counter() - start
        finally:
            nlp.tagger = tagger
    start = time.perf_counter()
    for ts, spans in zip(texts, token_spans):
        tag_passages(ts, [None] * len(ts), [i / max(len(ts) - 1, 1) for i in range(len(ts))], pipe.classifier,
                     token_spans=spans)
    t["classify"] = time.perf_counter() - start
    docs = [pipe.analyse([c])[0] for c in cleans]
    start = time.perf_counter()
    for d in docs:
        dumps_dict(d.to_dict())
    t["export"] = time.perf_counter() - start
    tok = jieba.Tokenizer()
    tok.initialize()

    def jieba_pass() -> float:
        start = time.perf_counter()
        for ts in texts:
            for x in ts:
                tok.lcut(x)
        return time.perf_counter() - start

    passes = [jieba_pass() for _ in range(max(1, repeat))]  # timed like the pipeline runs: the fastest kept
    t["jieba_lcut"] = min(passes)
    out = {name: _rate(s, chars, len(files)) for name, s in t.items()}
    out["_sample"] = {"docs": len(files), "body_chars": chars}
    out["_vs_trafilatura"] = ingest_vs_trafilatura(pipe.ingester, [p for p in files if p.suffix == ".html"])
    return out, jieba_pass


def ingest_vs_trafilatura(ingester, generated: list[Path]) -> dict | None:
    """Our ingest against trafilatura.extract on the same HTML pages: the real scraped pages of ../shared/eval/html
    when present (GBK and broken markup included; gold files left out), else the generated ones. One page first
    warms both up (lazy imports, our jieba POS tagger), as a batch does once per worker. Each side reads the
    bytes itself (our decoding is part of ingest)."""
    try:
        import trafilatura
    except ImportError:
        return None
    real = sorted(p for p in (SHARED / "eval" / "html").rglob("*.html") if ".gold." not in p.name)
    pages = real or generated
    ingester.ingest(pages[0])
    trafilatura.extract(pages[0].read_bytes())
    start = time.perf_counter()
    for p in pages:
        try:
            ingester.ingest(p)
        except Exception:  # a page we refuse (not Chinese, empty) still took its time
            pass
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for p in pages:
        trafilatura.extract(p.read_bytes())
    theirs = time.perf_counter() - start
    return {"pages": len(pages), "real_pages": bool(real), "ingest_s": round(ours, 3),
            "trafilatura_s": round(theirs, 3), "speed_ratio": round(theirs / ours, 2),
            "ingest_ms_per_page": round(1000 * ours / len(pages), 1),
            "trafilatura_ms_per_page": round(1000 * theirs / len(pages), 1)}


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _fastest(runs: list[dict]) -> dict:
    """The fastest of several timed runs, with their number and the spread of their wall times."""
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "runs": len(runs), "wall_s_all": [r["wall_s"] for r in runs]}


def _rate(seconds: float, chars: int, docs: int) -> dict:
    return {"seconds": round(seconds, 3), "docs_per_s": round(docs / seconds, 1), "chars_per_s": round(chars / seconds)}


def timed_run(folder: Path, workers: int) -> dict:
    """`policyminer run` in a subprocess; wall time and peak RSS of its process tree (sampled every 50 ms)."""
    import resource

    out = Path(tempfile.mkdtemp(prefix="pm-bench-out-"))
    cmd = [sys.executable, "-m", "pipeline", "run", str(folder), "--out", str(out), "--workers", str(workers), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its workers (reaped by the run)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counts = json.loads((out / "run.json").read_text(encoding="utf-8"))["counts"]
    chars = json.loads((out / "run.json").read_text(encoding="utf-8"))["timings"]["body_chars"]
    return {"workers": workers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak / 2**20, 1), "chars": chars,
            "processed": counts["processed"], "rc": proc.returncode}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="articles for the throughput runs")
    ap.add_argument("--big", action="store_true", help="RSS at 1000 vs 10000 articles (default 100 vs 1000)")
    ap.add_argument("--rss-sizes", type=int, nargs=2, help="override the two RSS corpus sizes")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per worker count; the fastest is reported")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "benchmarks"))
    ap.add_argument("--ingest-only", action="store_true",
                    help="only our ingest against trafilatura.extract on the real HTML pages (about half a minute)")
    args = ap.parse_args(argv)
    if args.ingest_only:
        from pipeline.config import load_config
        from pipeline.ingest import Ingester

        v = ingest_vs_trafilatura(Ingester(load_config()), [])
        if v is None:
            print("trafilatura is not installed (the [compare] extra)", file=sys.stderr)
            return 1
        print(json.dumps(v))
        print(f"ingest vs trafilatura.extract on {v['pages']} HTML pages: ours {v['ingest_ms_per_page']} ms/page, "
              f"trafilatura {v['trafilatura_ms_per_page']} ms/page → ours is {v['speed_ratio']}x trafilatura's speed")
        return 0
    small, large = args.rss_sizes or ((1000, 10000) if args.big else (100, 1000))
    work = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    result = {"n": args.n, "repeat": args.repeat, "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
              "argv": sys.argv}
    corpus = make_corpus(work / f"c{args.n}", args.n)
    one = make_corpus(work / "c1", 1)
    result["stages"], jieba_pass = stage_timings(corpus, min(args.n, 200), args.repeat)
    print("stages:", json.dumps(result["stages"]), flush=True)
    jieba_chars = result["stages"]["_sample"]["body_chars"]
    # Interleaved rounds: each round times bare jieba.lcut, then start-up and the full run at 1 and at 2 workers,
    # so that a machine that slows down or speeds up during the benchmark changes every figure alike. The table
    # keeps the fastest of each kind (as timeit does: slower runs measure other load); each round's own ratios
    # are kept too, with their median.
    timed: dict[tuple[int, str], list[dict]] = {}
    jieba_s = []
    for k in range(max(1, args.repeat)):
        jieba_s.append(jieba_pass())
        for w in (1, 2):
            timed.setdefault((w, "startup"), []).append(timed_run(one, w))
            timed.setdefault((w, "full"), []).append(timed_run(corpus, w))
        print(f"round {k + 1}: jieba.lcut {jieba_s[-1]:.2f}s, full runs 1w {timed[(1, 'full')][-1]['wall_s']}s, "
              f"2w {timed[(2, 'full')][-1]['wall_s']}s", flush=True)
    # A round's own ratios: its full runs and jieba pass, net of the fastest start-up (a fixed cost, which its
    # fastest run estimates best: one slow start-up would otherwise swing a round's figures by ±10 %).
    startup_s = {w: min(r["wall_s"] for r in timed[(w, "startup")]) for w in (1, 2)}
    rounds = []
    for k, js in enumerate(jieba_s):
        net = {w: max(timed[(w, "full")][k]["wall_s"] - startup_s[w], 1e-6) for w in (1, 2)}
        rounds.append({"jieba_lcut_s": round(js, 3), "net_s_1w": round(net[1], 2), "net_s_2w": round(net[2], 2),
                       "pipeline_1w_vs_jieba_lcut": round((timed[(1, "full")][k]["chars"] / net[1])
                                                          / (jieba_chars / js), 3),
                       "speedup_2w_vs_1w": round(net[1] / net[2], 2)})
    result["stages"]["jieba_lcut"] = _rate(min([result["stages"]["jieba_lcut"]["seconds"]]
                                               + jieba_s), jieba_chars,
                                          result["stages"]["_sample"]["docs"])
    runs = {}
    for w in (1, 2):
        startup = _fastest(timed[(w, "startup")])
        full = _fastest(timed[(w, "full")])
        net = max(full["wall_s"] - startup["wall_s"], 1e-6)
        runs[w] = {**full, "startup_s": startup["wall_s"], "startup_cpu_s": startup["cpu_s"],
                   "docs_per_s": round(full["processed"] / net, 2), "chars_per_s": round(full["chars"] / net),
                   # CPU seconds per document net of start-up: on a busy machine wall time says little about
                   # scaling, while equal CPU per document at 1 and 2 workers means the work parallelises.
                   "cpu_s_per_doc": round(max(full["cpu_s"] - startup["cpu_s"], 0) / max(full["processed"], 1), 4)}
        print(f"pipeline {w} worker(s):", json.dumps(runs[w]), flush=True)
    result["pipeline"] = runs
    result["rounds"] = rounds
    jieba_cps = result["stages"]["jieba_lcut"]["chars_per_s"]
    result["ratios"] = {"pipeline_1w_vs_jieba_lcut": round(runs[1]["chars_per_s"] / jieba_cps, 3),
                        "speedup_2w_vs_1w": round(runs[2]["docs_per_s"] / runs[1]["docs_per_s"], 2),
                        "cpu_per_doc_2w_vs_1w": round(runs[2]["cpu_s_per_doc"] / max(runs[1]["cpu_s_per_doc"], 1e-9), 2),
                        "median_of_rounds": {k: round(statistics.median(r[k] for r in rounds), 3)
                                             for k in ("pipeline_1w_vs_jieba_lcut", "speedup_2w_vs_1w")}}
    rss = {}
    for size in (small, large):
        rss[size] = timed_run(make_corpus(work / f"r{size}", size), 2)
        print(f"rss at {size}:", json.dumps(rss[size]), flush=True)
    result["rss"] = rss
    result["ratios"]["peak_rss_growth_10x"] = round(rss[large]["peak_rss_mb"] / rss[small]["peak_rss_mb"] - 1, 3)
    result["load_avg_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{args.n}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    st = result["stages"]
    print(f"corpus: {args.n} articles; stage sample {st['_sample']['docs']} docs, {st['_sample']['body_chars']} body chars")
    print(f"{'stage':<20}{'docs/s':>10}{'chars/s':>12}{'vs jieba.lcut':>15}")
    for name in ("ingest", "segment", "entities", "entities_rules_only", "classify", "export", "jieba_lcut"):
        if name not in st:
            continue
        print(f"{name:<20}{st[name]['docs_per_s']:>10}{st[name]['chars_per_s']:>12}"
              f"{st[name]['chars_per_s'] / jieba_cps:>15.2f}")
    for w, r in runs.items():
        print(f"{'pipeline ' + str(w) + 'w':<20}{r['docs_per_s']:>10}{r['chars_per_s']:>12}"
              f"{r['chars_per_s'] / jieba_cps:>15.2f}   (wall {r['wall_s']}s of {r['wall_s_all']}, start-up {r['startup_s']}s,"
              f" peak RSS {r['peak_rss_mb']} MB, CPU/doc {r['cpu_s_per_doc']}s)")
    med = result["ratios"]["median_of_rounds"]
    print(f"rounds (each: jieba.lcut, then 1 and 2 workers): 1w/jieba {[r['pipeline_1w_vs_jieba_lcut'] for r in rounds]}"
          f" median {med['pipeline_1w_vs_jieba_lcut']}; 2w/1w {[r['speedup_2w_vs_1w'] for r in rounds]} median "
          f"{med['speedup_2w_vs_1w']}")
    print(f"2 workers / 1 worker: {result['ratios']['speedup_2w_vs_1w']}x (CPU per document 2w/1w: "
          f"{result['ratios']['cpu_per_doc_2w_vs_1w']}; near 1 means the work parallelises, and the wall-clock "
          "speed-up is limited by the cores actually free)")
    for size, r in rss.items():
        print(f"peak RSS at {size} articles (2 workers, whole process tree): {r['peak_rss_mb']} MB")
    print(f"peak RSS growth {small}→{large}: {result['ratios']['peak_rss_growth_10x']:+.1%}")
    if st["_vs_trafilatura"]:
        v = st["_vs_trafilatura"]
        kind = "real scraped" if v.get("real_pages") else "generated"
        print(f"ingest vs trafilatura.extract on {v['pages']} {kind} HTML pages: ours {v['ingest_s']}s, trafilatura "
              f"{v['trafilatura_s']}s → ours is {v['speed_ratio']}x trafilatura's speed")
    print(f"load average start/end: {result['load_avg_at_start']} / {result['load_avg_at_end']}")
    print(f"→ {out / f'bench-{args.n}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
