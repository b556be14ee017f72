"""Fuzz corpus over ingest: every hostile, broken or oversized input ends in a CleanDocument or a clear
IngestError, in bounded time and memory, each in its own subprocess (tests/fuzz/run_case.py) under an
address-space limit. The corpus is generated into tmp_path by tests/fuzz/make_corpus.py; nothing is committed.

    python -m pytest -q tests/test_fuzz.py            # all cases, the 50 MB ones included
    python -m pytest -q tests/test_fuzz.py -m "not slow"
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.ingest import Ingester
from pipeline.nlp.figures import FigureFinder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fuzz"))
import make_corpus  # noqa: E402

RUNNER = HERE / "fuzz" / "run_case.py"
CONFIG = load_config()
LIMITS = CONFIG.limits
INGESTER = Ingester(CONFIG)
FIGURE_FINDER = FigureFinder(CONFIG.path(CONFIG.nlp.entity_patterns))
# Address space for one case: the 50 MB page peaks near 400 MB resident; 3 GiB leaves room for lxml and the
# interpreter's own mappings while still stopping a runaway allocation.
MAX_AS_MB = 3072
MAX_RSS_MB = 1500
SMALL_TIMEOUT = 60
LARGE_TIMEOUT = 120
SMALL = make_corpus.case_names(large=False)
LARGE = [n for n in make_corpus.case_names(large=True) if n not in SMALL]


def run_case(path: Path, *, timeout: float, analyse: bool = False) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, str(RUNNER), str(path), "--max-as-mb", str(MAX_AS_MB)] + (["--analyse"] if analyse else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, cwd=str(HERE.parent))
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "timeout": timeout}
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        report = {"outcome": "no-report"}
    report["returncode"] = proc.returncode
    report["stderr"] = proc.stderr.decode("utf-8", "replace")[-3000:]
    return report


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fuzz")
    return {c.name: c for c in make_corpus.build(out)} | {"_dir": out}


@pytest.fixture(scope="module")
def small_results(corpus) -> dict:
    """All small cases, two subprocesses at a time."""
    names = [n for n in corpus if n != "_dir"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = pool.map(lambda n: run_case(corpus["_dir"] / corpus[n].file, timeout=SMALL_TIMEOUT), names)
        return dict(zip(names, reports))


def check(case: "make_corpus.Case", report: dict) -> None:
    outcome = report["outcome"]
    assert outcome in ("doc", "ingest_error"), f"{case.name}: {outcome}\n{report.get('stderr', '')}"
    assert report["returncode"] == 0, report.get("stderr")
    if case.expect == "doc":
        assert outcome == "doc", f"{case.name} ({case.why}) gave no document: {report.get('message')}"
    elif case.expect == "error":
        assert outcome == "ingest_error", f"{case.name} ({case.why}) should fail cleanly, got a document"
    if outcome == "ingest_error":
        # A clear reason, naming the file.
        assert report["reason"] and case.file in report["message"]
    else:
        body = report["body_head"] + report["body_tail"]
        for bad in case.forbidden:
            assert bad not in body, f"{case.name}: {bad!r} leaked into the body"
        for good in case.required:
            assert good in body, f"{case.name}: {good!r} lost"
        assert report["max_paragraph_chars"] <= LIMITS.max_line_chars or case.name == "line_1mb_html"
    assert report["maxrss_mb"] < MAX_RSS_MB, f"{case.name}: peak RSS {report['maxrss_mb']} MB"


@pytest.mark.parametrize("name", SMALL)
def test_fuzz_case(name, corpus, small_results):
    case, report = corpus[name], small_results[name]
    check(case, report)
    # Every small case is handled well inside the per-document limit.
    assert report["seconds"] < LIMITS.doc_timeout, f"{name}: {report['seconds']} s"


_LARGE_REPORTS: dict = {}


def large_report(name: str, tmp_path: Path) -> dict:
    """Each large case is generated and run once per session (the file is deleted right after)."""
    if name not in _LARGE_REPORTS:
        case = make_corpus.build_one(name, tmp_path)
        _LARGE_REPORTS[name] = (case, run_case(tmp_path / case.file, timeout=LARGE_TIMEOUT))
        (tmp_path / case.file).unlink()
    return _LARGE_REPORTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_fuzz_large_case(name, tmp_path):
    case, report = large_report(name, tmp_path)
    check(case, report)


def test_corpus_covers_the_issue_list():
    names = set(make_corpus.case_names(large=True))
    for needed in ("random_bytes", "truncated_utf8", "mixed_utf8_gbk", "big_50mb", "nested_100k", "script_only",
                   "style_only", "zero_width_bidi", "fullwidth", "line_1mb", "nul_bytes_head", "entities_cdata",
                   "empty_title", "paragraphs_10k"):
        assert needed in names


def test_limits_are_configured():
    assert LIMITS.max_input_bytes > 50_000_000  # the 50 MB case is processed, not refused
    assert LIMITS.max_blocks >= 10_000 and LIMITS.max_line_chars > 0 and LIMITS.doc_timeout > 0


def test_nested_tags_keep_their_text(corpus, small_results):
    """libxml2 stops at 2048 levels; the flattening fallback keeps the article of a 100,000-deep page."""
    report = small_results["nested_100k"]
    assert report["outcome"] == "doc"
    assert "数据要素市场" in report["body_head"]


def test_mixed_encodings_read_line_by_line(small_results):
    report = small_results["mixed_utf8_gbk"]
    assert report["outcome"] == "doc" and report["encoding"] == "utf-8+gb18030"
    assert "总体要求" in report["body_head"] and "组织保障" in report["body_head"]


def test_long_text_line_is_cut_at_sentence_ends(small_results):
    report = small_results["line_1mb"]
    assert report["paragraphs"] > 10
    assert report["max_paragraph_chars"] <= LIMITS.max_line_chars


def test_long_html_paragraph_is_cut(small_results):
    report = small_results["line_1mb_html"]
    assert report["outcome"] == "doc"
    assert report["max_paragraph_chars"] <= LIMITS.max_line_chars


@pytest.mark.slow
def test_50mb_page_within_doc_timeout(tmp_path):
    _, report = large_report("big_50mb", tmp_path)
    assert report["outcome"] == "doc"
    assert report["seconds"] < LIMITS.doc_timeout


def test_process_cli_on_hostile_inputs(corpus):
    """The whole pipeline (NLP and classifier too) through `python -m pipeline process`: a document or exit 1
    with an error line, never a traceback."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    procs = {name: subprocess.Popen([sys.executable, "-m", "pipeline", "process", str(corpus["_dir"] / corpus[name].file)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(HERE.parent))
             for name in ("nested_100k", "fullwidth")}
    for name, proc in procs.items():
        try:
            out, err_bytes = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: `pipeline process` did not finish in 240 s")
        err = err_bytes.decode("utf-8", "replace")
        assert "Traceback" not in err, err[-3000:]
        if proc.returncode == 0:
            doc = json.loads(out)
            assert doc["passages"]
        else:
            assert proc.returncode == 1 and err.startswith("error: "), err[-3000:]


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory):
    """The ingest stage under tiny limits, to show each one is enforced without generating huge inputs."""
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text("[limits]\nmax_input_bytes = 2000\nmax_blocks = 4\nmax_line_chars = 30\n", encoding="utf-8")
    return Ingester(load_config(str(path)))


def test_max_input_bytes_refuses_large_bytes_and_files(small_limits, tmp_path):
    from pipeline.ingest import IngestError

    raw = make_corpus.article_text().encode("utf-8") * 3
    assert len(raw) > 2000
    with pytest.raises(IngestError, match="too large"):
        small_limits.ingest(raw)
    path = tmp_path / "a.txt"
    path.write_bytes(raw)
    with pytest.raises(IngestError, match="too large"):
        small_limits.ingest(path)


def test_max_input_bytes_refuses_large_str(small_limits):
    from pipeline.ingest import IngestError

    with pytest.raises(IngestError, match="too large"):
        small_limits.ingest(make_corpus.article_text() * 3)


def test_max_blocks_and_max_line_chars_hold_for_text(small_limits):
    from pipeline.ingest.text import text_to_blocks

    text = make_corpus.article_text() * 5
    blocks = text_to_blocks(text, max_blocks=4, max_line_chars=30)
    assert len(blocks) == 4 and all(len(b.text) <= 30 for b in blocks)
    # Cut pieces end at sentence or clause marks when there are any, and concatenate back to the line.
    line = make_corpus.PARAGRAPHS[0]
    pieces = [b.text for b in text_to_blocks(line, max_blocks=100, max_line_chars=30)]
    assert "".join(pieces) == line and all(p[-1] in "，。：；、" for p in pieces[:-1])


def test_max_blocks_and_max_line_chars_hold_for_html():
    from pipeline.ingest.html import html_to_blocks

    page = make_corpus.article_html("<p>" + make_corpus.PARAGRAPHS[1] * 40 + "</p>")
    blocks, meta = html_to_blocks(page, url=None, max_blocks=10_000, max_line_chars=100)
    assert blocks and all(len(b.text) <= 100 for b in blocks)
    assert meta.title_candidates and meta.title_candidates[0] == make_corpus.TITLE
    blocks, _ = html_to_blocks(page, url=None, max_blocks=3, max_line_chars=100)
    assert len(blocks) == 3


# -- property-based tests (hypothesis) ----------------------------------------------------------------------
# Inputs are drawn from alphabets that hit the code paths: CJK text and punctuation (full- and half-width),
# digits and Chinese numerals, markup fragments, control, zero-width and bidi characters, and raw bytes.

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

from pipeline.ingest import IngestError  # noqa: E402
from pipeline.records import CleanDocument  # noqa: E402

PROPS = hsettings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                  derandomize=True)
CJK_TEXT = "关于加快推进数字经济高质量发展的实施意见各区县人民政府市政府部门国家科技创新研究院计划工程中心大学李明部长"
NUMERALS = "0123456789０１２３４５６７８９零〇一二两三四五六七八九十百千万亿壹贰叁拾佰仟余多几上数成.,．，%％‰"
PUNCT = "，。！？；：、“”‘’（）《》【】「」—…·,.!?;:()[]\"' \t\n\u3000"
CONTROLS = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2028\u2029\u2060\u2066\ufeff\ufffd"
MARKUP = ["<p>", "</p>", "<div class='content'>", "</div>", "<br>", "<script>", "</script>", "<style>", "</style>",
          "<!--", "-->", "<![CDATA[", "]]>", "&nbsp;", "&amp;", "&#x4e2d;", "&#0;", "<title>", "</title>",
          "<meta charset='gbk'>", "<h1>", "</h1>", "<a href='javascript:alert(1)'>", "</a>", "<html>", "<body>",
          "<table><tr><td>", "发布时间：2024-05-20", "来源：市政府", "第一条", "一、", "（二）", "\n"]

chars = st.text(alphabet=st.sampled_from(CJK_TEXT + NUMERALS + PUNCT + CONTROLS + "abcXYZ<>&;/=#"), max_size=400)
pieces = st.lists(st.one_of(st.sampled_from(MARKUP), chars, st.text(max_size=20)), max_size=40).map("".join)
encoded = st.tuples(pieces, st.sampled_from(["utf-8", "gb18030", "big5", "utf-16", "utf-8-sig"])).map(
    lambda p: p[0].encode(p[1], errors="ignore") if p[1] != "big5" else p[0].encode("big5", errors="replace"))


def _check_ingest(source) -> None:
    try:
        doc = INGESTER.ingest(source)
    except IngestError as exc:
        assert exc.reason
        return
    assert isinstance(doc, CleanDocument)
    for p in doc.paragraphs:
        assert doc.body[p.start:p.end] == p.text
        assert len(p.text) <= LIMITS.max_line_chars or doc.input_kind == "html"
    assert "\x00" not in doc.body and "\u200b" not in doc.body


INGEST_PROPS = hsettings(PROPS, max_examples=100)


@INGEST_PROPS
@given(st.binary(max_size=3000))
def test_prop_ingest_random_bytes(raw):
    _check_ingest(raw)


@INGEST_PROPS
@given(encoded)
def test_prop_ingest_encoded_text_and_markup(raw):
    _check_ingest(raw)


@INGEST_PROPS
@given(pieces)
def test_prop_ingest_str(text):
    # A one-line str shorter than 4096 characters is first tried as a file name (see
    # test_long_one_line_str_is_not_a_path); a line end makes it text.
    _check_ingest(text + "\n")


def test_long_one_line_str_is_not_a_path():
    text = "关于加快推进数字经济高质量发展的实施意见，各区县人民政府要明确责任分工。" * 4
    assert "\n" not in text and len(text.encode()) > 255
    _check_ingest(text)


@INGEST_PROPS
@given(st.lists(st.sampled_from(MARKUP + [CJK_TEXT[:20] + "。", "，", "<span>", "</span>", "<li>", "<ul>"]),
                max_size=200).map("".join))
def test_prop_ingest_tag_soup_as_html(text):
    try:
        doc = INGESTER.ingest(("<html><body>" + text).encode("utf-8"), name="x.html")
    except IngestError:
        return
    assert "alert(1)" not in doc.body


@pytest.fixture(scope="module")
def segmenter():
    from pipeline.nlp.segment import Segmenter

    return Segmenter.from_config(CONFIG)


@PROPS
@given(text=st.one_of(chars, pieces), cuts=st.lists(st.integers(-5, 500), max_size=8))
def test_prop_segment_tokens_concatenate_to_input(segmenter, text, cuts):
    words = segmenter.cut(text, cuts)
    assert "".join(words) == text
    assert all(words)
    # Forced boundaries inside the text are word boundaries.
    ends, pos = set(), 0
    for w in words:
        pos += len(w)
        ends.add(pos)
    assert {c for c in cuts if 0 < c < len(text)} <= ends


@pytest.fixture(scope="module")
def entity_rules():
    from pipeline.nlp.rules import EntityRules

    return EntityRules(CONFIG)


@PROPS
@given(text=st.one_of(chars, pieces, st.text(max_size=200)))
def test_prop_entities_within_bounds_and_disjoint(entity_rules, text):
    mentions = entity_rules.find(text)
    prev_end = 0
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text), (m, len(text))
        assert m.start >= prev_end, f"overlap at {m}"
        prev_end = m.end
        span = text[m.start:m.end]
        assert span.strip(), m
        if m.source == "pattern":
            assert m.canonical == span, (m, span)
    assert entity_rules.find(text) == mentions  # deterministic


@PROPS
@given(st.one_of(st.text(alphabet=NUMERALS + "万亿千百十余多几上数成", max_size=30), st.text(max_size=30)))
def test_prop_number_parsing_never_raises(s):
    from pipeline.nlp.numbers import parse_chinese_integer, parse_number

    v = parse_number(s)
    assert v is None or isinstance(v, float)
    i = parse_chinese_integer(s)
    assert i is None or isinstance(i, int)


@PROPS
@given(st.one_of(chars, st.text(max_size=200)))
def test_prop_figures_and_dates_never_raise(text):
    finder = FIGURE_FINDER
    for f in list(finder.figures(text)) + list(finder.dates(text)):
        assert 0 <= f.start < f.end <= len(text) and text[f.start:f.end] == f.text
