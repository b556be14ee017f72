"""Ingest stage: raw bytes or text in, a CleanDocument out (title, date, source, body paragraphs, removed blocks).
`Ingester(config).ingest(source)`; the Pipeline (pipeline.pipeline) holds one."""
from pipeline.ingest.core import IngestError, Ingester

__all__ = ["Ingester", "IngestError"]
