"""The one authentication dependency every non-public route takes, whatever its HTTP method.

`Authorization: Bearer <token>`; or HTTP Basic with the token as the password (what many TAXII tools
speak), or with e-mail and password. Failures count against the address and the account in the
database-backed limiter before anything else is checked.
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
        # Record use at most once a minute per token: a write per request would serialise readers.
        now = time.monotonic()
        if now - app.token_last_touched.get(creds[2][:16], -60.0) >= 60.0:
            app.token_last_touched[creds[2][:16]] = now
            with app.db.write() as conn:
                touch_token(conn, creds[2])
    return replace(viewer, source=address)


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
