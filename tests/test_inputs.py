"""Input discovery for batches: folders, globs, lists, JSONL and WARC records, streamed with stable keys."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from pipeline.inputs import count_units, expand, read_list

ARTICLE = "国务院办公厅印发关于进一步优化营商环境的意见，提出到2025年市场主体活跃度明显提升，" * 3


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "b" / "c").mkdir(parents=True)
    for rel in ("a.txt", "b/z.html", "b/c/y.txt", "b/c/x.txt", "b/.hidden.txt", "b/notes.md", "b/x.gold.txt"):
        (tmp_path / rel).write_text(ARTICLE, encoding="utf-8")
    return tmp_path


def test_folder_is_walked_recursively_in_sorted_order_without_hidden_gold_or_notes(tmp_path):
    root = _tree(tmp_path)
    keys = [Path(u.key).relative_to(root).as_posix() for u in expand([str(root)])]
    assert keys == ["a.txt", "b/z.html", "b/c/x.txt", "b/c/y.txt"] or keys == ["a.txt", "b/c/x.txt", "b/c/y.txt", "b/z.html"]
    assert count_units([str(root)]) == len(keys)


def test_expand_is_lazy(tmp_path):
    root = _tree(tmp_path)
    it = expand([str(root)])
    first = next(it)
    assert first.error is None and first.content is None  # a path, not the file's bytes


@pytest.mark.parametrize("pattern, expected", [("*.txt", ["a.txt"]), ("**/*.txt", ["a.txt", "b/c/x.txt", "b/c/y.txt", "b/x.gold.txt"])])
def test_globs_are_expanded_sorted(tmp_path, pattern, expected):
    root = _tree(tmp_path)
    keys = [Path(u.key).relative_to(root).as_posix() for u in expand([str(root / pattern)])]
    assert sorted(keys) == sorted(expected)


@pytest.mark.parametrize("raw, reason", [("/no/such/file.txt", "no such file or folder"),
                                         ("/no/such/*.html", "no file matches this pattern")])
def test_missing_inputs_become_failed_units(raw, reason):
    (unit,) = list(expand([raw]))
    assert unit.key == raw and unit.error == reason
    assert count_units([raw]) == 1


def test_jsonl_records_and_bad_lines(tmp_path):
    path = tmp_path / "crawl.jsonl"
    lines = [json.dumps({"url": "http://www.gov.cn/a.htm", "html": f"<p>{ARTICLE}</p>"}, ensure_ascii=False),
             "",
             json.dumps({"url": "http://www.gov.cn/b.htm", "text": ARTICLE}, ensure_ascii=False),
             "{not json",
             json.dumps({"url": "http://www.gov.cn/c.htm"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    units = list(expand([str(path)]))
    assert [u.key for u in units] == [f"{path}#1", f"{path}#3", f"{path}#4", f"{path}#5"]
    assert (units[0].kind, units[0].url) == ("html", "http://www.gov.cn/a.htm")
    assert units[1].kind == "text" and units[1].content == ARTICLE
    assert "invalid JSON" in units[2].error and "neither 'html' nor 'text'" in units[3].error
    assert count_units([str(path)]) == 4


def write_warc(path: Path, pages: list[tuple[str, str]], *, gz: bool) -> None:
    """A WARC of HTML responses (plus a request record, which is not a document), written with warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        for url, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html.encode("utf-8")),
                                                          http_headers=headers))
            req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "www.gov.cn")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=req))


@pytest.mark.parametrize("gz", [False, True])
def test_warc_response_records_become_units(tmp_path, gz):
    path = tmp_path / ("pages.warc.gz" if gz else "pages.warc")
    write_warc(path, [("http://www.gov.cn/1.htm", f"<p>{ARTICLE}</p>"), ("http://www.gov.cn/2.htm", "<p>第二篇</p>")], gz=gz)
    units = list(expand([str(path)]))
    assert [u.url for u in units] == ["http://www.gov.cn/1.htm", "http://www.gov.cn/2.htm"]
    assert all(u.kind == "html" and u.key.startswith(f"{path}#") for u in units)
    assert ARTICLE.encode("utf-8") in units[0].content
    assert len({u.key for u in units}) == 2
    assert count_units([str(path)]) is None  # unknown without parsing


def test_corrupt_warc_is_one_failed_unit(tmp_path):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(gzip.compress(b"WARC/1.0\r\nthis is not a record\r\n"))
    units = list(expand([str(path)]))
    assert units and units[-1].error and units[-1].error.startswith("unreadable WARC")


def test_read_list_skips_blanks_and_comments(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text("# inputs\n/a.txt\n\n  /b.html  \n", encoding="utf-8")
    assert list(read_list(str(lst))) == ["/a.txt", "/b.html"]


@pytest.mark.parametrize("line,reason", [
    ("[" * 100_000, "unreadable JSON"),
    ('{"url": "u", "html": 42}', "'html' must be a string, not int"),
    ('{"url": "u", "text": ["a"]}', "'text' must be a string, not list"),
    ('{"url": "u", "text": {"a": 1}}', "'text' must be a string, not dict"),
    ('{"url": "u", "html": true}', "'html' must be a string, not bool"),
    ('{"url": 7, "text": "正文"}', "'url' must be a string, not int"),
])
def test_hostile_jsonl_lines_fail_only_their_record(tmp_path, line, reason):
    path = tmp_path / "crawl.jsonl"
    good = json.dumps({"url": "http://a.example/1", "text": "这是一篇关于政策的文章。"}, ensure_ascii=False)
    path.write_text(good + "\n" + line + "\n" + good + "\n", encoding="utf-8")
    units = list(expand([str(path)]))
    assert [u.error is None for u in units] == [True, False, True]
    assert reason in units[1].error and units[1].error.startswith("line 2:")
