"""The web UI in a real browser: Debian's Chromium driven by Playwright against a real uvicorn server
on loopback. Skipped (with the reason) where /usr/bin/chromium or Playwright is missing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stix_factory import malware
from ui_helpers import PASSWORD, World, build_world

from accord.intel.tlp import TLP
from accord.ui.i18n import Languages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "taxii"))  # the shared loopback server helper
from taxii_serving import serving

pytestmark = [pytest.mark.store, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


class Watch:
    """What a page did that it should not: console errors (CSP refusals are among them), dialogs."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))


def log_in(page: Any, base: str, email: str, then: str = "/ui/search") -> None:
    page.goto(base + then)
    assert "/ui/login" in page.url  # sent to log in, and back afterwards
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{then}")


@pytest.fixture
def world(alliance: Any) -> World:
    return build_world(alliance)


def test_log_in_upload_search_open_switch_to_arabic_and_log_out(browser: Any, world: World) -> None:
    arabic = Languages().by_id["ar"]
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "ana@bank.example")

        # Upload a list of values; the page follows the import and shows its report.
        page.click("nav.main-nav a[href='/ui/imports']")
        page.set_input_files(
            "#file",
            files=[
                {"name": "iocs.txt", "mimeType": "text/plain", "buffer": b"evil-cdn.example\n203.0.113.99\n"}
            ],
        )
        page.select_option("#tlp", "amber")
        page.click("main form button[type=submit]")
        page.wait_for_url("**/ui/imports/*")
        page.wait_for_selector("text=Stored by type", timeout=20_000)
        assert page.locator("dl.facts dd").nth(3).inner_text() == "2"  # stored

        # Search for one of the values and open what was found.
        page.click("nav.main-nav a[href='/ui/search']")
        page.fill("#q", "evil-cdn.example")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**q=evil-cdn.example**")
        links = page.locator("table.results tbody a")
        assert links.count() == 1
        links.first.click()
        page.wait_for_url("**/ui/objects/indicator--*")
        assert "evil-cdn.example" in page.locator("main").inner_text()
        assert page.locator(".tlp").first.inner_text() == "TLP:AMBER"
        object_url = page.url

        # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"

        # Arabic: right to left, from Babel's locale data; the choice stays with the user.
        page.select_option("#lang-pick", "ar")
        page.click("#lang-pick + button")
        page.wait_for_load_state()
        assert page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
        assert page.url == object_url
        assert page.locator("header form button").last.inner_text() == arabic.gettext("Log out")
        # Values stay left to right inside the right-to-left page.
        assert page.evaluate("getComputedStyle(document.querySelector('dd code')).direction") == "ltr"

        # The anti-forgery token is required even from the page itself.
        status = page.evaluate(
            "fetch('/ui/lookup', {method: 'POST', body: new URLSearchParams({values: '203.0.113.99'})})"
            ".then(r => r.status)"
        )
        assert status == 403
        watch.problems.remove(
            "Failed to load resource: the server responded with a status of 403 (Forbidden)"
        )
        page.click("header form button >> nth=-1")  # log out
        page.wait_for_url("**/ui/login")
        page.goto(object_url)
        assert "/ui/login" in page.url
        assert watch.problems == []
        context.close()

        # A user of another organisation: the AMBER object does not exist for them.
        other = browser.new_context(locale="fr-FR")
        page = other.new_page()
        watch = Watch(page)
        log_in(page, base, "eve@cert.example")
        answer = page.goto(object_url)
        assert answer.status == 404
        assert page.evaluate("document.documentElement.lang") == "en"  # eve's stored language
        answer = page.goto(base + "/ui/objects/" + world.objects["amber"]["id"])
        assert answer.status == 404
        assert world.objects["amber"]["name"] not in page.content()
        assert (
            watch.problems
            == ["Failed to load resource: the server responded with a status of 404 (Not Found)"] * 2
        )
        other.close()


def test_hostile_strings_do_not_run(browser: Any, world: World) -> None:
    hostile = (
        '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload="window.__xss=3">'
    )
    evil = malware(
        hostile,
        TLP.GREEN,
        description=hostile,
        labels=[hostile],
        external_references=[{"source_name": hostile, "url": "javascript:window.__xss=4"}],
    )
    world.submit("jan@police.example", [evil])  # as if it came from a member or a peer
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "ana@bank.example")
        for path in (f"/ui/objects/{evil['id']}", "/ui/search?q=xss", "/ui/search"):
            page.goto(base + path)
            assert page.evaluate("window.__xss") is None
            assert page.locator("main img, main svg, main script").count() == 0
        page.goto(base + f"/ui/objects/{evil['id']}")
        assert hostile in page.locator("h1").inner_text()  # shown as text, whole
        reference = page.locator("main ul.plain li", has_text="javascript:")
        assert reference.locator("a").count() == 0  # a javascript: URL is never a link
        assert page.evaluate("window.__xss") is None
        assert watch.problems == []
        context.close()


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page (evaluated through the driver, so the
    page's CSP, which forbids inline scripts, stays on)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"
    )
    return list(found)


def test_main_pages_have_no_serious_accessibility_violations(browser: Any, world: World) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/ui/login")
        problems = {"login": serious_violations(page)}
        log_in(page, base, "ana@bank.example")
        job = None
        for lang in ("en", "ar"):
            page.goto(base + "/ui/search")
            page.select_option("#lang-pick", lang)
            page.click("#lang-pick + button")
            page.wait_for_load_state()
            if job is None:
                page.goto(base + "/ui/imports")
                page.set_input_files(
                    "#file", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"x.example\n"}]
                )
                page.click("main form button[type=submit]")
                page.wait_for_url("**/ui/imports/*")
                job = page.url
            pages = {
                "search": "/ui/search?q=198",
                "object": "/ui/objects/" + world.objects["amber"]["id"],
                "lookup": "/ui/lookup",
                "upload": "/ui/imports",
                "not found": "/ui/objects/indicator--00000000-0000-4000-8000-000000000000",
            }
            for name, path in pages.items():
                page.goto(base + path)
                problems[f"{name} ({lang})"] = serious_violations(page)
            page.goto(job)
            problems[f"job ({lang})"] = serious_violations(page)
        context.close()
    assert {k: v for k, v in problems.items() if v} == {}
