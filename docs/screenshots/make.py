"""Screenshots of the web interface's main pages, in English and Arabic, for the README.

    .venv/bin/python docs/screenshots/make.py [--objects 3000] [--out docs/screenshots]

Builds the demo alliance (as `accord demo` does: `accord.demo.build_demo`) in a temporary SQLite
database, serves it on 127.0.0.1 (a free port, stopped at the end), and drives Debian's Chromium
(/usr/bin/chromium, through Playwright) at 1280x800 through: the log-in page, the start page, search
results, an object, an upload's report and the members administration page, signed in as the demo's
org-admin and platform administrator of the European Cybercrime Centre. Writes NAME-LANG.png.
Nothing is fetched from anywhere: everything shown is made up by the demo.
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
            with serving(app) as base:
                take(base, args.out)
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
