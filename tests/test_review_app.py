"""The review app through Flask's test client: headers, CSRF, tokens, path traversal, corrections stored."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from pipeline.review.app import create_app, serve
from pipeline.review.security import UnsafeBindError, check_bind, is_loopback

HYDROGEN = "325d02fe1276febe"  # passages: achievement, challenge, recommendation, recommendation
HOSTILE = "ebb900807bc94d15"


@pytest.fixture()
def run_dir(review_run) -> Path:
    return review_run


def _as(client, name: str):
    """The browser says who it is (the name form stores it in this cookie)."""
    client.set_cookie("pm_reviewer", name)
    return client


@pytest.fixture()
def client(run_dir):
    return _as(create_app(run_dir, reviewer="ana").test_client(), "ana")


def _csrf(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def _post(client, url, body, token):
    return client.post(url, json=body, headers={"X-CSRF-Token": token})


def test_pages_carry_security_headers(client):
    for url in ("/", f"/p/{HYDROGEN}/1", f"/api/passage/{HYDROGEN}/1", "/static/review.js", "/nope"):
        resp = client.get(url)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_script_and_scraped_text_escaped(client):
    html = client.get(f"/?doc={HOSTILE}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for script in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S):
        assert script.strip() == ""  # every script is an external file


def test_list_filters_and_counts(client):
    body = client.get("/").get_data(as_text=True)
    assert "0 reviewed / 9 passages" in body
    assert "9 matching passages" in body
    assert "4 matching passages" in client.get(f"/?doc={HYDROGEN}").get_data(as_text=True)
    assert "4 matching passages" in client.get("/?label=recommendation").get_data(as_text=True)
    assert "1 matching passages" in client.get("/?q=烂秧").get_data(as_text=True)
    assert "4 matching passages" in client.get("/?site=fgw.example").get_data(as_text=True)
    assert "3 matching passages" in client.get("/?date_from=2024-06-01&date_to=2024-06-30").get_data(as_text=True)
    assert "1 matching passages" in client.get("/?entity=国家发展和改革委员会").get_data(as_text=True)
    low = client.get("/?max_score=0.7").get_data(as_text=True)
    assert "1 matching passages" in low and "宣传周" in low


def test_least_confident_first(client):
    html = client.get("/").get_data(as_text=True)
    scores = [float(s) for s in re.findall(r'<td class="num">([0-9.]+)</td>', html)]
    assert scores == sorted(scores) and len(scores) == 9


def test_post_without_csrf_token_is_rejected(client, run_dir):
    resp = client.post("/api/label", json={"doc_id": HYDROGEN, "index": 1, "label": "background"})
    assert resp.status_code == 403
    _csrf(client)
    resp = client.post("/api/label", json={"doc_id": HYDROGEN, "index": 1, "label": "background"},
                       headers={"X-CSRF-Token": "forged"})
    assert resp.status_code == 403
    assert sqlite3.connect(run_dir / "run.sqlite").execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 0


def test_cross_origin_post_is_rejected(client):
    token = _csrf(client)
    resp = client.post("/api/label", json={"doc_id": HYDROGEN, "index": 1, "label": "background"},
                       headers={"X-CSRF-Token": token, "Origin": "http://evil.example"})
    assert resp.status_code == 403
    resp = client.post("/api/label", data="doc_id=x", headers={"X-CSRF-Token": token,
                                                               "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                                  "/static/%2e%2e%2f%2e%2e%2fstore.py", "/static//etc/passwd",
                                  "/static/../../../../etc/passwd", "/static/..\\app.py", "/static/./review.js"])
def test_path_traversal_is_refused(client, path):
    resp = client.get(path, follow_redirects=True)
    assert resp.status_code in (404, 400)
    assert b"def " not in resp.data and b"root:" not in resp.data


def test_rebinding_host_header_refused(client):
    assert client.get("/", headers={"Host": "attacker.example:8765"}).status_code == 400
    assert client.get("/who", headers={"Host": "127.0.0.1:8765"}).status_code == 200


def test_non_loopback_needs_token(run_dir):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(UnsafeBindError):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "s3cret")
    assert serve(run_dir, host="0.0.0.0", port=0, token=None) == 2


def test_token_required_on_every_request(run_dir):
    client = _as(create_app(run_dir, token="s3cret", reviewer="ana", loopback_only=False).test_client(), "ana")
    assert client.get("/").status_code == 401
    assert client.get("/static/review.css").status_code == 401
    assert client.get("/", headers={"X-Review-Token": "wrong"}).status_code == 401
    assert client.get("/", headers={"X-Review-Token": "s3cret"}).status_code == 200
    assert client.get("/?token=wrong").status_code == 401
    # the token in the URL is traded for a cookie, and the browser sent on to the same page without it
    resp = client.get("/?label=challenge&token=s3cret")
    assert resp.status_code == 303 and resp.headers["Location"] == "/?label=challenge"
    assert "pm_review_token=s3cret" in resp.headers.get("Set-Cookie", "")
    assert client.get("/?label=challenge").status_code == 200  # the cookie now carries it
    assert client.get("/api/passage/%s/0" % HYDROGEN).status_code == 200


def test_token_kept_out_of_the_access_log():
    from pipeline.review.security import redact

    line = redact('"GET /p/abc/1?sort=document&token=s3cret&page=2 HTTP/1.1" 303 -')
    assert "s3cret" not in line and "sort=document" in line and "page=2" in line
    assert "s3cret" not in redact("GET /?token=s3cret HTTP/1.1")


def test_banner_link_is_usable():
    from pipeline.review.app import banner_url

    assert banner_url("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    wide = banner_url("0.0.0.0", 8765, "s3cret")
    assert "0.0.0.0" not in wide and wide.endswith(":8765/?token=s3cret")


def test_correction_stored_with_machine_value(client, run_dir):
    token = _csrf(client)
    resp = _post(client, "/api/label", {"doc_id": HYDROGEN, "index": 1, "label": "background"}, token)
    assert resp.status_code == 200
    j = resp.get_json()
    assert j["passage"]["label"] == "background" and j["passage"]["machine_label"] == "challenge"
    assert j["progress"] == {"reviewed": 1, "total": 9}
    row = sqlite3.connect(run_dir / "run.sqlite").execute(
        "SELECT doc_id, passage, kind, machine_value, value, reviewer, at, undone FROM corrections").fetchone()
    assert row[:6] == (HYDROGEN, 1, "label", "challenge", "background", "ana") and row[6] > 0 and row[7] == 0
    # the machine's output is untouched
    doc = next(json.loads(l) for l in open(run_dir / "documents.jsonl", encoding="utf-8") if HYDROGEN in l)
    assert doc["passages"][1]["label"] == "challenge"
    assert "1 reviewed / 9 passages" in client.get("/").get_data(as_text=True)


def test_accept_undo_and_entities(client, run_dir):
    token = _csrf(client)
    j = _post(client, "/api/accept", {"doc_id": HYDROGEN, "index": 0}, token).get_json()
    assert j["passage"]["reviewed_label"] == "achievement"
    undo = _post(client, "/api/undo", {}, token).get_json()
    assert undo["undone"]["kind"] == "accept" and undo["passage"]["passage"]["reviewed_label"] is None

    ents = {e["text"]: e for e in client.get(f"/api/passage/{HYDROGEN}/1").get_json()["passage"]["entities"]}
    bad = ents["零部"]
    j = _post(client, "/api/entity/delete", {"doc_id": HYDROGEN, "index": 1, "key": bad["key"]}, token).get_json()
    assert "零部" not in [e["text"] for e in j["passage"]["entities"]]
    text = j["passage"]["text"]
    start = text.index("质子交换膜") if "质子交换膜" in text else text.index("储运环节")
    j = _post(client, "/api/entity/add", {"doc_id": HYDROGEN, "index": 1, "start": start, "end": start + 4,
                                          "type": "PROGRAMME"}, token).get_json()
    added = [e for e in j["passage"]["entities"] if e["start"] == start][0]
    assert added["type"] == "PROGRAMME" and added["text"] == text[start:start + 4]
    j = _post(client, "/api/entity/update", {"doc_id": HYDROGEN, "index": 1, "key": added["key"], "type": "GPE"},
              token).get_json()
    assert [e["type"] for e in j["passage"]["entities"] if e["key"] == added["key"]] == ["GPE"]
    overlap = _post(client, "/api/entity/add", {"doc_id": HYDROGEN, "index": 1, "start": start + 1,
                                                "end": start + 3, "type": "PERSON"}, token)
    assert overlap.status_code == 409
    assert _post(client, "/api/entity/add", {"doc_id": HYDROGEN, "index": 1, "start": 0, "end": 9999,
                                             "type": "GPE"}, token).status_code == 400
    kinds = [r[0] for r in sqlite3.connect(run_dir / "run.sqlite").execute(
        "SELECT kind FROM corrections WHERE undone=0 ORDER BY id")]
    assert kinds == ["entity_delete", "entity_add", "entity_type"]
    machine = sqlite3.connect(run_dir / "run.sqlite").execute(
        "SELECT machine_value FROM corrections WHERE kind='entity_delete'").fetchone()[0]
    assert json.loads(machine)["text"] == "零部"


def test_bad_requests(client):
    token = _csrf(client)
    assert _post(client, "/api/label", {"doc_id": HYDROGEN, "index": 1, "label": "nonsense"}, token).status_code == 400
    assert _post(client, "/api/label", {"doc_id": "0" * 16, "index": 0, "label": "challenge"}, token).status_code == 404
    assert _post(client, "/api/label", {"doc_id": HYDROGEN, "index": 99, "label": "challenge"}, token).status_code == 404
    assert client.get(f"/p/{HYDROGEN}/99").status_code == 404
