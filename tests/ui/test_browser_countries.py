"""The country view in a real browser (Debian's Chromium, Playwright, a real uvicorn server on
loopback): reached from the navigation, a country opened from the ranking, axe-core finding nothing
serious in English and Arabic, and Arabic right to left with values, charts and the map left to right.
Skipped with the reason where Chromium or Playwright is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from country_helpers import build_country_world
from test_browser import Watch, browser, log_in, serious_violations
from ui_helpers import World

from accord.ui.i18n import Languages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "taxii"))  # the shared loopback server helper
from taxii_serving import serving

pytestmark = [pytest.mark.store, pytest.mark.browser]
__all__ = ["browser"]  # the module-scoped Chromium, shared with test_browser.py's definition


@pytest.fixture
def world(alliance: Any) -> World:
    return build_country_world(alliance)


def test_from_the_navigation_to_a_country_in_english_and_arabic(browser: Any, world: World) -> None:
    arabic = Languages().by_id["ar"]
    jan = world.alliance.viewer("jan@police.example")
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "jan@police.example", then="/ui/")
        problems: dict[str, list[str]] = {}
        for lang in ("en", "ar"):
            page.goto(base + "/ui/")
            page.select_option("#lang-pick", lang)
            page.click("#lang-pick + button")
            page.wait_for_load_state()
            page.click("nav.main-nav a[href='/ui/countries']")
            page.wait_for_url("**/ui/countries")
            problems[f"ranking ({lang})"] = serious_violations(page)
            page.select_option("#days", "7")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/ui/countries?days=7")
            page.click("table.ranking a[href^='/ui/countries/PL']")
            page.wait_for_url("**/ui/countries/PL?days=7")
            problems[f"country ({lang})"] = serious_violations(page)
            page.goto(base + "/ui/countries/ZZ")
            problems[f"unknown country ({lang})"] = serious_violations(page)
        assert {k: v for k, v in problems.items() if v} == {}

        # Arabic (still chosen): the page reads right to left; values, the chart and the map do not.
        page.goto(base + "/ui/countries/PL")
        assert page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
        assert page.locator("h1").inner_text() == "بولندا PL"
        assert page.locator("nav.main-nav a[aria-current=page]").inner_text() == arabic.gettext("Countries")
        direction = "el => getComputedStyle(el).direction"
        assert page.locator("main").evaluate(direction) == "rtl"
        assert page.locator("main code", has_text="AS8308").evaluate(direction) == "ltr"
        assert page.locator("svg.chart").evaluate(direction) == "ltr"
        # The totals: three Polish addresses for the police (one of them AMBER, shared with CERT Polska).
        assert page.locator("dl.totals dd").first.inner_text() == "3"
        # The table mirrors: its last column (the numbers) is on the left.
        cell = page.locator("table.networks td.num").first
        row = page.locator("table.networks tr").nth(1)
        box, row_box = cell.bounding_box(), row.bounding_box()
        assert box is not None and row_box is not None and box["x"] <= row_box["x"] + 1
        page.goto(base + "/ui/countries")
        rate = next(r for r in world.app.country_ranking(jan) if r["country"] == "PL")["per_million"]
        poland = page.locator("svg.map path title", has_text="بولندا")
        rate_text = arabic.gettext("%(value)s per million IPv4 addresses") % {"value": arabic.number(rate)}
        assert poland.count() == 1 and poland.text_content() == f"بولندا: {rate_text}"
        assert page.locator("svg.map").evaluate(direction) == "ltr"
        assert (
            watch.problems
            == ["Failed to load resource: the server responded with a status of 404 (Not Found)"] * 2
        )
        context.close()

        # CERT FR may not see the police's AMBER address: it counts two, in English.
        other = browser.new_context(locale="en-GB")
        cert = other.new_page()
        log_in(cert, base, "eve@cert.example", then="/ui/countries/PL")
        assert cert.locator("h1").inner_text() == "Poland PL"
        assert cert.locator("dl.totals dd").first.inner_text() == "2"
        other.close()
