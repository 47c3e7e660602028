"""The dashboard and the create/share/revoke pages in a real browser (Debian's Chromium, Playwright,
a real uvicorn server on loopback); skipped with the reason where Chromium or Playwright is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from stix_factory import ip_indicator
from test_browser import Watch, browser, log_in, serious_violations
from ui_helpers import World, build_world

from accord.intel.tlp import TLP
from accord.ui.i18n import Languages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "taxii"))  # the shared loopback server helper
from taxii_serving import serving

pytestmark = [pytest.mark.store, pytest.mark.browser]
__all__ = ["browser"]  # the module-scoped Chromium, shared with test_browser.py's definition


@pytest.fixture
def world(alliance: Any) -> World:
    w = build_world(alliance)
    w.submit("jan@police.example", [ip_indicator("198.51.100.7", TLP.GREEN, name="Police meets the bank")])
    w.submit("ana@bank.example", [ip_indicator("200.160.2.3", TLP.AMBER, name="Bank: Brazilian host")])
    return w


def _visible(page: Any, audience: str) -> bool:
    return bool(page.is_visible(f"fieldset[data-audience={audience}]"))


def test_create_an_indicator_share_it_with_another_organisation_and_revoke_it(
    browser: Any, world: World
) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "ana@bank.example", then="/ui/")
        page.click("nav.main-nav a[href='/ui/new']")
        page.wait_for_url("**/ui/new")

        # The picker offers only what the chosen level allows.
        assert page.is_checked("input[name=tlp][value=amber]")
        assert _visible(page, "org") and _visible(page, "group") and not _visible(page, "user")
        page.check("input[name=tlp][value=red]")
        assert not _visible(page, "org") and not _visible(page, "group") and _visible(page, "user")
        page.check("input[name=tlp][value=green]")
        assert not any(_visible(page, a) for a in ("org", "group", "user"))
        page.check("input[name=tlp][value=amber]")
        assert _visible(page, "org")

        page.fill("#value", "203.0.113.88")
        page.fill("#name", "C2 found in the browser")
        page.fill("#confidence", "75")
        page.click("main form button[type=submit]")
        page.wait_for_url("**/ui/objects/indicator--*")
        object_url = page.url
        assert page.locator("h1").inner_text() == "C2 found in the browser"
        assert page.locator(".tlp").first.inner_text() == "TLP:AMBER"

        # Not yet shared: the police does not know it exists.
        police = browser.new_context(locale="en-GB")
        police_page = police.new_page()
        police_watch = Watch(police_page)
        log_in(police_page, base, "jan@police.example", then="/ui/")
        assert police_page.goto(object_url).status == 404

        # Share it with the police.
        page.click("ul.actions-bar a[href$='/share']")
        page.wait_for_url("**/share")
        page.check("input[name=share_with][value='org:Police PL']")
        page.click("main form button[type=submit]")
        page.wait_for_url(object_url)
        assert police_page.goto(object_url).status == 200
        assert "C2 found in the browser" in police_page.locator("h1").inner_text()
        assert police_page.locator("ul.actions-bar a[href$='/edit']").count() == 0  # not theirs to change

        # Revoke it: its readers see that it no longer holds; nothing more can be done to it.
        page.click("ul.actions-bar a[href$='/revoke']")
        page.wait_for_url("**/revoke")
        page.click("button.danger")
        page.wait_for_url(object_url)
        assert page.locator(".subtitle .badge").inner_text() == "revoked"
        assert page.locator("ul.actions-bar a[href$='/edit']").count() == 0
        police_page.goto(object_url)
        assert police_page.locator(".subtitle .badge").inner_text() == "revoked"

        assert watch.problems == []
        assert police_watch.problems == [
            "Failed to load resource: the server responded with a status of 404 (Not Found)"
        ]
        police.close()
        context.close()


def test_the_dashboard_in_arabic_and_the_accessibility_of_dashboard_and_create_page(
    browser: Any, world: World
) -> None:
    arabic = Languages().by_id["ar"]
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "ana@bank.example", then="/ui/")
        problems: dict[str, list[str]] = {}
        for lang in ("en", "ar"):
            page.goto(base + "/ui/")
            page.select_option("#lang-pick", lang)
            page.click("#lang-pick + button")
            page.wait_for_load_state()
            problems[f"dashboard ({lang})"] = serious_violations(page)
            page.goto(base + "/ui/new")
            problems[f"create ({lang})"] = serious_violations(page)
            page.goto(base + "/ui/new?kind=note")
            problems[f"create a note ({lang})"] = serious_violations(page)
        assert {k: v for k, v in problems.items() if v} == {}

        # Arabic: the page reads right to left; values, charts and the map stay left to right.
        page.goto(base + "/ui/")
        assert page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
        assert page.locator("h1").inner_text() == arabic.gettext("Dashboard")
        direction = "el => getComputedStyle(el).direction"
        assert page.locator("main").evaluate(direction) == "rtl"
        value = page.locator("main code", has_text="198.51.100.7").first
        assert value.evaluate(direction) == "ltr"
        assert page.locator("svg.map").evaluate(direction) == "ltr"
        assert page.locator("svg.chart").first.evaluate(direction) == "ltr"
        brazil = page.locator("svg.map path title", has_text="البرازيل")
        assert brazil.count() == 1 and brazil.text_content() == "البرازيل: 1"
        assert watch.problems == []
        context.close()
