"""Feeds: added, listed, run by hand and by the worker, fetched safely, recorded as jobs."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from accord.cli import main
from accord.db.schema import feed, job
from accord.errors import Conflict, InvalidInput
from accord.feeds import service
from accord.feeds.fetch import FetchRefused
from accord.intel.tlp import TLP
from accord.web.api import create_asgi

pytestmark = pytest.mark.store

FEED_BODY = b"# scanners\n198.51.100.40\n198.51.100.41\nbad-line here\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(FEED_BODY)))
        self.end_headers()
        self.wfile.write(FEED_BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/feed.txt"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def world(alliance: Any) -> Any:
    alliance.org("CERT Polska", "csirt", "PL")
    alliance.user("jan@cert.pl", "CERT Polska")
    return alliance


def feed_row(app: Any, name: str) -> Any:
    with app.db.read() as conn:
        return conn.execute(select(feed).where(feed.c.name == name)).one()


def test_a_loopback_feed_is_refused_unless_the_operator_allows_it(world: Any, server: str) -> None:
    viewer = world.viewer("jan@cert.pl")
    service.add(world.app, viewer, "scanners", url=server, fmt="text", tlp=TLP.GREEN)
    with pytest.raises(FetchRefused, match="loopback"):
        service.run_feed(world.app, "scanners")
    assert _Handler.requests == []  # refused before anything was sent
    assert feed_row(world.app, "scanners").last_status == "failed"


def test_a_url_feed_imports_then_is_not_modified(make_accord: Any, server: str) -> None:
    from conftest import Alliance

    a = Alliance(make_accord(feed_allow_networks="127.0.0.0/8"))
    a.org("CERT Polska", "csirt", "PL")
    a.user("jan@cert.pl", "CERT Polska")
    service.add(a.app, a.viewer("jan@cert.pl"), "scanners", url=server, fmt="text", tlp=TLP.GREEN)
    report = service.run_feed(a.app, "scanners").as_dict()
    assert report["taken"]["stored"] == 2 and report["skipped"]["count"] == 1
    again = service.run_feed(a.app, "scanners")
    assert again.result.stored == 0
    with a.app.db.read() as conn:
        results = [json.loads(r) for r in conn.execute(select(job.c.result).order_by(job.c.id)).scalars()]
    assert results[-1]["not_modified"] is True
    assert feed_row(a.app, "scanners").etag == '"v1"'


def test_the_worker_runs_due_feeds_once_each(world: Any, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(FEED_BODY)
    cli = CliRunner()
    base = ["--database", database_url, "--data-dir", str(world.app.settings.data_dir)]
    added = cli.invoke(
        main,
        [*base, "feed", "add", "local", "--path", str(path), "--format", "text", "--as", "jan@cert.pl",
         "--tlp", "green", "--every", "1h"],
        catch_exceptions=False,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert service.work(world.app, once=True) == 1
    assert service.work(world.app, once=True) == 0  # not due again for an hour
    listed = cli.invoke(main, [*base, "feed", "list"], catch_exceptions=False).stdout
    assert "local  text" in listed and "every 3600s" in listed and " done" in listed
    # Made due again: the worker runs it, and finds nothing new.
    with world.app.db.write() as conn:
        conn.execute(update(feed).values(next_run_us=0))
    assert service.work(world.app, once=True) == 1
    jobs_out = [json.loads(line) for line in cli.invoke(main, [*base, "job", "list"]).stdout.splitlines()]
    assert [(j["kind"], j["status"], j["report"]["taken"]["stored"]) for j in jobs_out] == [
        ("feed", "done", 0),
        ("feed", "done", 2),
    ]


def test_feed_definitions_are_checked(world: Any, tmp_path: Path) -> None:
    viewer = world.viewer("jan@cert.pl")
    with pytest.raises(FetchRefused, match="scheme"):
        service.add(world.app, viewer, "f", url="file:///etc/passwd", fmt="text")
    with pytest.raises(InvalidInput, match="format"):
        service.add(world.app, viewer, "f", url="https://feeds.example/x", fmt="yaml")
    with pytest.raises(InvalidInput, match="either a URL or a path"):
        service.add(world.app, viewer, "f", fmt="text")
    with pytest.raises(InvalidInput, match="shorter than a minute"):
        service.parse_interval("5s")
    assert service.parse_interval("6h") == 21600
    service.add(world.app, viewer, "f", url="https://feeds.example/x", fmt="text")
    with pytest.raises(Conflict):
        service.add(world.app, viewer, "f", url="https://feeds.example/y", fmt="text")


def test_members_add_url_feeds_only_through_the_api(world: Any) -> None:
    client = TestClient(create_asgi(world.app))
    jan = {"Authorization": f"Bearer {world.token('jan@cert.pl')}"}
    body = {"name": "abuse", "url": "https://feeds.example/abuse.txt", "format": "text", "every": "1d"}
    resp = client.post("/api/v1/feeds", json=body, headers=jan)
    assert resp.status_code == 201 and resp.json()["every_seconds"] == 86400
    assert [f["name"] for f in client.get("/api/v1/feeds", headers=jan).json()["feeds"]] == ["abuse"]
    refused = client.post(
        "/api/v1/feeds", json={**body, "name": "x", "url": "file:///etc/passwd"}, headers=jan
    )
    assert refused.status_code == 422
    path_feed = client.post("/api/v1/feeds", json={**body, "name": "y", "path": "/etc/passwd"}, headers=jan)
    assert path_feed.status_code == 422  # no such field: a path is the operator's alone
