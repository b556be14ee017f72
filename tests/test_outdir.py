"""An output folder has one writer at a time (run.lock), and its outputs are published as one set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_run import committed_units, make_corpus

ROOT = Path(__file__).resolve().parents[1]


def cli_proc(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


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
    while committed_units(out / "run.sqlite") < 1 and first.poll() is None and time.time() < deadline:
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


KILL_AT_PUBLICATION_STEP = """
import os, signal, sys
import pipeline.outdir as outdir
from pipeline.cli import main

step, when = int(sys.argv[1]), sys.argv[2]
real, calls = outdir._replace_with_symlink, [0]

def dies_at_step(target, link):
    calls[0] += 1
    if calls[0] == step and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(target, link)
    if calls[0] == step and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)

outdir._replace_with_symlink = dies_at_step
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("step, when", [(1, "before"), (1, "after"), (2, "before")])
def test_kill_during_publication_leaves_the_old_set_or_the_new_one(tmp_path, step, when):
    """kill -9 at each step of publishing (switching `current`, then links): a reader sees one whole set."""
    import shutil

    from test_run import FIXTURES

    src = sorted(FIXTURES.iterdir())
    out = tmp_path / "out"
    first = subprocess.run([sys.executable, "-m", "pipeline", "run", *map(str, src[:2]), "-o", str(out), "-w", "1",
                            "-q"], capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert first.returncode == 0, first.stderr.decode()
    old = assert_consistent(out)
    killed = subprocess.run([sys.executable, "-c", KILL_AT_PUBLICATION_STEP, str(step), when, "run",
                             *map(str, src[:4]), "-o", str(out), "-w", "1", "-q"], capture_output=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    now = assert_consistent(out)
    if step == 1 and when == "before":
        assert killed.returncode == -9 and now["run_id"] == old["run_id"]  # the new set was never published
    elif step == 1:
        assert killed.returncode == -9 and now["run_id"] != old["run_id"] and now["counts"]["inputs"] == 4
    else:
        assert killed.returncode == 0  # later publications switch `current` only: the links are made once
    # The next run clears what the killed one left, and ends with the new set.
    again = subprocess.run([sys.executable, "-m", "pipeline", "run", *map(str, src[:4]), "-o", str(out), "-w", "1",
                            "-q"], capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    assert assert_consistent(out)["counts"]["inputs"] == 4
    assert len(list((out / "generations").iterdir())) <= 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    shutil.rmtree(out)


@pytest.mark.parametrize("step", [1, 3, 6])
def test_kill_while_first_publication_makes_links_leaves_no_mixed_set(tmp_path, step):
    """The first run into a folder makes the links: killed between them, every name present belongs to the
    published set and the next run completes the rest."""
    from test_run import FIXTURES

    src = sorted(FIXTURES.iterdir())[:2]
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILL_AT_PUBLICATION_STEP, str(step + 1), "before", "run",
                             *map(str, src), "-o", str(out), "-w", "1", "-q"], capture_output=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert killed.returncode == -9
    public = sorted(p.name for p in out.iterdir() if p.is_symlink() and p.name != "current")
    assert len(public) == step - 1
    for name in public:
        assert (out / name).resolve().parent == (out / "current").resolve()
    again = subprocess.run([sys.executable, "-m", "pipeline", "run", *map(str, src), "-o", str(out), "-w", "1",
                            "-q"], capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert again.returncode == 0, again.stderr.decode()
    assert_consistent(out)
