"""PolicyMiner: text mining for Chinese policy documents.

The public API is small and imports lazily (models load on first use, never at import time):

- ``process(source) -> Document``: one file path, bytes or str;
- ``run(inputs, out_dir, **options) -> RunSummary``: a batch, written to out_dir;
- ``annotate(records) -> list[dict]``: passages given as text;
- ``load(out_dir) -> (documents, passages, entities)``: a run's outputs as pandas DataFrames.

``process`` and ``annotate`` take ``config=`` (a pipeline.config.Config; default: configs/default.toml). Code that
calls them often can hold its own ``Pipeline.from_config(load_config(...))`` (pipeline.pipeline).
"""
from __future__ import annotations

__all__ = ["process", "run", "annotate", "load", "__version__"]
__version__ = "0.1.0"

# The Pipelines these functions built, by configuration: loading one takes seconds (models, dictionaries), and a
# Config is an immutable value compared by content, so the same configuration always gets the same Pipeline.
_PIPELINES: dict = {}


def _pipeline_for(config=None):
    from pipeline.config import load_config
    from pipeline.pipeline import Pipeline

    config = config if config is not None else load_config()
    if config not in _PIPELINES:
        _PIPELINES[config] = Pipeline.from_config(config)
    return _PIPELINES[config]


def process(source, *, config=None, **options):
    """One file path, bytes or str → Document (options: name, url, kind). Raises IngestError."""
    return _pipeline_for(config).process(source, **options)


def run(inputs, out_dir, **options):
    from pipeline.run import run as _run

    return _run(inputs, out_dir, **options)


def annotate(records, *, config=None):
    return _pipeline_for(config).annotate(records)


def load(out_dir):
    """documents, passages and entities of a run folder as pandas DataFrames, all three of one published set."""
    import pandas as pd

    from pipeline.outdir import current_folder

    out = current_folder(out_dir)  # resolved once: a run publishing meanwhile does not mix two sets
    documents = pd.read_json(out / "documents.jsonl", lines=True) if (out / "documents.jsonl").stat().st_size else pd.DataFrame()
    return documents, pd.read_parquet(out / "passages.parquet"), pd.read_parquet(out / "entities.parquet")
