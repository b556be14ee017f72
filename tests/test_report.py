"""The HTML report: self-contained, charts embedded and written beside it, reviewed labels counted."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from pipeline import report
from pipeline.review.ledger import Ledger

HYDROGEN = "325d02fe1276febe"
CHARTS = ("labels_by_document", "labels_over_time", "top_entities", "challenges_recommendations")


@pytest.fixture()
def run_dir(review_run) -> Path:
    return review_run


def test_report_is_self_contained(run_dir, tmp_path):
    path = report.write_report(run_dir, tmp_path / "rep")
    html = path.read_text(encoding="utf-8")
    assert path == tmp_path / "rep" / "report.html"
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html), "no external assets"
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
