"""SSRF-safe feed fetching: refusals before any traffic, redirects vetted hop by hop, and the
address vetting itself over many address forms.

Loopback only. Two guards make that hold even if the code under test regressed: every outgoing
connection must go to a loopback address, and no name other than `localhost` may be resolved;
either breach fails the test instead of sending traffic. The HTTP(S) servers run on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import InvalidInput
from accord.feeds.fetch import (
    METADATA_ADDRESSES,
    FetchFailed,
    FetchRefused,
    FetchResult,
    fetch,
    refusal_reason,
)

FEED = bytes(range(256)) * 400  # 102,400 bytes
ETAG = '"v1"'
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
LOOPBACK = ["127.0.0.0/8"]

# --- guards: loopback only --------------------------------------------------------------------


@dataclass
class Guard:
    connections: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


def _is_literal(host: Any) -> bool:
    try:
        ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def guard(monkeypatch: pytest.MonkeyPatch) -> Guard:
    seen = Guard()
    real_connect = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        effective = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if not effective.is_loopback:
            raise AssertionError(f"test tried to connect to non-loopback {address}")
        seen.connections.append(str(address[0]))
        return real_connect(address, *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if not (flags & socket.AI_NUMERICHOST or _is_literal(host)):
            if host != "localhost":
                raise AssertionError(f"test tried to resolve {host!r}")
            seen.lookups.append(host)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


# --- a small recording HTTP server ------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    sni_names: list[str | None]

    def server_bind(self) -> None:
        # HTTPServer.server_bind would reverse-resolve the address (getfqdn): skip that lookup.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that stop reading (size limits, timeouts) are expected here


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": dict(self.headers.items())})
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.route(path, query)

    def route(self, path: str, query: dict[str, str]) -> None:
        if path == "/feed":
            validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
            if self.headers.get("If-None-Match") == ETAG or (
                self.headers.get("If-Modified-Since") == LAST_MODIFIED
            ):
                self.send(304, headers=validators)
            else:
                self.send(200, FEED, {**validators, "Content-Type": "text/plain"})
        elif path == "/redirect":
            self.send(int(query.get("status", "302")), headers={"Location": query["to"]})
        elif path == "/loop":
            self.send(302, headers={"Location": "/loop"})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self.send(302, headers={"Location": f"/chain/{left - 1}" if left else "/feed"})
        elif path.startswith("/status/"):
            self.send(int(path.rsplit("/", 1)[1]), b"nope")
        elif path.startswith("/unsized/"):  # no Content-Length: the body ends when the server closes
            size = int(path.rsplit("/", 1)[1])
            self.send_response(200)
            self.end_headers()
            for start in range(0, size, 8192):
                self.wfile.write(b"x" * min(8192, size - start))
        elif path == "/gzip":
            self.send(200, gzip.compress(b"\0" * 1_000_000), {"Content-Encoding": "gzip"})
        elif path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.send(404, b"no such path")


def _serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(("127.0.0.1", 0), Handler)
    server.requests, server.sni_names = [], []
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def server(http_server: Server) -> Server:
    http_server.requests.clear()
    return http_server


def base(server: Server, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_port}"


def get(url: str, **kwargs: Any) -> tuple[FetchResult, bytes]:
    dest = io.BytesIO()
    result = fetch(url, dest, **kwargs)
    return result, dest.getvalue()


def resolver_for(table: dict[str, list[str]], calls: list[tuple[str, int]] | None = None) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        return table[host]

    return resolve


# --- refused before any traffic ---------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "2130706433", "0x7f.0.0.1"]
)
def test_loopback_is_refused_by_default_and_nothing_is_sent(server: Server, guard: Guard, host: str) -> None:
    with pytest.raises(FetchRefused) as refused:
        get(f"{base(server, host)}/feed")
    assert "loopback" in str(refused.value)
    assert server.requests == []
    assert guard.connections == []


def test_loopback_is_fetched_when_the_operator_allows_it(server: Server, guard: Guard) -> None:
    result, body = get(f"{base(server)}/feed", allow_networks=LOOPBACK, user_agent="test-agent")
    assert body == FEED
    assert (result.status, result.bytes, result.not_modified) == (200, len(FEED), False)
    assert (result.etag, result.last_modified, result.content_type) == (ETAG, LAST_MODIFIED, "text/plain")
    assert result.url == result.final_url == f"{base(server)}/feed"
    assert result.peer_address == "127.0.0.1"
    assert guard.connections == ["127.0.0.1"]
    [request] = server.requests
    assert request["headers"]["User-Agent"] == "test-agent"
    assert "If-None-Match" not in request["headers"]


def test_allowing_loopback_does_not_allow_private_networks(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"10\.1\.2\.3"):
        get(
            "http://feed.example/",
            allow_networks=LOOPBACK,
            resolver=resolver_for({"feed.example": ["10.1.2.3"]}),
        )


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["8.8.8.8", "10.1.2.3"],
        ["10.1.2.3", "8.8.8.8"],
        ["fd00:ec2::254"],
        ["::ffff:10.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],  # NAT64 form of 169.254.169.254
        ["100.64.0.7"],
        ["fe80::1%1"],
    ],
)
def test_resolved_addresses_are_vetted_before_connecting(guard: Guard, addresses: list[str]) -> None:
    calls: list[tuple[str, int]] = []
    resolve = resolver_for({"feed.example": addresses}, calls)
    with pytest.raises(FetchRefused) as refused:
        get("http://feed.example:8080/feed", resolver=resolve)
    assert calls == [("feed.example", 8080)]
    assert guard.connections == []
    assert refused.value.where["host"] == "feed.example"
    assert refused.value.where["url"] == "http://feed.example:8080/feed"
    assert refused.value.where["address"] in [str(ipaddress.ip_address(a)) for a in addresses]


def test_metadata_address_stays_refused_inside_an_allowed_network(guard: Guard) -> None:
    resolve = resolver_for({"feed.example": ["169.254.169.254"]})
    with pytest.raises(FetchRefused, match="metadata"):
        get("http://feed.example/", resolver=resolve, allow_networks=["169.254.0.0/16", "0.0.0.0/0"])
    assert guard.connections == []


def test_the_connection_goes_to_the_vetted_ip_while_host_keeps_the_name(server: Server, guard: Guard) -> None:
    calls: list[tuple[str, int]] = []
    resolve = resolver_for({"feed.example": ["127.0.0.1"]}, calls)
    url = f"http://feed.example:{server.server_port}/feed"
    result, body = get(url, resolver=resolve, allow_networks=LOOPBACK)
    assert body == FEED and result.final_url == url
    assert calls == [("feed.example", server.server_port)]
    assert guard.connections == ["127.0.0.1"]
    assert guard.lookups == []  # the injected resolver is the only one asked
    assert server.requests[0]["headers"]["Host"] == f"feed.example:{server.server_port}"


def test_the_next_vetted_address_is_tried_when_one_does_not_answer(server: Server, guard: Guard) -> None:
    resolve = resolver_for({"feed.example": ["127.0.0.2", "127.0.0.1"]})  # nothing listens on .2
    result, body = get(
        f"http://feed.example:{server.server_port}/feed", resolver=resolve, allow_networks=LOOPBACK
    )
    assert body == FEED and result.peer_address == "127.0.0.1"
    assert guard.connections == ["127.0.0.2", "127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/feed",
        "gopher://127.0.0.1:70/_x",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "127.0.0.1/feed",
        "//127.0.0.1/feed",
    ],
)
def test_only_http_and_https_are_fetched(guard: Guard, url: str) -> None:
    with pytest.raises(FetchRefused, match="scheme"):
        get(url, allow_networks=LOOPBACK)
    assert guard.connections == [] and guard.lookups == []


def test_credentials_in_the_url_are_refused_and_not_repeated(server: Server) -> None:
    with pytest.raises(FetchRefused, match="credentials") as refused:
        get(f"http://reader:s3cret@127.0.0.1:{server.server_port}/feed", allow_networks=LOOPBACK)
    assert "s3cret" not in str(refused.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "url", ["http://metadata.google.internal/computeMetadata/v1/", "http://METADATA.Google.Internal./"]
)
def test_the_metadata_host_name_is_refused_without_resolving_it(guard: Guard, url: str) -> None:
    with pytest.raises(FetchRefused, match="metadata"):
        get(url, allow_networks=["0.0.0.0/0", "::/0"])
    assert guard.lookups == [] and guard.connections == []


@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://[zz/", "http://%31%32%37.0.0.1/", "http://h:99999/"]
)
def test_malformed_hosts_and_ports_are_refused(guard: Guard, url: str) -> None:
    with pytest.raises(FetchRefused):
        get(url)
    assert guard.connections == [] and guard.lookups == []


def test_a_bad_allow_networks_entry_is_named() -> None:
    with pytest.raises(InvalidInput) as bad:
        get("http://127.0.0.1/", allow_networks=["127.0.0.0/8", "10.0.0.1/8"])
    assert bad.value.where == {"field": "allow_networks[1]"}
    assert "10.0.0.1/8" in str(bad.value)


# --- redirects -----------------------------------------------------------------------------------


def redirect(server: Server, to: str, status: int = 302) -> str:
    return f"{base(server)}/redirect?" + urllib.parse.urlencode({"to": to, "status": status})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_within_allowed_networks_are_followed(server: Server, status: int) -> None:
    start = redirect(server, "/feed", status)
    result, body = get(start, allow_networks=LOOPBACK)
    assert body == FEED
    assert (result.url, result.final_url) == (start, f"{base(server)}/feed")
    assert [r["path"].split("?")[0] for r in server.requests] == ["/redirect", "/feed"]


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://[fd12::1]:8080/", "fd12::1"),
        ("file:///etc/passwd", "scheme file"),
        ("gopher://127.0.0.1/", "scheme gopher"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://user:pw@127.0.0.1/feed", "credentials"),
        ("http://internal.example/", "192.168.1.1"),
    ],
)
def test_every_redirect_hop_is_vetted(server: Server, guard: Guard, target: str, named: str) -> None:
    resolve = resolver_for({"internal.example": ["192.168.1.1"]})
    start = redirect(server, target)
    with pytest.raises(FetchRefused, match=named.replace(".", r"\.")) as refused:
        get(start, allow_networks=[*LOOPBACK, "169.254.0.0/16"], resolver=resolve)
    assert len(server.requests) == 1  # the first hop only
    assert guard.connections == ["127.0.0.1"]
    assert refused.value.where["url"] == start  # the feed as configured, plus the hop when one was reached
    assert refused.value.where.get("hop") in (None, str(httpx.URL(target)))
    assert "pw@" not in str(refused.value)


def test_redirect_limit(server: Server) -> None:
    result, body = get(f"{base(server)}/chain/2", allow_networks=LOOPBACK, max_redirects=3)
    assert body == FEED and result.final_url.endswith("/feed")
    server.requests.clear()
    with pytest.raises(FetchFailed, match="more than 2 redirects"):
        get(f"{base(server)}/chain/2", allow_networks=LOOPBACK, max_redirects=2)
    assert len(server.requests) == 3


def test_redirect_loop_is_stopped_and_named(server: Server) -> None:
    with pytest.raises(FetchFailed, match=r"more than 4 redirects \(a redirect loop\)"):
        get(f"{base(server)}/loop", allow_networks=LOOPBACK, max_redirects=4)
    assert len(server.requests) == 5


def test_zero_redirects_means_none_followed(server: Server) -> None:
    with pytest.raises(FetchFailed, match="more than 0 redirects"):
        get(redirect(server, "/feed"), allow_networks=LOOPBACK, max_redirects=0)
    assert len(server.requests) == 1


# --- responses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validators", "header"),
    [({"etag": ETAG}, "If-None-Match"), ({"last_modified": LAST_MODIFIED}, "If-Modified-Since")],
)
def test_conditional_get_reports_not_modified(
    server: Server, validators: dict[str, str], header: str
) -> None:
    result, body = get(f"{base(server)}/feed", allow_networks=LOOPBACK, **validators)
    assert result.not_modified and result.status == 304
    assert (body, result.bytes) == (b"", 0)
    assert (result.etag, result.last_modified) == (ETAG, LAST_MODIFIED)
    assert server.requests[0]["headers"][header] == next(iter(validators.values()))


def test_a_changed_etag_fetches_the_body(server: Server) -> None:
    result, body = get(f"{base(server)}/feed", allow_networks=LOOPBACK, etag='"v0"')
    assert not result.not_modified and body == FEED and result.etag == ETAG


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_errors_name_the_status(server: Server, status: int) -> None:
    with pytest.raises(FetchFailed, match=f"HTTP {status}") as failed:
        get(f"{base(server)}/status/{status}", allow_networks=LOOPBACK)
    assert failed.value.http_status == status
    assert failed.value.where["url"] == f"{base(server)}/status/{status}"


def test_max_bytes_is_enforced_from_content_length(server: Server) -> None:
    dest = io.BytesIO()
    with pytest.raises(FetchFailed, match=f"{len(FEED)} bytes, more than the limit of {len(FEED) - 1}"):
        fetch(f"{base(server)}/feed", dest, allow_networks=LOOPBACK, max_bytes=len(FEED) - 1)
    assert dest.getvalue() == b""
    _, body = get(f"{base(server)}/feed", allow_networks=LOOPBACK, max_bytes=len(FEED))
    assert body == FEED


def test_max_bytes_is_enforced_while_streaming(server: Server) -> None:
    dest = io.BytesIO()
    with pytest.raises(FetchFailed, match="larger than the limit of 100000 bytes"):
        fetch(f"{base(server)}/unsized/300000", dest, allow_networks=LOOPBACK, max_bytes=100_000)
    assert 0 < len(dest.getvalue()) <= 100_000
    result, body = get(f"{base(server)}/unsized/300000", allow_networks=LOOPBACK, max_bytes=300_000)
    assert result.bytes == len(body) == 300_000


def test_max_bytes_counts_decompressed_bytes(server: Server) -> None:
    with pytest.raises(FetchFailed, match="larger than the limit"):
        get(f"{base(server)}/gzip", allow_networks=LOOPBACK, max_bytes=100_000)
    result, body = get(f"{base(server)}/gzip", allow_networks=LOOPBACK)
    assert body == b"\0" * 1_000_000 and result.bytes == 1_000_000


def test_total_timeout_stops_a_dripping_server(server: Server) -> None:
    with pytest.raises(FetchFailed, match="longer than allowed"):
        get(f"{base(server)}/drip", allow_networks=LOOPBACK, timeout=5, total_timeout=0.3)


def test_connection_refused_is_a_clear_failure() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match="fetch failed") as failed:
        get(f"http://127.0.0.1:{port}/", allow_networks=LOOPBACK)
    assert failed.value.where["url"] == f"http://127.0.0.1:{port}/"


def test_resolution_failure_is_a_clear_failure() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(FetchFailed, match=r"cannot resolve host feed\.example"):
        get("http://feed.example/", resolver=failing)
    with pytest.raises(FetchFailed, match="resolved to no address"):
        get("http://feed.example/", resolver=resolver_for({"feed.example": []}))
    with pytest.raises(FetchRefused, match="not an IP address"):
        get("http://feed.example/", resolver=resolver_for({"feed.example": ["feed.example"]}))


# --- TLS: SNI and the certificate stay on the name ---------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=feed.test",
         "-addext", "subjectAltName=DNS:feed.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def https_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    for server in _serve(context):
        server.sni_names = names
        yield server


def test_https_verifies_the_name_and_sends_it_as_sni(
    https_server: Server, certificate: tuple[Path, Path], guard: Guard
) -> None:
    https_server.requests.clear()
    https_server.sni_names.clear()
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    port = https_server.server_port
    resolve = resolver_for({"feed.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    result, body = get(
        f"https://feed.test:{port}/feed", resolver=resolve, allow_networks=LOOPBACK, ssl_context=trust
    )
    assert body == FEED and result.peer_address == "127.0.0.1"
    assert https_server.sni_names == ["feed.test"]
    assert https_server.requests[0]["headers"]["Host"] == f"feed.test:{port}"
    with pytest.raises(FetchFailed, match=r"CERTIFICATE_VERIFY_FAILED"):
        get(f"https://other.test:{port}/feed", resolver=resolve, allow_networks=LOOPBACK, ssl_context=trust)
    assert len(https_server.requests) == 1  # the mismatched name got no request
    assert guard.connections == ["127.0.0.1", "127.0.0.1"]


# --- the vetting function over many address forms ----------------------------------------------

SPEC_REFUSED_V4 = [
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("169.254.0.0/16", "link-local"),
    ("100.64.0.0/10", "shared"),
    ("0.0.0.0/8", "unspecified"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved|broadcast"),  # 255.255.255.255 is in it too
    ("255.255.255.255/32", "broadcast"),
]
SPEC_REFUSED_V6 = [
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
]
METADATA = ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"]
PUBLIC_V4 = ["8.8.8.0/24", "1.1.1.0/24", "93.184.0.0/16", "151.101.0.0/16", "185.199.108.0/22"]
PUBLIC_V6 = ["2a00:1450::/32", "2606:4700::/32", "2001:4860::/32", "2620:fe::/48"]


def address_in(network: str) -> st.SearchStrategy[Any]:
    net = ipaddress.ip_network(network)
    first = int(net.network_address)
    return st.integers(first, first + net.num_addresses - 1).map(
        lambda n: ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)
    )


refused_v4 = st.sampled_from(SPEC_REFUSED_V4).flatmap(lambda nl: st.tuples(address_in(nl[0]), st.just(nl)))
public_v4 = st.sampled_from(PUBLIC_V4).flatmap(address_in)
public_v6 = st.sampled_from(PUBLIC_V6).flatmap(address_in)


def ipv6_forms(v4: ipaddress.IPv4Address) -> dict[str, str]:
    n = int(v4)
    forms = {
        "mapped": f"::ffff:{v4}",
        "mapped-hex": str(ipaddress.IPv6Address((0xFFFF << 32) | n)).upper(),
        "nat64": f"64:ff9b::{v4}",
        "compatible": str(ipaddress.IPv6Address(n)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
    }
    if n <= 1:  # ::0.0.0.0 and ::0.0.0.1 are :: and ::1 themselves
        del forms["compatible"]
    return forms


@given(refused_v4)
def test_spec_ipv4_ranges_are_refused_in_every_form(case: tuple[Any, tuple[str, str]]) -> None:
    address, (_network, label) = case
    reason = refusal_reason(str(address), [])
    assert reason is not None and any(word in reason for word in label.split("|")) and str(address) in reason
    for form, text in ipv6_forms(address).items():
        embedded = refusal_reason(text, [])
        assert embedded is not None and str(address) in embedded, form


@given(st.sampled_from(SPEC_REFUSED_V6).flatmap(lambda nl: st.tuples(address_in(nl[0]), st.just(nl))))
def test_spec_ipv6_ranges_are_refused(case: tuple[Any, tuple[str, str]]) -> None:
    address, (_network, label) = case
    reason = refusal_reason(str(address), [])
    assert reason is not None and any(word in reason for word in label.split("|"))


@given(refused_v4)
def test_allow_networks_opens_exactly_the_listed_networks(case: tuple[Any, tuple[str, str]]) -> None:
    address, (network, _label) = case
    if address in METADATA_ADDRESSES:  # covered by the next test
        return
    assert refusal_reason(str(address), [network]) is None
    assert refusal_reason(f"::ffff:{address}", [network]) is None
    assert refusal_reason(f"64:ff9b::{address}", [network]) is None
    assert refusal_reason(str(address), [f"{address}/32"]) is None
    others = [
        n for n, _ in SPEC_REFUSED_V4 if not ipaddress.ip_network(n).overlaps(ipaddress.ip_network(network))
    ]
    assert refusal_reason(str(address), others) is not None


@given(st.sampled_from(METADATA), st.integers(0, 127), st.booleans())
def test_metadata_addresses_open_only_when_listed_exactly(metadata: str, prefix: int, mapped: bool) -> None:
    address = ipaddress.ip_address(metadata)
    prefix = prefix % address.max_prefixlen
    supernet = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    text = f"::ffff:{address}" if mapped and address.version == 4 else metadata
    reason = refusal_reason(text, [str(supernet)])
    assert reason is not None and "metadata" in reason
    assert refusal_reason(text, [f"{address}/{address.max_prefixlen}"]) is None


@given(st.one_of(public_v4, public_v6))
def test_public_addresses_are_allowed(address: Any) -> None:
    assert refusal_reason(str(address), []) is None
    if address.version == 4:
        assert refusal_reason(f"::ffff:{address}", []) is None
        assert refusal_reason(f"64:ff9b::{address}", []) is None


any_ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
any_ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
global_unicast_ipv6 = st.integers(0x2000 << 112, (0x4000 << 112) - 1).map(ipaddress.IPv6Address)
mapped_ipv6 = any_ipv4.map(lambda v4: ipaddress.IPv6Address((0xFFFF << 32) | int(v4)))


@given(st.one_of(any_ipv4, any_ipv6, global_unicast_ipv6, mapped_ipv6))
def test_nothing_the_standard_library_calls_non_global_is_allowed(address: Any) -> None:
    if refusal_reason(str(address), []) is not None:
        return
    effective = address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            effective = address.ipv4_mapped
        elif address in ipaddress.ip_network("64:ff9b::/96"):
            effective = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    assert effective.is_global and not effective.is_multicast
    assert str(effective) not in METADATA


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.9.8.7", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1%eth0", "link-local"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("fd00:ec2::254%2", "metadata"),
        ("100.100.100.200", "metadata"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a00:1::1", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("not an address", "not an IP address"),
        ("", "not an IP address"),
        ("127.0.0.1/32", "not an IP address"),
    ],
)
def test_refusals_say_why(address: str, named: str) -> None:
    reason = refusal_reason(address, [])
    assert reason is not None and named in reason


@given(st.text(max_size=40))
def test_any_text_gets_an_answer_not_an_exception(text: str) -> None:
    reason = refusal_reason(text, [])
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        assert reason is not None and "not an IP address" in reason
