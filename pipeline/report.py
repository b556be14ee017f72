"""`policyminer report OUT_DIR`: a self-contained HTML report of a run (charts embedded as data URIs and also
written as PNG files beside it). Labels are the reviewed ones where a reviewer set one, the machine's otherwise.

Made to stay readable on a crawl of thousands of documents: a table of contents; every document in the
per-document table (scrollable, its source beside its title, one row per document even when titles repeat);
charts that say which documents they show; label trends by year with counts and the undated documents counted;
big tables summarised in the page with their full data as CSV files beside it; links into the review app.

Chinese names in charts need a CJK font. Without one (see `fc-list :lang=zh`), charts label documents and
entities with short ASCII keys (D1, I1, P1) and the report's tables give the names behind the keys."""
from __future__ import annotations

import base64
import csv
import html
import io
import logging
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Optional
from urllib.parse import quote, urlencode

from pipeline.records import LABELS

log = logging.getLogger(__name__)
COLOURS = {"achievement": "#4a9a55", "challenge": "#c2473a", "recommendation": "#3b6fb6", "background": "#9a9a9a"}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "SimHei",
                "Microsoft YaHei", "PingFang SC", "Noto Sans SC")
CJK_FILE_RE = re.compile(r"(cjk|wqy|wenquanyi|droidsansfallback|sourcehan|uming|ukai|simhei|msyh|pingfang)", re.I)
MAX_DOCS = 30  # documents drawn in a per-document chart (the table below it has them all)
TOP_N = 15  # institutions / programmes ranked
FIGURE_ROWS = 50  # figures listed in the page; figures.csv has every one
UNDATED = "undated"


@lru_cache(maxsize=1)
def cjk_font() -> Optional[str]:
    """A font family that can draw Chinese, registering system font files matplotlib has not seen yet."""
    from matplotlib import font_manager

    def known() -> Optional[str]:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in CJK_FAMILIES if n in names), None)

    found = known()
    if found:
        return found
    for path in font_manager.findSystemFonts():
        if CJK_FILE_RE.search(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    found = known()
    if not found:
        log.warning("no CJK font found (fc-list :lang=zh); charts use ASCII keys, see the report's tables")
    return found


def _effective_docs(out_dir: Path) -> list[dict]:
    """Documents with each passage's label replaced by the reviewed one when there is one."""
    from pipeline.review.data import load_documents, states_by_doc
    from pipeline.review.ledger import Ledger

    docs = load_documents(out_dir)
    corrections = Ledger(out_dir / "run.sqlite").rows() if (out_dir / "run.sqlite").exists() else []
    states = states_by_doc(docs, corrections)
    for d in docs:
        st = states.get(d["doc_id"], {})
        for p in d["passages"]:
            ps = st.get(int(p["index"]))
            if ps is not None and ps.reviewed_label:
                p["label"] = ps.reviewed_label
        d["entities"] = [dict(e, passage=index) for index, ps in st.items() for e in ps.entities.values()]
    return docs


def _short(text: str, n: int = 18) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


class _Names:
    """Chart labels: the name itself with a CJK font, else a stable ASCII key (I1, P3 …)."""

    def __init__(self, prefix: str, cjk: bool):
        self.prefix, self.cjk, self.keys = prefix, cjk, {}

    def __call__(self, name: str) -> str:
        key = self.keys.setdefault(name, f"{self.prefix}{len(self.keys) + 1}")
        return f"{key} {_short(name)}" if self.cjk else key


class _DocKeys:
    """D1, D2 … by document order: one key per document, so documents sharing a title stay apart."""

    def __init__(self, docs: list[dict], cjk: bool):
        from pipeline.review.data import display_title

        self.key = {d["doc_id"]: f"D{i}" for i, d in enumerate(docs, 1)}
        self.title = {d["doc_id"]: display_title(d) for d in docs}
        self.cjk = cjk

    def label(self, doc: dict) -> str:
        key = self.key[doc["doc_id"]]
        return f"{key} {_short(self.title[doc['doc_id']])}" if self.cjk else key


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _stacked(ax, names: list[str], shares: list[dict]) -> None:
    """One horizontal bar per name (by position: equal names still get a row each), first at the top."""
    ys = list(range(len(names)))
    left = [0.0] * len(names)
    for label in LABELS:
        vals = [s.get(label, 0.0) for s in shares]
        ax.barh(ys, vals, left=left, color=COLOURS[label], label=label)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)


def _shares(labels: list[str]) -> dict:
    c = Counter(labels)
    n = max(sum(c.values()), 1)
    return {l: c.get(l, 0) / n for l in LABELS}


def _count(doc: dict, label: str) -> int:
    return sum(p["label"] == label for p in doc["passages"])


def chart_labels_by_document(docs: list[dict], keys: _DocKeys) -> tuple[bytes, str]:
    """Label shares of the MAX_DOCS documents with the most passages; the caption says which these are."""
    import matplotlib.pyplot as plt

    shown = sorted(docs, key=lambda d: -len(d["passages"]))[:MAX_DOCS]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(shown) + 1.2))
    _stacked(ax, [keys.label(d) for d in shown], [_shares([p["label"] for p in d["passages"]]) for d in shown])
    ax.set_xlabel("share of passages")
    what = (f"all {len(docs)} documents" if len(shown) == len(docs) else
            f"the {len(shown)} documents with the most passages, of {len(docs)}; every document is in the "
            f"documents table")
    return _png(fig), what


def year_groups(docs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Documents by year of publication, oldest first, the undated ones last (counted, never dropped)."""
    by_year: dict[str, list[dict]] = defaultdict(list)
    for d in docs:
        year = (d.get("published_at") or "")[:4]
        by_year[year if year.isdigit() else UNDATED].append(d)
    return sorted(by_year.items(), key=lambda kv: (kv[0] == UNDATED, kv[0]))


def chart_labels_by_year(groups: list[tuple[str, list[dict]]]) -> bytes:
    import matplotlib.pyplot as plt

    names = [f"{year} ({len(ds)} docs, {sum(len(d['passages']) for d in ds):,} passages)" for year, ds in groups]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(groups) + 1.2))
    _stacked(ax, names, [_shares([p["label"] for d in ds for p in d["passages"]]) for _, ds in groups])
    ax.set_xlabel("share of passages by year of publication")
    return _png(fig)


def top_canonicals(docs: list[dict], etype: str) -> list[tuple[str, int, int]]:
    """(canonical, documents, mentions) for the entities of a type named in most documents."""
    mentions, in_docs = Counter(), defaultdict(set)
    for d in docs:
        for e in d["entities"]:
            if e["type"] == etype:
                name = e.get("canonical") or e["text"]
                mentions[name] += 1
                in_docs[name].add(d["doc_id"])
    ranked = sorted(mentions, key=lambda n: (-len(in_docs[n]), -mentions[n], n))[:TOP_N]
    return [(n, len(in_docs[n]), mentions[n]) for n in ranked]


def chart_top_entities(inst: list, prog: list, inst_names: _Names, prog_names: _Names) -> bytes:
    """Bars of what the ranking is by (documents naming it), so the longest bar is at the top."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * max(len(inst), len(prog), 3) + 1.2))
    for ax, rows, names, title in ((axes[0], inst, inst_names, "institutions"), (axes[1], prog, prog_names, "programmes")):
        if rows:
            ys = list(range(len(rows)))
            ax.barh(ys, [dd for _, dd, _ in rows], color="#23364a")
            ax.set_yticks(ys, [names(n) for n, _, _ in rows])
            ax.invert_yaxis()
        else:
            ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"top {title} (documents naming it)", fontsize=10)
    return _png(fig)


def chart_challenges_recommendations(docs: list[dict], keys: _DocKeys) -> tuple[bytes, str]:
    import matplotlib.pyplot as plt

    shown = sorted(docs, key=lambda d: -(_count(d, "challenge") + _count(d, "recommendation")))[:MAX_DOCS]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(shown) + 1.2))
    ys = list(range(len(shown)))
    ax.barh([y - 0.2 for y in ys], [_count(d, "challenge") for d in shown], height=0.4, color=COLOURS["challenge"],
            label="challenge")
    ax.barh([y + 0.2 for y in ys], [_count(d, "recommendation") for d in shown], height=0.4,
            color=COLOURS["recommendation"], label="recommendation")
    ax.set_yticks(ys, [keys.label(d) for d in shown])
    ax.invert_yaxis()
    ax.set_xlabel("passages")
    ax.legend(fontsize=8)
    what = (f"all {len(docs)} documents" if len(shown) == len(docs) else
            f"the {len(shown)} documents with the most, of {len(docs)}; the documents table has every one")
    return _png(fig), what


class Raw(str):
    """Table cell HTML made here (a link, a bar), not escaped again."""


def _cell(v) -> str:
    return v if isinstance(v, Raw) else html.escape("" if v is None else str(v))


def _table(head: list[str], rows: list[list], cls: str = "") -> str:
    out = [f"<table class=\"{cls}\"><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head),
           "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    return "".join(out)


def _link(href: str, text: str) -> Raw:
    return Raw(f"<a href=\"{html.escape(href)}\">{html.escape(text)}</a>")


def _bar(doc: dict) -> Raw:
    """The label shares of a document as a stacked CSS bar."""
    n = max(len(doc["passages"]), 1)
    parts = "".join(f"<span class=\"{l}\" style=\"width:{100 * _count(doc, l) / n:.1f}%\"></span>" for l in LABELS
                    if _count(doc, l))
    return Raw(f"<span class=\"bar\" title=\"{html.escape(_shares_text(doc))}\">{parts}</span>")


def _shares_text(doc: dict) -> str:
    return ", ".join(f"{l} {_count(doc, l)}" for l in LABELS)


def _number(value) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"


def document_rows(docs: list[dict], keys: _DocKeys, review: str) -> list[list]:
    """Every document: key, title (a link into the review app), source, date, passages, shares, counts."""
    from pipeline.review.data import site_of

    rows = []
    for d in docs:
        href = f"{review}/?{urlencode({'doc': d['doc_id'], 'sort': 'document', 'kind': 'all'})}"
        rows.append([keys.key[d["doc_id"]], _link(href, keys.title[d["doc_id"]]), site_of(d),
                     (d.get("published_at") or "")[:10], len(d["passages"]), _bar(d),
                     *(_count(d, l) for l in LABELS)])
    return rows


def figure_rows(docs: list[dict], keys: _DocKeys) -> list[list]:
    """value, unit, text, document key, title, passage, doc_id: every FIGURE mention in document order."""
    rows = []
    for d in docs:
        for e in sorted(d["entities"], key=lambda e: (e["passage"], e["start"])):
            if e["type"] == "FIGURE":
                rows.append([_number(e.get("value")), e.get("unit") or "", e["text"], keys.key[d["doc_id"]],
                             keys.title[d["doc_id"]], e["passage"], d["doc_id"]])
    return rows


def _write_csv(path: Path, head: list[str], rows: list[list]) -> Path:
    from pipeline.export import atomic_write

    def write(fh):
        w = csv.writer(fh)
        w.writerow(head)
        w.writerows([[str(v) for v in r] for r in rows])

    atomic_write(path, write)
    return path


STYLE = """body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2rem;
max-width:72rem;color:#1d2327}table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;
padding:.2rem .6rem;text-align:left;vertical-align:top}img{max-width:100%}h2{margin-top:2rem}.dim{color:#666}
.scroll{max-height:36rem;overflow:auto;border:1px solid #ccc;margin-bottom:1.5rem}.scroll table{margin:0}
.scroll thead th{position:sticky;top:0;background:#f4f4f4}.bar{display:flex;width:10rem;height:.8rem;
background:#eee}.bar span{display:block;height:100%}.achievement{background:#4a9a55}.challenge{background:#c2473a}
.recommendation{background:#3b6fb6}.background{background:#9a9a9a}nav.toc li{margin:.1rem 0}
.docs td:nth-child(2){min-width:16rem}.docs td:nth-child(4),.docs th{white-space:nowrap}.docs .bar{width:7rem}"""


def _charts(docs: list[dict], keys: _DocKeys, inst: list, prog: list, names: tuple, groups: list) -> list[tuple]:
    """(file name, anchor, heading, png, caption) of each chart."""
    by_doc, by_doc_what = chart_labels_by_document(docs, keys)
    cr, cr_what = chart_challenges_recommendations(docs, keys)
    undated = next((len(ds) for year, ds in groups if year == UNDATED), 0)
    return [("labels_by_document", "labels-by-document", "Label shares per document", by_doc, by_doc_what),
            ("labels_by_year", "trends", "Label shares by year", chart_labels_by_year(groups),
             f"documents by year of publication; {undated} undated documents are counted in their own row"),
            ("top_entities", "entities", "Top institutions and programmes", chart_top_entities(inst, prog, *names),
             f"the {TOP_N} named in most documents, longest bar first"),
            ("challenges_recommendations", "challenges", "Challenges and recommendations per document", cr, cr_what)]


def _csv_files(dest: Path, docs: list[dict], keys: _DocKeys, groups: list, inst: list, prog: list,
               figures: list) -> list[tuple[str, int]]:
    """The report's tables in full, as CSV beside it; returns (file name, rows)."""
    from pipeline.review.data import site_of

    tables = {
        "documents.csv": (["key", "doc_id", "title", "source", "date", "passages", *LABELS],
                          [[keys.key[d["doc_id"]], d["doc_id"], keys.title[d["doc_id"]], site_of(d),
                            (d.get("published_at") or "")[:10], len(d["passages"]), *(_count(d, l) for l in LABELS)]
                           for d in docs]),
        "years.csv": (["year", "documents", "passages", *LABELS], _year_rows(groups)),
        "institutions.csv": (["canonical", "documents", "mentions"], [list(r) for r in inst]),
        "programmes.csv": (["canonical", "documents", "mentions"], [list(r) for r in prog]),
        "figures.csv": (["value", "unit", "text", "doc_key", "document", "passage", "doc_id"], figures),
    }
    for name, (head, rows) in tables.items():
        _write_csv(dest / name, head, rows)
    return [(name, len(rows)) for name, (_, rows) in tables.items()]


def _year_rows(groups: list) -> list[list]:
    return [[year, len(ds), sum(len(d["passages"]) for d in ds),
             *(sum(_count(d, l) for d in ds) for l in LABELS)] for year, ds in groups]


def _figures_section(figures: list[list], review: str) -> str:
    units = Counter(r[1] or "(no unit)" for r in figures).most_common(10)
    shown = [[*r[:5], _link(f"{review}/p/{quote(r[6])}/{r[5]}", f"#{r[5]}")] for r in figures[:FIGURE_ROWS]]
    more = (f" The first {len(shown)} in document order are listed; <a href=\"figures.csv\">figures.csv</a> has all "
            f"{len(figures):,}." if len(figures) > len(shown) else " <a href=\"figures.csv\">figures.csv</a> has them too.")
    return (f"<h2 id=\"figures\">Figures</h2><p>{len(figures):,} figures found. Most frequent units: "
            f"{html.escape(', '.join(f'{u} {n:,}' for u, n in units)) or 'none'}.{more}</p>"
            + _table(["value", "unit", "text", "doc key", "document", "passage"], shown))


def _page(out_dir: Path, docs: list[dict], keys: _DocKeys, charts: list, sections: dict, files: list,
          review: str) -> str:
    n_passages = sum(len(d["passages"]) for d in docs)
    toc = [(anchor, title) for _, anchor, title, _, _ in charts]
    toc[2:2] = [("years", "Counts by year")]
    toc += [("documents", f"Documents (all {len(docs):,})"), ("institutions", "Top institutions and programmes: "
            "tables"), ("figures", "Figures"), ("files", "Files beside this report")]
    parts = [f"<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>PolicyMiner report</title>"
             f"<style>{STYLE}</style></head><body><h1>PolicyMiner report</h1>",
             f"<p class=\"dim\">{html.escape(str(out_dir))}: {len(docs):,} documents, {n_passages:,} passages. Labels "
             f"are reviewed labels where a reviewer set one, machine labels otherwise. Links open the review app at "
             f"{html.escape(review)} (start it with <code>policyminer review {html.escape(str(out_dir))}</code>).</p>",
             "<nav class=\"toc\"><h2>Contents</h2><ol>"
             + "".join(f"<li><a href=\"#{a}\">{html.escape(t)}</a></li>" for a, t in toc) + "</ol></nav>"]
    for name, anchor, title, png, caption in charts:
        parts.append(f"<h2 id=\"{anchor}\">{html.escape(title)}</h2><p class=\"dim\">{html.escape(caption)}</p>"
                     f"<img alt=\"{html.escape(title)}\" src=\"data:image/png;base64,"
                     f"{base64.b64encode(png).decode('ascii')}\">")
        if name == "labels_by_year":
            parts.append(sections["years"])
    parts += [sections["documents"], sections["entities"], sections["figures"],
              "<h2 id=\"files\">Files beside this report</h2><ul>"
              + "".join(f"<li><a href=\"{f}\">{f}</a> ({n:,} rows)</li>" for f, n in files)
              + "".join(f"<li><a href=\"{c[0]}.png\">{c[0]}.png</a></li>" for c in charts) + "</ul></body></html>"]
    return "\n".join(parts)


def _sections(docs: list[dict], keys: _DocKeys, groups: list, inst: list, prog: list, names: tuple,
              figures: list, review: str) -> dict:
    doc_table = _table(["key", "title", "source", "date", "passages", "labels", *LABELS],
                       document_rows(docs, keys, review), "docs")
    inst_names, prog_names = names
    return {
        "years": "<h3 id=\"years\">Counts by year</h3>" + _table(["year", "documents", "passages", *LABELS],
                                                                 _year_rows(groups)),
        "documents": (f"<h2 id=\"documents\">Documents</h2><p>Every document, one row each (documents sharing a "
                      f"title are told apart by key and source; the title opens it in the review app). Also in "
                      f"<a href=\"documents.csv\">documents.csv</a>.</p><div class=\"scroll\">{doc_table}</div>"),
        "entities": ("<h2 id=\"institutions\">Top institutions</h2>"
                     + _table(["key", "canonical", "documents", "mentions"],
                              [[inst_names.keys.get(n, ""), n, dd, m] for n, dd, m in inst])
                     + "<h2>Top programmes</h2>"
                     + _table(["key", "canonical", "documents", "mentions"],
                              [[prog_names.keys.get(n, ""), n, dd, m] for n, dd, m in prog])),
        "figures": _figures_section(figures, review),
    }


def write_report(out_dir: Path, dest: Optional[Path] = None, *, review_url: Optional[str] = None) -> Path:
    """Write DEST/report.html (default OUT_DIR/report), the charts as PNG files and the full tables as CSV
    beside it. Links into the review app go to `review_url` (default: configs/review.toml)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.export import atomic_write
    from pipeline.review import settings as review_settings

    out_dir = Path(out_dir)
    dest = Path(dest) if dest else out_dir / "report"
    dest.mkdir(parents=True, exist_ok=True)
    review = (review_url or review_settings.load()["report_link_base"]).rstrip("/")
    docs = _effective_docs(out_dir)
    font = cjk_font()
    keys = _DocKeys(docs, bool(font))
    names = (_Names("I", bool(font)), _Names("P", bool(font)))
    inst, prog = top_canonicals(docs, "INSTITUTION"), top_canonicals(docs, "PROGRAMME")
    groups = year_groups(docs)
    with plt.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                         "axes.unicode_minus": False}):
        charts = _charts(docs, keys, inst, prog, names, groups)
    for name, _, _, png, _ in charts:
        (dest / f"{name}.png").write_bytes(png)
    figures = figure_rows(docs, keys)
    files = _csv_files(dest, docs, keys, groups, inst, prog, figures)
    page = _page(out_dir, docs, keys, charts, _sections(docs, keys, groups, inst, prog, names, figures, review),
                 files, review)
    path = dest / "report.html"
    atomic_write(path, lambda fh: fh.write(page))
    return path
