"""Input discovery for batches: folders, globs, lists, JSONL and WARC records, streamed with stable keys."""
from __future__ import annotations

import gzip
import io
import json
import os
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


def _looped_tree(tmp_path: Path) -> Path:
    """Three files, a folder link back up the tree (a loop), a link to itself, and a second name for a.txt."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    for rel in ("a.txt", "sub/b.txt", "sub/c.txt"):
        (root / rel).write_text(ARTICLE, encoding="utf-8")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    (root / "sub" / "self").symlink_to(".", target_is_directory=True)
    (root / "sub" / "alias.txt").symlink_to(root / "a.txt")
    return root


def test_a_symlink_loop_does_not_multiply_a_folders_files(tmp_path):
    root = _looped_tree(tmp_path)
    keys = [Path(u.key).relative_to(root).as_posix() for u in expand([str(root)])]
    assert keys == ["a.txt", "sub/b.txt", "sub/c.txt"]  # each real file once, under its first name
    assert count_units([str(root)]) == 3


@pytest.mark.parametrize("pattern", ["**/*.txt", "**", "sub/**/*.txt", "*/*/*.txt"])
def test_a_symlink_loop_does_not_multiply_a_globs_matches(tmp_path, pattern):
    root = _looped_tree(tmp_path)
    keys = [Path(u.key).relative_to(root).as_posix() for u in expand([str(root / pattern)])]
    assert len(keys) == len(set(keys))
    real = {(root / k).resolve() for k in keys}
    assert len(real) == len(keys)  # no real file twice
    wanted = {"**/*.txt": 3, "**": 3, "sub/**/*.txt": 3, "*/*/*.txt": 3}[pattern]
    assert len(keys) == wanted, keys


def test_a_linked_folder_outside_the_tree_is_walked(tmp_path):
    root, other = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    other.mkdir()
    (other / "d.txt").write_text(ARTICLE, encoding="utf-8")
    (root / "linked").symlink_to(other, target_is_directory=True)
    assert [Path(u.key).relative_to(root).as_posix() for u in expand([str(root)])] == ["linked/d.txt"]


def deny(monkeypatch, folder: Path) -> None:
    """Listing `folder` fails with permission denied, as chmod 000 does for anyone but root (the tests may run as
    root, whom chmod does not stop)."""
    real = os.scandir

    def scandir(path="."):
        if Path(path).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def _tree_with_locked_folder(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    root = _tree(tmp_path / "in")
    locked = root / "b" / "locked"
    locked.mkdir()
    (locked / "hidden_from_us.txt").write_text(ARTICLE, encoding="utf-8")
    return root, locked


@pytest.mark.parametrize("glob_pattern", [False, True])
def test_an_unreadable_subfolder_is_a_failed_unit(tmp_path, monkeypatch, glob_pattern):
    root, locked = _tree_with_locked_folder(tmp_path)
    deny(monkeypatch, locked)
    units = list(expand([str(root / "**" / "*.txt") if glob_pattern else str(root)]))
    failed = [u for u in units if u.error]
    assert [(u.key, u.error) for u in failed] == [(str(locked), "cannot read folder: permission denied")]
    assert {Path(u.key).name for u in units if not u.error} >= {"a.txt", "x.txt", "y.txt"}


def test_an_unreadable_subfolder_is_failed_in_run_json(tmp_path, monkeypatch):
    from pipeline.run import run

    root, locked = _tree_with_locked_folder(tmp_path)
    deny(monkeypatch, locked)
    summary = run([str(root)], tmp_path / "out", workers=1)
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert {"input": str(locked), "reason": "cannot read folder: permission denied"} in record["failed"]
    assert summary.failed == 1 and summary.processed >= 1


@pytest.mark.skipif(os.geteuid() == 0, reason="chmod 000 does not stop root (the monkeypatched test covers it)")
def test_a_chmod_000_subfolder_is_failed_by_the_cli(tmp_path):
    import subprocess
    import sys

    root, locked = _tree_with_locked_folder(tmp_path)
    locked.chmod(0)
    try:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        res = subprocess.run([sys.executable, "-m", "pipeline", "run", str(root), "-o", str(tmp_path / "out"), "-w",
                              "1", "-q"], capture_output=True, text=True, env=env, timeout=600)
    finally:
        locked.chmod(0o755)
    assert res.returncode == 1
    assert f"error: {locked}: cannot read folder: permission denied" in res.stderr.splitlines()
