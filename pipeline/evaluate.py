"""Scorers behind `policyminer evaluate`: ingest (bag-of-characters F1 against gold main text, optionally beside
readability-lxml, trafilatura, resiliparse, newspaper4k, magic-html, GNE and jusText; the raw-page disagreement
report), classifier (per-class P/R/F1, macro-F1, confusion matrix,
lenient accuracy, and a text-only baseline) and entities (pipeline.evaluate_entities). Every figure comes from
predictions made here and now."""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional, Sequence

from pipeline.records import LABELS


def norm(s: str) -> str:
    return "".join(ch for ch in s if not ch.isspace())


def char_prf(pred: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-characters precision, recall and F1 over non-space characters."""
    p, g = Counter(norm(pred)), Counter(norm(gold))
    inter = sum((p & g).values())
    pr = inter / max(sum(p.values()), 1)
    rc = inter / max(sum(g.values()), 1)
    return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)


def gold_pages(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".html", ".htm", ".txt") and ".gold." not in p.name
                  and p.with_suffix(".gold.txt").exists())


def _ours(config) -> Callable[[Path], str]:
    from pipeline.ingest import IngestError, Ingester

    ingester = Ingester(config)

    def extract(path: Path) -> str:
        try:
            return ingester.ingest(path).body
        except IngestError:
            return ""
    return extract


def anchor_extractors() -> tuple[dict[str, Callable[[Path], str]], dict[str, str]]:
    """The [compare] extra's extractors, each given the decoded page (our decoder, so that encoding is not
    what is compared), and the ones that cannot run here with the reason."""
    from pipeline.ingest.detect import decode_bytes

    def text_of(path: Path) -> str:
        return decode_bytes(path.read_bytes()).text

    out: dict[str, Callable[[Path], str]] = {}
    missing: dict[str, str] = {}
    for name, make in ANCHOR_MAKERS.items():
        try:
            out[name] = make(text_of)
        except ImportError as exc:
            missing[name] = f"not installed ({exc.name or exc})"
        except RuntimeError as exc:
            missing[name] = str(exc)
    return out, missing


def _readability(text_of):
    from lxml import html as lxml_html
    from readability import Document as Readability

    def extract(path: Path) -> str:
        summary = Readability(text_of(path)).summary(html_partial=True)
        return lxml_html.fromstring(summary).text_content() if summary.strip() else ""
    return extract


def _trafilatura(text_of):
    import trafilatura

    return lambda p: trafilatura.extract(text_of(p)) or ""


def _resiliparse(text_of):
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return lambda p: extract_plain_text(HTMLTree.parse(text_of(p)), main_content=True) or ""


def _newspaper4k(text_of):
    import newspaper

    def extract(path: Path) -> str:
        # fetch_images=False: otherwise it downloads the top image of every page, seconds of network per page.
        article = newspaper.Article(url=f"http://localhost/{path.name}", language="zh", fetch_images=False)
        article.download(input_html=text_of(path))
        article.parse()
        return article.text or ""
    return extract


def _magic_html(text_of):
    if sys.version_info < (3, 12):
        raise RuntimeError(f"needs Python >= 3.12 (this is {sys.version_info.major}.{sys.version_info.minor})")
    from magic_html import GeneralExtractor

    extractor = GeneralExtractor()

    def extract(path: Path) -> str:
        from lxml import html as lxml_html

        result = extractor.extract(text_of(path), base_url=f"http://localhost/{path.name}")
        content = (result or {}).get("html") or ""
        return lxml_html.fromstring(content).text_content() if content.strip() else ""
    return extract


def _gne(text_of):
    from gne import GeneralNewsExtractor

    gne = GeneralNewsExtractor()
    return lambda p: (gne.extract(text_of(p)) or {}).get("content", "")


def _justext(text_of):
    import justext

    def extract(path: Path) -> str:
        paras = justext.justext(text_of(path).encode("utf-8"), justext.get_stoplist("English"), encoding="utf-8")
        return "\n".join(p.text for p in paras if not p.is_boilerplate)
    return extract


# The anchors of `evaluate ingest --compare`, in the order they are printed.
ANCHOR_MAKERS = {"readability-lxml": _readability, "trafilatura": _trafilatura, "resiliparse": _resiliparse,
                  "newspaper4k": _newspaper4k, "magic-html": _magic_html, "gne": _gne, "justext": _justext}


def evaluate_ingest(root: Path, *, compare: bool, config, as_json: bool) -> int:
    pages = gold_pages(root)
    if not pages:
        print(f"error: {root}: no X.html or X.txt with an X.gold.txt beside it", file=sys.stderr)
        return 1
    systems = {"policyminer": _ours(config)}
    if compare:
        anchors, unavailable = anchor_extractors()
        for name, reason in unavailable.items():
            print(f"note: {name} not scored: {reason}", file=sys.stderr)
        systems.update({k: v for k, v in anchors.items() if not pages[0].suffix == ".txt"})
    results: dict[str, list] = {name: [] for name in systems}
    seconds: dict[str, float] = {name: 0.0 for name in systems}
    for page in pages:
        gold = page.with_suffix(".gold.txt").read_text(encoding="utf-8")
        for name, extract in systems.items():
            t0 = time.perf_counter()
            try:
                pred = extract(page)
            except Exception as exc:  # an anchor failing on a page scores 0 there, as in their own benchmarks
                pred = ""
                print(f"note: {name} failed on {page}: {type(exc).__name__}", file=sys.stderr)
            seconds[name] += time.perf_counter() - t0
            results[name].append((page, *char_prf(pred, gold)))
    summary = {}
    for name, rows in results.items():
        n = len(rows)
        summary[name] = {"pages": n, "precision": sum(r[1] for r in rows) / n, "recall": sum(r[2] for r in rows) / n,
                         "f1": sum(r[3] for r in rows) / n, "seconds_per_page": seconds[name] / n}
    if as_json:
        print(json.dumps({"summary": summary, "pages": {str(r[0].relative_to(root)): round(r[3], 4)
                                                        for r in results["policyminer"]}}, indent=2))
        return 0
    print(f"{'page':<44} " + " ".join(f"{n[:12]:>12}" for n in systems))
    for i, page in enumerate(pages):
        print(f"{str(page.relative_to(root))[:44]:<44} " + " ".join(f"{results[n][i][3]:>12.3f}" for n in systems))
    print()
    print(f"{'system':<18}{'P':>8}{'R':>8}{'F1':>8}{'s/page':>10}")
    for name, s in sorted(summary.items(), key=lambda kv: -kv[1]["f1"]):
        print(f"{name:<18}{s['precision']:>8.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}{s['seconds_per_page']:>10.4f}")
    print(f"\nmean char-F1 over {len(pages)} pages: policyminer {summary['policyminer']['f1']:.3f}")
    return 0


# -- raw pages without gold: where do we keep far less than the libraries? ------------------------------------

def raw_pages(dirs: Sequence[Path]) -> tuple[list[Path], int]:
    """HTML pages under `dirs` and the number left out because they have gold beside them: pages with gold are
    the final report, and a tuning aid must not look at them."""
    pages, with_gold = [], 0
    for root in dirs:
        found = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in found:
            if p.suffix.lower() not in (".html", ".htm") or ".gold." in p.name:
                continue
            if p.with_suffix(".gold.txt").exists():
                with_gold += 1
                continue
            pages.append(p)
    return pages, with_gold


def cjk_chars(text: str) -> int:
    return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")


def _ours_with_reason(config) -> Callable[[Path], tuple[str, str]]:
    from pipeline.ingest import IngestError, Ingester

    ingester = Ingester(config)

    def extract(path: Path) -> tuple[str, str]:
        try:
            return ingester.ingest(path).body, ""
        except IngestError as exc:
            return "", exc.reason
    return extract


def evaluate_disagreement(dirs: Sequence[Path], *, config, as_json: bool, ratio: float = 0.5,
                          libraries: Optional[dict[str, Callable[[Path], str]]] = None) -> int:
    """Every raw page where our body holds fewer than `ratio` times the CJK characters of the best library
    (trafilatura, readability-lxml), or none at all. No gold is read: the libraries are the yardstick, and a
    page flagged here is looked at by hand (is it an article? which text is right?)."""
    pages, with_gold = raw_pages(dirs)
    if not pages:
        print(f"error: {', '.join(map(str, dirs))}: no HTML pages without gold", file=sys.stderr)
        return 1
    if libraries is None:
        libraries = {k: v for k, v in anchor_extractors()[0].items() if k in ("trafilatura", "readability-lxml")}
    if not libraries:
        print("error: the disagreement report needs trafilatura or readability-lxml (the [compare] extra)",
              file=sys.stderr)
        return 1
    ours = _ours_with_reason(config)
    rows = []
    for page in pages:
        body, reason = ours(page)
        counts = {"policyminer": cjk_chars(body)}
        for name, extract in libraries.items():
            try:
                counts[name] = cjk_chars(extract(page))
            except Exception as exc:  # a library failing on a page keeps nothing there
                counts[name] = 0
                print(f"note: {name} failed on {page}: {type(exc).__name__}", file=sys.stderr)
        best = max(counts[n] for n in libraries)
        flagged = best > 0 and (counts["policyminer"] == 0 or counts["policyminer"] < ratio * best)
        rows.append({"page": str(page), "counts": counts, "best_library": best, "flagged": flagged,
                     "reason": reason})
    flagged = [r for r in rows if r["flagged"]]
    if as_json:
        print(json.dumps({"pages": len(rows), "skipped_with_gold": with_gold, "ratio": ratio,
                          "flagged": len(flagged), "rows": rows}, ensure_ascii=False, indent=2))
        return 0
    names = ["policyminer", *libraries]
    print(f"{'page':<56}" + "".join(f"{n[:12]:>13}" for n in names) + "  ours/best")
    for r in flagged:
        share = r["counts"]["policyminer"] / max(r["best_library"], 1)
        print(f"{r['page'][-56:]:<56}" + "".join(f"{r['counts'][n]:>13}" for n in names)
              + f"  {share:>8.2f}" + (f"  ({r['reason']})" if r["reason"] else ""))
    print(f"\n{len(flagged)} of {len(rows)} pages: policyminer keeps less than {ratio:g}x the CJK characters of the "
          f"best of {', '.join(libraries)}, or nothing where they keep some" + (f"; {with_gold} pages with gold left out" if with_gold else ""))
    return 0


# -- classifier -------------------------------------------------------------------------------------------

def _prf(gold: Sequence[str], pred: Sequence[str]) -> tuple[dict, float]:
    per = {}
    for lab in LABELS:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        per[lab] = (pr, rc, 2 * pr * rc / (pr + rc) if pr + rc else 0.0, tp + fn)
    present = [l for l in LABELS if per[l][3]]
    return per, sum(per[l][2] for l in present) / max(len(present), 1)


def _print_report(name: str, gold: Sequence[str], pred: Sequence[str], secondary: Sequence[Optional[str]]) -> float:
    per, macro = _prf(gold, pred)
    lenient = sum(p in (g, s) for p, g, s in zip(pred, gold, secondary)) / max(len(gold), 1)
    print(f"\n== {name}: {len(gold)} passages")
    print(f"{'label':<16}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}")
    for lab in LABELS:
        p, r, f, n = per[lab]
        print(f"{lab:<16}{p:>7.3f}{r:>7.3f}{f:>7.3f}{n:>6}")
    print(f"macro-F1 {macro:.3f}   accuracy {sum(g == p for g, p in zip(gold, pred)) / max(len(gold), 1):.3f}   "
          f"accuracy counting secondary {lenient:.3f}")
    print("confusion (rows gold, columns predicted):")
    print(" " * 16 + "".join(f"{l[:6]:>8}" for l in LABELS))
    for g in LABELS:
        print(f"{g:<16}" + "".join(f"{sum(1 for a, b in zip(gold, pred) if a == g and b == p):>8}" for p in LABELS))
    return macro


def evaluate_classifier(gold_path: Path, *, config, texts_dir: Optional[Path], as_json: bool) -> int:
    """Passage records {doc, text, label, secondary} in document order. Without --texts, records are tagged as
    given (records of a doc form its context). With --texts, each doc's <doc>.txt runs through the whole
    pipeline and gold passages are aligned to the output passage containing them."""
    from pipeline.pipeline import Pipeline

    pipe = Pipeline.from_config(config)
    if gold_path.suffix == ".json":
        # A document gold file like the seed's (.gold.json: file, passages with labels): score it end to end.
        gold_doc = json.loads(gold_path.read_text(encoding="utf-8"))
        doc_name = Path(gold_doc["file"]).stem
        records = [{"doc": doc_name, "text": p["text"], "label": p["label"], "secondary": p.get("secondary")}
                   for p in gold_doc["passages"]]
        texts_dir = texts_dir or gold_path.parent
    else:
        records = [json.loads(l) for l in gold_path.read_text(encoding="utf-8").splitlines() if l.strip()]
    if not records:
        print(f"error: {gold_path}: no records", file=sys.stderr)
        return 1
    gold = [r["label"] for r in records]
    secondary = [r.get("secondary") for r in records]
    if texts_dir:
        docs = {}
        pred = []
        for r in records:
            d = r.get("doc")
            if d not in docs:
                path = Path(texts_dir) / f"{d}.txt"
                docs[d] = pipe.process(path) if path.exists() else None
            doc = docs[d]
            pred.append(_aligned_label(r["text"], doc.passages if doc else []))
        name = f"{gold_path.name} end to end through the pipeline"
    else:
        out = pipe.annotate([{"id": str(i), "text": r["text"], "doc": r.get("doc", "doc"), "heading": r.get("heading")}
                             for i, r in enumerate(records)])
        pred = [o["label"] for o in out]
        name = f"{gold_path.name} (passages tagged as given)"
    macro = _print_report(name, gold, pred, secondary)
    base = _baseline_predictions(records, config)
    base_macro = _print_report("baseline: TF-IDF + logistic regression on the same corpus, no context", gold, base, secondary)
    if as_json:
        print(json.dumps({"macro_f1": macro, "baseline_macro_f1": base_macro, "n": len(gold)}))
    return 0


def _aligned_label(text: str, passages) -> str:
    """The label of the output passage holding most of the gold paragraph (the scorers' alignment)."""
    gn = norm(text)
    best, score = None, 0.0
    for p in passages:
        pn = norm(p.text)
        if gn and (gn in pn or pn in gn):
            s = min(len(gn), len(pn)) / max(len(gn), 1)
            if s > score:
                best, score = p, s
    return best.label if best is not None and score >= 0.5 else "missing"


def _baseline_predictions(records: Sequence[dict], config) -> list[str]:
    """Fit the text-only baseline on the project's corpus now and predict the gold passages."""
    from pipeline.classify.features import Item, build_frame, load_cue_lexicons
    from pipeline.classify.model import build_estimator
    from pipeline.config import CONFIG_DIR, read_toml
    from pipeline.nlp.segment import Segmenter
    from pipeline.train import CORPORA_DIR, corpus_items, load_classifier_corpus

    params = read_toml(CONFIG_DIR / "train_classifier.toml")
    tokenize, lexicons = Segmenter.from_config(config).cut, load_cue_lexicons(config)
    corpus = load_classifier_corpus(sorted((CORPORA_DIR / "classifier").glob("*.jsonl")))
    items = corpus_items(corpus, sentences=False)
    est = build_estimator(params, context=False)
    est.fit(build_frame([i for i, _, _ in items], tokenize, lexicons), [l for _, l, _ in items])
    frame = build_frame([Item(r["text"]) for r in records], tokenize, lexicons)
    return [str(p) for p in est.predict(frame)]


def main(args) -> int:
    from pipeline.config import load_config

    config = load_config(getattr(args, "config", None))
    if args.what == "agreement":
        from pipeline.evaluate_pool import agreement_report

        return agreement_report(args.pool, args.json)
    if args.what == "classifier" and args.cv:
        from pipeline.evaluate_pool import classifier_cv

        return classifier_cv(config, args.pool, save=args.save, as_json=args.json)
    if args.what == "entities" and args.cv:
        from pipeline.evaluate_pool import entities_cv

        return entities_cv(config, args.pool, save=args.save, as_json=args.json)
    if args.what == "ingest-disagreement":
        dirs = [Path(d) for d in [args.gold, *getattr(args, "more", [])] if d]
        missing = [d for d in dirs if not d.exists()]
        if not dirs or missing:
            print(f"error: {missing[0] if missing else 'evaluate ingest-disagreement'}: "
                  f"{'no such file or folder' if missing else 'needs one or more folders of raw HTML pages'}",
                  file=sys.stderr)
            return 1 if missing else 2
        return evaluate_disagreement(dirs, config=config, as_json=args.json)
    if getattr(args, "more", None):
        print(f"error: evaluate {args.what} takes one gold file or folder", file=sys.stderr)
        return 2
    if args.gold is None:
        print(f"error: evaluate {args.what} needs a gold file or folder", file=sys.stderr)
        return 2
    gold = Path(args.gold)
    if not gold.exists():
        print(f"error: {gold}: no such file or folder", file=sys.stderr)
        return 1
    if args.what == "ingest":
        return evaluate_ingest(gold, compare=args.compare, config=config, as_json=args.json)
    if args.what == "classifier":
        return evaluate_classifier(gold, config=config, texts_dir=Path(args.texts) if args.texts else None,
                                   as_json=args.json)
    from pipeline import evaluate_entities

    return evaluate_entities.main(args)
