"""The seed article against its gold file (skipped when ../shared is absent)."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def seed(shared_dir, pipe):
    path = shared_dir / "seed" / "quantum_policy_article.txt"
    gold = json.loads((shared_dir / "seed" / "quantum_policy_article.gold.json").read_text(encoding="utf-8"))
    return pipe.process(path), gold


def _norm(s):
    return "".join(s.split())


def test_seed_passages_exact(seed):
    doc, gold = seed
    assert [_norm(p.text) for p in doc.passages] == [_norm(p["text"]) for p in gold["passages"]]


def test_seed_metadata(seed):
    doc, gold = seed
    assert doc.title_raw == gold["title_raw"]
    assert doc.title == gold["title"]
    assert doc.title_restored == gold["title_restored"]
    assert doc.published_at == gold["published_at"]


def test_seed_boilerplate_lines(seed):
    doc, gold = seed
    removed = {str(r.line): r.reason for r in doc.removed}
    assert set(removed) == set(gold["boilerplate_lines"])


def test_seed_joins(shared_dir, ingester):
    gold = json.loads((shared_dir / "seed" / "quantum_policy_article.gold.json").read_text(encoding="utf-8"))
    clean = ingester.ingest(shared_dir / "seed" / "quantum_policy_article.txt")
    assert clean.joined_breaks == len(gold["joined_breaks"])
    assert [p.lines for p in clean.paragraphs] == [g["lines"] for g in gold["passages"]]
