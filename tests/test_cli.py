"""End-to-end CLI tests on the project's own fixtures: run, process, annotate, schema, bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.export import validate


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, input=stdin, timeout=600)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixtures):
    out = tmp_path_factory.mktemp("run")
    missing = str(fixtures / "does_not_exist.txt")
    res = cli("run", str(fixtures / "flat_energy_notice.txt"), str(fixtures / "cms_page_gbk.html"), missing,
              "--out", str(out), "--workers", "1", "--quiet")
    assert res.returncode == 0, res.stderr.decode()
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
