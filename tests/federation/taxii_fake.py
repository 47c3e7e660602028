"""A tiny TAXII 2.1 server on loopback for the federation tests: a real HTTP server whose answers a
test can break on purpose (a page that fails, garbage, a slow or huge answer, a redirect) and that
records what it was sent (pushes). It serves one API root, `/api/`, from a list of entries
(date_added, raw JSON text); `next` is an offset (and a serial), so it is stateless until `forget()`.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.intel.timestamps import format_micros, parse_micros

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "federation" / "collection.json"
COLLECTION = "0f4e0f0e-7b9e-4c55-8d0e-5f1f6b0d0a01"
INBOX = "0f4e0f0e-7b9e-4c55-8d0e-5f1f6b0d0a02"
TAXII = "application/taxii+json;version=2.1"


def raw_text(obj: dict[str, Any]) -> str:
    """How the fake writes an object: indented, so byte-for-byte storage is visible."""
    return json.dumps(obj, indent=2)


def fixture_entries() -> list[tuple[int, str]]:
    data = json.loads(FIXTURE.read_text())
    return [(parse_micros(e["date_added"]), raw_text(e["object"])) for e in data["entries"]]


@dataclass
class Behaviour:
    """What the server does instead of answering properly (None: answer properly)."""

    objects: str | None = None  # "drop", "500", "garbage", "not-envelope", "slow", "huge", "redirect", "html"
    on_request: int = 1  # which objects request (1-based) misbehaves; later ones too
    provenance: Callable[[int, str], dict[str, Any]] | None = None  # x_accord_provenance per entry
    deletions: list[dict[str, Any]] | None = None  # None: no x-accord/deletions/ (404)
    collections: list[dict[str, Any]] | None = None  # instead of the default two
    post_status: int = 202  # anything else: POSTs fail with it (and are not recorded)
    on_objects: Callable[[int], None] | None = None  # called with the objects request's number


@dataclass
class FakeTaxii:
    entries: list[tuple[int, str]]
    behaviour: Behaviour = field(default_factory=Behaviour)
    posts: list[dict[str, Any]] = field(default_factory=list)  # bodies POSTed, parsed
    requests: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    objects_requests: int = 0
    url: str = ""
    _issued: set[str] = field(default_factory=set)
    _forgotten: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)

    def forget(self) -> None:
        """Every `next` issued so far becomes unknown (a restarted medallion)."""
        self._forgotten |= self._issued
        self._issued = set()

    # --- answers -----------------------------------------------------------------------------------

    def collections(self) -> list[dict[str, Any]]:
        if self.behaviour.collections is not None:
            return self.behaviour.collections
        return [
            {"id": COLLECTION, "title": "Fixture", "can_read": True, "can_write": False},
            {"id": INBOX, "title": "Inbox", "can_read": False, "can_write": True},
        ]

    def page(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        after = parse_micros(query["added_after"]) if "added_after" in query else None
        limit = int(query.get("limit", "100"))
        rows = [(i, d, raw) for i, (d, raw) in enumerate(self.entries) if after is None or d > after]
        rows.sort(key=lambda r: (r[1], r[0]))
        offset = 0
        if "next" in query:
            if query["next"] in self._forgotten:
                return 400, {}, b'{"title": "bad next", "description": "unknown next"}'
            offset = int(query["next"].split(".")[0])
        chunk = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        parts = [f'"more": {json.dumps(more)}']
        if more:
            token = f"{offset + limit}.{len(self._issued) + len(self._forgotten)}"  # offset.serial
            parts.append(f'"next": "{token}"')
            self._issued.add(token)
        if chunk:
            parts.append('"objects": [\n' + ",\n".join(raw for _i, _d, raw in chunk) + "\n]")
            if self.behaviour.provenance is not None:
                prov = [self.behaviour.provenance(i, raw) for i, _d, raw in chunk]
                parts.append(f'"x_accord_provenance": {json.dumps(prov)}')
        headers = {}
        if chunk:
            headers["X-TAXII-Date-Added-First"] = format_micros(chunk[0][1])
            headers["X-TAXII-Date-Added-Last"] = format_micros(chunk[-1][1])
        return 200, headers, ("{" + ", ".join(parts) + "}").encode()

    def deletions(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.behaviour.deletions is None:
            return 404, {}, b'{"title": "not found"}'
        after = parse_micros(query["added_after"]) if "added_after" in query else None
        found = [d for d in self.behaviour.deletions if after is None or parse_micros(d["deleted"]) > after]
        headers = {"X-TAXII-Date-Added-Last": found[-1]["deleted"]} if found else {}
        return 200, headers, json.dumps({"more": False, "deletions": found}).encode()

    # --- serving -----------------------------------------------------------------------------------

    def handle(self, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.requests.append(f"{method} {h.path}")
        self.auth.append(h.headers.get("Authorization"))
        path = parsed.path
        if method == "POST" and path == f"/api/collections/{INBOX}/objects/":
            body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
            if self.behaviour.post_status != 202:
                return self.send(h, self.behaviour.post_status, {}, b'{"title": "cannot store now"}')
            self.posts.append(body)
            n = len(body.get("objects", []))
            status = {
                "id": f"status-{len(self.posts)}",
                "status": "complete",
                "total_count": n,
                "success_count": n,
                "failure_count": 0,
                "pending_count": 0,
            }
            return self.send(h, 202, {}, json.dumps(status).encode())
        if path == "/api/collections/":
            return self.send(h, 200, {}, json.dumps({"collections": self.collections()}).encode())
        if path == "/api/x-accord/deletions/":
            return self.send(h, *self.deletions(query))
        if path == f"/api/collections/{COLLECTION}/objects/":
            self.objects_requests += 1
            if self.behaviour.on_objects is not None:
                self.behaviour.on_objects(self.objects_requests)
            mode = self.behaviour.objects
            if mode is not None and self.objects_requests >= self.behaviour.on_request:
                return self.misbehave(h, mode)
            return self.send(h, *self.page(query))
        return self.send(h, 404, {}, b'{"title": "not found"}')

    def misbehave(self, h: http.server.BaseHTTPRequestHandler, mode: str) -> None:
        if mode == "drop":  # the connection closes with no answer
            h.close_connection = True
            return
        if mode == "500":
            return self.send(h, 500, {}, b'{"title": "Internal error", "description": "database on fire"}')
        if mode == "garbage":
            return self.send(h, 200, {}, b'{"more": false, "objects": [{"type": "indicator", ')
        if mode == "not-envelope":
            return self.send(h, 200, {}, b'{"more": false, "objects": {"type": "indicator"}}')
        if mode == "html":
            return self.send(h, 200, {"Content-Type": "text/html"}, b"<html>login</html>")
        if mode == "redirect":
            return self.send(h, 302, {"Location": "http://127.0.0.1:9/elsewhere/"}, b"")
        if mode == "slow":  # headers, then nothing for longer than the client waits
            h.send_response(200)
            h.send_header("Content-Type", TAXII)
            h.end_headers()
            with suppress(OSError):
                h.wfile.write(b'{"more": false, ')
                h.wfile.flush()
            self._stop.wait(10)
            return
        if mode == "huge":  # no Content-Length: bytes until the client gives up
            h.send_response(200)
            h.send_header("Content-Type", TAXII)
            h.end_headers()
            with suppress(OSError):
                h.wfile.write(b'{"more": false, "objects": [')
                block = b'{"type": "note", "content": "' + b"x" * 65_000 + b'"},'
                for _ in range(1000):
                    if self._stop.is_set():
                        break
                    h.wfile.write(block)
            return
        raise AssertionError(mode)

    @staticmethod
    def send(
        h: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        with suppress(OSError):
            h.send_response(status)
            if "Content-Type" not in headers:
                h.send_header("Content-Type", TAXII)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)


@contextmanager
def serve(fake: FakeTaxii) -> Iterator[FakeTaxii]:
    """Run `fake` on 127.0.0.1 (a free port) until the block ends; `fake.url` is its API root."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.handle(self, "GET")

        def do_POST(self) -> None:
            fake.handle(self, "POST")

        def log_message(self, *args: Any) -> None:
            pass

        def handle_one_request(self) -> None:
            with suppress(OSError):
                super().handle_one_request()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/api/"
    try:
        yield fake
    finally:
        fake._stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        time.sleep(0)  # let handler threads see the stop flag
