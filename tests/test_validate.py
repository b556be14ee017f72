"""`policyminer validate OUT_DIR`: a run folder checked against its own contract (schema, tables, run.json), run
in a subprocess. Each corruption is made on a copy of one real run of corpora/samples and must be reported on
the line where it is."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=600,
                          env=env)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("valid") / "out"
    res = cli("run", str(ROOT / "corpora" / "samples"), "-o", str(out), "-w", "1", "-q")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture()
def copy(sample_run, tmp_path) -> Path:
    """A copy of the sample run (links kept as links) to damage."""
    out = tmp_path / "out"
    shutil.copytree(sample_run, out, symlinks=True)
    return out


def problems(out: Path) -> list[str]:
    res = cli("validate", str(out))
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert res.stderr.strip().startswith(f"error: {out}: ") and "problem" in res.stderr
    return res.stdout.splitlines()


def rewrite(path: Path, edit) -> None:
    """Edit a published file in place through its link (the copy's generation folder)."""
    path = path.resolve()
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def test_a_valid_run_passes(sample_run):
    res = cli("validate", str(sample_run))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == ""
    docs = len((sample_run / "documents.jsonl").read_text(encoding="utf-8").splitlines())
    assert f"valid ({docs} documents" in res.stderr
    assert cli("validate", str(sample_run), "-q").stderr == ""


def test_a_line_that_is_not_json_is_reported_on_its_line_only(copy):
    def cut_second_line(text):
        lines = text.splitlines(keepends=True)
        lines[1] = lines[1][: len(lines[1]) // 2] + "\n"
        return "".join(lines)

    rewrite(copy / "documents.jsonl", cut_second_line)
    found = problems(copy)
    assert found and all(p.startswith(f"{copy / 'documents.jsonl'}:2: invalid JSON") for p in found), found


def test_a_line_off_the_schema_names_the_field(copy):
    def bad_label(text):
        lines = text.splitlines(keepends=True)
        doc = json.loads(lines[2])
        doc["passages"][1]["label"] = "nonsense"
        lines[2] = json.dumps(doc, ensure_ascii=False) + "\n"
        return "".join(lines)

    rewrite(copy / "documents.jsonl", bad_label)
    assert problems(copy) == [f"{copy / 'documents.jsonl'}:3: passages/1/label: 'nonsense' is not one of "
                              f"['achievement', 'challenge', 'recommendation', 'background']"]


def test_an_entity_that_is_not_its_passages_text(copy):
    def shift(text):
        lines = text.splitlines(keepends=True)
        doc = json.loads(lines[0])
        doc["entities"][0]["start"] += 1
        lines[0] = json.dumps(doc, ensure_ascii=False) + "\n"
        return "".join(lines)

    rewrite(copy / "documents.jsonl", shift)
    found = problems(copy)
    assert found[0].startswith(f"{copy / 'documents.jsonl'}:1: entities/0: text is not passage ")
    # The tables still hold the unshifted entity: the row differs in its start.
    assert any(p.startswith(f"{copy / 'entities.csv'}:") for p in found[1:]), found


def test_a_deleted_passage_row_is_reported_where_it_belongs(copy):
    lines = (copy / "passages.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    doc_id, index = lines[4].split(",")[:2]
    rewrite(copy / "passages.csv", lambda text: "".join(lines[:4] + lines[5:]))
    found = problems(copy)
    assert len(found) == 1, found
    assert found[0].startswith(f"{copy / 'passages.csv'}:5: missing the row of doc_id {doc_id} passage {index} "
                               f"({'documents.jsonl'}:"), found


def test_a_changed_parquet_value_names_row_and_column(copy):
    import pyarrow.parquet as pq

    path = (copy / "passages.parquet").resolve()
    table = pq.read_table(path).to_pylist()
    old = table[2]["label"]
    table[2]["label"] = "challenge" if old != "challenge" else "achievement"
    pq.write_table(pq.read_table(path).from_pylist(table, schema=pq.read_schema(path)), path)
    found = problems(copy)
    assert len(found) == 1, found
    assert found[0].startswith(f"{copy / 'passages.parquet'}:4: doc_id {table[2]['doc_id']} passage "
                               f"{table[2]['index']}: label is {table[2]['label']!r}, not {old!r}"), found


def test_a_wrong_count_in_run_json(copy):
    run = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    processed = run["counts"]["processed"]
    rewrite(copy / "run.json", lambda text: text.replace(f'"processed": {processed},', f'"processed": {processed - 1},', 1))
    line = next(no for no, text in enumerate((copy / "run.json").read_text(encoding="utf-8").splitlines(), 1)
                if f'"processed": {processed - 1},' in text)
    assert problems(copy) == [f"{copy / 'run.json'}:{line}: counts.processed is {processed - 1}, but {processed} "
                              f"inputs are listed as processed"]


def test_run_json_of_another_generation(copy):
    run = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    rewrite(copy / "run.json", lambda text: text.replace(run["generation"], "19990101T000000-abcdef", 1))
    (found,) = problems(copy)
    assert found.startswith(f"{copy / 'run.json'}:") and "generation is '19990101T000000-abcdef'" in found
    assert run["generation"] in found


def test_missing_folder_and_usage(tmp_path):
    res = cli("validate", str(tmp_path / "nosuch"))
    assert res.returncode == 1 and res.stderr == f"error: {tmp_path / 'nosuch'}: no such folder\n"
    assert cli("validate").returncode == 2


# The label/score relation the schema states (schema.json, passages' label and secondary).
FACTS, JUDGEMENTS = ("achievement", "background"), ("challenge", "recommendation")


def top(scores: dict) -> set:
    """The labels with the top score (rounded scores can tie)."""
    return {k for k, v in scores.items() if v == max(scores.values())}


def label_rule(p: dict, closing_min: float, organising_rule) -> str:
    """Why a passage's label is what it is: 'top score', 'closing judgement', 'organising', or 'unexplained'."""
    from pipeline.classify.features import is_organising

    scores, sentences = p["scores"], p["sentences"]
    if p["label"] in top(scores):
        return "top score"
    overrode = p["secondary"] in top(scores)
    if overrode and p["label"] == "background" and is_organising(p["text"], organising_rule):
        return "organising"
    if overrode and p["secondary"] in FACTS and len(sentences) >= 2:
        last, before = sentences[-1]["scores"], [max(s["scores"], key=s["scores"].get) for s in sentences[:-1]]
        if (p["label"] in top(last) and p["label"] in JUDGEMENTS and max(last.values()) >= closing_min - 5e-5
                and sum(b in FACTS for b in before) >= 0.5 * len(before)):
            return "closing judgement"
    return "unexplained"


@pytest.fixture(scope="module")
def label_rules():
    from pipeline.classify.features import organising_patterns
    from pipeline.config import MODELS_DIR, load_config, read_toml

    config = load_config()
    meta = json.loads((MODELS_DIR / config.classify.model_dir / "meta.json").read_text(encoding="utf-8"))
    return (float(meta["params"].get("closing_judgement_min", 0) or 0),
            organising_patterns(read_toml(config.path(config.classify.cues))))


def test_every_sample_label_is_the_top_score_or_a_documented_rule(sample_run, label_rules):
    from pipeline.classify.features import is_organising

    closing_min, organising_rule = label_rules
    rules = []
    for line in (sample_run / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        for p in json.loads(line)["passages"]:
            rules.append(label_rule(p, closing_min, organising_rule))
            for s in p["sentences"]:
                assert s["label"] in top(s["scores"]) or (s["label"] == "background"
                                                          and is_organising(s["text"], organising_rule)), s
    assert "unexplained" not in rules, rules
    assert rules.count("top score") > len(rules) // 2  # the rules are exceptions


def test_the_rules_keep_the_overridden_label_as_secondary(label_rules):
    """The two rules on made-up predictions: the label they override is kept as the secondary, the scores stay."""
    import numpy as np

    from pipeline.classify.model import Prediction, closing_judgement, organising

    closing_min, organising_rule = label_rules
    classes = ["achievement", "background", "challenge", "recommendation"]
    scores = {"achievement": 0.7, "background": 0.2, "challenge": 0.05, "recommendation": 0.05}
    facts_then_judgement = np.array([[0.8, 0.1, 0.05, 0.05], [0.7, 0.2, 0.05, 0.05], [0.02, 0.02, 0.95, 0.01]])
    closed = closing_judgement(Prediction("achievement", None, scores), facts_then_judgement, classes, 0.8)
    assert (closed.label, closed.secondary, closed.scores) == ("challenge", "achievement", scores)
    announced = organising(Prediction("recommendation", None, scores), "针对上述问题，本文提出以下几点建议。",
                           organising_rule)
    assert (announced.label, announced.secondary, announced.scores) == ("background", "recommendation", scores)
    assert label_rule({"label": "background", "secondary": "achievement", "scores": scores,
                       "text": "针对上述问题，本文提出以下几点建议。", "sentences": []},
                      closing_min, organising_rule) == "organising"
