"""Review corrections → training JSONL → retraining (on a small slice of corpora/ into tmp_path)."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from pipeline.corpora import check_file
from pipeline.review.corrections import export_corrections, load_corrections
from pipeline.review.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
HYDROGEN = "325d02fe1276febe"
SEEDLING = "9c82e73e73b8b4e4"


@pytest.fixture()
def reviewed_run(review_run) -> Path:
    out = review_run
    led = Ledger(out / "run.sqlite")
    led.record(HYDROGEN, 3, "label", value="background", machine_value="recommendation", reviewer="ana")
    led.record(SEEDLING, 0, "label", value="achievement", machine_value="background", reviewer="ana")
    led.record(HYDROGEN, 0, "accept", value="achievement", machine_value="achievement", reviewer="ana")
    led.record(HYDROGEN, 2, "label", value="challenge", machine_value="recommendation", reviewer="ana")
    led.undo_last("ana")  # the last one was a slip
    doc = next(json.loads(l) for l in open(out / "documents.jsonl", encoding="utf-8") if HYDROGEN in l)
    key = next(f"m{i}" for i, e in enumerate(doc["entities"]) if e["text"] == "零部")
    led.record(HYDROGEN, 1, "entity_delete", value=json.dumps({"key": key}), machine_value="{}", reviewer="ana")
    text = doc["passages"][1]["text"]
    s = text.index("关键材料")
    led.record(HYDROGEN, 1, "entity_add", reviewer="ana", machine_value=None, value=json.dumps(
        {"key": "r1", "text": text[s:s + 4], "type": "PROGRAMME", "start": s, "end": s + 4}, ensure_ascii=False))
    led.record(HYDROGEN, 1, "entity_type", value=json.dumps({"key": "r1", "type": "INSTITUTION"}),
               machine_value="PROGRAMME", reviewer="ana")
    return out


def test_export_writes_valid_corpus_files(reviewed_run, tmp_path):
    paths = export_corrections(reviewed_run, tmp_path / "exp")
    assert [p.relative_to(tmp_path / "exp").as_posix() for p in paths] == ["classifier/review.jsonl", "ner/review.jsonl"]
    for p in paths:
        assert check_file(p) == []
    cls = [json.loads(l) for l in paths[0].read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in cls}
    assert set(by_id) == {f"review-{HYDROGEN}-3", f"review-{SEEDLING}-0", f"review-{HYDROGEN}-0"}
    assert by_id[f"review-{HYDROGEN}-3"]["label"] == "background"
    assert by_id[f"review-{HYDROGEN}-3"]["machine_label"] == "recommendation"
    assert by_id[f"review-{HYDROGEN}-0"]["note"].startswith("review correction: machine label accepted")
    assert all(r["genre"] == "news" and r["sector"] == "economy" for r in cls)
    ner = [json.loads(l) for l in paths[1].read_text(encoding="utf-8").splitlines()]
    assert len(ner) == 1 and ner[0]["id"] == f"review-{HYDROGEN}-1"
    texts = {e["text"]: e["type"] for e in ner[0]["entities"]}
    assert "零部" not in texts and texts["关键材料"] == "INSTITUTION"


def test_export_default_folder_and_cli(reviewed_run):
    from pipeline.cli import main

    assert main(["export-corrections", str(reviewed_run)]) == 0
    assert (reviewed_run / "corrections" / "classifier" / "review.jsonl").is_file()


def test_load_corrections_from_run_and_export(reviewed_run, tmp_path):
    from_run = load_corrections([reviewed_run])
    export_corrections(reviewed_run, tmp_path / "exp")
    from_export = load_corrections([tmp_path / "exp"])
    assert from_run == from_export
    assert len(from_run[0]) == 3 and len(from_run[1]) == 1
    with pytest.raises(FileNotFoundError):
        load_corrections([tmp_path / "nothing"])


def test_nothing_reviewed_exports_empty_files(review_run):
    paths = export_corrections(review_run)
    assert all(p.read_text(encoding="utf-8") == "" for p in paths)


def test_retrain_with_corrections_round_trip(reviewed_run, tmp_path, config, monkeypatch):
    import pipeline.train
    from pipeline.retrain import train_classifier_with_corrections
    from pipeline.train import training_params

    calls = []
    real = pipeline.train.train_classifier

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(pipeline.train, "train_classifier", spy)

    small = tmp_path / "corpus.jsonl"
    lines = []
    for f in sorted((ROOT / "corpora" / "classifier").glob("*.jsonl")):
        lines += f.read_text(encoding="utf-8").splitlines()[:60]
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model_dir = tmp_path / "model"
    report = train_classifier_with_corrections([reviewed_run], config=config, out_dir=model_dir,
                                               corpus_paths=[small], params=training_params({"sources": ["corpus"]}))
    assert "corrections: 3 reviewed passages" in report
    assert "agreement with reviewers: before" in report and "held-out" in report
    assert f"review-{HYDROGEN}-3" in report  # a relabelled passage is listed with before/after
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
    assert meta["data"]["corrections"] == 3 and meta["data"]["records"] == len(lines) + 3
    # models/ is left alone: the only training run wrote to tmp_path
    assert [c["out_dir"] for c in calls] == [model_dir]
    assert [r["id"] for r in calls[0]["extra_records"]] == [r["id"] for r in load_corrections([reviewed_run])[0]]


def test_ner_training_reads_entity_corrections_from_a_run(reviewed_run):
    from pipeline.nlp.tagger_training import correction_records

    records = correction_records([reviewed_run])
    assert len(records) == 1
    rec = records[0]
    spans = {rec["text"][e["start"]:e["end"]]: e["type"] for e in rec["entities"]}
    assert spans.get("关键材料") == "INSTITUTION" and "零部" not in spans


# -- corrections anchored to content across a re-run -------------------------------------------------------
LEAD = "据悉，湖北省武汉市发布新政策，2024年3月起实施。"
MEETING = "会议要求各地加快推进示范项目建设，确保取得实效。"
SPEECH = "张伟表示，湖北省将继续加大投入力度，推动产业升级。"


def _ent(text: str, passage_text: str, passage: int, etype: str) -> dict:
    s = passage_text.index(text)
    return {"text": text, "type": etype, "start": s, "end": s + len(text), "passage": passage, "canonical": text,
            "source": "pattern"}


def _drift_doc(texts: list[str], entities: list[dict]) -> dict:
    scores = {"achievement": 0.3, "challenge": 0.2, "recommendation": 0.3, "background": 0.2}
    return {"doc_id": "d1f7000000000001", "title": "漂移测试", "source": {"path": "drift.txt", "url": None, "site": None},
            "published_at": "2024-03-01T00:00:00", "duplicate_of": None,
            "passages": [{"index": i, "text": t, "kind": "paragraph", "heading": None, "label": "background",
                          "secondary": None, "scores": scores} for i, t in enumerate(texts)],
            "entities": entities}


def _write_docs(out: Path, doc: dict) -> None:
    tmp = out / "documents.jsonl.tmp"
    tmp.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / "documents.jsonl")


def test_rerun_drift_never_moves_a_correction_to_another_mention(tmp_path):
    """Corrections made on one run; then a re-run inserts a passage before them, finds one more entity ahead of
    the edited ones (and types 湖北省 PERSON), and rewords one passage. Under the running server and after a
    restart: each correction stays on its mention or is listed as orphaned, none lands elsewhere."""
    from pipeline.review.app import create_app
    from pipeline.review.corrections import records_from_run

    out = tmp_path / "run"
    out.mkdir()
    v1 = [_ent("湖北省", LEAD, 0, "GPE"), _ent("武汉", LEAD, 0, "GPE"), _ent("2024年3月", LEAD, 0, "DATE"),
          _ent("张伟", SPEECH, 2, "PERSON"), _ent("湖北省", SPEECH, 2, "GPE")]
    _write_docs(out, _drift_doc([LEAD, MEETING, SPEECH], v1))
    client = create_app(out).test_client()
    client.set_cookie("pm_reviewer", "ana")
    token = re.search(r'csrf-token" content="([^"]+)"', client.get("/who").get_data(as_text=True)).group(1)

    def post(url, body):
        resp = client.post(url, json=dict(body, doc_id="d1f7000000000001"), headers={"X-CSRF-Token": token})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    keys = {e["text"]: e["key"] for e in client.get("/api/passage/d1f7000000000001/0").get_json()["passage"]["entities"]}
    post("/api/entity/delete", {"index": 0, "key": keys["湖北省"]})
    post("/api/entity/update", {"index": 0, "key": keys["武汉"], "type": "INSTITUTION"})
    post("/api/label", {"index": 1, "label": "challenge"})
    post("/api/label", {"index": 2, "label": "achievement"})

    intro, reworded = "新增导语段落：本文介绍有关情况，仅供参考。", MEETING.replace("实效", "更大实效")
    v2 = [_ent("新政策", LEAD, 1, "PROGRAMME"), _ent("湖北省", LEAD, 1, "PERSON"), _ent("武汉", LEAD, 1, "GPE"),
          _ent("2024年3月", LEAD, 1, "DATE"), _ent("张伟", SPEECH, 3, "PERSON"), _ent("湖北省", SPEECH, 3, "GPE")]
    v2.sort(key=lambda e: (e["passage"], e["start"]))
    _write_docs(out, _drift_doc([intro, LEAD, reworded, SPEECH], v2))

    for c in (client, create_app(out).test_client()):  # under the running server, then after a restart
        c.set_cookie("pm_reviewer", "ana")
        p = {i: c.get(f"/api/passage/d1f7000000000001/{i}").get_json()["passage"] for i in range(4)}
        lead = {e["text"]: e["type"] for e in p[1]["entities"]}
        assert lead == {"新政策": "PROGRAMME", "武汉": "INSTITUTION", "2024年3月": "DATE"}  # 湖北省 stays deleted
        assert [e["text"] for e in p[0]["entities"]] == [] and p[0]["reviewed_label"] is None
        assert p[2]["text"] == reworded and p[2]["reviewed_label"] is None  # its label is orphaned, not moved
        assert p[3]["reviewed_label"] == "achievement"
        assert {e["text"]: e["type"] for e in p[3]["entities"]} == {"张伟": "PERSON", "湖北省": "GPE"}
        orphans = c.get("/orphans").get_data(as_text=True)
        assert "1 orphaned corrections" in orphans and "text is no longer in this run" in orphans

    cls, ner = records_from_run(out)
    assert [(r["index"], r["label"]) for r in cls] == [(3, "achievement")]
    assert len(ner) == 1 and ner[0]["text"] == LEAD
    assert {e["text"]: e["type"] for e in ner[0]["entities"]} == {"新政策": "PROGRAMME", "武汉": "INSTITUTION",
                                                                  "2024年3月": "DATE"}
    anchors = sqlite3.connect(out / "run.sqlite").execute(
        "SELECT passage_sha, mention_text, mention_start, mention_end FROM corrections WHERE kind='entity_delete'").fetchone()
    assert anchors[0] and anchors[1:] == ("湖北省", 3, 6)
