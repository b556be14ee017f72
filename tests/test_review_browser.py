"""The review app in headless Chromium (Playwright): filter, relabel by keyboard, edit entities, and scraped
markup shown as text. Screenshots go to a temporary folder; with PM_WRITE_EXAMPLES=1 they refresh the committed
outputs/examples/review.png and report.png instead (a plain test run leaves the tree as it was)."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
PAGES = Path(__file__).resolve().parent / "fixtures" / "review" / "pages"
EXAMPLES = (ROOT / "outputs" / "examples" if os.environ.get("PM_WRITE_EXAMPLES") == "1"
            else Path(tempfile.mkdtemp(prefix="pm-examples-")))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from pipeline.run import run

    out = tmp_path_factory.mktemp("review") / "out"
    summary = run([str(PAGES)], out, workers=1)
    assert summary.processed == 3, summary.outcomes
    return out


@pytest.fixture(scope="module")
def docs(run_dir) -> dict:
    """Documents by the name of their fixture file."""
    out = {}
    for line in (run_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out[Path(d["source"]["path"]).stem] = d
    return out


@pytest.fixture(scope="module")
def server(run_dir):
    from werkzeug.serving import make_server

    from pipeline.review.app import create_app

    srv = make_server("127.0.0.1", 0, create_app(run_dir, reviewer="browser-test"), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.add_cookies([{"name": "pm_reviewer", "value": "browser-test", "domain": "127.0.0.1", "path": "/"}])
    pg = ctx.new_page()
    pg.set_default_timeout(10000)
    dialogs = []
    errors = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.dialogs, pg.errors = dialogs, errors
    yield pg
    ctx.close()


def _open_passage(page, server, doc, index, query=""):
    page.goto(f"{server}/p/{doc['doc_id']}/{index}{query}")
    expect(page.locator("#passage-text")).to_contain_text(doc["passages"][index]["text"][:10])


LABELS = ("achievement", "challenge", "recommendation", "background")


def test_filter_relabel_with_keyboard_and_reload(page, server, docs):
    # Expectations come from the run itself: the models may be retrained, the test must not care.
    hydrogen = docs["hydrogen_notice"]
    target = hydrogen["passages"][1]
    machine = target["label"]
    same = sum(p["label"] == machine for p in hydrogen["passages"])
    new, slip = [l for l in LABELS if l != machine][:2]
    total = sum(len(d["passages"]) for d in docs.values())

    page.goto(server + "/")
    expect(page.locator("#progress")).to_contain_text(f"0 reviewed / {total} passages")
    page.select_option("select[name=doc]", hydrogen["doc_id"])
    page.select_option("select[name=label]", machine)
    page.click("form.filters button[type=submit]")
    expect(page.locator("#matching")).to_contain_text(f"{same} matching passages")
    page.locator("table.rows a.open", has_text=target["text"][:12]).click()
    expect(page.locator("#passage-text")).to_contain_text(target["text"][:12])
    expect(page.locator("#label")).to_contain_text(f"{machine} (machine)")

    page.keyboard.press(str(LABELS.index(new) + 1))
    expect(page.locator("#label")).to_contain_text(f"{new} (reviewed)")
    expect(page.locator("#progress")).to_contain_text(f"1 reviewed / {total}")
    page.keyboard.press(str(LABELS.index(slip) + 1))
    expect(page.locator("#label")).to_contain_text(f"{slip} (reviewed)")
    page.keyboard.press("u")  # undo the slip
    expect(page.locator("#label")).to_contain_text(f"{new} (reviewed)")

    page.reload()
    expect(page.locator("#label")).to_contain_text(f"{new} (reviewed)")
    expect(page.locator("#machine")).to_contain_text(f"machine: {machine}")

    page.goto(f"{server}/?doc={hydrogen['doc_id']}&sort=document")
    row = page.locator("table.rows tbody tr").nth(1)
    expect(row).to_contain_text(new)
    expect(row).to_contain_text(f"was {machine}")
    page.goto(f"{server}/?label={new}&reviewed=yes")
    expect(page.locator("#matching")).to_contain_text("1 matching passages")

    # j / k walk the filtered list; a accepts; ? shows the guidelines
    query = "?doc=%s&sort=document" % hydrogen["doc_id"]
    _open_passage(page, server, hydrogen, 0, query)
    for i in (1, 2):
        page.keyboard.press("j")
        expect(page.locator("#passage-text")).to_contain_text(hydrogen["passages"][i]["text"][:12])
    page.keyboard.press("a")
    expect(page.locator("#label")).to_contain_text(f"{hydrogen['passages'][2]['label']} (reviewed)")
    expect(page.locator("#progress")).to_contain_text(f"2 reviewed / {total}")
    page.keyboard.press("k")
    expect(page.locator("#passage-text")).to_contain_text(target["text"][:12])
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("recommendation")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    _open_passage(page, server, hydrogen, 0, query)
    page.screenshot(path=str(EXAMPLES / "review.png"), full_page=True)
    assert page.errors == [] and page.dialogs == []


def _select_text(page, word):
    page.evaluate("""(word) => {
        const seg = [...document.querySelectorAll('#passage-text span.seg')].find(s => s.textContent.includes(word));
        const node = seg.firstChild, at = node.textContent.indexOf(word);
        const range = document.createRange();
        range.setStart(node, at); range.setEnd(node, at + word.length);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        seg.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
    }""", word)


def test_edit_entities(page, server, docs):
    doc = docs["seedling_news"]
    index = 2
    text = doc["passages"][index]["text"]
    word = "区域性育秧点"
    spans = [(e["start"], e["end"]) for e in doc["entities"] if e["passage"] == index]
    s = text.index(word)
    assert not any(a < s + len(word) and s < b for a, b in spans), "fixture word must not be tagged already"
    _open_passage(page, server, doc, index)

    # select text to add an entity
    _select_text(page, word)
    expect(page.locator("#entity-editor")).to_be_visible()
    expect(page.locator("#entity-editor-what")).to_contain_text(word)
    page.select_option("#entity-type", "PROGRAMME")
    page.click("#entity-save")
    mark = page.locator("#passage-text mark.ent", has_text=word)
    expect(mark).to_have_class("ent ent-PROGRAMME")
    expect(mark).to_have_attribute("title", f"{word} (PROGRAMME)")

    # click it to change its type, then to delete it
    mark.click()
    expect(page.locator("#entity-editor")).to_be_visible()
    page.select_option("#entity-type", "INSTITUTION")
    page.click("#entity-save")
    expect(mark).to_have_class("ent ent-INSTITUTION")
    page.reload()
    expect(mark).to_have_class("ent ent-INSTITUTION")
    mark.click()
    page.click("#entity-delete")
    expect(mark).to_have_count(0)
    page.reload()
    expect(page.locator("#passage-text")).to_contain_text(word)
    expect(mark).to_have_count(0)
    assert page.errors == []


def test_scraped_markup_is_shown_as_text(page, server, docs):
    hostile = docs["hostile_page"]
    _open_passage(page, server, hostile, 0)
    text = page.locator("#passage-text").inner_text()
    for literal in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                    '<a href="javascript:alert(1)">点击领取</a>'):
        assert literal in text
    expect(page.locator("#passage-text")).to_contain_text("<script>alert(1)</script>")
    assert page.locator("#review script, #review img, #review a[href^='javascript']").count() == 0
    page.goto(f"{server}/?doc={hostile['doc_id']}")
    expect(page.locator("table.rows")).to_contain_text("<img src=x onerror=alert(1)>")
    assert page.locator("table.rows img, table.rows script").count() == 0
    page.wait_for_timeout(500)  # give an injected onerror the chance to fire
    assert page.dialogs == [] and page.errors == []


def test_report_screenshot(page, run_dir):
    from pipeline.report import write_report

    path = write_report(run_dir, run_dir / "report")
    page.goto(path.as_uri())
    expect(page.locator("h1")).to_contain_text("PolicyMiner report")
    assert page.locator("img").count() == 4
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(EXAMPLES / "report.png"))  # the top: contents and the first chart
    assert page.dialogs == []


# -- a team on a bigger run: two reviewers, paging, search, keyboard-only entities, restarts ----------------
class Server:
    """A review server in a thread that can be stopped and started again on the same port (a restart)."""

    def __init__(self, run_dir, **config):
        from pipeline.review import settings

        self.run_dir, self.config, self.port, self.srv = run_dir, dict(settings.load(), **config), 0, None

    def start(self) -> str:
        from werkzeug.serving import make_server

        from pipeline.review.app import create_app

        self.srv = make_server("127.0.0.1", self.port, create_app(self.run_dir, config=self.config), threaded=True)
        self.port = self.srv.server_port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    from pipeline.review.synthetic import make_run

    run = make_run(tmp_path_factory.mktemp("team") / "run", n_docs=8, passages_per_doc=10)
    server = Server(run, page_size=6)
    url = server.start()
    docs = [json.loads(l) for l in (run / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    yield url, docs, run
    server.stop()


def _reviewer(browser, name):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.add_cookies([{"name": "pm_reviewer", "value": name, "domain": "127.0.0.1", "path": "/"}])
    pg = ctx.new_page()
    pg.set_default_timeout(10000)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return ctx, pg


def _long_passage(doc, skip=0):
    return [p for p in doc["passages"] if p["kind"] == "paragraph" and len(p["text"]) >= 40][skip]


def test_two_reviewers_each_undo_their_own(browser, team):
    url, docs, run = team
    doc = docs[1]
    p = _long_passage(doc)
    first, second = [l for l in LABELS if l != p["label"]][:2]
    (ca, ana), (cb, bo) = _reviewer(browser, "ana"), _reviewer(browser, "bo")
    for pg in (ana, bo):
        pg.goto(f"{url}/p/{doc['doc_id']}/{p['index']}")
        expect(pg.locator("#label")).to_contain_text(f"{p['label']} (machine)")
    ana.keyboard.press(str(LABELS.index(first) + 1))
    expect(ana.locator("#label")).to_contain_text(f"{first} (reviewed)")
    # bo's page still shows the machine label: its write is refused and the page shows ana's label first
    bo.keyboard.press(str(LABELS.index(second) + 1))
    expect(bo.locator("#status")).to_contain_text("changed since the page showed it (by ana)")
    expect(bo.locator("#label")).to_contain_text(f"{first} (reviewed)")
    bo.keyboard.press(str(LABELS.index(second) + 1))
    expect(bo.locator("#label")).to_contain_text(f"{second} (reviewed)")
    ana.keyboard.press("u")  # undoes ana's label only: bo's stands
    expect(ana.locator("#status")).to_contain_text("undone: label")
    expect(ana.locator("#label")).to_contain_text(f"{second} (reviewed)")
    ana.keyboard.press("u")
    expect(ana.locator("#status")).to_contain_text("nothing of yours to undo")
    bo.reload()
    expect(bo.locator("#label")).to_contain_text(f"{second} (reviewed)")
    bo.keyboard.press("u")
    expect(bo.locator("#label")).to_contain_text(f"{p['label']} (machine)")
    assert ana.errors == [] and bo.errors == []
    ca.close(), cb.close()


def test_number_keys_typed_fast_are_all_applied(browser, team):
    import sqlite3

    url, docs, run = team
    doc = docs[2]
    p = _long_passage(doc)
    ctx, pg = _reviewer(browser, "cy")
    pg.goto(f"{url}/p/{doc['doc_id']}/{p['index']}")
    expect(pg.locator("#label")).to_contain_text("(machine)")
    pg.keyboard.press("2")
    pg.keyboard.press("3")
    expect(pg.locator("#label")).to_contain_text(f"{LABELS[2]} (reviewed)")
    pg.wait_for_timeout(300)
    rows = sqlite3.connect(run / "run.sqlite").execute(
        "SELECT value FROM corrections WHERE reviewer='cy' AND doc_id=? ORDER BY id", (doc["doc_id"],)).fetchall()
    assert [r[0] for r in rows] == [LABELS[1], LABELS[2]]
    ctx.close()


def test_paging_and_snippet_search(browser, team):
    url, docs, _ = team
    ctx, pg = _reviewer(browser, "ana")
    pg.goto(f"{url}/?kind=all&sort=document")
    total = sum(len(d["passages"]) for d in docs)
    expect(pg.locator("#matching")).to_contain_text(f"{total} matching passages · 1–6 shown")
    first_page = pg.locator("table.rows a.open").all_inner_texts()
    pg.locator("nav.pager a.next-page").first.click()
    expect(pg.locator("#matching")).to_contain_text("7–12 shown")
    expect(pg.locator("nav.pager .current-page").first).to_have_text("2")
    assert not set(pg.locator("table.rows a.open").all_inner_texts()) & set(first_page)
    pg.keyboard.press("]")
    expect(pg.locator("#matching")).to_contain_text("13–18 shown")
    pg.wait_for_load_state("load")  # the next key goes to the new page, not the one it replaced
    expect(pg.locator("nav.pager .current-page").first).to_have_text("3")
    pg.keyboard.press("[")
    expect(pg.locator("#matching")).to_contain_text("7–12 shown")
    pg.locator("nav.pager a.page-link", has_text=str(-(-total // 6))).first.click()
    expect(pg.locator("nav.pager a.next-page")).to_have_count(0)

    term = "晨光计划"
    hits = sum(term in p["text"] for d in docs for p in d["passages"])
    pg.keyboard.press("/")
    pg.keyboard.type(term)
    pg.keyboard.press("Enter")
    expect(pg.locator("#matching")).to_contain_text(f"{hits} matching passages")
    rows = pg.locator("table.rows tbody tr")
    for i in range(min(rows.count(), 6)):
        expect(rows.nth(i).locator("mark.hit").first).to_have_text(term)
    assert pg.errors == []
    ctx.close()


def _press_until(page, key, check, limit=12):
    for _ in range(limit):
        if check():
            return
        page.keyboard.press(key)
    assert check()


def test_keyboard_only_entity_add_retype_delete(browser, team):
    url, docs, _ = team
    doc = docs[3]
    p = _long_passage(doc, 1)
    ents = [e for e in doc["entities"] if e["passage"] == p["index"]]
    s = next(i for i in range(len(p["text"]) - 2)
             if not any(i < e["end"] and e["start"] < i + 2 for e in ents) and p["text"][i] not in "。")
    word = p["text"][s:s + 2]
    ctx, pg = _reviewer(browser, "kb")
    pg.goto(f"{url}/p/{doc['doc_id']}/{p['index']}")
    expect(pg.locator("#label")).to_contain_text("(machine)")
    # help lists this page's keys
    pg.keyboard.press("?")
    expect(pg.locator("#help-keys")).to_contain_text("new entity")
    pg.keyboard.press("Escape")
    expect(pg.locator("#help")).to_be_hidden()

    pg.keyboard.press("e")  # pick a span: one character from the start; move it, lengthen it, take it
    expect(pg.locator("#span-hint")).to_be_visible()
    for _ in range(s):
        pg.keyboard.press("ArrowRight")
    pg.keyboard.press("Shift+ArrowRight")
    expect(pg.locator("#passage-text .seg.pick")).to_have_text(word)
    pg.keyboard.press("Enter")
    expect(pg.locator("#entity-editor")).to_be_visible()
    expect(pg.locator("#entity-editor-what")).to_contain_text(word)
    _press_until(pg, "ArrowDown", lambda: pg.locator("#entity-type").input_value() == "PROGRAMME")
    pg.keyboard.press("Enter")
    mark = pg.locator("#passage-text mark.ent", has_text=word)
    expect(mark).to_have_class("ent ent-PROGRAMME")
    expect(pg.locator("#entity-editor")).to_be_hidden()

    # Tab to the new entity, Enter opens it, choose another type, Enter saves; focus stays on it
    pg.locator("body").focus()
    _press_until(pg, "Tab", lambda: pg.evaluate("document.activeElement.textContent") == word
                 and pg.evaluate("document.activeElement.tagName") == "MARK", limit=20)
    pg.keyboard.press("Enter")
    expect(pg.locator("#entity-editor")).to_be_visible()
    _press_until(pg, "ArrowDown", lambda: pg.locator("#entity-type").input_value() == "GPE")
    pg.keyboard.press("Enter")
    expect(mark).to_have_class("ent ent-GPE")
    expect(mark).to_be_focused()
    pg.keyboard.press("Space")  # Space opens it too; Esc closes the editor and gives the focus back
    expect(pg.locator("#entity-editor")).to_be_visible()
    pg.keyboard.press("Escape")
    expect(pg.locator("#entity-editor")).to_be_hidden()
    expect(mark).to_be_focused()
    pg.keyboard.press("Delete")
    expect(mark).to_have_count(0)
    pg.reload()
    expect(pg.locator("#passage-text")).to_contain_text(word)
    expect(mark).to_have_count(0)
    assert pg.errors == []
    ctx.close()


def test_help_lists_only_this_pages_keys(browser, team):
    url, docs, _ = team
    ctx, pg = _reviewer(browser, "ana")
    pg.goto(f"{url}/")
    pg.keyboard.press("?")
    keys = pg.locator("#help-keys").inner_text()
    assert "search" in keys and "next / previous page" in keys
    assert "accept" not in keys and "entity" not in keys
    ctx.close()


def test_restart_then_act(browser, tmp_path):
    from pipeline.review.synthetic import make_run

    run = make_run(tmp_path / "run", n_docs=2, passages_per_doc=6)
    doc = json.loads((run / "documents.jsonl").read_text(encoding="utf-8").splitlines()[0])
    p = _long_passage(doc)
    new = next(l for l in LABELS if l != p["label"])
    server = Server(run)
    url = server.start()
    ctx, pg = _reviewer(browser, "ana")
    pg.goto(f"{url}/p/{doc['doc_id']}/{p['index']}")
    expect(pg.locator("#label")).to_contain_text("(machine)")
    server.stop()
    pg.keyboard.press("a")
    expect(pg.locator("#status")).to_contain_text("cannot reach the review server")
    server.start()  # a new process: new secret key, the page's CSRF token is stale
    pg.keyboard.press(str(LABELS.index(new) + 1))
    expect(pg.locator("#label")).to_contain_text(f"{new} (reviewed)")
    expect(pg.locator("#status")).to_contain_text(f"label set to {new}")
    pg.reload()
    expect(pg.locator("#label")).to_contain_text(f"{new} (reviewed)")
    assert pg.errors == []
    server.stop()
    ctx.close()
