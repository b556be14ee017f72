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


@pytest.mark.shared
@pytest.mark.parametrize("folder", ["html", "flat"])
def test_real_pages_run_validates(shared_dir, folder, tmp_path):
    """A batch over the real scraped pages of ../shared/eval (raw HTML in its own encodings, and the same pages
    flattened to text) writes outputs that `policyminer validate` accepts: every documents.jsonl line against the
    schema, the tables row for row, run.json's counts."""
    import subprocess
    import sys

    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "pipeline", "run", str(shared_dir / "eval" / folder), "-o", str(out),
                          "-q", "-w", "2"], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr  # 1: some pages are refused (not Chinese articles)
    check = subprocess.run([sys.executable, "-m", "pipeline", "validate", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid" in check.stdout + check.stderr
