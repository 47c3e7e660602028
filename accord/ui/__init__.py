"""The web UI: server-rendered pages under /ui/, in every language that has a catalogue.

The page pattern (follow it for every new page: dashboard, create/edit/share, admin …):

1. A module per area (`auth.py`, `search.py`, `imports.py` …) with `router = ui_router()`, listed
   in `install()` below. `ui_router()` puts it under /ui, out of the OpenAPI document, and makes
   every POST/PUT/DELETE carry the anti-forgery token (forms: `{{ csrf_field() }}`).
2. A handler takes `viewer: MemberDep` (the session or a bearer token; anonymous is sent to log
   in) and `app: AppDep`, declares `openapi_extra=POLICY` (or MEMBERS; PUBLIC only on the short
   list in tests/web/test_routes_meta.py), and reads ONLY through the `Accord` façade (so through
   the policy: what the viewer may not see raises NotFound, which is the 404 page).
3. It ends with `page(request, "area.html", data, extra=…, section=…)`: `data` (what the API would
   answer) goes out as JSON to `Accept: application/json` or `?format=json`, else into the template;
   `extra` holds what only the HTML needs (a form's choices). Forms without a JSON twin use
   `render()`; after a POST, answer `redirect(url)` (303).
4. The template extends "base.html", fills `title` and `main`, and uses the helpers base.html
   imports from "_macros.html" as `m` (`m.tlp`, `m.value` for `<code dir="ltr">`, `m.text` for user
   text with `dir="auto"`, `m.when`, `m.object_link`, `m.csrf_field`). Every string is
   `{{ _("…") }}`; Python strings shown to users are marked `N_("…")`.
   Autoescape is on for every template; never `|safe` (or Markup) on user or peer data; links
   from data go through `|safe_link` (http/https only). No inline script or style (the CSP forbids
   them): behaviour goes in static/accord.js, looks in static/accord.css.
5. A new string needs a translation in every catalogue: `python -m accord.ui.catalogues update`
   adds it (empty) to each; tests/ui/test_catalogues.py fails until all are filled in.
6. Navigation: append a `NavItem` to `render.NAV`.
"""

from __future__ import annotations

from fastapi import FastAPI

from accord.app import Accord

__all__ = ["install"]


def install(app: FastAPI, accord: Accord) -> None:
    """Mount the UI on the HTTP face: its routers, its error pages, its headers (outermost)."""
    from accord.ui import admin, auth, imports, search, static_files
    from accord.ui.render import build_state, install_errors
    from accord.ui.security import UIHeaders

    app.state.ui = build_state(accord)
    for router in (static_files.root, static_files.router, auth.router, search.router, imports.router):
        app.include_router(router)
    app.include_router(admin.router)
    from accord.ui import countries, dashboard, editing

    app.include_router(dashboard.router)
    app.include_router(countries.router)
    app.include_router(editing.router)
    install_errors(app)
    app.add_middleware(UIHeaders, max_body_bytes=accord.settings.max_body_bytes)
