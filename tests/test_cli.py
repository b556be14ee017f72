"""End-to-end CLI tests on the project's own fixtures: run, process, annotate, schema, bad input."""
from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.export import validate

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: bytes | None = None, umask: int = -1) -> subprocess.CompletedProcess:
    """The CLI of this checkout (not an installed copy) in a subprocess."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, input=stdin, timeout=600,
                          env=env, umask=umask)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixtures):
    """Two documents and a missing input, with the short flags, under umask 022."""
    out = tmp_path_factory.mktemp("run")
    missing = str(fixtures / "does_not_exist.txt")
    res = cli("run", str(fixtures / "flat_energy_notice.txt"), str(fixtures / "cms_page_gbk.html"), missing,
              "-o", str(out), "-w", "1", "-q", umask=0o022)
    # An input failed: exit 1, and its one-line error is shown even under --quiet.
    assert res.returncode == 1, res.stderr.decode()
    assert res.stderr.decode().splitlines() == [f"error: {missing}: no such file or folder"]
    return out


def test_run_writes_all_outputs(run_dir):
    for name in ("documents.jsonl", "passages.csv", "passages.parquet", "entities.csv", "entities.parquet", "run.json"):
        assert (run_dir / name).exists(), name


def test_every_document_line_validates_against_schema(run_dir):
    lines = (run_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line in lines:
        doc = json.loads(line)
        validate(doc)
        for p in doc["passages"]:
            assert abs(sum(p["scores"].values()) - 1.0) < 0.02
            for s in p["sentences"]:
                assert p["text"][s["start"]:s["end"]] == s["text"]
        for e in doc["entities"]:
            assert doc["passages"][e["passage"]]["text"][e["start"]:e["end"]] == e["text"]


def test_run_json_accounts_for_every_input(run_dir):
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["counts"]["processed"] == 2
    assert run["counts"]["failed"] == 1
    assert run["failed"][0]["input"].endswith("does_not_exist.txt")
    assert "no such file" in run["failed"][0]["reason"]
    assert run["models"]["classifier"]["sha256"]
    assert run["config_version"]


def test_second_run_does_no_work(run_dir, fixtures):
    res = cli("run", str(fixtures / "flat_energy_notice.txt"), str(fixtures / "cms_page_gbk.html"),
              "--out", str(run_dir), "--workers", "1", "--json")
    summary = json.loads(res.stdout)
    assert summary["reused"] == 2 and summary["processed"] == 2


def test_load_returns_dataframes(run_dir):
    import pipeline

    documents, passages, entities = pipeline.load(run_dir)
    assert len(documents) == 2
    assert {"doc_id", "label", "score_challenge"} <= set(passages.columns)
    assert {"type", "canonical", "value", "unit"} <= set(entities.columns)


def test_process_prints_one_document(fixtures):
    res = cli("process", str(fixtures / "flat_energy_notice.txt"))
    assert res.returncode == 0, res.stderr.decode()
    doc = json.loads(res.stdout)
    validate(doc)
    assert doc["published_at"] == "2025-03-18T10:20:00"


def test_process_reads_stdin(fixtures):
    res = cli("process", "-", stdin=(fixtures / "flat_energy_notice.txt").read_bytes())
    assert res.returncode == 0
    assert json.loads(res.stdout)["title"].startswith("我邦新型储能")


def test_process_bad_input_names_file(tmp_path):
    bad = tmp_path / "blank.txt"
    bad.write_text("")
    res = cli("process", str(bad))
    assert res.returncode == 1
    assert "blank.txt" in res.stderr.decode() and "empty" in res.stderr.decode()


def test_annotate_offsets_relative_to_record(tmp_path):
    src = tmp_path / "in.jsonl"
    records = [{"id": "a", "text": "国家发展改革委于2023年印发《关于促进民营经济发展的若干措施》，全年新增减税降费超过2.2万亿元。"},
               {"id": "b", "text": "下一步，要加快完善县域商业体系，推动农村物流提质增效。", "doc": "d1", "heading": "三、重点任务"}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = cli("annotate", str(src), "--out", str(out))
    assert res.returncode == 0, res.stderr.decode()
    got = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["a", "b"]
    for g in got:
        assert g["label"] in ("achievement", "challenge", "recommendation", "background")
        assert set(g["scores"]) == {"achievement", "challenge", "recommendation", "background"}
        for e in g["entities"]:
            assert g["text"][e["start"]:e["end"]] == e["text"]
    figures = [e for e in got[0]["entities"] if e["type"] == "FIGURE"]
    assert figures and figures[0]["unit"] == "CNY" and figures[0]["bound"] == "min"
    assert got[1]["label"] == "recommendation"


def test_schema_command_prints_draft_2020_12():
    res = cli("schema")
    schema = json.loads(res.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "schema_version" in schema["required"]


def test_run_exits_nonzero_when_nothing_processed(tmp_path):
    res = cli("run", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"), "--quiet")
    assert res.returncode == 1
    run = json.loads((tmp_path / "o" / "run.json").read_text(encoding="utf-8"))
    assert run["counts"]["failed"] == 1


def test_help_does_not_import_the_nlp_stack():
    res = cli("--help")
    assert res.returncode == 0 and b"run" in res.stdout
    # --help must not import the NLP stack; spaCy alone takes over a second to import.
    assert "spacy" not in subprocess.run([sys.executable, "-c", "import pipeline.cli, sys; print(sorted(sys.modules))"],
                                         capture_output=True, text=True).stdout


def test_outputs_respect_the_umask(run_dir):
    for name in ("documents.jsonl", "passages.csv", "passages.parquet", "entities.csv", "entities.parquet",
                 "run.json"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o644, name


def _one_error_line(res: subprocess.CompletedProcess, *needles: str) -> str:
    err = res.stderr.decode()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


@pytest.mark.parametrize("command", [["report"], ["export-corrections"], ["review"], ["annotate"],
                                     ["run", "--quiet", "--out", "{tmp}/o"], ["process"]])
def test_missing_path_is_one_error_line_and_exit_1(tmp_path, command):
    missing = str(tmp_path / "nosuch")
    res = cli(*[a.format(tmp=tmp_path) for a in command], missing)
    assert res.returncode == 1
    _one_error_line(res, missing)
    assert not (tmp_path / "nosuch").exists()  # report used to create NOSUCH/report


def test_run_folder_without_documents_is_exit_1(tmp_path):
    for command in ("report", "export-corrections", "review"):
        res = cli(command, str(tmp_path))
        assert res.returncode == 1
        _one_error_line(res, "documents.jsonl")


def test_review_on_a_public_address_without_token_is_a_usage_error(review_run):
    res = cli("review", str(review_run), "--host", "0.0.0.0")
    assert res.returncode == 2
    _one_error_line(res, "error: review:", "token")


ENGLISH = "<html><body><p>" + "The council met on Monday to discuss the budget. " * 10 + "</p></body></html>"


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_run_that_processes_nothing_says_why_and_exits_1(tmp_path, quiet):
    page = tmp_path / "english.html"
    page.write_text(ENGLISH, encoding="utf-8")
    res = cli("run", str(page), "--out", str(tmp_path / "o"), "--workers", "1", *quiet)
    assert res.returncode == 1
    err = res.stderr.decode()
    assert f"skipped: {page}: not a Chinese" in err and "error: nothing processed" in err


def test_out_naming_a_file_is_a_usage_error(tmp_path, fixtures):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for out in (a_file, a_file / "sub"):
        res = cli("run", str(fixtures / "flat_energy_notice.txt"), "--out", str(out))
        assert res.returncode == 2
        assert f"argument -o/--out: {a_file} is a file, not a folder" in res.stderr.decode()
        assert "Errno" not in res.stderr.decode()


@pytest.mark.parametrize("args, message", [
    (["run", "x", "-o", "o", "-w", "0"], "argument -w/--workers: must be at least 1, not 0"),
    (["run", "x", "-o", "o", "--workers", "two"], "argument -w/--workers: 'two' is not a whole number"),
    (["review", "o", "--port", "0"], "argument --port: a port is between 1 and 65535, not 0"),
    (["review", "o", "--port", "65536"], "argument --port: a port is between 1 and 65535, not 65536"),
    (["evaluate", "entities", "g.jsonl", "--limit", "-3"], "argument --limit: must be at least 1, not -3"),
    (["run", "-o", "o"], "error: run: no inputs given"),
])
def test_bad_numbers_and_missing_inputs_are_usage_errors(tmp_path, args, message):
    res = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, cwd=tmp_path, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 2
    assert message in res.stderr.decode()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("before", [True, False])
def test_global_flags_go_before_or_after_the_command(tmp_path, fixtures, before):
    flags = ["--config", str(tmp_path / "nosuch.toml"), "-v"]
    command = ["process", str(fixtures / "flat_energy_notice.txt")]
    res = cli(*(flags + command if before else command + flags))
    assert res.returncode == 2  # the --config was read (and is missing): a usage error
    _one_error_line(res, "nosuch.toml: config file not found")


def test_every_option_has_help():
    from pipeline.cli import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in [("policyminer", parser), *commands.items()]:
        for action in sub._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"{name} {action.dest}"


def test_annotate_fails_only_the_bad_records(tmp_path):
    good = {"id": "ok", "text": "下一步，要加快完善县域商业体系，推动农村物流提质增效。", "heading": "三、重点任务"}
    lines = [json.dumps(good, ensure_ascii=False).encode("utf-8"),
             json.dumps({"id": "n", "text": 12345}).encode(),
             json.dumps({"id": "z", "text": None}).encode(),
             json.dumps({"id": "l", "text": ["a", "b"]}).encode(),
             json.dumps({"id": "h", "text": "推动农村物流提质增效。", "heading": 7}, ensure_ascii=False).encode("utf-8"),
             b'{"id": "u", "text": "\xff\xfe broken", "heading": "x"}',
             json.dumps({"id": "big", "text": "推动" * 60_000}, ensure_ascii=False).encode("utf-8"),
             b"[" * 100_000,
             json.dumps({**good, "id": "ok2"}, ensure_ascii=False).encode("utf-8")]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    res = cli("annotate", str(src), "-o", str(out))
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [
        f"error: {src}:2: 'text' must be a string, not int",
        f"error: {src}:3: 'text' must be a string, not NoneType",
        f"error: {src}:4: 'text' must be a string, not list",
        f"error: {src}:5: 'heading' must be a string or null, not int",
        f"error: {src}:6: not UTF-8 text",
        f"error: {src}:7: text too long: 120000 characters > limit 100000 (limits.annotate_max_chars)",
        f"error: {src}:8: unreadable JSON (RecursionError)"]
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["ok", "ok2"] and all(g["label"] for g in got)
