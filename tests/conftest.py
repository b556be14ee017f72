"""Shared fixtures. Tests that need ../shared (the seed, evaluation pages) use `shared_dir` and skip cleanly
when it is absent; everything else uses fixtures written by this project under tests/fixtures/."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "seed").is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def config():
    from pipeline.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def ingester(config):
    """The ingest stage of the default configuration (its rules load once for the session)."""
    from pipeline.ingest import Ingester

    return Ingester(config)


@pytest.fixture(scope="session")
def pipe(config):
    """The whole Pipeline of the default configuration (models load once for the session)."""
    from pipeline.pipeline import Pipeline

    return Pipeline.from_config(config)


@pytest.fixture()
def review_run(tmp_path) -> Path:
    """A run folder holding the review fixture's documents.jsonl (three analysed pages), as `policyminer run`
    leaves it: for the review app, the report and the corrections export."""
    import shutil

    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(FIXTURES / "review" / "documents.jsonl", out / "documents.jsonl")
    return out
