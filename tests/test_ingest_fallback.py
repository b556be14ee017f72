"""Ingest never collapses silently: the raw-page disagreement report, hidden-until-script content, and the
fallback that replaces an implausible pick. Every page here is an invented fixture of the shape of a failure
found on raw pages without gold (tests/fixtures/fallback_*.html); none is copied from a real page."""
from __future__ import annotations

import json

import pytest

from pipeline.evaluate import cjk_chars, evaluate_disagreement, raw_pages

_ARTICLE = ("<html><head><title>某市推进老旧小区改造</title></head><body><div class='content'>"
            + "".join(f"<p>第{i}段：某市今年计划改造老旧小区一百个，涉及居民两万户，资金由市区两级财政共同承担，"
                      f"改造内容包括管网更新、加装电梯和停车设施建设。</p>" for i in range(6))
            + "</div></body></html>")


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_raw_pages_leave_out_pages_with_gold(tmp_path):
    _write(tmp_path / "a" / "001.html", _ARTICLE)
    _write(tmp_path / "a" / "002.html", _ARTICLE)
    _write(tmp_path / "a" / "002.gold.txt", "金标准")
    _write(tmp_path / "a" / "002.gold.html", _ARTICLE)
    pages, with_gold = raw_pages([tmp_path / "a"])
    assert [p.name for p in pages] == ["001.html"]
    assert with_gold == 1


def test_disagreement_flags_pages_where_a_library_keeps_far_more(tmp_path, settings, capsys):
    page = _write(tmp_path / "raw" / "001.html", _ARTICLE)
    ours = cjk_chars(__import__("pipeline.ingest", fromlist=["ingest"]).ingest(page, settings=settings).body)
    libraries = {"same": lambda p: "某" * ours, "triple": lambda p: "某" * (3 * ours)}
    assert evaluate_disagreement([tmp_path / "raw"], settings=settings, as_json=True, libraries=libraries) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["flagged"] == 1 and report["rows"][0]["best_library"] == 3 * ours

    libraries = {"same": lambda p: "某" * ours}
    evaluate_disagreement([tmp_path / "raw"], settings=settings, as_json=True, libraries=libraries)
    assert json.loads(capsys.readouterr().out)["flagged"] == 0


def test_disagreement_flags_a_page_we_refuse(tmp_path, settings, capsys):
    _write(tmp_path / "raw" / "001.html", "<html><body><p>only latin text here, nothing else</p></body></html>")
    evaluate_disagreement([tmp_path / "raw"], settings=settings, as_json=True, libraries={"x": lambda p: "某某某"})
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["flagged"] and row["counts"]["policyminer"] == 0 and "not a Chinese article" in row["reason"]
