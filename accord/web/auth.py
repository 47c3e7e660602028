"""The one authentication dependency every non-public route takes, whatever its HTTP method.

`Authorization: Bearer <token>`; or HTTP Basic with the token as the password (what many TAXII tools
speak), or with e-mail and password. Failures count against the address and the account in the
database-backed limiter before anything else is checked. Under /ui/ only, a request without an
Authorization header may carry the web UI's session cookie instead: an API token (see accord/ui).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import replace

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.app import Accord
from accord.errors import AccordError, Unauthenticated
from accord.members.auth import authenticate_password, authenticate_token, touch_token, viewer_for
from accord.members.model import ANONYMOUS, Viewer
from accord.taxii.errors import from_accord_error, is_taxii_path
from accord.web.problems import problem

ACCESS_KEY = "x-access"  # on every route: "policy", "members" or "public" (see tests/web/test_routes_meta.py)
SESSION_COOKIE = "accord_session"  # the web UI's session: an API token, read for /ui/ paths only
UI_PREFIX = "/ui"


def is_ui_path(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _credentials(header: str) -> tuple[str, str, str] | None:
    """('token', '', token) or ('password', email, password), or None for a malformed header."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return "token", "", value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
        if password.startswith("acc_"):
            return "token", username, password
        return "password", username, password
    return None


def authenticate(app: Accord, request: Request) -> Viewer:
    header = request.headers.get("authorization")
    address = client_address(request)
    if not header:
        session = request.cookies.get(SESSION_COOKIE) if is_ui_path(request.url.path) else None
        if session:
            return _session_viewer(app, session, address)
        return replace(ANONYMOUS, source=address)
    creds = _credentials(header)
    keys = [f"addr:{address}"]
    if creds and creds[0] == "password" and creds[1]:
        keys.append(f"account:{creds[1].strip().lower()}")
    with app.db.read() as conn:
        app.limiter.check(conn, keys)
    viewer: Viewer | None = None
    if creds is not None:
        kind, username, secret = creds
        with app.db.read() as conn:
            if kind == "token":
                viewer = authenticate_token(conn, secret)
            else:
                user_id = authenticate_password(conn, username, secret)
                viewer = viewer_for(conn, user_id) if user_id is not None else None
    if viewer is None:
        with app.db.write() as conn:
            app.limiter.record(conn, keys)
        raise Unauthenticated("the credentials were not accepted")
    if creds and creds[0] == "token":
        _touch(app, creds[2])
    return replace(viewer, source=address)


def _session_viewer(app: Accord, token: str, address: str) -> Viewer:
    """The viewer of a UI session cookie. An expired or revoked one makes the request anonymous (the
    UI then asks to log in) instead of counting as a failed log-in: a stale cookie is not an attack,
    and a token's 256 random bits leave nothing to guess. Peer node tokens do not open sessions."""
    with app.db.read() as conn:
        viewer = authenticate_token(conn, token)
    if viewer is None or viewer.is_peer:
        return replace(ANONYMOUS, source=address)
    _touch(app, token)
    return replace(viewer, source=address)


def _touch(app: Accord, token: str) -> None:
    """Record a token's use at most once a minute: a write per request would serialise readers."""
    now = time.monotonic()
    if now - app.token_last_touched.get(token[:16], -60.0) >= 60.0:
        app.token_last_touched[token[:16]] = now
        with app.db.write() as conn:
            touch_token(conn, token)


class Authenticate:
    """ASGI middleware: every request that carries credentials is authenticated here, before routing.

    So a wrong password counts against the limit (and a locked account gets 429) whatever the path
    or HTTP method, even one the route does not allow; routes read the result from `request.state`.
    """

    def __init__(self, app: ASGIApp, accord: Accord) -> None:
        self.app = app
        self.accord = accord

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            viewer = await run_in_threadpool(authenticate, self.accord, request)
        except AccordError as exc:
            taxii = is_taxii_path(scope["path"])  # TAXII clients get TAXII error resources
            response = from_accord_error(exc) if taxii else problem(exc.status, exc.title, exc.detail)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["viewer"] = viewer
        await self.app(scope, receive, send)


def request_viewer(request: Request) -> Viewer:
    """The viewer the middleware established (anonymous when no credentials were sent)."""
    viewer: Viewer = request.state.viewer
    return viewer
