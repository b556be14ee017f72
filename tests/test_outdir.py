"""An output folder has one writer at a time (run.lock), and its outputs are published as one set."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_run import make_corpus

ROOT = Path(__file__).resolve().parents[1]


def cli_proc(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def committed(store: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def assert_consistent(out: Path) -> dict:
    """run.json, documents.jsonl and the passages table of `out` belong to one run."""
    import pandas as pd

    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    docs = [json.loads(line) for line in (out / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(docs) == run["counts"]["documents_written"]
    passages = pd.read_csv(out / "passages.csv")
    assert set(passages["doc_id"]) == {d["doc_id"] for d in docs if d["passages"]}
    processed = {o["input"] for o in run["inputs"] if o["status"] == "processed"}
    assert {d["source"]["path"] for d in docs if not d.get("duplicate_of")} == processed
    return run


@pytest.mark.slow
def test_two_concurrent_runs_into_one_folder(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, n=120)
    out = tmp_path / "out"
    first = cli_proc("run", str(corpus), "-o", str(out), "-w", "1", "-q")
    deadline = time.time() + 120
    while committed(out / "run.sqlite") < 1 and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    second = cli_proc("run", str(corpus), "-o", str(out), "-w", "1", "-q")
    _, err2 = second.communicate(timeout=300)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 1, err1.decode()  # its two bad inputs failed; the rest went through
    assert second.returncode == 1
    lines = err2.decode().splitlines()
    assert lines == [f"error: {out}: another run (pid {first.pid}) is writing to this folder; wait for it to finish "
                     f"or choose another --out"]
    run = assert_consistent(out)
    counts = run["counts"]
    assert counts["inputs"] == 124 == counts["processed"] + counts["skipped"] + counts["failed"]


def test_a_held_lock_refuses_and_a_dead_holders_lock_is_taken_over(tmp_path, fixtures):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pipeline.outdir import OutputLock; "
                               f"lock = OutputLock({str(out)!r}).acquire(); print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline() == b"held\n"
        res = subprocess.run([sys.executable, "-m", "pipeline", "run", str(fixtures / "flat_energy_notice.txt"),
                              "-o", str(out), "-w", "1", "-q"], capture_output=True, timeout=300,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert res.returncode == 1
        assert res.stderr.decode().splitlines() == [
            f"error: {out}: another run (pid {holder.pid}) is writing to this folder; wait for it to finish or "
            f"choose another --out"]
        assert not (out / "documents.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / "run.lock").read_text().strip() == str(holder.pid)  # left behind by a killed holder
    res = subprocess.run([sys.executable, "-m", "pipeline", "run", str(fixtures / "flat_energy_notice.txt"),
                          "-o", str(out), "-w", "1", "-q"], capture_output=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 0, res.stderr.decode()
    assert (out / "documents.jsonl").read_text(encoding="utf-8").count("\n") == 1
