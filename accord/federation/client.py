"""A small TAXII 2.1 client for syncing with peers, bounded in time and size.

Why not `taxii2-client`: it follows redirects, reads whole responses with no size limit, and hands
back parsed objects, while the store keeps each object's JSON as received (its markings included).
Here every request has a connect/read timeout and a deadline for the whole response, a response
larger than `Limits.max_response_bytes` is cut off and refused, a redirect is an error (a peer's URL
is what its operator configured: it is not followed elsewhere), and an objects page is split into
each object's raw text with the standard library's JSON scanner.

Peers are added by the operator, so, unlike feeds (`accord.feeds.fetch`), a peer may be on
loopback or a private network; the URL must still be http(s) without credentials in it.
"""

from __future__ import annotations

import base64
import io
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from accord.errors import AccordError, InvalidInput
from accord.feeds.fetch import vet_url
from accord.intel.timestamps import format_micros, parse_micros
from accord.taxii.envelope import iter_envelope

TAXII_MEDIA = "application/taxii+json;version=2.1"
_COLLECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class Limits:
    """How much one peer may cost us: page sizes, bytes and seconds."""

    page_size: int = 5000  # objects asked for per page (servers may send fewer)
    max_response_bytes: int = 64 * 1024 * 1024  # one response, decoded
    timeout: float = 60.0  # connecting, and each read
    total_timeout: float = 600.0  # one whole request, however the bytes trickle in
    push_page: int = 500  # objects per POST
    max_post_bytes: int = 16 * 1024 * 1024  # one POST body


class PeerError(AccordError):
    """A peer could not be reached or answered badly; nothing of that answer was stored."""

    status = 502
    title = "Peer failed"

    def __init__(self, detail: str, *, http_status: int | None = None, **where: Any) -> None:
        super().__init__(detail, **where)
        self.http_status = http_status

    def __reduce__(self) -> Any:
        """Crosses from the page reader process whole (status and place included)."""
        return (_peer_error, (self.detail, self.http_status, self.where))


def _peer_error(detail: str, http_status: int | None, where: dict[str, Any]) -> PeerError:
    return PeerError(detail, http_status=http_status, **where)


@dataclass
class Page:
    """One page of a collection's objects: each with its raw JSON text, and what the envelope said."""

    items: list[tuple[Any, str]]
    provenance: list[Any] | None  # `x_accord_provenance`, aligned with `items` (Accord peers only)
    more: bool
    next: str | None
    first_us: int | None  # X-TAXII-Date-Added-First / -Last
    last_us: int | None


@dataclass
class DeletionPage:
    deletions: list[dict[str, Any]]
    more: bool
    next: str | None
    last_us: int | None


@dataclass
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def split_envelope(body: bytes | str) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
    """A TAXII envelope's members (without `objects`), and each element of its `objects` array with
    the exact text it had in the envelope (the same reader as bundles and POSTed envelopes).
    Raises InvalidInput saying where the JSON is broken (line, column, object)."""
    members: dict[str, Any] = {}
    stream = io.BytesIO(body) if isinstance(body, bytes) else io.StringIO(body)
    items = [(obj, raw) for _index, obj, raw in iter_envelope(stream, extra=members)]
    return members, items


def auth_header(token: str | None) -> dict[str, str]:
    """`user:password` is sent as HTTP Basic (medallion and other servers with accounts); anything
    else as a bearer token (Accord node tokens, most TAXII products)."""
    if not token:
        return {}
    if ":" in token and not token.startswith("acc_"):
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


def _error_text(body: bytes) -> str:
    """What a TAXII error resource (or any short body) says, for the peer's status line."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode("utf-8", "replace").strip()
        return f": {text}" if text else ""
    if isinstance(data, dict):
        said = [str(data[k]) for k in ("title", "description", "detail") if data.get(k)]
        return f": {'; '.join(said)[:300]}" if said else ""
    return ""


class TaxiiClient:
    """Requests to one TAXII 2.1 API root (`api_root` is its URL)."""

    def __init__(self, api_root: str, token: str | None, limits: Limits | None = None) -> None:
        root = vet_url(api_root)
        if not root.path.endswith("/"):
            root = root.copy_with(path=root.path + "/")
        self.root = root
        self.limits = limits or Limits()
        timeout = httpx.Timeout(self.limits.timeout)
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc from the environment: the peer is who we talk to
            headers={"Accept": TAXII_MEDIA, "User-Agent": "Accord federation", **auth_header(token)},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the HTTP exchange, bounded -------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        ok_missing: bool = False,
    ) -> _Answer | None:
        url = self.root.join(path)
        where = f"{method} {url.copy_with(query=None)}"
        limits = self.limits
        deadline = time.monotonic() + limits.total_timeout
        headers = {"Content-Type": TAXII_MEDIA} if body is not None else None
        try:
            with self._http.stream(method, url, params=params, content=body, headers=headers) as response:
                status = response.status_code
                if 300 <= status < 400:
                    target = response.headers.get("location", "(no Location)")
                    raise PeerError(
                        f"{where} answered HTTP {status}, a redirect to {target}; a peer is not followed "
                        "across redirects (correct the peer's URL instead)",
                        http_status=status,
                    )
                declared = response.headers.get("content-length", "")
                encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
                if declared.isdigit() and not encoded and int(declared) > limits.max_response_bytes:
                    raise PeerError(
                        f"{where} announced {declared} bytes, more than the limit of "
                        f"{limits.max_response_bytes}",
                        http_status=status,
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limits.max_response_bytes:
                        raise PeerError(
                            f"{where} sent more than the limit of {limits.max_response_bytes} bytes",
                            http_status=status,
                        )
                    if time.monotonic() > deadline:
                        raise PeerError(
                            f"{where} took longer than {limits.total_timeout} s in all", http_status=status
                        )
                    chunks.append(chunk)
                answer = _Answer(status, response.headers, b"".join(chunks))
        except httpx.TimeoutException as exc:
            kind = type(exc).__name__
            raise PeerError(f"{where} timed out ({kind}, limit {limits.timeout} s)") from None
        except httpx.HTTPError as exc:
            raise PeerError(f"{where} failed: {exc or type(exc).__name__}") from None
        if answer.status == 404 and ok_missing:
            return None
        if answer.status >= 400 or answer.status < 200:
            raise PeerError(
                f"{where} answered HTTP {answer.status}{_error_text(answer.body)}", http_status=answer.status
            )
        content_type = answer.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise PeerError(
                f"{where} answered with Content-Type {content_type or '(none)'!r}, not TAXII JSON",
                http_status=answer.status,
            )
        return answer

    def _json(self, answer: _Answer, where: str) -> Any:
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError as exc:
            raise PeerError(f"{where}: the answer is not JSON: {exc}") from None

    @staticmethod
    def _date_header(answer: _Answer, name: str, where: str) -> int | None:
        value = answer.headers.get(name)
        if not value:
            return None
        try:
            return parse_micros(value.strip())
        except ValueError as exc:
            raise PeerError(f"{where}: header {name} is not a TAXII timestamp: {exc}") from None

    @staticmethod
    def _paging(members: dict[str, Any], where: str) -> tuple[bool, str | None]:
        more, nxt = members.get("more", False), members.get("next")
        if not isinstance(more, bool):
            raise PeerError(f"{where}: 'more' must be true or false, not {more!r}"[:300])
        if nxt is not None and (not isinstance(nxt, str) or not nxt or len(nxt) > 2000):
            raise PeerError(f"{where}: 'next' must be a short string")
        return more, nxt

    # --- TAXII endpoints ---------------------------------------------------------------------------

    def collections(self) -> list[dict[str, Any]]:
        """The API root's collections (each a dict with at least a usable `id`)."""
        answer = self._request("GET", "collections/")
        assert answer is not None
        where = f"GET {self.root}collections/"
        data = self._json(answer, where)
        if not isinstance(data, dict):
            raise PeerError(f"{where}: the answer is not a TAXII collections resource")
        found = data.get("collections", [])
        if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
            raise PeerError(f"{where}: 'collections' must be an array of collection resources")
        for c in found:
            if not isinstance(c.get("id"), str) or not _COLLECTION_ID.fullmatch(c["id"]):
                raise PeerError(f"{where}: a collection id is not usable: {c.get('id')!r}"[:300])
        return found

    def objects(
        self, collection_id: str, *, added_after_us: int | None, next_token: str | None, limit: int
    ) -> Page:
        """One page of every version (`match[version]=all`) added after `added_after_us`, STIX 2.0
        ones included (by default a server sends only the newest spec version of each object; 2.0
        objects are upgraded on arrival, as an import does)."""
        path = f"collections/{quote(collection_id, safe='')}/objects/"
        where = f"GET {self.root}{path}"
        params = {"limit": str(limit), "match[version]": "all", "match[spec_version]": "2.0,2.1"}
        if added_after_us is not None:
            params["added_after"] = format_micros(added_after_us)
        if next_token is not None:
            params["next"] = next_token
        answer = self._request("GET", path, params)
        assert answer is not None
        try:
            members, items = split_envelope(answer.body)
        except InvalidInput as exc:
            raise PeerError(f"{where}: not a TAXII envelope: {exc}") from None
        more, nxt = self._paging(members, where)
        provenance = members.get("x_accord_provenance")
        if provenance is not None and (not isinstance(provenance, list) or len(provenance) != len(items)):
            raise PeerError(f"{where}: 'x_accord_provenance' must be an array aligned with 'objects'")
        return Page(
            items=items,
            provenance=provenance,
            more=more,
            next=nxt,
            first_us=self._date_header(answer, "X-TAXII-Date-Added-First", where),
            last_us=self._date_header(answer, "X-TAXII-Date-Added-Last", where),
        )

    def deletions(
        self, *, added_after_us: int | None, next_token: str | None, limit: int
    ) -> DeletionPage | None:
        """A page of the Accord extension `x-accord/deletions/`; None when the peer has none (404)."""
        path = "x-accord/deletions/"
        where = f"GET {self.root}{path}"
        params = {"limit": str(limit)}
        if added_after_us is not None:
            params["added_after"] = format_micros(added_after_us)
        if next_token is not None:
            params["next"] = next_token
        answer = self._request("GET", path, params, ok_missing=True)
        if answer is None:
            return None
        data = self._json(answer, where)
        if not isinstance(data, dict):
            raise PeerError(f"{where}: the answer is not a deletions envelope")
        more, nxt = self._paging(data, where)
        found = data.get("deletions", [])
        if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
            raise PeerError(f"{where}: 'deletions' must be an array of objects")
        last = self._date_header(answer, "X-TAXII-Date-Added-Last", where)
        for d in found:  # the header may be missing; each deletion carries its time
            if isinstance(d.get("deleted"), str):
                try:
                    stamp = parse_micros(d["deleted"])
                except ValueError:
                    continue
                last = stamp if last is None else max(last, stamp)
        return DeletionPage(found, more, nxt, last)

    def post_objects(self, collection_id: str, body: bytes) -> dict[str, Any]:
        """POST an envelope; the TAXII status resource the peer answered."""
        path = f"collections/{quote(collection_id, safe='')}/objects/"
        where = f"POST {self.root}{path}"
        answer = self._request("POST", path, body=body)
        assert answer is not None
        status = self._json(answer, where)
        if not isinstance(status, dict) or not isinstance(status.get("success_count", 0), int):
            raise PeerError(f"{where}: the answer is not a TAXII status resource")
        return status
