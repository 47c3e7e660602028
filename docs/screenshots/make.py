"""Screenshots of the web interface's main pages, in English and Arabic, for the README.

    .venv/bin/python docs/screenshots/make.py [--objects 3000] [--out docs/screenshots]

Builds the demo alliance (as `accord demo` does: `accord.demo.build_demo`) in a temporary SQLite
database, routes it (`route_demo`), serves it on 127.0.0.1 (a free port, stopped at the end), and
drives Debian's Chromium (/usr/bin/chromium, through Playwright) at 1280x800 through: the log-in page,
the start page, search results, an object, an upload's report, the members administration page, the
countries' ranking and Brazil's country page, signed in as the demo's org-admin and platform
administrator of the European Cybercrime Centre. Writes NAME-LANG.png. Nothing is fetched from
anywhere: everything shown is made up by the demo, down to the networks its addresses sit in.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from accord.app import Accord, create_app
from accord.demo import OVERLAPS, PASSWORD, build_demo
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.routing.enrich import Enricher
from accord.routing.service import Routing
from accord.settings import Settings
from accord.web.api import create_asgi

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 1280, 800
EMAIL = "sophie.vandijk@ec3-demo.example"  # org-admin of EC3 (demo) and platform administrator
LANGUAGES = ("en", "ar")
UPLOAD = b"""# Indicators from a phishing campaign (made up, documentation ranges only)
hxxps://login-banco-exemplo[.]example/acesso
atualizacao-banco-exemplo.example
198.51.100.23
203.0.113.77
"""

# The demo's addresses are documentation ranges (RFC 5737, RFC 3849), which no registry places: this
# made-up ip-location-db CSV (countries, then networks with documentation AS numbers, RFC 5398) puts
# them in the demo's theatres, so the country view has something to show and names no real network.
DEMO_NETWORKS = """\
198.51.100.0,198.51.100.255,BR
192.0.2.0,192.0.2.127,KE
192.0.2.128,192.0.2.255,MA
203.0.113.0,203.0.113.127,KR
203.0.113.128,203.0.113.255,IN
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,FR
198.51.100.0,198.51.100.159,64496,"Exemplo Telecom S.A. (demo)"
198.51.100.160,198.51.100.255,64497,"Rede Fibra Exemplo Ltda. (demo)"
192.0.2.0,192.0.2.127,64498,"Telecom Demo Africa Networks (demo)"
192.0.2.128,192.0.2.255,64499,"Maghreb Hosting Example (demo)"
203.0.113.0,203.0.113.127,64500,"Example Broadband Korea (demo)"
203.0.113.128,203.0.113.255,64501,"Example Cloud India (demo)"
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64502,"Hebergeur Exemple SAS (demo)"
"""
DEMO_CONTACTS = (
    {"name": "CERT.br (demo)", "kind": "csirt", "org": "CERT.br (demo)", "countries": ["BR"],
     "email": "cert@cert-br-demo.example", "languages": ["pt", "en"], "timezone": "America/Sao_Paulo"},
    {"name": "Polícia Federal, Crimes Cibernéticos (demo)", "kind": "law-enforcement",
     "org": "Polícia Federal, Crimes Cibernéticos (demo)", "countries": ["BR"],
     "email": "24x7@pf-demo.example"},
    {"name": "Exemplo Telecom abuse desk (demo)", "kind": "abuse", "asns": ["AS64496"],
     "email": "abuse@exemplo-telecom-demo.example", "channel": "email", "format": "xarf"},
    {"name": "CERT-In (demo)", "kind": "csirt", "org": "CERT-In (demo)", "countries": ["IN"],
     "email": "incident@cert-in-demo.example"},
    {"name": "KrCERT/CC (demo)", "kind": "csirt", "org": "KrCERT/CC (demo)", "countries": ["KR"],
     "email": "cert@krcert-demo.example"},
    {"name": "CERT-FR (demo)", "kind": "csirt", "org": "CERT-FR (demo)", "countries": ["FR"],
     "email": "cert@cert-fr-demo.example"},
)  # fmt: skip
OUTCOMES = ("taken-down", "taken-down", "taken-down", "mitigated", "false-positive", "not-responsible")


def route_demo(app: Accord, data: Path) -> None:
    """Route the demo as a node with its own enrichment data would: national contact points, the
    made-up networks above, and CERT.br reporting back on some of what it was sent."""
    networks = data / "demo-networks.csv"
    networks.write_text(DEMO_NETWORKS, encoding="utf-8")
    # The façade builds its routing service with the shipped data only; this node brings its own.
    app.__dict__["_routing"] = Routing(
        app.db,
        app.policy,
        enricher=lambda: Enricher.from_files([networks]),
        data_dir=str(data),
        interval_seconds=app.settings.notify_interval_seconds,
    )
    for contact in DEMO_CONTACTS:
        app.add_contact(OPERATOR, contact)
    app.route_new_objects()
    cert_br = app.viewer("joao.silva@cert-br-demo.example", "CERT.br (demo)", source="demo")
    sent = app.notifications(cert_br, country="BR", limit=50)
    indicators = sorted(
        {i["object"] for n in sent for i in n["items"] if str(i["object"]).startswith("indicator--")}
    )
    for indicator, outcome in zip(indicators, OUTCOMES, strict=False):
        app.report_sighting(cert_br, indicator, outcome=outcome, tlp=TLP.GREEN)
    app.country_ranking(OPERATOR)  # counts every country's address space once, before the pictures


@contextmanager
def serving(app: Accord) -> Iterator[str]:
    """The app's HTTP face on 127.0.0.1 at a free port, for as long as the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_asgi(app), log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def shoot(page: Any, out: Path, name: str, lang: str) -> None:
    path = out / f"{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


def pick_language(page: Any, lang: str) -> None:
    """The header's language form, as a person would use it."""
    page.select_option("#lang-pick", lang)
    with page.expect_navigation():
        page.click("#lang-pick + button")


def wait_for_report(page: Any) -> None:
    """An upload's page polls while the import runs and reloads itself when it has ended."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            running = page.locator("[data-poll]").count() > 0
        except PlaywrightError:  # the page was reloading: look again
            running = True
        if not running:
            page.wait_for_load_state("networkidle")
            return
        time.sleep(0.3)
    raise RuntimeError("the upload did not finish within a minute")


def take(base: str, out: Path) -> None:
    from playwright.sync_api import FilePayload, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for lang in LANGUAGES:
            context = browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT}, locale=lang, device_scale_factor=1
            )
            page = context.new_page()

            page.goto(base + "/ui/login")
            if page.evaluate("document.documentElement.lang") != lang:
                pick_language(page, lang)
            page.fill("#email", EMAIL)
            shoot(page, out, "login", lang)
            page.fill("#password", PASSWORD)
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            if page.evaluate("document.documentElement.lang") != lang:  # the account's own language
                pick_language(page, lang)

            page.goto(base + "/ui/")
            page.wait_for_load_state("networkidle")
            shoot(page, out, "dashboard", lang)

            page.goto(base + "/ui/search?q=" + OVERLAPS[1])
            shoot(page, out, "search", lang)
            page.locator("table.results tbody a").first.click()
            page.wait_for_url("**/ui/objects/**")
            shoot(page, out, "object", lang)

            page.goto(base + "/ui/imports")
            upload: FilePayload = {"name": f"phishing-{lang}.txt", "mimeType": "text/plain", "buffer": UPLOAD}
            page.set_input_files("#file", files=[upload])
            page.select_option("#tlp", "green")
            page.click("main form button[type=submit]")
            page.wait_for_url("**/ui/imports/*")
            wait_for_report(page)
            shoot(page, out, "upload-report", lang)

            page.goto(base + "/ui/admin/members")
            shoot(page, out, "members", lang)

            page.goto(base + "/ui/countries")
            shoot(page, out, "countries", lang)
            page.click("table.ranking a[href^='/ui/countries/BR']")
            page.wait_for_url("**/ui/countries/BR**")
            shoot(page, out, "country", lang)
            context.close()
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=3000, help="demo objects to generate")
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNGs go")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="accord-screenshots-") as data:
        app = create_app(Settings.from_env(env={}, data_dir=data))
        try:
            app.init()
            build_demo(app, objects=args.objects)
            route_demo(app, Path(data))
            with serving(app) as base:
                take(base, args.out)
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
