"""Fetching feed URLs without letting a member reach the node's own network (SSRF).

A member, not the operator, configures a feed's URL, so the server must refuse to be pointed at
loopback, private, link-local, shared (CGNAT), multicast, reserved or cloud-metadata addresses
(`refusal_reason` says which and why), in every spelling: IPv4-mapped/compatible IPv6, NAT64,
6to4, legacy numeric hosts (`2130706433`, `127.1`). The operator may open networks with
`allow_networks`; metadata addresses stay closed unless listed exactly.

How: the check sits where the socket is opened, not where the URL is read. `fetch` runs httpx
over an httpcore connection pool whose network backend (`_VettingBackend`) resolves the host once,
vets every address it got, and connects to a vetted IP itself. Nothing is resolved twice, so a
DNS answer that changes between check and use (rebinding) cannot slip through, and the URL is
never rewritten: the Host header, TLS SNI and certificate check stay on the name. Redirects are
followed by hand, each hop's URL vetted (http/https only, no userinfo) and each new connection
vetted by the backend. Proxies from the environment and .netrc are ignored (`trust_env=False`):
a proxy would make the vetted address the proxy's. The alternative, resolving up front and
rewriting the URL to the IP, breaks TLS name checks and virtual hosting.

httpx 0.28 has no public hook for a network backend, so `_VettingTransport` replaces
`HTTPTransport._pool` (pinned version; the tests fail if a connection ever bypasses the backend).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, BinaryIO

import httpcore
import httpx

from accord.errors import AccordError, InvalidInput

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTNAMES",
    "FetchFailed",
    "FetchRefused",
    "FetchResult",
    "fetch",
    "parse_networks",
    "refusal_reason",
    "system_resolver",
    "vet_url",
    "vetted_client",
]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Cloud instance-metadata and platform endpoints: refused even inside an allowed network.
METADATA_ADDRESSES: frozenset[Address] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean IMDS
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address, reachable only from inside Azure)
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal"})

# What each refused range is, so a refusal explains itself. Order matters: first match wins.
_REFUSED_RANGES: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), label)
    for cidr, label in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "reserved for IETF protocol assignments"),
        ("192.0.2.0/24", "reserved for documentation"),
        ("192.88.99.0/24", "a 6to4 relay (deprecated)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("198.51.100.0/24", "reserved for documentation"),
        ("203.0.113.0/24", "reserved for documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("::/8", "reserved"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001::/23", "reserved for IETF protocol assignments"),
        ("2001:db8::/32", "reserved for documentation"),
        ("2002::/16", "6to4 (deprecated)"),
        ("3fff::/20", "reserved for documentation"),
        ("5f00::/16", "segment routing (SRv6)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_SIXTOFOUR = IPv6Network("2002::/16")
_HOST_NAME = re.compile(r"[a-z0-9_.-]+", re.IGNORECASE)


class FetchRefused(InvalidInput):
    """The URL, a redirect or an address it leads to is not allowed; nothing was sent to it."""

    title = "Feed URL refused"


class FetchFailed(AccordError):
    """The feed server could not be reached or answered badly (HTTP error, too large, too slow)."""

    status = 502
    title = "Feed fetch failed"

    def __init__(self, detail: str, *, http_status: int | None = None, **where: Any) -> None:
        super().__init__(detail, **where)
        self.http_status = http_status


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did. `bytes` counts the (decoded) body written to `dest`; `peer_address` is the
    IP the final hop was fetched from, worth keeping in an audit trail."""

    url: str
    final_url: str
    status: int
    bytes: int
    etag: str | None
    last_modified: str | None
    not_modified: bool
    content_type: str | None
    peer_address: str | None = None


def parse_networks(allow_networks: Iterable[str | Network]) -> tuple[Network, ...]:
    """The operator's allowed networks; a typo is an error naming the entry, never silently ignored."""
    if isinstance(allow_networks, str):
        raise InvalidInput("allow_networks must be a list of CIDRs, not one string", field="allow_networks")
    networks: list[Network] = []
    for index, entry in enumerate(allow_networks):
        if isinstance(entry, IPv4Network | IPv6Network):
            networks.append(entry)
            continue
        try:
            networks.append(ipaddress.ip_network(str(entry).strip()))
        except ValueError as exc:
            raise InvalidInput(
                f"allow_networks entry {entry!r} is not a network in CIDR form: {exc}",
                field=f"allow_networks[{index}]",
            ) from None
    return tuple(networks)


def _without_scope(address: Address) -> Address:
    """`fe80::1%eth0` compares unequal to `fe80::1`; vetting looks at the address alone."""
    if isinstance(address, IPv6Address) and address.scope_id:
        return IPv6Address(int(address))
    return address


def _embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address, bool] | None:
    """The IPv4 address an IPv6 form carries: (form, address, whether the form is only a carrier).

    A mapped or NAT64 address reaches exactly its IPv4 address, so only that is vetted; the
    deprecated forms are refused anyway, but the refusal names the address they embed.
    """
    if address in _IPV4_MAPPED:
        return "IPv4-mapped", IPv4Address(int(address) & 0xFFFFFFFF), True
    if address in _NAT64:
        return "NAT64", IPv4Address(int(address) & 0xFFFFFFFF), True
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", IPv4Address(int(address) & 0xFFFFFFFF), False
    if address in _SIXTOFOUR and address.sixtofour is not None:
        return "6to4", address.sixtofour, False
    return None


def _category(address: Address) -> str | None:
    """Why this address is not a public host, or None when it is one."""
    for network, label in _REFUSED_RANGES:
        if address.version == network.version and address in network:
            return f"{label} ({network})"
    # A safety net from the standard library (IANA special-purpose registries), for ranges above.
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally reachable"
    return None


def _vet(address: Address, networks: Sequence[Network]) -> str | None:
    if address in METADATA_ADDRESSES:
        listed = any(n.num_addresses == 1 and n.network_address == address for n in networks)
        return None if listed else "a cloud metadata address (allowed only if listed exactly)"
    if any(address.version == n.version and address in n for n in networks):
        return None
    return _category(address)


def refusal_reason(address: str, allow_networks: Iterable[str | Network] = ()) -> str | None:
    """Why the fetcher must not connect to `address`, or None when it may.

    Refused: loopback, private, link-local, CGNAT, unspecified, multicast, broadcast/reserved,
    documentation and other special ranges, and cloud metadata addresses, also when embedded in
    an IPv6 form. `allow_networks` opens networks (metadata addresses only when listed exactly).
    """
    networks = parse_networks(allow_networks)
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return f"{address!r} is not an IP address"
    parsed = _without_scope(parsed)
    if isinstance(parsed, IPv6Address):
        embedded = _embedded_ipv4(parsed)
        if embedded is not None:
            form, inner, carrier_only = embedded
            why = _vet(inner, networks)
            if why is not None:
                return f"{parsed} ({form}) embeds {inner}, which is {why}"
            if carrier_only:
                return None
    why = _vet(parsed, networks)
    return None if why is None else f"{parsed} is {why}"


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the operating system (socket.getaddrinfo), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _redacted(url: httpx.URL) -> str:
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def vet_url(url: str | httpx.URL) -> httpx.URL:
    """The URL parsed, if it may be fetched at all: http(s), a plain host, a valid port, no userinfo."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRefused(f"malformed URL: {exc}", url=str(url)) from None
    shown = _redacted(parsed)
    if parsed.scheme not in ALLOWED_SCHEMES:
        scheme = parsed.scheme or "(none)"
        raise FetchRefused(f"URL scheme {scheme} is not allowed: only http and https", url=shown)
    if parsed.userinfo:
        raise FetchRefused("credentials in URLs (user:password@) are not allowed", url=shown)
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise FetchRefused("URL has no host", url=shown)
    if ":" in host:
        try:
            ipaddress.IPv6Address(urllib.parse.unquote(host))
        except ValueError:
            raise FetchRefused(f"host {host!r} is not a valid IPv6 address", url=shown) from None
    elif not _HOST_NAME.fullmatch(host):
        raise FetchRefused(f"host {host!r} contains characters not allowed in a host name", url=shown)
    if host.rstrip(".").lower() in METADATA_HOSTNAMES:
        raise FetchRefused(f"host {host} is a cloud metadata service", url=shown, host=host)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise FetchRefused(f"port {parsed.port} is out of range (1-65535)", url=shown)
    return parsed


def _numeric_host(host: str, port: int) -> list[str] | None:
    """The address of an IP literal, legacy forms included (`127.1`, `0x7f000001`); None for names.

    AI_NUMERICHOST makes the C library parse the text as its own connect() would, and never ask DNS.
    """
    text = urllib.parse.unquote(host)
    try:
        return [str(ipaddress.ip_address(text))]
    except ValueError:
        pass
    if ":" in text:
        raise FetchRefused(f"host {host!r} is not a valid IPv6 address", host=host)
    try:
        infos = socket.getaddrinfo(text, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _VettingBackend(httpcore.NetworkBackend):
    """Resolves once, vets every address, then connects to a vetted IP (never to the name)."""

    def __init__(self, resolver: Resolver, networks: Sequence[Network]) -> None:
        self._resolver = resolver
        self._networks = networks
        self._inner = httpcore.SyncBackend()

    def _addresses(self, host: str, port: int) -> list[str]:
        numeric = _numeric_host(host, port)
        if numeric is not None:
            return numeric
        try:
            resolved = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:  # UnicodeError: a name the IDNA codec refuses
            raise FetchFailed(f"cannot resolve host {host}: {exc}", host=host) from None
        if not resolved:
            raise FetchFailed(f"host {host} resolved to no address", host=host)
        addresses = []
        for text in resolved:
            try:
                addresses.append(str(ipaddress.ip_address(str(text).strip())))
            except ValueError:
                why = f"resolver gave {text!r} for {host}, not an IP address"
                raise FetchRefused(why, host=host) from None
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._addresses(host, port)
        # Every address is vetted before any is tried: a name with one public and one private
        # address is refused, otherwise which one is reached would be the attacker's choice.
        for address in addresses:
            why = refusal_reason(address, self._networks)
            if why is not None:
                raise FetchRefused(f"refused to connect to {host}: {why}", host=host, address=address)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise FetchRefused("feeds are never fetched over a unix socket", path=path)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _VettingTransport(httpx.HTTPTransport):
    """httpx's transport (request/response mapping, error mapping) over the vetting backend."""

    def __init__(self, backend: _VettingBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=backend, max_connections=4, retries=0
        )


def vetted_client(
    *,
    allow_networks: Sequence[str] = (),
    timeout: float = 60.0,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An httpx client whose every connection goes through the vetting backend, for other requests
    to member-supplied URLs (webhooks). It follows no redirects; vet the URL with `vet_url` first."""
    context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
    backend = _VettingBackend(resolver or system_resolver, parse_networks(allow_networks))
    transport = _VettingTransport(backend, context)
    return httpx.Client(
        transport=transport, trust_env=False, timeout=httpx.Timeout(timeout), follow_redirects=False
    )


def _header(response: httpx.Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value if value else None


def _peer_address(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
    except OSError:
        return None
    return str(peer[0]) if peer else None


def fetch(
    url: str,
    dest: BinaryIO,
    *,
    allow_networks: Sequence[str] = (),
    max_bytes: int = 2**31,
    timeout: float = 60.0,
    max_redirects: int = 5,
    etag: str | None = None,
    last_modified: str | None = None,
    resolver: Resolver | None = None,
    user_agent: str = "Accord feed fetcher",
    total_timeout: float | None = 3600.0,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResult:
    """GET `url` into `dest`, streamed in chunks, refusing anything that leads into the node's network.

    `timeout` bounds each network step (connect, each read); `total_timeout` the whole fetch, so a
    server dripping a byte a minute cannot hold a worker. With `etag` / `last_modified` the GET is
    conditional and a 304 returns `not_modified=True` with nothing written. On an error `dest` may
    hold part of the body: write to a temporary file and keep it only on success.
    Raises FetchRefused (scheme, userinfo, host, address, redirect target) or FetchFailed (network,
    HTTP 4xx/5xx, body over `max_bytes`, too many redirects, too slow).
    """
    if max_bytes < 0 or max_redirects < 0 or timeout <= 0:
        raise InvalidInput("max_bytes and max_redirects must be >= 0 and timeout > 0", field="fetch options")
    networks = parse_networks(allow_networks)
    current = vet_url(url)
    shown_url = _redacted(current)
    deadline = None if total_timeout is None else time.monotonic() + total_timeout
    headers = {"User-Agent": user_agent, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
    transport = _VettingTransport(_VettingBackend(resolver or system_resolver, networks), context)
    visited: list[str] = []
    with httpx.Client(transport=transport, trust_env=False, timeout=httpx.Timeout(timeout)) as client:
        for hop in range(max_redirects + 1):
            try:
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchFailed(f"took longer than {total_timeout} s in all")
                visited.append(str(current))
                with client.stream("GET", current, headers=headers, follow_redirects=False) as response:
                    if response.status_code in REDIRECT_STATUSES:
                        current = _next_hop(response, hop, max_redirects, visited)
                        continue
                    return _receive(response, dest, shown_url, max_bytes, deadline, etag, last_modified)
            except (FetchRefused, FetchFailed) as exc:
                raise _located(exc, shown_url, current) from None
            except httpx.TimeoutException as exc:
                raise _located(
                    FetchFailed(f"timed out after {timeout} s: {exc}"), shown_url, current
                ) from None
            except httpx.HTTPError as exc:
                why = str(exc) or type(exc).__name__
                raise _located(FetchFailed(f"fetch failed: {why}"), shown_url, current) from None
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _located(error: AccordError, url: str, hop: httpx.URL) -> AccordError:
    """Every fetch error names the feed URL as configured and, past a redirect, the hop it failed on."""
    error.where.setdefault("url", url)
    if str(hop) != url:
        error.where.setdefault("hop", str(hop))
    return error


def _next_hop(response: httpx.Response, hop: int, max_redirects: int, visited: list[str]) -> httpx.URL:
    """The vetted target of a redirect; its connection is vetted again by the backend."""
    location = response.headers.get("location")
    if not location:
        raise FetchFailed(f"HTTP {response.status_code} redirect without a Location header")
    try:
        target = response.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchRefused(f"redirect to a malformed URL {location!r}: {exc}") from None
    if hop >= max_redirects:
        loop = " (a redirect loop)" if str(target) in visited else ""
        raise FetchFailed(f"more than {max_redirects} redirects{loop}; the last to {_redacted(target)}")
    try:
        return vet_url(target)
    except FetchRefused as exc:
        raise FetchRefused(f"redirect to {_redacted(target)} refused: {exc.detail}") from None


def _receive(
    response: httpx.Response,
    dest: BinaryIO,
    url: str,
    max_bytes: int,
    deadline: float | None,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    here = str(response.url)
    status = response.status_code
    peer = _peer_address(response)  # now: the connection may be closed once the body is read

    def result(written: int, not_modified: bool) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=here,
            status=status,
            bytes=written,
            etag=_header(response, "etag") or (etag if not_modified else None),
            last_modified=_header(response, "last-modified") or (last_modified if not_modified else None),
            not_modified=not_modified,
            content_type=_header(response, "content-type"),
            peer_address=peer,
        )

    if status == 304:
        return result(0, True)
    if status >= 400:
        answer = f"{status} {response.reason_phrase}".rstrip()
        raise FetchFailed(f"feed server answered HTTP {answer}", http_status=status)
    if not 200 <= status < 300:
        raise FetchFailed(f"unexpected HTTP status {status}", http_status=status)
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if declared.isdigit() and not encoded and int(declared) > max_bytes:
        raise FetchFailed(f"feed is {declared} bytes, more than the limit of {max_bytes}")
    written = 0
    for chunk in response.iter_bytes():
        if written + len(chunk) > max_bytes:
            raise FetchFailed(f"feed is larger than the limit of {max_bytes} bytes")
        dest.write(chunk)
        written += len(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise FetchFailed(f"feed took longer than allowed; stopped after {written} bytes")
    return result(written, False)
