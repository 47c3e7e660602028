"""The UI's static files (CSS, JS, vendored libraries with their licences) and the site root.

Served by a route, not a mount, so the route meta-test sees it: public, read-only, only files that
are in accord/ui/static, with their own content types and long caching for versioned links.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from accord.errors import NotFound
from accord.ui.render import STATIC, redirect, ui_router
from accord.web.api import PUBLIC

router = ui_router()
root = APIRouter(include_in_schema=False)

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


@root.get("/", openapi_extra=PUBLIC)
def site_root() -> Response:
    return redirect("/ui/")


@router.get("/static/{path:path}", openapi_extra=PUBLIC)
def static_file(path: str, request: Request) -> Response:
    """A file of accord/ui/static; anything else (.., hidden files, unknown kinds) is 404."""
    suffix = "." + path.rpartition(".")[2] if "." in path else ""
    if not _NAME.match(path) or suffix not in TYPES:
        raise NotFound(f"no static file {path!r}")
    target = (STATIC / path).resolve()
    if STATIC not in target.parents or not target.is_file():
        raise NotFound(f"no static file {path!r}")
    versioned = "v" in request.query_params
    cache = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    return FileResponse(target, media_type=TYPES[suffix], headers={"cache-control": cache})
