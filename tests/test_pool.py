"""Stand-off labels over a document pool: loading, hash checks, resolution, agreement (a tiny pool written here)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import pool


def _pool(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    root.mkdir()
    (root / "manifest.tsv").write_text("slug\ttitle\tdoc_type\nd1\t测试文件\tpolicy_news\nd2\t另一文件\tgwr_provincial\n",
                                       encoding="utf-8")
    (root / "d1.txt").write_text("一、总体情况\n\n今年全省粮食产量再创新高。\n\n但农村人口老龄化问题突出。\n", encoding="utf-8")
    (root / "d2.txt").write_text("要加快建设现代化产业体系。\n\n本办法自发布之日起施行。\n", encoding="utf-8")
    return root


def _labels(root: Path, rows: list[tuple]) -> list[pool.PassageLabel]:
    docs = pool.read_manifest(root)
    return [pool.PassageLabel(s, l, pool.line_hash(docs[s].line(l)), lab, sec, ann) for s, l, lab, sec, ann in rows]


def test_round_trip_and_hash_check(tmp_path):
    root = _pool(tmp_path)
    labels = _labels(root, [("d1", 1, "heading", None, "a"), ("d1", 3, "achievement", None, "a"),
                            ("d1", 5, "challenge", "background", "a")])
    path = tmp_path / "labels" / "passages" / "a.tsv"
    pool.write_passage_labels(path, labels)
    back = pool.read_passage_labels([path])
    assert back == sorted(labels, key=lambda r: (r.slug, r.line))
    pool.verify(back, pool.read_manifest(root))
    (root / "d1.txt").write_text("一、总体情况\n\n今年全省粮食产量下降。\n\n但农村人口老龄化问题突出。\n", encoding="utf-8")
    with pytest.raises(pool.PoolError, match="d1:3.*no longer matches"):
        pool.verify(back, pool.read_manifest(root))


def test_bad_rows_are_refused_with_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("\t".join(pool.PASSAGE_COLUMNS) + "\nd1\t3\tabc\tpraise\t\ta\n", encoding="utf-8")
    with pytest.raises(pool.PoolError, match="bad.tsv:2"):
        pool.read_passage_labels([path])


def test_resolution_prefers_adjudication_and_drops_unsettled(tmp_path):
    root = _pool(tmp_path)
    labels = _labels(root, [("d1", 3, "achievement", None, "a"), ("d1", 3, "achievement", None, "b"),
                            ("d1", 5, "challenge", None, "a"), ("d1", 5, "background", None, "b"),
                            ("d2", 1, "recommendation", None, "a"), ("d2", 1, "background", None, "b"),
                            ("d2", 1, "recommendation", None, pool.ADJUDICATED)])
    res = pool.resolved(labels)
    assert res[("d1", 3)].label == "achievement"
    assert ("d1", 5) not in res  # disagreement, not yet settled
    assert res[("d2", 1)].annotator == pool.ADJUDICATED


def test_agreement_per_genre(tmp_path):
    root = _pool(tmp_path)
    labels = _labels(root, [("d1", 3, "achievement", None, "a"), ("d1", 3, "achievement", None, "b"),
                            ("d1", 5, "challenge", None, "a"), ("d1", 5, "background", None, "b"),
                            ("d2", 1, "recommendation", None, "a"), ("d2", 1, "recommendation", None, "b"),
                            ("d2", 3, "background", None, "a"), ("d2", 3, "background", None, "b")])
    docs = pool.read_manifest(root)
    got = pool.agreement(labels, docs, {"policy_news": "news", "gwr_provincial": "work_report"})
    assert got["all"]["lines"] == 4 and got["all"]["agreement"] == 0.75
    assert got["work_report"]["kappa"] == 1.0
    assert got["news"]["documents"] == 1


def test_entity_labels_resolve_and_agree(tmp_path):
    root = _pool(tmp_path)
    docs = pool.read_manifest(root)
    text = docs["d1"].line(3)
    sha = pool.line_hash(text)
    a = {"slug": "d1", "line": 3, "sha": sha, "annotator": "a",
         "spans": [{"start": 0, "end": 2, "type": "DATE"}, {"start": 2, "end": 4, "type": "GPE"}]}
    b = dict(a, annotator="b", spans=[{"start": 0, "end": 2, "type": "DATE"}])
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (a, b)), encoding="utf-8")
    labels = pool.read_entity_labels([path])
    agree = pool.span_agreement(labels)
    assert agree["paragraphs"] == 1 and agree["DATE"]["f1"] == 1.0 and agree["GPE"]["f1"] == 0.0
    records = pool.resolved_entities(labels, docs)
    assert [e["text"] for e in records[0]["entities"]] == ["今年", "全省"]


def test_missing_pool_says_what_to_do(tmp_path):
    with pytest.raises(pool.PoolError, match="--pool"):
        pool.find_pool(str(tmp_path / "nowhere"))
