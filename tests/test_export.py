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


def test_document_to_dict_equals_dataclasses_asdict(fixtures, config):
    """Document.to_dict is a faster asdict: same dict, same key order, on a real processed document."""
    import dataclasses
    import json

    from pipeline import process

    doc = process(fixtures / "cms_page_gbk.html", config=config)
    assert doc.passages and doc.entities
    expected, got = dataclasses.asdict(doc), doc.to_dict()
    assert got == expected
    assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


# -- the tables are written without pandas; they must equal what pandas writes for the same rows ---------------
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_text = st.text(alphabet=st.sampled_from(list('政策,"\n\r\t 年a1；“”') + ["\u3000", "\x00"]), max_size=8)
_opt_text = st.none() | _text
_float = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1e16, 1e-05, 1200.0, 0.1])
_opt_float = st.none() | _float


@st.composite
def _documents(draw):
    docs = []
    for i in range(draw(st.integers(0, 4))):
        passages = [{"index": j, "kind": draw(_opt_text), "heading": draw(_opt_text), "text": draw(_text),
                     "start": draw(st.integers(0, 10**6)), "end": draw(st.integers(0, 10**6)), "label": draw(_text),
                     "secondary": draw(_opt_text), "actor": draw(_opt_text),
                     "scores": draw(st.none() | st.fixed_dictionaries(
                         {k: _opt_float for k in ("achievement", "challenge", "recommendation", "background")}))}
                    for j in range(draw(st.integers(0, 3)))]
        entities = [{"text": draw(_text), "type": draw(_text), "start": draw(st.integers(0, 99)),
                     "end": draw(st.integers(0, 99)), "passage": draw(st.integers(-1, 9)), "canonical": draw(_opt_text),
                     "source": draw(_opt_text), "value": draw(_opt_float), "unit": draw(_opt_text),
                     "approx": draw(st.none() | st.booleans()), "bound": draw(_opt_text),
                     "date_iso": draw(_opt_text), "date_precision": draw(_opt_text)}
                    for _ in range(draw(st.integers(0, 3)))]
        docs.append({"doc_id": f"d{i}", "title": draw(_opt_text), "published_at": draw(_opt_text),
                     "source": draw(st.none() | st.fixed_dictionaries({"path": _opt_text, "site": _opt_text})),
                     "passages": passages, "entities": entities})
    return docs


@hsettings(max_examples=150, deadline=None)
@given(docs=_documents(), batch=st.integers(1, 3))
def test_tables_equal_what_pandas_writes_for_the_same_rows(tmp_path_factory, docs, batch):
    """CSV bytes as pandas' to_csv writes them, batch by batch as the writer flushes (dtypes inferred per batch),
    and Parquet values as pyarrow converts the same DataFrames."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path_factory.mktemp("tables")
    write_documents((json.dumps(d, ensure_ascii=False) for d in docs), out / "documents.jsonl")
    write_tables_streaming(out / "documents.jsonl", out, batch=batch)
    for name, cols, values in (("passages", export.PASSAGE_COLUMNS, export.passage_values),
                               ("entities", export.ENTITY_COLUMNS, export.entity_values)):
        frames = [pd.DataFrame([row for d in docs[i:i + batch] for row in values(d)], columns=cols)
                  for i in range(0, len(docs), batch)] or [pd.DataFrame(columns=cols)]
        expected_csv = "".join(f.to_csv(index=False, header=k == 0) for k, f in enumerate(frames))
        assert (out / f"{name}.csv").read_bytes().decode("utf-8") == expected_csv  # bytes: keep any "\r"
        got = pq.read_table(out / f"{name}.parquet")
        schema = export._arrow_schema(name)
        if docs:
            expected = pa.concat_tables(pa.Table.from_pandas(f, schema=schema, preserve_index=False) for f in frames)
            assert got.equals(expected.replace_schema_metadata(None))
        else:
            assert got.num_rows == 0 and got.schema.names == cols
