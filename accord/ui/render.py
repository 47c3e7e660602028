"""How a UI page is answered: one handler, HTML or JSON; the frame every page shares; error pages.

The page pattern itself is described in accord/ui/__init__.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.app import Accord
from accord.db.schema import user
from accord.errors import AccordError
from accord.members.model import Permission, Viewer
from accord.ui.i18n import LANGUAGE_COOKIE, N_, Language, Languages
from accord.ui.security import (
    PRESESSION_COOKIE,
    csrf_key,
    csrf_protect,
    csrf_token,
    delete_cookie,
    set_cookie,
)
from accord.web.api import JSONBytes
from accord.web.auth import SESSION_COOKIE, UI_PREFIX, is_ui_path, request_viewer

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # marked with N_, translated when shown
    section: str
    needs: Permission | None = None
    platform: bool = False  # shown (also) to platform administrators without `needs`

    def shown_to(self, viewer: Viewer) -> bool:
        if self.needs is None or viewer.can(self.needs):
            return not (self.platform and self.needs is not None)
        return self.platform and viewer.can_administer_platform


# The main navigation; a new area appends its entry (shown to viewers with `needs`, if set).
NAV: list[NavItem] = [
    NavItem(UI_PREFIX + "/", N_("Dashboard"), "dashboard"),
    NavItem(UI_PREFIX + "/search", N_("Search"), "search"),
    NavItem(UI_PREFIX + "/lookup", N_("Check values"), "lookup"),
    NavItem(UI_PREFIX + "/countries", N_("Countries"), "countries"),
    NavItem(UI_PREFIX + "/imports", N_("Upload"), "imports", Permission.INTEL_WRITE),
    NavItem(UI_PREFIX + "/new", N_("Create"), "create", Permission.INTEL_WRITE),
    NavItem(UI_PREFIX + "/admin/members", N_("Administration"), "admin", Permission.MEMBERS_ADMIN),
    # A platform administrator who does not administer their own organisation: the platform pages.
    NavItem(
        UI_PREFIX + "/admin/orgs", N_("Administration"), "admin", Permission.MEMBERS_ADMIN, platform=True
    ),
]


@dataclass
class UIState:
    """What the UI keeps per app (built once by `install`, on `app.state.ui`): no globals."""

    env: Environment
    languages: Languages
    csrf_key: bytes
    static_versions: dict[str, str]
    progress: dict[int, list[int]] = field(default_factory=dict)  # running uploads: job -> [done, total]
    dashboard_cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)  # per viewer


def ui_state(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state


def ui_router() -> APIRouter:
    """The router of every UI area: under /ui, out of the OpenAPI document, and every
    state-changing request checked for its anti-forgery token."""
    return APIRouter(prefix=UI_PREFIX, dependencies=[Depends(csrf_protect)], include_in_schema=False)


def wants_json(request: Request) -> bool:
    """`?format=json`, or an Accept header that puts JSON first; browsers get HTML."""
    if request.query_params.get("format") == "json":
        return True
    first = request.headers.get("accept", "").split(",")[0].split(";")[0].strip().lower()
    return first in ("application/json", "application/problem+json")


# --- the frame -------------------------------------------------------------------------------------


@dataclass
class Frame:
    """What the frame of every page shows (header, navigation, footer), as `ui` in templates."""

    viewer: Viewer | None
    lang: Language
    languages: list[Language]
    memberships: list[dict[str, Any]]
    csrf: str
    here: str  # this page's path and query, for `next=`
    section: str
    nav: list[NavItem]
    static_versions: dict[str, str]
    version: str = __version__

    @property
    def org_name(self) -> str:
        org_id = self.viewer.org_id if self.viewer else None
        return next((m["org"] for m in self.memberships if m["org_id"] == org_id), "")

    def static(self, name: str) -> str:
        return f"{UI_PREFIX}/static/{name}?v={self.static_versions.get(name, '0')}"


def _user_settings(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """The signed-in user's stored language and memberships (one read, once per request)."""
    cached: tuple[str | None, list[dict[str, Any]]] | None = getattr(request.state, "ui_user", None)
    if cached is not None:
        return cached
    viewer = request_viewer(request)
    found: tuple[str | None, list[dict[str, Any]]] = (None, [])
    if not viewer.anonymous and viewer.user_id is not None:
        app: Accord = request.app.state.accord
        with app.db.read() as conn:
            stored = conn.execute(select(user.c.language).where(user.c.id == viewer.user_id)).scalar()
            found = (stored, app.members.memberships(conn, viewer.user_id))
    request.state.ui_user = found
    return found


def request_language(request: Request) -> Language:
    """The user's chosen language; for visitors, their pick on the log-in page, else the best match
    for the browser's Accept-Language; else English."""
    languages = ui_state(request).languages
    stored, _ = _user_settings(request)
    return (
        languages.match(stored)
        or languages.match(request.cookies.get(LANGUAGE_COOKIE))
        or languages.negotiate(request.headers.get("accept-language", ""))
    )


def frame(request: Request, section: str = "") -> Frame:
    state = ui_state(request)
    viewer = request_viewer(request)
    _, memberships = _user_settings(request)
    signed_in = None if viewer.anonymous else viewer
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Frame(
        viewer=signed_in,
        lang=request_language(request),
        languages=list(state.languages),
        memberships=memberships,
        csrf=csrf_token(request),
        here=here,
        section=section,
        nav=[n for n in NAV if signed_in and n.shown_to(signed_in)],
        static_versions=state.static_versions,
    )


# --- answering -------------------------------------------------------------------------------------


def page(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
    status: int = 200,
    section: str = "",
) -> Response:
    """THE way a page answers: `data` as JSON when the client asks for JSON, else `template`
    rendered with `data`, the frame as `ui`, and `extra` (what only the HTML needs: a form's
    choices, names of linked objects). So the page and its JSON cannot drift."""
    if wants_json(request):
        return JSONBytes(data, status_code=status)
    return render(request, template, {**(extra or {}), **data}, status=status, section=section)


def render(
    request: Request, template: str, data: dict[str, Any], *, status: int = 200, section: str = ""
) -> HTMLResponse:
    """HTML only (forms and error pages that have no JSON twin)."""
    state = ui_state(request)
    context = {**data, "ui": frame(request, section)}
    response = HTMLResponse(state.env.get_template(template).render(context), status_code=status)
    fresh = getattr(request.state, "new_presession", None)
    if fresh:
        set_cookie(request, response, PRESESSION_COOKIE, fresh, max_age=None)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def url(path: str, **params: Any) -> str:
    """A /ui/ link with query parameters (lists repeat, None and "" are left out)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for v in value if isinstance(value, list | tuple) else [value]:
            if v is not None and v != "":
                pairs.append((key, str(v)))
    return path + ("?" + urlencode(pairs) if pairs else "")


# --- templates -------------------------------------------------------------------------------------


@pass_context
def _gettext(context: Context, message: str) -> str:
    lang: Language = context["ui"].lang
    return lang.gettext(message)


@pass_context
def _when(context: Context, value: Any) -> str:
    lang: Language = context["ui"].lang
    return lang.when(value)


@pass_context
def _number(context: Context, value: Any) -> str:
    lang: Language = context["ui"].lang
    return lang.number(value)


def safe_link(value: Any) -> str:
    """A URL to put in href only if it is http(s): never javascript:, data: or anything else."""
    if not isinstance(value, str) or len(value) > 4000:
        return ""
    head = value.strip()[:8].lower()
    return value.strip() if head.startswith(("http://", "https://")) else ""


def display_name(obj: dict[str, Any]) -> str:
    """What an object is called on screen: its name, else its value, else its id."""
    for key in ("name", "value", "path", "body", "id"):
        v = obj.get(key)
        if isinstance(v, str) and v:
            return v[:300]
    return str(obj.get("id", ""))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def object_url(stix_id: str, **params: Any) -> str:
    return url(f"{UI_PREFIX}/objects/{quote(stix_id, safe='')}", **params)


def build_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name; nothing is ever marked |safe
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, lambda c, s, p, n: _gettext(c, s if n == 1 else p), newstyle=True
    )
    env.filters.update(when=_when, number=_number, safe_link=safe_link, pretty_json=pretty_json)
    env.globals.update(url=url, object_url=object_url, display_name=display_name)
    return env


def static_versions() -> dict[str, str]:
    """A short hash of every static file, so links change when the file does (cache busting)."""
    return {
        str(p.relative_to(STATIC)): hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in STATIC.rglob("*")
        if p.is_file()
    }


def build_state(accord: Accord) -> UIState:
    return UIState(
        env=build_env(),
        languages=Languages(),
        csrf_key=csrf_key(accord.audit_key),
        static_versions=static_versions(),
    )


# --- errors ----------------------------------------------------------------------------------------

TITLES = {
    400: N_("The request was not understood"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Conflict"),
    411: N_("The request was not understood"),
    413: N_("Too large"),
    422: N_("Something in the request is not right"),
    429: N_("Too many attempts"),
}


def error_page(request: Request, status: int, detail: str) -> Response:
    """An error as an HTML page; 401 sends the browser to log in and come back."""
    if status == 401:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = redirect(
            url(UI_PREFIX + "/login", next=back if request.method == "GET" else None)
        )
        if request.cookies.get(SESSION_COOKIE):
            delete_cookie(request, response, SESSION_COOKIE)
        return response
    # A 404 says no more than that: the library's detail would repeat the id asked for.
    data = {"status": status, "title": TITLES.get(status, N_("Something went wrong")), "detail": detail}
    if status == 404:
        data["detail"] = ""
    return render(request, "error.html", data, status=status)


def _status_and_detail(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AccordError):
        return exc.status, str(exc)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return 422, f"{first.get('msg', 'invalid')} ({where})"
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    return 500, "internal error"


def install_errors(app: FastAPI) -> None:
    """Errors under /ui/ become pages for browsers; JSON clients keep the API's problem details."""
    for exc_class in (AccordError, RequestValidationError, StarletteHTTPException):
        api_handler: Callable[..., Any] = app.exception_handlers[exc_class]

        async def handler(
            request: Request, exc: Exception, api_handler: Callable[..., Any] = api_handler
        ) -> Any:
            if is_ui_path(request.url.path) and not wants_json(request):
                status, detail = _status_and_detail(exc)
                return await run_in_threadpool(error_page, request, status, detail)
            return await api_handler(request, exc)

        app.add_exception_handler(exc_class, handler)
