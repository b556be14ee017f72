"""Hard limits that C code cannot escape: the parent kills a worker stuck on one document (pre-pass included);
workers die with the parent; workers that cannot load their models stop the run with one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_run import FIXTURES, committed_units, make_corpus

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
# A hang guard for the subprocesses, not a speed claim: the bomb below takes minutes in lxml when nothing stops it.
HANG_GUARD = 240


def attribute_bomb(path: Path, n: int = 300_000) -> Path:
    """An invented page whose one tag has n attributes: libxml2 checks them pairwise, in C."""
    attrs = " ".join(f"data-a{i}=x" for i in range(n))
    path.write_text(f"<html><head><meta charset='utf-8'><title>通知</title></head><body><p {attrs}>关于开展科技型企业"
                    f"评价工作的通知，请各单位按要求认真组织实施。</p></body></html>", encoding="utf-8")
    return path


def limits_config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "limits.toml"
    cfg.write_text("[limits]\ndoc_timeout = 2\nkill_grace = 1\n" + extra, encoding="utf-8")
    return cfg


@pytest.mark.parametrize("prepass", [True, False], ids=["with_site_prepass", "ingest_only"])
def test_attribute_bomb_is_killed_and_fails_alone(tmp_path, prepass):
    folder = tmp_path / "in"
    folder.mkdir()
    attribute_bomb(folder / "bomb.html")
    shutil.copy(sorted(FIXTURES.iterdir())[0], folder / "article.txt")
    cfg = limits_config(tmp_path, "" if prepass else "[boilerplate]\nsite_repeat_min_pages = 0\n")
    out = tmp_path / "out"
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "-w", "1",
                          "--config", str(cfg)], capture_output=True, env=ENV, timeout=HANG_GUARD)
    print(f"attribute bomb run: {time.monotonic() - started:.1f}s (doc_timeout 2, kill_grace 1)")
    assert res.returncode == 1
    reason = "timed out after 2s (limits.doc_timeout), killed"  # ", killed": only the parent's hard limit says it
    assert f"error: {folder / 'bomb.html'}: {reason}" in res.stderr.decode()
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert {o["input"]: (o["status"], o["reason"]) for o in run["inputs"]} == {
        str(folder / "bomb.html"): ("failed", reason), str(folder / "article.txt"): ("processed", None)}


def children_of(pid: int) -> set[int]:
    """The pids of a process's children (Linux /proc)."""
    kids = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(k) for k in (task / "children").read_text().split()}
    return kids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_die_with_the_parent(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n=60)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(corpus), "-o", str(out), "-w", "2", "-q"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + HANG_GUARD
    workers: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        workers = children_of(proc.pid)
        if len(workers) == 2 and committed_units(out / "run.sqlite"):
            break
        time.sleep(0.05)
    assert len(workers) == 2 and proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    while time.time() < deadline and any(alive(w) for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)]


def test_workers_that_cannot_load_the_model_stop_the_run_with_one_line(tmp_path):
    from pipeline.config import MODELS_DIR

    model = tmp_path / "classifier"
    shutil.copytree(MODELS_DIR / "classifier", model)
    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
    tampered = model / sorted(meta["sha256"])[0]
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    cfg = tmp_path / "tampered.toml"
    cfg.write_text(f"[classify]\nmodel_dir = {str(model)!r}\n", encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "pipeline", "run", str(sorted(FIXTURES.iterdir())[0]), "-o",
                          str(tmp_path / "out"), "-w", "2", "--config", str(cfg)], capture_output=True, env=ENV,
                         timeout=HANG_GUARD)
    assert res.returncode == 1
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and tampered.name in lines[0], lines
    assert "Traceback" not in res.stderr.decode()


def test_what_max_blocks_cuts_is_recorded_on_the_document_and_in_run_json(tmp_path):
    from test_run import fixture_articles

    from pipeline.export import validate
    from pipeline.run import run

    arts = fixture_articles()
    folder = tmp_path / "in"
    folder.mkdir()
    long_body = [p for _, paras in arts for p in paras]  # more than 10 lines
    (folder / "long.txt").write_text("\n".join([arts[0][0], *long_body]), encoding="utf-8")
    (folder / "short.txt").write_text("\n".join([arts[1][0], *arts[1][1][:4]]), encoding="utf-8")
    cfg = tmp_path / "blocks.toml"
    cfg.write_text("[limits]\nmax_blocks = 10\n", encoding="utf-8")
    run([str(folder)], tmp_path / "out", workers=1, config=str(cfg))
    docs = {Path(d["source"]["path"]).name: d for d in map(json.loads, (tmp_path / "out" / "documents.jsonl")
                                                            .read_text(encoding="utf-8").splitlines())}
    for doc in docs.values():
        validate(doc)
    assert docs["long.txt"]["truncated"] == "max_blocks: only the first 10 blocks were read (limits.max_blocks)"
    assert docs["short.txt"]["truncated"] is None
    run_json = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert run_json["truncated"] == [{"input": str(folder / "long.txt"), "truncated": docs["long.txt"]["truncated"]}]
    assert run_json["counts"]["truncated"] == 1


def test_a_truncated_warc_says_what_was_cut(tmp_path):
    from test_inputs import write_warc
    from test_run import fixture_articles

    from pipeline.run import run

    arts = fixture_articles()
    pages = [(f"http://www.example.gov.cn/{i}.html", "<html><body><h1>" + t + "</h1>"
              + "".join(f"<p>{p}</p>" for p in ps * 20) + "</body></html>") for i, (t, ps) in enumerate(arts[:3])]
    whole = tmp_path / "whole.warc"
    write_warc(whole, pages, gz=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc"
    third = data.index(b"WARC/1.0", data.index(pages[2][0].encode()) - 400)  # the last response record
    cut.write_bytes(data[:third + (len(data) - third) // 2])  # the file ends inside that record
    summary = run([str(cut)], tmp_path / "out", workers=1)
    docs = [json.loads(x) for x in (tmp_path / "out" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert summary.processed == 3
    assert [d["truncated"] is not None for d in docs] == [False, False, True]
    assert docs[2]["truncated"].startswith("WARC record cut short: ")
    run_json = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert [t["input"] for t in run_json["truncated"]] == [docs[2]["source"]["path"]]


@pytest.mark.parametrize("gz", [False, True])
def test_a_cut_warc_never_looks_whole(tmp_path, gz):
    """Wherever a WARC file ends, the units it yields say so: a record cut short carries `truncated`, or an
    error unit names the bytes left over (warcio itself stops quietly)."""
    from test_inputs import write_warc

    from pipeline.inputs import expand

    pages = [(f"http://x.gov.cn/{i}", "<p>" + "示范区科技创新工作情况通报" * 500 + f"{i}</p>") for i in range(3)]
    whole = tmp_path / ("w.warc.gz" if gz else "w.warc")
    write_warc(whole, pages, gz=gz)
    assert all(u.truncated is None and u.error is None for u in expand([str(whole)]))
    data = whole.read_bytes()
    with open(whole, "rb") as fh:  # where records start: a file cut there is a whole WARC of fewer records
        from warcio.archiveiterator import ArchiveIterator

        records = ArchiveIterator(fh)
        boundaries = {records.get_record_offset() for _ in records}
    for k in range(1, 40):
        size = len(data) * k // 40
        cut = tmp_path / ("c.warc.gz" if gz else "c.warc")
        cut.write_bytes(data[:size])
        units = list(expand([str(cut)]))
        if size not in boundaries:
            assert units[-1].truncated or units[-1].error, (k, [(u.key, u.truncated, u.error) for u in units])
