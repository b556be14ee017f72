"""Measurements behind the speed and memory changes described in benchmarks/README.md, one per part.
One command: `python benchmarks/parts.py --n 200` (about 2 minutes on 2 cores).

 - side by side: the CPU one process takes to analyse the corpus alone, and each of two doing it at once (equal
   figures: two workers share no hardware bottleneck, so a run's extra CPU at 2 workers is its own machinery);
 - batches: the classify step over the corpus one document per call, and in batches of 8 (`analyse_many` batches);
 - duplicate index memory for 10,000 signatures: ours against datasketch's MinHashLSH, and what importing
   datasketch and building a MinHashLSH cost a run's start (when datasketch, a test dependency, is installed);
 - the figure scan (`figures.candidate_matches`) against the regex's own finditer, and the shingles' kept characters by
   one re.sub against findall.
Prints one line per part."""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import make_corpus  # noqa: E402


def _prepared(folder: Path):
    """The Pipeline, and per document: its cleaned form, paragraph texts, headings, positions and token spans
    (models loaded and warmed up on the first document)."""
    from pipeline.config import load_config
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_config(load_config())
    nlp = pipe.entities
    docs = []
    for path in sorted(folder.iterdir()):
        clean = pipe.ingest(path)
        texts = [p.text for p in clean.paragraphs]
        headings, current = [], None
        for p in clean.paragraphs:
            headings.append(current)
            if p.kind == "heading":
                current = p.text
        positions = [i / max(len(texts) - 1, 1) for i in range(len(texts))]
        docs.append((clean, texts, headings, positions, nlp.analyse(texts)[1]))
    pipe.analyse([docs[0][0]])
    return pipe, docs


def analyse_all(folder: str) -> None:
    """Child process of `side by side`: analyse every document twice; print the CPU seconds it took."""
    pipe, docs = _prepared(Path(folder))
    start = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(2):
        for clean, *_ in docs:
            pipe.analyse([clean])
    end = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{end.ru_utime - start.ru_utime + end.ru_stime - start.ru_stime:.2f}")


def side_by_side(folder: Path) -> str:
    cmd = [sys.executable, __file__, "--child", str(folder)]
    alone = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    together = [p.communicate()[0].split()[-1] for p in procs]
    return f"side by side: CPU s to analyse the corpus twice, alone {alone}; two processes at once {', '.join(together)}"


def batches(folder: Path) -> str:
    from pipeline.core import tag_passages

    pipe, docs = _prepared(folder)
    best = {}
    for size in (1, 8):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for i in range(0, len(docs), size):
                group = docs[i:i + size]
                tag_passages([t for d in group for t in d[1]], [h for d in group for h in d[2]],
                             [p for d in group for p in d[3]], pipe.classifier,
                             groups=[k for k, d in enumerate(group) for _ in d[1]],
                             token_spans=[s for d in group for s in d[4]])
            runs.append(time.perf_counter() - start)
        best[size] = min(runs)
    return (f"batches: classify {len(docs)} documents one per call {best[1]:.2f} s, in batches of 8 {best[8]:.2f} s "
            f"({best[8] / best[1]:.2f} of the time)")


def index_memory() -> str:
    import numpy as np

    from pipeline.ingest.dedup import DuplicateIndex, _permutations

    rng = np.random.default_rng(0)
    sigs = [rng.integers(0, 2**63, 128, dtype=np.uint64) for _ in range(10_000)]
    keys = [f"/data/crawl/site{i % 50}/page{i:07d}.html" for i in range(len(sigs))]

    def traced(fill) -> float:
        tracemalloc.start()
        holder = fill()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del holder
        return size / 2**20

    def ours():
        index = DuplicateIndex(num_perm=128, threshold=0.85)
        for key, sig in zip(keys, sigs):
            index.check_and_add(key, sig)
        return index

    line = f"duplicate index, 10,000 signatures: ours {traced(ours):.1f} MB"
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        return line + " (datasketch not installed: no comparison)"

    def theirs():
        lsh = MinHashLSH(threshold=0.85, num_perm=128)
        for key, sig in zip(keys, sigs):
            lsh.insert(key, MinHash(num_perm=128, seed=1, scheme="affine64", hashvalues=sig,
                                    permutations=np.array(_permutations(128))))
        return lsh

    return line + f", datasketch MinHashLSH {traced(theirs):.1f} MB"


def datasketch_start() -> str:
    """What the run's start paid for datasketch's LSH before this project computed it: in a fresh interpreter with
    numpy already imported, importing datasketch (its LSH module imports scipy.integrate) and building
    MinHashLSH(threshold 0.85, 128 permutations), which integrates numerically to choose its bands."""
    code = ("import numpy, time; t = time.perf_counter(); from datasketch import MinHashLSH; u = time.perf_counter(); "
            "MinHashLSH(threshold=0.85, num_perm=128); print(u - t, time.perf_counter() - u)")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    except subprocess.CalledProcessError:
        return "datasketch start: datasketch not installed"
    return f"datasketch start: import {float(out[0]):.2f} s, MinHashLSH(0.85, 128) {float(out[1]):.3f} s"


def scans(folder: Path) -> str:
    from pipeline.ingest.dedup import _DROP
    from pipeline.nlp import figures

    pipe, docs = _prepared(folder)
    texts = [t for d in docs for t in d[1]]
    bodies = [d[0].body for d in docs]
    finder = pipe.entities.rules.figure_finder
    rx, first = finder.regex, finder.first
    keep = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")

    def best(fn) -> float:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        return min(runs)

    finditer = best(lambda: [list(rx.finditer(t)) for t in texts])
    matches = best(lambda: [list(figures.candidate_matches(rx, first, t)) for t in texts])
    findall = best(lambda: ["".join(keep.findall(b)) for b in bodies])
    sub = best(lambda: [_DROP.sub("", b) for b in bodies])
    return (f"scans over {len(docs)} documents: figure regex finditer {finditer:.3f} s, candidate positions "
            f"{matches:.3f} s; shingle characters findall+join {findall:.3f} s, one re.sub {sub:.3f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="articles in the generated corpus (bench.py's generator)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        analyse_all(args.child)
        return 0
    folder = make_corpus(Path(tempfile.mkdtemp(prefix="pm-parts-")) / f"c{args.n}", args.n)
    for part in (lambda: side_by_side(folder), lambda: batches(folder), index_memory, datasketch_start,
                 lambda: scans(folder)):
        print(part(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
