"""Output writers: staged atomic writes, streaming run.json, tables from documents.jsonl."""
from __future__ import annotations

import errno
import json
import os

import pytest

from pipeline import export
from pipeline.export import ExportError, StagedOutputs, write_documents, write_json, write_tables_streaming

DOC = {"doc_id": "d1", "title": "标题", "published_at": "2023-01-01", "source": {"path": "a.txt", "site": None},
       "passages": [{"index": 0, "kind": "paragraph", "heading": None, "text": "全省新增企业1200家。", "start": 0,
                     "end": 11, "label": "achievement", "secondary": None, "actor": None,
                     "scores": {"achievement": 0.9, "challenge": 0.05, "recommendation": 0.03, "background": 0.02}}],
       "entities": [{"text": "1200家", "type": "FIGURE", "start": 4, "end": 9, "passage": 0, "canonical": "1200家",
                     "source": "rule", "value": 1200.0, "unit": "家", "approx": False, "bound": None,
                     "date_iso": None, "date_precision": None}]}


def test_staged_outputs_commit_together(tmp_path):
    with StagedOutputs(tmp_path) as staged:
        staged.write_text("a.txt", lambda fh: fh.write("A"))
        staged.write_text("b.txt", lambda fh: fh.write("B"))
        assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "b.txt").read_text() == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temp files left


def test_failure_discards_every_staged_file(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with StagedOutputs(tmp_path) as staged:
            staged.write_text("a.txt", lambda fh: fh.write("new"))
            raise RuntimeError("boom")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("where", ["replace", "write"])
def test_disk_full_raises_a_clear_error_and_keeps_the_previous_file(tmp_path, monkeypatch, where):
    path = tmp_path / "documents.jsonl"
    write_documents(["{\"doc_id\":\"old\"}"], path)
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "replace":
        monkeypatch.setattr(export.os, "replace", full)
        lines = ["{\"doc_id\":\"new\"}"]
    else:
        lines = (full() for _ in range(1))
    with pytest.raises(ExportError) as info:
        write_documents(lines, path)
    assert "documents.jsonl" in str(info.value) and "No space left on device" in str(info.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["documents.jsonl"]


def test_write_json_streams_iterators_as_arrays(tmp_path):
    path = tmp_path / "run.json"
    write_json({"counts": {"inputs": 2}, "inputs": (dict(input=f"第{i}篇.txt") for i in range(2)), "none": iter(())},
               path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"counts": {"inputs": 2}, "inputs": [{"input": "第0篇.txt"}, {"input": "第1篇.txt"}], "none": []}


def test_tables_streamed_from_documents_and_loaded_back(tmp_path):
    import pipeline

    docs = [dict(DOC, doc_id=f"d{i}") for i in range(3)]
    write_documents((json.dumps(d, ensure_ascii=False) for d in docs), tmp_path / "documents.jsonl")
    write_tables_streaming(tmp_path / "documents.jsonl", tmp_path, batch=2)
    documents, passages, entities = pipeline.load(tmp_path)
    assert list(documents["doc_id"]) == ["d0", "d1", "d2"]
    assert len(passages) == 3 and passages["score_achievement"].iloc[0] == pytest.approx(0.9)
    assert list(entities["value"]) == [1200.0] * 3
    assert (tmp_path / "passages.csv").read_text(encoding="utf-8").splitlines()[0].startswith("doc_id,index")


def test_empty_run_writes_empty_tables(tmp_path):
    write_documents([], tmp_path / "documents.jsonl")
    write_tables_streaming(tmp_path / "documents.jsonl", tmp_path)
    import pipeline

    documents, passages, entities = pipeline.load(tmp_path)
    assert len(documents) == len(passages) == len(entities) == 0
    assert list(passages.columns) == export.PASSAGE_COLUMNS


def test_document_to_dict_equals_dataclasses_asdict(fixtures, settings):
    """Document.to_dict is a faster asdict: same dict, same key order, on a real processed document."""
    import dataclasses
    import json

    from pipeline.core import process

    doc = process(fixtures / "cms_page_gbk.html", settings=settings)
    assert doc.passages and doc.entities
    expected, got = dataclasses.asdict(doc), doc.to_dict()
    assert got == expected
    assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
