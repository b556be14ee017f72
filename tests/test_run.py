"""Batch runs: idempotent, resumable after kill -9, failures recorded without stopping the batch, atomic outputs."""
from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.export import ExportError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batch"
ROOT = Path(__file__).resolve().parents[1]


def fixture_articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each fixture article, .txt and .html alike."""
    out = []
    for path in sorted(FIXTURES.iterdir()):
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".html":
            title = re.search(r"<h[12]>(.*?)</h[12]>", raw).group(1)
            paras = re.findall(r"<p>(.*?)</p>", raw)
        else:
            title, *paras = [line for line in raw.splitlines() if line.strip()]
        out.append((title, paras))
    return out


def make_corpus(folder: Path, n: int = 30, *, extras: bool = True) -> list[str]:
    """n distinct articles built from the fixtures (each mixes one article with paragraphs of two others and
    numbers of its own), written alternately as .txt and .html; with `extras`, also an exact copy, an empty file,
    a binary file and an English page. Returns the paths in the order a folder walk yields them."""
    arts = fixture_articles()
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        title, paras = arts[k % len(arts)]
        others = [arts[(k + 1 + k // len(arts)) % len(arts)][1], arts[(k + 3 + 2 * (k // len(arts))) % len(arts)][1]]
        body = paras + [others[0][k % len(others[0])], others[1][(k + 1) % len(others[1])],
                        f"截至{2019 + k % 5}年底，累计完成投资{123 + 7 * k}亿元，带动就业{k * 37 + 400}人，"
                        f"第{k + 1}批试点项目全部开工建设。"]
        title = f"{title}（第{k + 1}期）"
        if k % 2:
            html = ("<html><head><meta charset='utf-8'><title>" + title + "</title></head><body>"
                    "<div class='nav'><a href='/'>首页</a> <a href='/news'>新闻</a></div><div class='article'><h1>"
                    + title + "</h1>" + "".join(f"<p>{p}</p>" for p in body) + "</div></body></html>")
            (folder / f"doc{k:03d}.html").write_text(html, encoding="utf-8")
        else:
            (folder / f"doc{k:03d}.txt").write_text("\n".join([title, *body]) + "\n", encoding="utf-8")
    if extras:
        (folder / "doc005_copy.txt").write_bytes((folder / "doc004.txt").read_bytes())
        (folder / "empty.txt").write_bytes(b"")
        (folder / "image.html").write_bytes(bytes(range(256)) * 8)
        (folder / "english.html").write_text("<html><body><p>" + "The council met on Monday to discuss the budget. " * 10
                                             + "</p></body></html>", encoding="utf-8")
    return sorted(str(p) for p in folder.iterdir())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    make_corpus(folder)
    return folder


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    """An uninterrupted one-worker run over the corpus."""
    from pipeline.run import run

    out = tmp_path_factory.mktemp("reference")
    run([str(corpus)], out, workers=1)
    return out


def run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


def test_reference_run_records_every_input_once(corpus, reference):
    data = run_json(reference)
    keys = [r["input"] for r in data["inputs"]]
    assert sorted(keys) == sorted(str(p) for p in corpus.iterdir())
    assert len(keys) == len(set(keys)) == 34
    by_key = {r["input"]: r for r in data["inputs"]}
    assert by_key[str(corpus / "empty.txt")]["status"] == "failed"
    assert by_key[str(corpus / "empty.txt")]["reason"] == "empty file"
    assert "binary" in by_key[str(corpus / "image.html")]["reason"]
    assert by_key[str(corpus / "english.html")]["status"] == "skipped"
    assert by_key[str(corpus / "english.html")]["reason"].startswith("not a Chinese")
    copy = by_key[str(corpus / "doc005_copy.txt")]
    assert copy["status"] == "skipped" and copy["duplicate_of"] == str(corpus / "doc004.txt")
    assert data["counts"]["processed"] == 30 and data["counts"]["failed"] == 2 and data["counts"]["skipped"] == 2
    lines = (reference / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 31  # 30 articles and the copy, which points at its original
    assert sum('"duplicate_of":"' in line for line in lines) == 1
    assert not [p for p in reference.iterdir() if p.name.startswith(".")]  # no temp files left


def test_second_run_processes_nothing_and_force_redoes_everything(corpus, reference, tmp_path):
    from pipeline.run import run

    out = tmp_path / "out"
    run([str(corpus)], out, workers=1)
    first = (out / "documents.jsonl").read_bytes()
    again = run([str(corpus)], out, workers=1)
    counts = run_json(out)["counts"]
    assert counts["done_this_run"] == 0 and counts["reused_from_store"] == 34 and again.reused == 34
    assert (out / "documents.jsonl").read_bytes() == first == (reference / "documents.jsonl").read_bytes()
    forced = run([str(corpus)], out, workers=1, force=True)
    assert forced.reused == 0 and run_json(out)["counts"]["done_this_run"] == 34
    assert (out / "documents.jsonl").read_bytes() == first


def test_changed_input_is_redone_and_not_taken_for_its_own_duplicate(corpus, tmp_path):
    from pipeline.run import run

    src = tmp_path / "in"
    src.mkdir()
    for name in ("doc000.txt", "doc002.txt"):
        (src / name).write_bytes((corpus / name).read_bytes())
    out = tmp_path / "out"
    run([str(src)], out, workers=1)
    time.sleep(0.01)
    with open(src / "doc000.txt", "a", encoding="utf-8") as fh:
        fh.write("会议强调，要狠抓落实，确保各项任务按期完成。\n")
    summary = run([str(src)], out, workers=1)
    assert summary.reused == 1 and summary.processed == 2 and summary.skipped == 0


def test_signatures_of_another_scheme_are_dropped_not_compared(corpus, tmp_path):
    """A store written by a PolicyMiner that hashed shingles differently: its signatures would never match new
    ones, so they are dropped (with a warning) instead of being silently compared."""
    import sqlite3

    from pipeline.ingest.dedup import SIGNATURE_SCHEME
    from pipeline.run import STORE_NAME, run

    src = tmp_path / "in"
    src.mkdir()
    (src / "doc004.txt").write_bytes((corpus / "doc004.txt").read_bytes())
    out = tmp_path / "out"
    run([str(src)], out, workers=1)
    db = sqlite3.connect(str(out / STORE_NAME))
    assert db.execute("SELECT value FROM meta WHERE name='minhash_scheme'").fetchone() == (SIGNATURE_SCHEME,)
    assert db.execute("SELECT COUNT(*) FROM units WHERE minhash IS NOT NULL").fetchone() == (1,)
    db.execute("UPDATE meta SET value='affine64/sha1' WHERE name='minhash_scheme'")
    db.commit()
    (src / "doc005_copy.txt").write_bytes((corpus / "doc005_copy.txt").read_bytes())
    summary = run([str(src)], out, workers=1)
    assert summary.skipped == 0 and summary.processed == 2  # the old signature was not compared with the copy
    assert db.execute("SELECT value FROM meta WHERE name='minhash_scheme'").fetchone() == (SIGNATURE_SCHEME,)
    again = run([str(src)], out, workers=1, force=True)  # rebuilt under the current scheme: the copy is found
    assert again.skipped == 1


def test_outputs_streamed_during_the_run_equal_those_written_after_it(corpus, reference, tmp_path, monkeypatch):
    """The run writes documents.jsonl and the tables while it goes on; when streaming gives up (here: every add
    fails), write_outputs writes them from the store after the run. Both give the same bytes."""
    from pipeline.run import run
    from pipeline.runoutputs import StreamedOutputs

    def broken(self, line, rows=None):
        self.give_up(OSError("simulated"))

    monkeypatch.setattr(StreamedOutputs, "add", broken)
    out = tmp_path / "out"
    run([str(corpus)], out, workers=1)
    for name in ("documents.jsonl", "passages.csv", "entities.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()
    import pandas as pd

    for name in ("passages.parquet", "entities.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(reference / name))
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_duplicate_streamed_before_its_changed_original_takes_the_new_original(corpus, tmp_path):
    """A copy committed before its original, which this run re-processes because it changed: the copy's line
    must come from the new original (streaming gives up, and the files are written from the store)."""
    from pipeline.run import run

    src = tmp_path / "in"
    src.mkdir()
    original, copy = src / "a.txt", src / "b.txt"
    original.write_bytes((corpus / "doc004.txt").read_bytes())
    copy.write_bytes((corpus / "doc005_copy.txt").read_bytes())
    out = tmp_path / "out"
    first = run([str(original), str(copy)], out, workers=1)
    assert first.skipped == 1
    time.sleep(0.01)
    with open(original, "a", encoding="utf-8") as fh:
        fh.write("会议强调，要狠抓落实。\n")
    run([str(copy), str(original)], out, workers=1)
    lines = [json.loads(x) for x in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    by_path = {d["source"]["path"]: d for d in lines}
    assert by_path[str(copy)]["duplicate_of"] == by_path[str(original)]["doc_id"]
    assert by_path[str(copy)]["passages"] == by_path[str(original)]["passages"]


def test_failures_are_recorded_and_the_batch_goes_on(corpus, tmp_path):
    from pipeline.cli import main

    out = tmp_path / "out"
    args = ["run", str(corpus / "doc000.txt"), str(tmp_path / "missing.txt"), str(corpus / "empty.txt"),
            str(corpus / "image.html"), str(corpus / "english.html"), "--out", str(out), "--quiet"]
    assert main(args) == 1  # some inputs failed
    data = run_json(out)
    failed = {f["input"]: f["reason"] for f in data["failed"]}
    assert failed == {str(tmp_path / "missing.txt"): "no such file or folder", str(corpus / "empty.txt"): "empty file",
                      str(corpus / "image.html"): "binary file, not text or HTML"}
    assert [s["input"] for s in data["skipped"]] == [str(corpus / "english.html")]
    assert data["counts"]["processed"] == 1
    assert main(args + ["--strict"]) == 1  # --strict is kept for old scripts
    assert main(["run", str(corpus / "doc000.txt"), str(corpus / "english.html"), "--out", str(out), "-q"]) == 0
    assert main(["run", str(tmp_path / "missing.txt"), str(corpus / "empty.txt"), "--out", str(tmp_path / "o2"),
                 "--quiet"]) == 1


def test_other_file_types_in_a_folder_are_skipped_with_a_reason(corpus, tmp_path):
    from pipeline.cli import main

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "doc000.txt").write_bytes((corpus / "doc000.txt").read_bytes())
    others = ["a.bin", "b.pdf", "sub/c.docx", "sub/d.png", "sub/e.JPG"]
    for name in others + [".hidden.png", "notes.md", "doc000.gold.txt", "labels.json"]:
        (folder / name).write_bytes(b"%PDF-1.4 \x00\x01")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--quiet"]) == 0  # skipped inputs are not failures
    data = run_json(out)
    assert data["counts"]["processed"] == 1 and data["counts"]["failed"] == 0
    assert {s["input"]: s["reason"] for s in data["skipped"]} == {
        str(folder / name): "unsupported file type" for name in others}
    assert main(["run", str(folder), "--out", str(out), "--quiet"]) == 0  # and so again on a second run
    assert run_json(out)["counts"]["skipped"] == len(others)


def test_jsonl_and_warc_inputs(tmp_path):
    from test_inputs import write_warc

    from pipeline.run import run

    arts = fixture_articles()
    pages = [(f"http://www.example.gov.cn/art/{i}.html",
              f"<html><body><h1>{t}</h1>" + "".join(f"<p>{p}</p>" for p in ps) + "</body></html>")
             for i, (t, ps) in enumerate(arts[:3])]
    jsonl = tmp_path / "crawl.jsonl"
    jsonl.write_text(json.dumps({"url": pages[0][0], "html": pages[0][1]}, ensure_ascii=False) + "\n"
                     + json.dumps({"url": "http://x.cn/t", "text": "\n".join([arts[3][0], *arts[3][1]])},
                                  ensure_ascii=False) + "\n{broken\n", encoding="utf-8")
    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, pages[1:], gz=True)
    out = tmp_path / "out"
    summary = run([str(jsonl), str(warc)], out, workers=1)
    assert (summary.processed, summary.failed) == (4, 1)
    docs = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["source"]["path"] for d in docs][:2] == [f"{jsonl}#1", f"{jsonl}#2"]
    assert all(d["source"]["path"].startswith(str(warc) + "#") for d in docs[2:])
    again = run([str(jsonl), str(warc)], out, workers=1)
    assert (again.reused, again.processed, again.failed) == (4, 4, 1)  # the broken line is recorded again, not redone


def test_full_disk_leaves_previous_outputs_intact(corpus, tmp_path, monkeypatch):
    import pipeline
    from pipeline import export
    from pipeline.run import run

    out = tmp_path / "out"
    run([str(corpus / "doc000.txt")], out, workers=1)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(("run.sqlite", "run.lock"))}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export.os, "replace", full)
    with pytest.raises(ExportError, match="No space left on device"):
        run([str(corpus / "doc000.txt"), str(corpus / "doc001.html")], out, workers=1)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name in before}
    assert after == before and "documents.jsonl" in before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(list((out / "generations").iterdir())) == 1  # the failed run's generation is gone
    monkeypatch.undo()
    summary = run([str(corpus / "doc000.txt"), str(corpus / "doc001.html")], out, workers=1)
    assert summary.reused == 2  # the work itself was kept in the store
    documents, passages, entities = pipeline.load(out)
    assert len(documents) == 2 and len(passages) > 0 and set(passages["doc_id"]) == set(documents["doc_id"])


def committed_units(store: Path) -> int:
    """Units committed to a run store so far, read while the run writes it (0 until it exists)."""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("seed, workers", [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)])
def test_kill_9_then_rerun_gives_the_uninterrupted_outputs(corpus, reference, tmp_path, seed, workers):
    """Killed at a random point, with one worker or with a pool of two (batched tasks in flight), then re-run."""
    from pipeline.run import run

    rng = random.Random(seed)
    target = rng.randint(0, 33)  # kill once this many units are committed (0: while models still load)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(corpus), "--out", str(out), "--workers",
                             str(workers), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and committed_units(out / "run.sqlite") < target:
        time.sleep(0.02)
    time.sleep(rng.random() * 0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = committed_units(out / "run.sqlite")
    summary = run([str(corpus)], out, workers=1)
    data = run_json(out)
    keys = [r["input"] for r in data["inputs"]]
    assert len(keys) == len(set(keys)) == 34
    assert sorted(keys) == sorted(str(p) for p in corpus.iterdir())
    assert summary.reused == done_before
    assert (out / "documents.jsonl").read_bytes() == (reference / "documents.jsonl").read_bytes()
    assert (out / "passages.csv").read_bytes() == (reference / "passages.csv").read_bytes()
    assert {r["input"]: r["status"] for r in data["inputs"]} == {r["input"]: r["status"] for r in run_json(reference)["inputs"]}


@pytest.mark.slow
@pytest.mark.parametrize("window", [4, None])  # a window smaller than a batch, and the default
def test_process_pool_gives_the_same_outputs_as_one_worker(corpus, reference, tmp_path, window):
    from pipeline.run import run

    out = tmp_path / "out"
    summary = run([str(corpus)], out, workers=2, window=window)
    assert summary.processed == 30
    assert (out / "documents.jsonl").read_bytes() == (reference / "documents.jsonl").read_bytes()
    assert (out / "entities.csv").read_bytes() == (reference / "entities.csv").read_bytes()


class InProcessExecutor:
    """The steps in this process: calls wait until a result is needed, then up to `batch` calls of that step run
    together (as in a worker's task)."""

    slots = 1

    def __init__(self, batch: int = 8):
        self.batch, self.open = batch, []

    def submit(self, step, arg):
        call = Call(self, step, arg)
        self.open.append(call)
        return call

    def run(self, first) -> None:
        from pipeline.workers import STEPS

        group = [first] + [c for c in self.open if c.step == first.step and c is not first][:self.batch - 1]
        for call, outcome in zip(group, STEPS[first.step].run([c.arg for c in group])):
            call.value, call.finished = outcome, True
        self.open = [c for c in self.open if not c.finished]

    def poll(self) -> None:
        pass

    def wait(self, futures) -> None:
        todo = [f for f in futures if not f.done()]
        if todo:
            self.run(todo[0])

    def close(self) -> None:
        pass


class Call:
    def __init__(self, owner, step, arg):
        self.owner, self.step, self.arg, self.value, self.finished = owner, step, arg, None, False

    def done(self) -> bool:
        return self.finished

    def result(self):
        if not self.finished:
            self.owner.run(self)
        return self.value


class OutOfOrderExecutor(InProcessExecutor):
    """Every call finishes at once except the first ingest, which finishes only when wait() is given it: the
    other ingests are done while the duplicate check still waits for the first (as with a process pool)."""

    def __init__(self):
        super().__init__(batch=1)
        self.waits, self.first = 0, None

    def submit(self, step, arg):
        call = super().submit(step, arg)
        if self.first is None:
            self.first = call
        else:
            call.result()
        return call

    def wait(self, futures) -> None:
        self.waits += 1
        assert self.waits < 1000, "the window spins on finished futures"
        if any(f.done() for f in futures):
            return  # like concurrent.futures.wait(FIRST_COMPLETED): returns at once
        self.first.result()


def run_with(make_executor, inputs: list, out: Path):
    """A batch run on the executor `make_executor()` makes (run() makes its own from the options)."""
    from pipeline.config import load_config
    from pipeline.run import RunOptions, run_batch
    from pipeline.store import RunStore

    out.mkdir(parents=True, exist_ok=True)
    store = RunStore(out / "run.sqlite")
    try:
        return run_batch(inputs, out, store, load_config(), RunOptions(workers=1), make_executor=make_executor)
    finally:
        store.close()


def test_window_waits_on_running_futures_only(corpus, reference, tmp_path):
    """The window must not spin on futures that are already done (it took a core from the workers)."""
    ex = OutOfOrderExecutor()
    run_with(lambda: ex, [str(corpus)], tmp_path / "o")
    assert ex.first.done() and ex.waits <= 34
    assert (tmp_path / "o" / "documents.jsonl").read_bytes() == (reference / "documents.jsonl").read_bytes()


def test_analysis_runs_in_batches_and_a_broken_document_fails_alone(corpus, reference, tmp_path, monkeypatch):
    """Analyses run in batches (here of 8, in this process); a document that breaks its batch is analysed again
    alone and fails with its own reason, and every other document comes out as in the reference run."""
    from pipeline.pipeline import Pipeline

    real, sizes = Pipeline.analyse, []

    def breaks_on_doc007(self, cleans):
        sizes.append(len(cleans))
        if any(c.source.path.endswith("doc007.html") for c in cleans):
            raise ValueError("broken on purpose")
        return real(self, cleans)

    monkeypatch.setattr(Pipeline, "analyse", breaks_on_doc007)
    run_with(lambda: InProcessExecutor(batch=8), [str(corpus)], tmp_path / "o")
    assert max(sizes) > 1 and max(sizes) <= 8  # batched, at most 8 documents per call
    failed = {o["input"]: o["reason"] for o in run_json(tmp_path / "o")["inputs"] if o["status"] == "failed"}
    assert [k for k in failed if k.endswith("doc007.html")] and \
        failed[next(k for k in failed if k.endswith("doc007.html"))] == "ValueError: broken on purpose"
    expected = [line for line in (reference / "documents.jsonl").read_text(encoding="utf-8").splitlines()
                if "doc007.html" not in line]
    assert (tmp_path / "o" / "documents.jsonl").read_text(encoding="utf-8").splitlines() == expected


def test_changed_config_redoes_the_work_it_changes(corpus, tmp_path):
    """The config and the models are part of each unit's fingerprint: after a config change, a re-run without
    --force redoes every input instead of reusing results made under the old config."""
    from pipeline.run import run

    out = tmp_path / "out"
    run([str(corpus)], out, workers=1)
    overlay = tmp_path / "my.toml"
    overlay.write_text("[classify]\nsecondary_min = 0.31\n", encoding="utf-8")
    again = run([str(corpus)], out, workers=1, config=str(overlay))
    assert again.reused == 0 and run_json(out)["counts"]["done_this_run"] == 34
    assert run([str(corpus)], out, workers=1, config=str(overlay)).reused == 34
