"""Log in and out, switch organisation, pick a language.

A session is an API token (12 hours, like POST /api/v1/login) in an HttpOnly cookie that the
Authenticate middleware reads for /ui/ paths only; logging out revokes it, switching organisation
replaces it with a token for the other organisation (the user must be a member of it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from accord.db.schema import api_token, user
from accord.errors import InvalidInput, TooManyAttempts, Unauthenticated
from accord.members.auth import split_token
from accord.ui.i18n import LANGUAGE_COOKIE, N_
from accord.ui.render import redirect, render, ui_router, ui_state
from accord.ui.security import delete_cookie, safe_next, set_cookie
from accord.web.api import POLICY, PUBLIC, AppDep, MemberDep, password_login
from accord.web.auth import SESSION_COOKIE, client_address, request_viewer

router = ui_router()
SESSION_SECONDS = 12 * 3600
LANGUAGE_SECONDS = 365 * 86400


@router.get("/login", openapi_extra=PUBLIC)
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": safe_next(next), "error": None, "email": ""})


@router.post("/login", openapi_extra=PUBLIC)
async def login(
    request: Request,
    app: AppDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A right e-mail and password open a session; a wrong one shows the form again (and counts
    against the same limits as every log-in)."""
    address = client_address(request)
    try:
        token, viewer = await run_in_threadpool(
            password_login, app, address, email, password, None, "ui session"
        )
    except (Unauthenticated, TooManyAttempts, InvalidInput) as exc:
        message = {
            401: N_("The e-mail or password was not accepted."),
            429: N_("Too many failed log-ins. Try again later."),
        }.get(exc.status, N_("This account belongs to no organisation."))
        data = {"next": safe_next(next), "error": message, "email": email}
        return render(request, "login.html", data, status=exc.status)
    response = redirect(safe_next(next))
    set_cookie(request, response, SESSION_COOKIE, token, max_age=SESSION_SECONDS)
    picked = ui_state(request).languages.match(request.cookies.get(LANGUAGE_COOKIE))
    if picked is not None and viewer.user_id is not None:  # chosen on the log-in page: remember it
        await run_in_threadpool(_remember_language, request, viewer.user_id, picked.id)
    return response


def _session_token_id(request: Request) -> int | None:
    parts = split_token(request.cookies.get(SESSION_COOKIE, ""))
    if parts is None:
        return None
    app = request.app.state.accord
    with app.db.read() as conn:
        found = conn.execute(select(api_token.c.id).where(api_token.c.prefix == parts[0])).scalar()
    return int(found) if found is not None else None


@router.post("/logout", openapi_extra=POLICY)
def logout(request: Request, viewer: MemberDep, app: AppDep) -> Response:
    """Revoke the session's token (audited) and forget the cookie."""
    token_id = _session_token_id(request)
    if token_id is not None:
        with app.db.write() as conn:
            app.members.revoke_token(conn, viewer, token_id)
    response = redirect("/ui/login")
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@router.post("/org", openapi_extra=POLICY)
def switch_org(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    org_id: Annotated[int, Form()],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Act for another of the user's organisations: a new session token for it, the old one revoked.
    Not a member: 404, as for anything the user may not see."""
    if viewer.user_id is None:
        raise InvalidInput("only a user acting for an organisation can switch", field="org_id")
    old = _session_token_id(request)
    with app.db.write() as conn:
        new = app.members.create_token(
            conn, viewer, viewer.user_id, org_id, label="ui session", expires_days=SESSION_SECONDS / 86400
        )
        if old is not None:
            app.members.revoke_token(conn, viewer, old)
    response = redirect(safe_next(next))
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=SESSION_SECONDS)
    return response


@router.post("/language", openapi_extra=PUBLIC)
def pick_language(
    request: Request,
    lang: Annotated[str, Form(max_length=35)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Remembered on the user when signed in, in a cookie for visitors (the log-in page)."""
    picked = ui_state(request).languages.match(lang)
    if picked is None or picked.id != lang.replace("-", "_"):
        raise InvalidInput(f"no catalogue for the language {lang!r}", field="lang")
    viewer = request_viewer(request)
    if not viewer.anonymous and viewer.user_id is not None:
        _remember_language(request, viewer.user_id, picked.id)
    response = redirect(safe_next(next, default="/ui/login" if viewer.anonymous else "/ui/"))
    set_cookie(request, response, LANGUAGE_COOKIE, picked.id, max_age=LANGUAGE_SECONDS)
    return response


def _remember_language(request: Request, user_id: int, lang_id: str) -> None:
    """A preference, not a permission: stored on the user without an audit entry."""
    languages = ui_state(request).languages
    code = languages.stored_code(languages.by_id[lang_id])
    app = request.app.state.accord
    with app.db.write() as conn:
        conn.execute(update(user).where(user.c.id == user_id).values(language=code))
