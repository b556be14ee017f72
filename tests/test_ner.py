"""The statistical NER: a smoke run of training on a tiny subset, safe loading, and the merged stage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.modelio import ModelError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"epochs": 1, "width": 32, "depth": 1, "embed_rows": 500, "hidden_width": 32, "refit_on_all": False,
        "holdout_share": 0.25}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, settings):
    from pipeline.nlp.ner import train_ner

    tmp = tmp_path_factory.mktemp("ner")
    lines = (ROOT / "corpora" / "ner" / "part1.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    corpus = tmp / "tiny.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    meta = train_ner(settings=settings, out_dir=tmp / "model_dir", params=TINY, corpus_files=[corpus])
    return tmp / "model_dir", meta


def test_training_writes_card_meta_and_checksums(tiny_model):
    out, meta = tiny_model
    assert (out / "MODEL_CARD.md").exists() and (out / "meta.json").exists()
    on_disk = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert on_disk["format_version"] == meta["format_version"]
    assert on_disk["sha256"] and all(k.startswith("model/") for k in on_disk["sha256"])
    assert set(meta["heldout"]) >= {"INSTITUTION", "PROGRAMME", "PERSON", "GPE"}
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))


def test_load_and_predict(tiny_model):
    from pipeline.nlp.ner import load_ner_model

    nlp, info = load_ner_model(tiny_model[0])
    assert "ner" in nlp.pipe_names and info["format_version"]


def test_tampered_file_refused(tiny_model, tmp_path):
    import shutil

    from pipeline.nlp.ner import load_ner_model

    copy = tmp_path / "m"
    shutil.copytree(tiny_model[0], copy)
    victim = next(p for p in (copy / "model").rglob("*") if p.is_file() and p.name == "model")
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="checksum"):
        load_ner_model(copy)


def test_other_format_version_refused(tiny_model, tmp_path):
    import shutil

    from pipeline.nlp.ner import load_ner_model

    copy = tmp_path / "m"
    shutil.copytree(tiny_model[0], copy)
    meta = json.loads((copy / "meta.json").read_text(encoding="utf-8"))
    meta["format_version"] = "ner-spacy2-0"
    (copy / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="format"):
        load_ner_model(copy)


def test_unlisted_file_refused(tiny_model, tmp_path):
    import shutil

    from pipeline.nlp.ner import load_ner_model

    copy = tmp_path / "m"
    shutil.copytree(tiny_model[0], copy)
    (copy / "model" / "extra.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="not listed"):
        load_ner_model(copy)


def test_stage_with_model_keeps_rule_entities(tiny_model, settings):
    from pipeline.nlp.pipeline import NlpStage

    stage = NlpStage(settings, use_model=True, model_dir=tiny_model[0])
    assert stage.model_info["ner"] is not None
    assert stage.nlp.pipe_names == ["ner", "keep_model_entities", "policy_rules", "policy_merge"]
    text = "2023年，清华大学获得3.35亿美元。"
    ents = stage.entities([text])[0]
    by_text = {e.text: e for e in ents}
    assert by_text["3.35亿美元"].unit == "USD" and by_text["清华大学"].type == "INSTITUTION"
    parts = stage.entity_parts([text])
    assert set(parts) == {"merged", "rules", "model"}
    assert all(e.source == "model" for e in parts["model"][0]) or not parts["model"][0]
