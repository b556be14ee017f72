"""Ingest stage: raw bytes or text in, a CleanDocument out (title, date, source, body paragraphs, removed blocks)."""
from pipeline.ingest.core import IngestError, ingest

__all__ = ["ingest", "IngestError"]
