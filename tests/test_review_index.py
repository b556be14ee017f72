"""The review app at team scale, through Flask's test client: the index (built once, re-built when
documents.jsonl is replaced), paging, search snippets, the default queue, corrections anchored to content across
a re-run, concurrent writes, per-reviewer undo, stale pages, restarts, the size limit and agreement."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from pipeline.review import settings as review_settings
from pipeline.review.app import create_app
from pipeline.review.synthetic import make_run


def _config(**over) -> dict:
    return dict(review_settings.load(), **over)


def _client(app, name: str):
    c = app.test_client()
    c.set_cookie("pm_reviewer", name)
    return c


def _csrf(client) -> str:
    html = client.get("/who").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def _post(client, url, body, token=None):
    return client.post(url, json=body, headers={"X-CSRF-Token": token or _csrf(client)})


@pytest.fixture()
def synthetic(tmp_path) -> Path:
    return make_run(tmp_path / "run", n_docs=6, passages_per_doc=12)


def _docs(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "documents.jsonl").read_text(encoding="utf-8").splitlines()]


def _matching(html: str) -> int:
    return int(re.search(r'id="matching">(\d+) matching', html).group(1))


def _row_links(html: str) -> list[str]:
    return re.findall(r'<a class="open" href="([^"?]+)', html)


# -- the index, the list, search ---------------------------------------------------------------------------
def test_paging_visits_every_row_once(synthetic):
    client = _client(create_app(synthetic, config=_config(page_size=7)), "ana")
    first = client.get("/?sort=document&kind=all").get_data(as_text=True)
    total = _matching(first)
    assert total == 6 * 12
    seen, page = [], 1
    while True:
        html = client.get(f"/?sort=document&kind=all&page={page}").get_data(as_text=True)
        links = _row_links(html)
        assert len(links) == min(7, total - len(seen))
        seen += links
        if 'class="next-page"' not in html:
            break
        assert f'href="?kind=all&amp;sort=document&amp;page={page + 1}"' in html  # the filters stay
        page += 1
    assert page == -(-total // 7) and len(seen) == len(set(seen)) == total
    assert 'aria-current="page">%d<' % page in html and 'class="prev-page"' in html


def test_default_queue_leaves_out_headings_and_fragments(synthetic):
    client = _client(create_app(synthetic), "ana")
    docs = _docs(synthetic)
    passages = [p for d in docs for p in d["passages"]]
    n_min = review_settings.load()["min_passage_chars"]
    long_paragraphs = [p for p in passages if p["kind"] != "heading" and len(p["text"]) >= n_min]
    assert 0 < len(long_paragraphs) < len(passages)
    assert _matching(client.get("/").get_data(as_text=True)) == len(long_paragraphs)
    assert _matching(client.get("/?kind=heading").get_data(as_text=True)) == sum(p["kind"] == "heading" for p in passages)
    assert _matching(client.get("/?kind=short").get_data(as_text=True)) == sum(len(p["text"]) < n_min for p in passages)
    assert _matching(client.get("/?kind=all&min_len=60").get_data(as_text=True)) == sum(len(p["text"]) >= 60 for p in passages)
    html = client.get("/?sort=length&kind=all").get_data(as_text=True)
    lengths = [int(x) for x in re.findall(r'data-length="(\d+)"', html)]
    assert len(lengths) == min(len(passages), 50) and lengths == sorted(lengths, reverse=True)
    assert lengths[0] == max(len(p["text"]) for p in passages)


def test_search_shows_highlighted_snippets(synthetic):
    client = _client(create_app(synthetic), "ana")
    passages = [p["text"] for d in _docs(synthetic) for p in d["passages"]]
    for term in ("晨光计划", "云岭"):  # one FTS5 trigram query, one short term scanned with LIKE
        html = client.get(f"/?kind=all&q={term}").get_data(as_text=True)
        assert _matching(html) == sum(term in t for t in passages) > 0
        rows = re.findall(r'<a class="open"[^>]*>(.*?)</a>', html, re.S)
        assert rows and all(f'<mark class="hit">{term}</mark>' in r for r in rows)


def test_search_text_is_escaped_in_snippets(review_run):
    client = _client(create_app(review_run), "ana")
    html = client.get("/?q=script").get_data(as_text=True)
    assert '&lt;<mark class="hit">script</mark>&gt;' in html and "<script>alert" not in html


def test_index_built_once_and_rebuilt_when_documents_replaced(synthetic):
    app = create_app(synthetic)
    assert app.config["REVIEW_STATE"].index.build_seconds is not None
    again = create_app(synthetic)  # a restart on the same run: the index is reused
    assert again.config["REVIEW_STATE"].index.build_seconds is None
    client = _client(app, "ana")
    doc = _docs(synthetic)[0]
    assert client.get(f"/api/passage/{doc['doc_id']}/1").get_json()["passage"]["text"] == doc["passages"][1]["text"]
    # documents.jsonl replaced under the running server: the next request is served from the new file
    docs = _docs(synthetic)
    docs[0]["passages"][1]["text"] = "全新的段落文字：星河市科技局发布新一轮试点名单，涉及十二个示范项目。"
    tmp = synthetic / "documents.jsonl.new"
    tmp.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    os.replace(tmp, synthetic / "documents.jsonl")
    j = client.get(f"/api/passage/{doc['doc_id']}/1").get_json()
    assert j["passage"]["text"].startswith("全新的段落文字")
    assert '<mark class="hit">全新的段落</mark>文字' in client.get("/?q=全新的段落").get_data(as_text=True)


# -- writes ------------------------------------------------------------------------------------------------
def _free_span(text: str, entities: list[dict], length: int = 2) -> int:
    for s in range(len(text) - length):
        if not any(s < e["end"] and e["start"] < s + length for e in entities):
            return s
    raise AssertionError("no free span")


def test_concurrent_overlapping_adds_one_wins(synthetic):
    """Two servers on one run (two app instances: separate locks) add overlapping entities at the same moment."""
    a, b = _client(create_app(synthetic), "ana"), _client(create_app(synthetic), "bo")
    ta, tb = _csrf(a), _csrf(b)
    doc = _docs(synthetic)[1]
    statuses = []
    for index in (1, 3, 4, 5):
        p = a.get(f"/api/passage/{doc['doc_id']}/{index}").get_json()["passage"]
        s = _free_span(p["text"], p["entities"], 3)
        barrier, results = threading.Barrier(2), {}

        def add(name, client, token, start, end):
            barrier.wait()
            results[name] = _post(client, "/api/entity/add", {"doc_id": doc["doc_id"], "index": index, "start": start,
                                                              "end": end, "type": "PROGRAMME"}, token).status_code

        threads = [threading.Thread(target=add, args=("a", a, ta, s, s + 2)),
                   threading.Thread(target=add, args=("b", b, tb, s + 1, s + 3))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses.append(sorted(results.values()))
        ents = a.get(f"/api/passage/{doc['doc_id']}/{index}").get_json()["passage"]["entities"]
        assert sum(e["source"] == "review" for e in ents) == 1
    assert statuses == [[200, 409]] * 4
    adds = sqlite3.connect(synthetic / "run.sqlite").execute(
        "SELECT COUNT(*) FROM corrections WHERE kind='entity_add'").fetchone()[0]
    assert adds == 4


def test_undo_is_per_reviewer(synthetic):
    app = create_app(synthetic)
    ana, bo = _client(app, "ana"), _client(app, "bo")
    doc_id = _docs(synthetic)[0]["doc_id"]
    assert _post(ana, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"}).status_code == 200
    assert _post(bo, "/api/label", {"doc_id": doc_id, "index": 3, "label": "background"}).status_code == 200
    assert _post(ana, "/api/label", {"doc_id": doc_id, "index": 3, "label": "achievement"}).status_code == 200
    assert _post(bo, "/api/label", {"doc_id": doc_id, "index": 3, "label": "recommendation"}).status_code == 200
    undo = _post(ana, "/api/undo", {}).get_json()  # ana's last: passage 3 → achievement, under bo's later label
    assert undo["undone"] == {"doc_id": doc_id, "index": 3, "kind": "label"}
    assert undo["passage"]["passage"]["reviewed_label"] == "recommendation"  # bo's label stands
    undo = _post(ana, "/api/undo", {}).get_json()
    assert undo["undone"]["index"] == 1 and undo["passage"]["passage"]["reviewed_label"] is None
    assert _post(ana, "/api/undo", {}).get_json() == {"undone": None}  # nothing of ana's left; bo's untouched
    rows = sqlite3.connect(synthetic / "run.sqlite").execute(
        "SELECT reviewer, undone FROM corrections ORDER BY id").fetchall()
    assert rows == [("ana", 1), ("bo", 0), ("ana", 1), ("bo", 0)]


def test_a_page_showing_an_old_state_is_told(synthetic):
    app = create_app(synthetic)
    ana, bo = _client(app, "ana"), _client(app, "bo")
    doc_id = _docs(synthetic)[0]["doc_id"]
    seen = ana.get(f"/api/passage/{doc_id}/1").get_json()["passage"]["state"]
    assert _post(bo, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"}).status_code == 200
    resp = _post(ana, "/api/label", {"doc_id": doc_id, "index": 1, "label": "background", "expect": seen})
    assert resp.status_code == 409 and resp.get_json()["code"] == "stale" and "bo" in resp.get_json()["error"]
    fresh = resp.get_json()["passage"]["passage"]
    assert fresh["reviewed_label"] == "challenge"
    resp = _post(ana, "/api/label", {"doc_id": doc_id, "index": 1, "label": "background", "expect": fresh["state"]})
    assert resp.status_code == 200 and resp.get_json()["passage"]["reviewed_label"] == "background"


def test_writes_need_a_name(synthetic):
    client = create_app(synthetic).test_client()
    assert client.get("/").status_code == 302 and "/who" in client.get("/").headers["Location"]
    doc_id = _docs(synthetic)[0]["doc_id"]
    resp = _post(client, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"})
    assert resp.status_code == 403 and resp.get_json()["code"] == "who"
    token = _csrf(client)
    assert _post(client, "/api/reviewer", {"name": "<b>x</b>"}, token).status_code == 400
    assert _post(client, "/api/reviewer", {"name": "Chen Jing"}, token).status_code == 200
    assert _post(client, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"}, token).status_code == 200
    assert sqlite3.connect(synthetic / "run.sqlite").execute("SELECT reviewer FROM corrections").fetchone() == ("Chen Jing",)


def test_after_a_restart_the_page_gets_a_fresh_token(synthetic):
    before = _client(create_app(synthetic), "ana")
    old = _csrf(before)
    doc_id = _docs(synthetic)[0]["doc_id"]
    restarted = create_app(synthetic)  # a new process: new secret key, the browser's session cookie is stale
    client = restarted.test_client()
    client.set_cookie("pm_reviewer", "ana")
    client.set_cookie("pm_review_session", before.get_cookie("pm_review_session").value)
    resp = _post(client, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"}, old)
    assert resp.status_code == 403 and resp.get_json()["code"] == "csrf"
    fresh = client.get("/api/session", headers={"Sec-Fetch-Site": "same-origin"}).get_json()
    assert fresh["reviewer"] == "ana" and fresh["csrf"] != old
    assert client.get("/api/session", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _post(client, "/api/label", {"doc_id": doc_id, "index": 1, "label": "challenge"},
                 fresh["csrf"]).status_code == 200


def test_oversized_post_is_refused(synthetic):
    app = create_app(synthetic, config=_config(max_request_bytes=4096))
    client = _client(app, "ana")
    token = _csrf(client)
    doc_id = _docs(synthetic)[0]["doc_id"]
    big = json.dumps({"doc_id": doc_id, "index": 1, "label": "challenge", "pad": "x" * 5000})
    for headers in ({"X-CSRF-Token": token}, {}):  # with or without a CSRF token
        resp = client.post("/api/label", data=big, content_type="application/json", headers=headers)
        assert resp.status_code == 413 and resp.get_json()["code"] == "too_large"
    assert sqlite3.connect(synthetic / "run.sqlite").execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 0
    small = client.post("/api/label", data=json.dumps({"doc_id": doc_id, "index": 1, "label": "challenge"}),
                        content_type="application/json", headers={"X-CSRF-Token": token})
    assert small.status_code == 200


# -- agreement ---------------------------------------------------------------------------------------------
def test_agreement_shows_kappa_and_disagreements(synthetic):
    from sklearn.metrics import cohen_kappa_score

    app = create_app(synthetic)
    ana, bo = _client(app, "ana"), _client(app, "bo")
    doc_id = _docs(synthetic)[2]["doc_id"]
    a_labels = ["challenge", "challenge", "background", "achievement", "recommendation"]
    b_labels = ["challenge", "background", "background", "achievement", "recommendation"]
    for index, (la, lb) in enumerate(zip(a_labels, b_labels), 1):
        assert _post(ana, "/api/label", {"doc_id": doc_id, "index": index, "label": la}).status_code == 200
        assert _post(bo, "/api/label", {"doc_id": doc_id, "index": index, "label": lb}).status_code == 200
    html = ana.get("/agreement").get_data(as_text=True)
    expected = cohen_kappa_score(a_labels, b_labels)
    assert "5 passages labelled by both" in html and f"Cohen's kappa {expected:.3f}" in html
    assert "1 to settle" in html and f"/p/{doc_id}/2" in html
