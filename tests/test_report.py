"""The HTML report: self-contained, charts embedded and written beside it, reviewed labels counted; at scale every
document present, undated documents counted, big tables summarised with full CSV beside, links into review."""
from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest

from pipeline import report
from pipeline.review.ledger import Ledger

HYDROGEN = "325d02fe1276febe"
CHARTS = ("labels_by_document", "labels_by_year", "top_entities", "challenges_recommendations")


@pytest.fixture()
def run_dir(review_run) -> Path:
    return review_run


def test_report_is_self_contained(run_dir, tmp_path):
    path = report.write_report(run_dir, tmp_path / "rep")
    html = path.read_text(encoding="utf-8")
    assert path == tmp_path / "rep" / "report.html"
    assert not re.search(r"""src\s*=\s*["'](?!data:)""", html), "no external assets"
    assert "<link" not in html
    assert "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(CHARTS)
    for name, b64 in zip(CHARTS, images):
        png = (tmp_path / "rep" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and base64.b64decode(b64) == png


def test_report_tables_escape_and_list_figures(run_dir, tmp_path):
    html = report.write_report(run_dir, tmp_path / "rep").read_text(encoding="utf-8")
    assert "关于推进氢能产业示范应用的实施意见" in html
    assert "<td>8,650,000,000</td><td>CNY</td><td>86.5亿元</td>" in html
    assert "国家发展和改革委员会" in html  # top institutions by canonical name
    assert "<script>alert" not in html


def test_report_counts_reviewed_labels(run_dir, tmp_path):
    Ledger(run_dir / "run.sqlite").record(HYDROGEN, 1, "label", value="background", machine_value="challenge",
                                          reviewer="ana")
    docs = {d["doc_id"]: d for d in report._effective_docs(run_dir)}
    assert [p["label"] for p in docs[HYDROGEN]["passages"]][:2] == ["achievement", "background"]


def test_report_without_cjk_font_uses_ascii_keys(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "cjk_font", lambda: None)
    html = report.write_report(run_dir, tmp_path / "rep").read_text(encoding="utf-8")
    assert "<td>D1</td>" in html and "<td>I1</td>" in html


def test_report_cli_default_folder(run_dir):
    from pipeline.cli import main

    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report" / "report.html").is_file()


def test_report_and_run_read_the_review_table_of_one_config_file(run_dir, tmp_path):
    """One --config file serves every command: its [review] table sets the report's links into the review app
    (and the app's paging), while the run's configuration leaves it out; an unknown review key is refused by name."""
    from pipeline.cli import main
    from pipeline.config import ConfigError, load_config
    from pipeline.review import settings as review_settings

    user = tmp_path / "team.toml"
    user.write_text('[review]\nreport_link_base = "http://review.example.test:9999/"\npage_size = 20\n'
                    '[run]\nchunk_size = 4\n', encoding="utf-8")
    assert main(["report", str(run_dir), "--config", str(user), "-o", str(tmp_path / "rep")]) == 0
    assert "http://review.example.test:9999/" in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert load_config(str(user)).run.chunk_size == 4 and "review" not in load_config(str(user)).as_dict()
    assert review_settings.load(user)["page_size"] == 20
    bad = tmp_path / "bad.toml"
    bad.write_text("[review]\npage_sise = 20\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="review.page_sise"):
        review_settings.load(bad)


def test_report_at_scale(tmp_path):
    from pipeline.review.synthetic import make_run

    run = make_run(tmp_path / "run", n_docs=64, passages_per_doc=6)
    docs = [json.loads(l) for l in (run / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    path = report.write_report(run, tmp_path / "rep", review_url="http://review.example:8765")
    page = path.read_text(encoding="utf-8")
    # a table of contents whose links all land
    anchors = re.findall(r'<li><a href="#([a-z-]+)">', page)
    assert len(anchors) >= 8 and all(f'id="{a}"' in page for a in anchors)
    # every document, one row each even when titles repeat, its source beside it, linked into the review app
    table = re.search(r'<table class="docs">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr><td>(D\d+)</td><td><a href=\"([^\"]+)\">", table)
    assert [k for k, _ in rows] == [f"D{i}" for i in range(1, len(docs) + 1)]
    assert all(h == f"http://review.example:8765/?doc={d['doc_id']}&amp;sort=document&amp;kind=all"
               for (_, h), d in zip(rows, docs))
    titles = [d["title"] for d in docs if d["title"]]
    assert len(set(titles)) < len(titles)  # the fixture repeats titles
    assert "a.example.gov.cn" in table and "page3.html" in table  # a source, an untitled document by file name
    # the chart says which documents it shows
    assert "the 30 documents with the most passages, of 64" in page
    # trends by year: counts, the undated documents counted in their own row
    years = list(csv.reader((tmp_path / "rep" / "years.csv").open(encoding="utf-8")))[1:]
    undated = sum(not d["published_at"] for d in docs)
    assert ["undated", str(undated)] == years[-1][:2] and undated > 0
    assert sum(int(r[1]) for r in years) == len(docs)
    assert f"{undated} undated documents are counted" in page
    # figures: a summary and the first rows in the page, every one in figures.csv
    n_figures = sum(e["type"] == "FIGURE" for d in docs for e in d["entities"])
    figures = list(csv.reader((tmp_path / "rep" / "figures.csv").open(encoding="utf-8")))
    assert len(figures) - 1 == n_figures > report.FIGURE_ROWS
    section = page[page.index('id="figures"'):]
    assert section.count("http://review.example:8765/p/") == report.FIGURE_ROWS
    assert f"has all {n_figures:,}" in section
    docs_csv = list(csv.reader((tmp_path / "rep" / "documents.csv").open(encoding="utf-8")))
    assert len(docs_csv) - 1 == len(docs)
