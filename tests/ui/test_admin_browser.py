"""The administration pages in a real browser (Debian's Chromium through Playwright, a real uvicorn
server on loopback): an org-admin adds a member and creates a token, a platform administrator vets
an organisation, an analyst finds no administration, hostile names stay text, axe-core finds nothing
serious in English or Arabic, and everything can be done with the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, Watch, log_in, serious_violations, serving
from ui_helpers import PASSWORD, World, build_world

from accord.members.model import OPERATOR

pytestmark = [pytest.mark.store, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def world(alliance: Any) -> World:
    world = build_world(alliance)
    alliance.user("boss@bank.example", "Bank BR", "org-admin", password=PASSWORD)
    alliance.user("root@police.example", "Police PL", "org-admin", password=PASSWORD, platform_admin=True)
    alliance.org("Banco Pendente", sector="business", country="BR", pending=True)
    alliance.group("Police cases", "Police PL", ["Police PL", "Bank BR"])
    return world


def submit_with_enter(page: Any) -> None:
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_an_org_admin_adds_a_member_and_creates_a_token(browser: Any, world: World) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "boss@bank.example", then="/ui/admin/members")
        page.fill("#new-email", "nuno@bank.example")
        page.fill("#new-name", "Nuno Alves")
        page.select_option("#new-role", "reader")
        page.fill("#new-password", "a long password")
        page.click("#add-member button[type=submit]")
        page.wait_for_url("**/ui/admin/members?done=added")
        assert page.locator("[role=status]").inner_text() == "The member was added."
        row = page.locator("tbody tr", has_text="nuno@bank.example")
        assert row.locator("select").input_value() == "reader"
        # Make Nuno an analyst from the row's own form.
        row.locator("select").select_option("analyst")
        row.locator("button", has_text="Change role").click()
        page.wait_for_url("**done=role")
        assert (
            page.locator("tbody tr", has_text="nuno@bank.example").locator("select").input_value()
            == "analyst"
        )

        # A token for Nuno, read only, limited to Bank BR's collection; its secret is shown once.
        page.click("nav.admin-nav a[href='/ui/admin/tokens']")
        page.select_option("#token-user", label="nuno@bank.example")
        page.fill("#token-label", "SIEM")
        page.click("#add-token summary")
        bank = page.locator("#add-token tbody tr", has_text="Bank BR").first
        bank.locator("select").select_option(index=1)  # read
        page.click("#add-token button[type=submit]")
        page.wait_for_url("**/ui/admin/tokens")
        secret = page.input_value("#new-token")
        assert secret.startswith("acc_")
        page.click("text=Back to the tokens")
        assert secret not in page.content()
        assert page.locator("tbody tr", has_text="SIEM").count() == 1
        assert watch.problems == []
        context.close()

        # The token works for Nuno.
        other = browser.new_context()
        api = other.request.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert api.ok and api.json()["email"] == "nuno@bank.example"
        other.close()


def test_a_platform_administrator_vets_an_organisation(browser: Any, world: World) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "root@police.example", then="/ui/admin/orgs")
        row = page.locator("tbody tr", has_text="Banco Pendente")
        assert "pending vetting" in row.inner_text()
        row.locator("button", has_text="Vet").click()
        page.wait_for_url("**done=vetted")
        row = page.locator("tbody tr", has_text="Banco Pendente")
        assert "Withdraw vetting" in row.inner_text()
        with world.app.db.read() as conn:
            assert world.app.members.get_org(conn, world.alliance.orgs["Banco Pendente"])["vetted"] is True
        assert watch.problems == []
        context.close()


def test_an_analyst_gets_404_on_administration_pages(browser: Any, world: World) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, "ana@bank.example")
        assert page.locator("nav.main-nav a[href^='/ui/admin']").count() == 0
        for path in ("members", "groups", "tokens", "orgs", "users"):
            answer = page.goto(f"{base}/ui/admin/{path}")
            assert answer.status == 404
            assert page.locator("h1").inner_text() == "Not found"
        context.close()


def test_hostile_names_stay_text(browser: Any, world: World) -> None:
    a = world.alliance
    hostile = (
        '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload="window.__xss=3">'
    )
    rlo = "\u202eexe.gnp"
    a.org(hostile, sector="business", country="FR")
    with world.app.db.write() as conn:
        world.app.members.add_user(
            conn, OPERATOR, "mallory@bank.example", a.orgs["Bank BR"], "reader", name=f"{rlo} {hostile}"
        )
        world.app.members.add_user(conn, OPERATOR, "boss@bank.example", a.orgs[hostile], "org-admin")
    a.group(f"G {hostile}", "Bank BR", ["Bank BR", hostile])
    with serving() as serve:
        base = serve(world.app)
        for email, paths in (
            ("boss@bank.example", ("members", "groups", f"groups/{a.groups[f'G {hostile}']}", "tokens")),
            ("root@police.example", ("orgs", "users")),
        ):
            context = browser.new_context()
            page = context.new_page()
            watch = Watch(page)
            log_in(page, base, email, then="/ui/admin/" + paths[0])
            for path in paths:
                page.goto(f"{base}/ui/admin/{path}")
                assert page.evaluate("window.__xss") is None, path
                assert page.locator("main img, main svg, main script, header img, header svg").count() == 0
                assert (
                    hostile in page.locator("main").inner_text()
                    or hostile in page.locator("header").inner_text()
                )
            assert watch.problems == []
            context.close()
        # The override character is shut in its own isolate: the e-mail next to it reads as typed.
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, "boss@bank.example", then="/ui/admin/members")
        row = page.locator("tbody tr", has_text="mallory@bank.example")
        assert row.locator("th bdi").first.inner_text().startswith(rlo)
        assert row.locator("td bdi").first.inner_text() == "mallory@bank.example"
        context.close()


def test_administration_pages_have_no_serious_accessibility_violations(browser: Any, world: World) -> None:
    problems: dict[str, list[str]] = {}
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        log_in(page, base, "root@police.example", then="/ui/admin/members")
        group = world.alliance.groups["Police cases"]
        for lang in ("en", "ar"):
            page.select_option("#lang-pick", lang)
            page.click("#lang-pick + button")
            page.wait_for_load_state()
            for path in ("members", "groups", f"groups/{group}", "tokens", "orgs", "users"):
                page.goto(f"{base}/ui/admin/{path}")
                page.locator("details").evaluate_all("(all) => all.forEach(d => d.open = true)")
                problems[f"{path} ({lang})"] = serious_violations(page)
            page.goto(f"{base}/ui/admin/tokens")
            page.click("#add-token button[type=submit]")  # the new token's page
            page.wait_for_url("**/ui/admin/tokens")
            problems[f"new token ({lang})"] = serious_violations(page)
        context.close()
    assert {k: v for k, v in problems.items() if v} == {}


def focused(page: Any) -> dict[str, Any]:
    """What has the keyboard focus, and whether it can be seen (an outline or a box shadow)."""
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        const outlined = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
        return {tag: e.tagName.toLowerCase(), id: e.id, href: e.getAttribute('href'), text: e.innerText,
                nav: e.closest('nav.main-nav') !== null,
                visible: outlined || s.boxShadow !== 'none'}; }"""
    )


def test_keyboard_alone_reaches_the_navigation_and_submits_an_admin_form(browser: Any, world: World) -> None:
    with serving() as serve:
        base = serve(world.app)
        context = browser.new_context()
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base, "boss@bank.example", then="/ui/admin/groups")

        # Tab from the top: the skip link first, then the header's controls, then the main
        # navigation in its order, every stop visibly focused.
        page.keyboard.press("Tab")
        first = focused(page)
        assert first["href"] == "#main" and first["visible"]
        nav = page.locator("nav.main-nav a").evaluate_all("(all) => all.map(a => a.getAttribute('href'))")
        assert "/ui/admin/members" in nav
        reached: list[str] = []
        for _ in range(30):
            page.keyboard.press("Tab")
            now = focused(page)
            assert now["visible"], now
            if now["nav"]:
                reached.append(now["href"])
            if len(reached) == len(nav):
                break
        assert reached == nav  # in the order they are shown

        # Follow the Administration link with Enter, then skip to the content.
        for _ in range(len(nav)):
            if focused(page)["href"] == "/ui/admin/members" and focused(page)["nav"]:
                break
            page.keyboard.press("Shift+Tab")
        submit_with_enter(page)
        assert page.url.endswith("/ui/admin/members")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"

        # Into the "add a member" form by Tab alone, filled and sent with the keyboard.
        for _ in range(200):
            page.keyboard.press("Tab")
            if focused(page)["id"] == "new-email":
                break
        assert focused(page)["id"] == "new-email"
        page.keyboard.type("kim@bank.example")
        page.keyboard.press("Tab")
        assert focused(page)["id"] == "new-name"
        page.keyboard.type("Kim")
        page.keyboard.press("Tab")
        assert focused(page)["id"] == "new-role"
        page.keyboard.press("ArrowDown")  # from analyst to reader
        page.keyboard.press("Tab")
        assert focused(page)["id"] == "new-language"
        page.keyboard.press("Tab")
        assert focused(page)["id"] == "new-password"
        page.keyboard.type("a long password")
        submit_with_enter(page)
        assert page.url.endswith("done=added")
        row = page.locator("tbody tr", has_text="kim@bank.example")
        assert row.locator("select").input_value() == "reader"

        # A row's button is reached and pressed with the keyboard too.
        row.locator("select").focus()
        page.keyboard.press("Tab")
        assert focused(page)["text"] == "Change role" and focused(page)["visible"]
        assert watch.problems == []
        context.close()
