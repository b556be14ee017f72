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
    page.screenshot(path=str(EXAMPLES / "report.png"), full_page=True)
    assert page.dialogs == []
