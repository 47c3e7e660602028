"""The UI's defences in one place: security headers, body size, CSRF, cookies, safe redirects.

- Every response under /ui/ (pages, errors, redirects, static files) gets a strict CSP with no inline
  script or style, nosniff, no framing, same-origin referrers, and `no-store` for pages.
- Every state-changing request under /ui/ must carry the anti-forgery token: HMAC of the session (the
  session cookie, or before log-in a random pre-session cookie), in the form field `csrf` or the
  `X-CSRF-Token` header. `csrf_protect` is a dependency of every UI router (`render.ui_router`), and
  tests/ui/test_security.py fails for a POST route without it.
- Cookies are HttpOnly, SameSite=Lax, limited to /ui, and Secure when the request came over TLS.
- `next=` parameters are followed only to local /ui/ paths: no open redirects.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.errors import Forbidden, TooLarge
from accord.web.auth import SESSION_COOKIE, UI_PREFIX, is_ui_path
from accord.web.problems import problem

PRESESSION_COOKIE = "accord_pre"  # before log-in: what the log-in and language forms' tokens are made from
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class UIHeaders:
    """ASGI middleware for /ui/ (and the / redirect): security headers on every response, and
    request bodies larger than the API's limit refused before anything reads them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (scope["path"] == "/" or is_ui_path(scope["path"])):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(UI_PREFIX + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        if scope["method"] not in SAFE_METHODS:
            refusal = self._body_refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)

    def _body_refusal(self, scope: Scope) -> JSONResponse | None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is None:
            if headers.get(b"transfer-encoding"):
                return problem(411, "Length required", "send the form with a Content-Length")
            return None
        if not length.isdigit() or int(length) > self.max_body_bytes:
            exc = TooLarge(f"the request body is larger than {self.max_body_bytes} bytes")
            return problem(exc.status, exc.title, exc.detail)
        return None


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_key(audit_key: bytes) -> bytes:
    """A key of its own for anti-forgery tokens, derived from the node's secret key."""
    return hmac.new(audit_key, b"accord-ui-csrf", hashlib.sha256).digest()


def session_secret(request: Request) -> str:
    """What this browser's anti-forgery token is made from: its session, else its pre-session
    cookie, else a new pre-session value that the page being rendered sets as a cookie."""
    for name in (SESSION_COOKIE, PRESESSION_COOKIE):
        value = request.cookies.get(name)
        if value:
            return value
    fresh: str | None = getattr(request.state, "new_presession", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_presession = fresh
    return fresh


def csrf_token(request: Request) -> str:
    key: bytes = request.app.state.ui.csrf_key
    return hmac.new(key, session_secret(request).encode(), hashlib.sha256).hexdigest()


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing request without this browser's anti-forgery token (403)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    known = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE)
    if not sent or not known or not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden(
            "the form's anti-forgery token is missing or does not match this session; "
            "reload the page and send it again",
            field=CSRF_FIELD,
        )


# --- cookies and redirects -----------------------------------------------------------------------


def set_cookie(request: Request, response: object, name: str, value: str, max_age: int | None) -> None:
    """HttpOnly, SameSite=Lax, for /ui only; Secure when the request came over TLS."""
    response.set_cookie(  # type: ignore[attr-defined]
        name,
        value,
        max_age=max_age,
        path=UI_PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def delete_cookie(request: Request, response: object, name: str) -> None:
    response.delete_cookie(  # type: ignore[attr-defined]
        name, path=UI_PREFIX, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def safe_next(value: str | None, default: str = UI_PREFIX + "/") -> str:
    """`value` if it is a path on this site under /ui/, else `default`: a `next=` parameter
    must never send a browser elsewhere (//evil.example, https://…, /\\evil, javascript:…)."""
    if not value or len(value) > 2000:
        return default
    if "\\" in value or any(ord(c) < 0x21 or c == "\x7f" for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(UI_PREFIX + "/") or value.startswith("//"):
        return default
    return value
