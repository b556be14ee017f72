"""Errors a run meets on its own side: a damaged run store, a full disk (the named error wins over clean-up
errors), and what a re-run with nothing to do must not start."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from test_run import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
ARTICLES = sorted(FIXTURES.iterdir())[:3]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, env=ENV, timeout=300)


def damage(store: Path) -> None:
    """Overwrite the second page of an SQLite file with junk (the file header stays valid)."""
    db = sqlite3.connect(store)
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(store, "r+b") as fh:
        fh.seek(page)
        fh.write(b"\xa5" * page)


def test_damaged_store_says_force_rebuilds_it_and_force_does(tmp_path):
    out = tmp_path / "out"
    assert cli("run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q").returncode == 0
    damage(out / "run.sqlite")
    res = cli("run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q")
    assert res.returncode == 1
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out / 'run.sqlite'}: the run store is damaged"), lines
    assert "re-run with --force to rebuild it" in lines[0]
    res = cli("run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q", "--force")
    assert res.returncode == 0, res.stderr.decode()
    assert (out / "run.sqlite.damaged").exists()
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["counts"]["processed"] == 3 and run["counts"]["done_this_run"] == 3
    assert cli("run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q").returncode == 0  # the new store works


def test_disk_full_in_the_store_is_the_error_reported_not_the_clean_up(tmp_path, monkeypatch, capsys):
    from pipeline.cli import main
    from pipeline.export import TableWriter
    from pipeline.store import RunStore

    out = tmp_path / "out"
    assert main(["run", *map(str, ARTICLES[:1]), "-o", str(out), "-w", "1", "-q"]) == 0
    before = (out / "documents.jsonl").read_bytes()
    real_put, calls = RunStore.put, []

    def put_on_a_full_disk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real_put(self, *args, **kwargs)

    def abort_on_a_full_disk(self):
        raise OSError(28, "No space left on device", str(out / "passages.csv"))

    monkeypatch.setattr(RunStore, "put", put_on_a_full_disk)
    monkeypatch.setattr(TableWriter, "abort", abort_on_a_full_disk)  # clean-up meets the full disk too
    capsys.readouterr()
    assert main(["run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q", "--force"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {out / 'run.sqlite'}: cannot write to the run store: database or disk is full"]
    assert (out / "documents.jsonl").read_bytes() == before  # the previous set stays published
    assert len(list((out / "generations").iterdir())) == 1  # the failed run's files are gone
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


class FullDiskFile:
    """A file on a full disk: writing fails with ENOSPC."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, text):
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


def test_disk_full_while_writing_outputs_names_the_file(tmp_path, monkeypatch, capsys):
    import builtins

    from pipeline.cli import main
    from pipeline.runoutputs import StreamedOutputs

    real_open = builtins.open

    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        return FullDiskFile(fh) if "w" in mode and str(path).endswith("documents.jsonl") else fh

    monkeypatch.setattr(StreamedOutputs, "add", lambda self, *a: self.give_up(OSError(28, "No space left")))
    monkeypatch.setattr(builtins, "open", open_on_a_full_disk)
    out = tmp_path / "out"
    code = main(["run", *map(str, ARTICLES), "-o", str(out), "-w", "1", "-q"])
    monkeypatch.undo()
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {out / 'documents.jsonl'}: cannot write output: No space left on device"]
    assert not list((out / "generations").glob("*"))  # the unpublished files are gone
    assert not (out / "documents.jsonl").exists()


def test_a_rerun_with_nothing_to_do_starts_no_worker(tmp_path):
    from test_run import InProcessExecutor, run_with

    out = tmp_path / "out"
    made = []

    def executor():
        made.append(1)
        return InProcessExecutor()

    first = run_with(executor, [str(p) for p in ARTICLES], out)
    assert made == [1] and first.processed == 3
    again = run_with(executor, [str(p) for p in ARTICLES], out)
    assert made == [1] and again.reused == 3  # decided from the store: no executor made, no pre-pass


def test_progress_shows_an_eta_only_after_enough_worked_inputs(capsys):
    from pipeline.run import Progress

    progress = Progress([str(p) for p in sorted(FIXTURES.iterdir())], eta_after=3)
    counts = {"failed": 0, "skipped": 0}
    for worked in (False, False, False, True, True):  # reused inputs say nothing of the rate
        progress.update(worked, counts)
        assert "<" not in str(progress.bar)
    progress.update(True, counts)
    assert "<" in str(progress.bar)  # tqdm's "elapsed<remaining"
    progress.close()
