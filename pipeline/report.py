"""`policyminer report OUT_DIR`: a self-contained HTML report of a run (charts embedded as data URIs and also
written as PNG files beside it). Labels are the reviewed ones where a reviewer set one, the machine's otherwise.

Chinese names in charts need a CJK font. Without one (see `fc-list :lang=zh`), charts label documents and
entities with short ASCII keys (D1, I1, P1) and the report's tables give the names behind the keys."""
from __future__ import annotations

import base64
import html
import io
import logging
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pipeline.records import LABELS

log = logging.getLogger(__name__)
COLOURS = {"achievement": "#4a9a55", "challenge": "#c2473a", "recommendation": "#3b6fb6", "background": "#9a9a9a"}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "SimHei",
                "Microsoft YaHei", "PingFang SC", "Noto Sans SC")
CJK_FILE_RE = re.compile(r"(cjk|wqy|wenquanyi|droidsansfallback|sourcehan|uming|ukai|simhei|msyh|pingfang)", re.I)
MAX_DOCS = 30
TOP_N = 15


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
        d["entities"] = [e for ps in st.values() for e in ps.entities.values()]
    return docs


def _short(text: str, n: int = 18) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


class _Names:
    """Chart labels: the name itself with a CJK font, else a stable ASCII key (D1, I3 …)."""

    def __init__(self, prefix: str, cjk: bool):
        self.prefix, self.cjk, self.keys = prefix, cjk, {}

    def __call__(self, name: str) -> str:
        key = self.keys.setdefault(name, f"{self.prefix}{len(self.keys) + 1}")
        return f"{key} {_short(name)}" if self.cjk else key


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _stacked(ax, names: list[str], shares: list[dict]) -> None:
    left = [0.0] * len(names)
    for label in LABELS:
        vals = [s.get(label, 0.0) for s in shares]
        ax.barh(names, vals, left=left, color=COLOURS[label], label=label)
        left = [a + b for a, b in zip(left, vals)]
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)


def _shares(labels: list[str]) -> dict:
    c = Counter(labels)
    n = max(sum(c.values()), 1)
    return {l: c.get(l, 0) / n for l in LABELS}


def chart_labels_by_document(docs: list[dict], names: _Names) -> bytes:
    import matplotlib.pyplot as plt

    docs = docs[:MAX_DOCS]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(docs) + 1.2))
    _stacked(ax, [names(d.get("title") or d["doc_id"]) for d in docs],
             [_shares([p["label"] for p in d["passages"]]) for d in docs])
    ax.set_xlabel("share of passages")
    return _png(fig)


def chart_labels_over_time(docs: list[dict], sources: _Names) -> tuple[bytes, str]:
    """Label shares by month of publication, or by source when fewer than two months are known."""
    import matplotlib.pyplot as plt

    by_month: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        if d.get("published_at"):
            by_month[d["published_at"][:7]] += [p["label"] for p in d["passages"]]
    if len(by_month) >= 2:
        groups, what = sorted(by_month.items()), "month of publication"
        names = [k for k, _ in groups]
    else:
        by_source: dict[str, list[str]] = defaultdict(list)
        for d in docs:
            src = (d.get("source") or {}).get("site") or d.get("publisher") or "unknown"
            by_source[src] += [p["label"] for p in d["passages"]]
        groups, what = sorted(by_source.items(), key=lambda kv: -len(kv[1]))[:MAX_DOCS], "source"
        names = [sources(k) for k, _ in groups]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(groups) + 1.2))
    _stacked(ax, names, [_shares(v) for _, v in groups])
    ax.set_xlabel(f"share of passages by {what}")
    return _png(fig), what


def top_canonicals(docs: list[dict], etype: str) -> list[tuple[str, int, int]]:
    """(canonical, documents, mentions) for the most frequent entities of a type."""
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
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * max(len(inst), len(prog), 3) + 1.2))
    for ax, rows, names, title in ((axes[0], inst, inst_names, "institutions"), (axes[1], prog, prog_names, "programmes")):
        if rows:
            ax.barh([names(n) for n, _, _ in rows], [m for _, _, m in rows], color="#23364a")
            ax.invert_yaxis()
        else:
            ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"top {title} (mentions)", fontsize=10)
    return _png(fig)


def chart_challenges_recommendations(docs: list[dict], names: _Names) -> bytes:
    import matplotlib.pyplot as plt

    docs = docs[:MAX_DOCS]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(docs) + 1.2))
    ys = range(len(docs))
    ch = [sum(p["label"] == "challenge" for p in d["passages"]) for d in docs]
    rc = [sum(p["label"] == "recommendation" for p in d["passages"]) for d in docs]
    ax.barh([y - 0.2 for y in ys], ch, height=0.4, color=COLOURS["challenge"], label="challenge")
    ax.barh([y + 0.2 for y in ys], rc, height=0.4, color=COLOURS["recommendation"], label="recommendation")
    ax.set_yticks(list(ys), [names(d.get("title") or d["doc_id"]) for d in docs])
    ax.invert_yaxis()
    ax.set_xlabel("passages")
    ax.legend(fontsize=8)
    return _png(fig)


def _table(head: list[str], rows: list[list]) -> str:
    e = lambda v: html.escape("" if v is None else str(v))  # noqa: E731
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    return "".join(out)


def _number(value) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"


def _figures(docs: list[dict], names: _Names) -> list[list]:
    rows = []
    for d in docs:
        for e in sorted(d["entities"], key=lambda e: (e["passage"], e["start"])):
            if e["type"] == "FIGURE":
                value = e.get("value")
                rows.append([_number(value), e.get("unit") or "", e["text"],
                             names.keys.get(d.get("title") or d["doc_id"], ""), d.get("title") or d["doc_id"],
                             e["passage"]])
    return rows


STYLE = """body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2rem;
max-width:60rem;color:#1d2327}table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;
padding:.2rem .6rem;text-align:left}img{max-width:100%}h2{margin-top:2rem}.dim{color:#666}"""


def write_report(out_dir: Path, dest: Optional[Path] = None) -> Path:
    """Write DEST/report.html (default OUT_DIR/report) and the charts as PNG files beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    dest = Path(dest) if dest else out_dir / "report"
    dest.mkdir(parents=True, exist_ok=True)
    docs = _effective_docs(out_dir)
    font = cjk_font()
    with plt.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                         "axes.unicode_minus": False}):
        doc_names, src_names = _Names("D", bool(font)), _Names("S", bool(font))
        inst_names, prog_names = _Names("I", bool(font)), _Names("P", bool(font))
        inst, prog = top_canonicals(docs, "INSTITUTION"), top_canonicals(docs, "PROGRAMME")
        over_time, grouping = chart_labels_over_time(docs, src_names)
        charts = [("labels_by_document", "Label shares per document", chart_labels_by_document(docs, doc_names)),
                  ("labels_over_time", f"Label shares by {grouping}", over_time),
                  ("top_entities", "Top institutions and programmes", chart_top_entities(inst, prog, inst_names,
                                                                                         prog_names)),
                  ("challenges_recommendations", "Challenges and recommendations per document",
                   chart_challenges_recommendations(docs, doc_names))]
    n_passages = sum(len(d["passages"]) for d in docs)
    parts = [f"<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>PolicyMiner report</title>"
             f"<style>{STYLE}</style></head><body><h1>PolicyMiner report</h1>",
             f"<p class=\"dim\">{html.escape(str(out_dir))}: {len(docs)} documents, {n_passages} passages. Labels are "
             f"reviewed labels where a reviewer set one, machine labels otherwise.</p>"]
    for name, title, png in charts:
        (dest / f"{name}.png").write_bytes(png)
        parts.append(f"<h2>{html.escape(title)}</h2><img alt=\"{html.escape(title)}\" "
                     f"src=\"data:image/png;base64,{base64.b64encode(png).decode('ascii')}\">")
    parts.append("<h2>Documents</h2>" + _table(
        ["key", "title", "date", "source", "passages"] + list(LABELS),
        [[doc_names.keys.get(d.get("title") or d["doc_id"], ""), d.get("title") or d["doc_id"],
          (d.get("published_at") or "")[:10], (d.get("source") or {}).get("site") or d.get("publisher") or "",
          len(d["passages"]), *(sum(p["label"] == l for p in d["passages"]) for l in LABELS)] for d in docs]))
    if src_names.keys:
        parts.append("<h2>Sources</h2>" + _table(["key", "source"], [[k, n] for n, k in src_names.keys.items()]))
    parts.append("<h2>Top institutions</h2>" + _table(["key", "canonical", "documents", "mentions"],
                                                      [[inst_names.keys.get(n, ""), n, dd, m] for n, dd, m in inst]))
    parts.append("<h2>Top programmes</h2>" + _table(["key", "canonical", "documents", "mentions"],
                                                    [[prog_names.keys.get(n, ""), n, dd, m] for n, dd, m in prog]))
    parts.append("<h2>Figures</h2>" + _table(["value", "unit", "text", "doc key", "document", "passage"],
                                             _figures(docs, doc_names)))
    parts.append("</body></html>")
    path = dest / "report.html"
    from pipeline.export import atomic_write

    atomic_write(path, lambda fh: fh.write("\n".join(parts)))
    path.chmod(0o644)  # the temp file behind atomic_write is private; a report is meant to be shared
    return path
