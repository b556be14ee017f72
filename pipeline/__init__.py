"""PolicyMiner: text mining for Chinese policy documents.

The public API is small and imports lazily (models load on first use, never at import time):

- ``process(source) -> Document``: one file path, bytes or str;
- ``run(inputs, out_dir, **options) -> RunSummary``: a batch, written to out_dir;
- ``annotate(records) -> list[dict]``: passages given as text;
- ``load(out_dir) -> (documents, passages, entities)``: a run's outputs as pandas DataFrames.
"""
from __future__ import annotations

__all__ = ["process", "run", "annotate", "load", "__version__"]
__version__ = "0.1.0"


def process(source, **options):
    from pipeline.core import process as _process

    return _process(source, **options)


def run(inputs, out_dir, **options):
    from pipeline.run import run as _run

    return _run(inputs, out_dir, **options)


def annotate(records, **options):
    from pipeline.core import annotate as _annotate

    return _annotate(records, **options)


def load(out_dir):
    """documents, passages and entities of a run folder as pandas DataFrames, all three of one published set."""
    import pandas as pd

    from pipeline.outdir import current_folder

    out = current_folder(out_dir)  # resolved once: a run publishing meanwhile does not mix two sets
    documents = pd.read_json(out / "documents.jsonl", lines=True) if (out / "documents.jsonl").stat().st_size else pd.DataFrame()
    return documents, pd.read_parquet(out / "passages.parquet"), pd.read_parquet(out / "entities.parquet")
