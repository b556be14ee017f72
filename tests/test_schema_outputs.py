"""Every document the pipeline writes for the bundled samples (and, when ../shared is present, the real policy
documents of ../shared/eval/policy_text) validates against the project's own JSON Schema."""
from __future__ import annotations

from pathlib import Path

import pytest

import pipeline
from pipeline.export import document_json, validate

ROOT = Path(__file__).resolve().parents[1]


def _validate_all(paths):
    n = 0
    for path in paths:
        doc = document_json(pipeline.process(path))
        validate(doc)
        for e in doc["entities"]:
            if e["type"] == "FIGURE":
                assert isinstance(e["unit"], str) and e["unit"], e
                assert e["low"] is None or e["low"] <= e["value"], e
        n += 1
    return n


def test_bundled_samples_validate():
    samples = sorted(p for p in (ROOT / "corpora" / "samples").iterdir() if p.suffix in (".txt", ".html"))
    assert _validate_all(samples) == len(samples) >= 6


@pytest.mark.shared
def test_real_policy_documents_validate(shared_dir):
    texts = sorted((shared_dir / "eval" / "policy_text").glob("*.txt"))
    texts = [p for p in texts if p.name != "SOURCES.txt"]
    assert _validate_all(texts) == len(texts) > 10
