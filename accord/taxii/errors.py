"""TAXII 2.1 media types and error resources (the TAXII face's own shape for every failure).

Kept free of web imports so the authentication middleware can answer /taxii2/ paths in this shape
before any route runs.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from accord.errors import AccordError, BatchRefused

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
PREFIX = "/taxii2"


class NotAcceptable(AccordError):
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(AccordError):
    status = 415
    title = "Unsupported media type"


def is_taxii_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class TaxiiJSON(Response):
    """A TAXII resource: JSON (orjson) with the TAXII 2.1 media type."""

    media_type = TAXII_MEDIA

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def error_response(
    status: int, title: str, description: str, details: dict[str, Any] | None = None
) -> TaxiiJSON:
    """A TAXII 2.1 error resource: `title`, `description`, `http_status` (a string), `details`."""
    body: dict[str, Any] = {"title": title, "description": description, "http_status": str(status)}
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": 'Bearer realm="accord", Basic realm="accord"'} if status == 401 else None
    return TaxiiJSON(body, status_code=status, headers=headers)


def from_accord_error(exc: AccordError) -> TaxiiJSON:
    details: dict[str, Any] = dict(exc.where)
    if isinstance(exc, BatchRefused):
        details["problems"] = [{"detail": p.detail, **p.where} for p in exc.problems]
    return error_response(exc.status, exc.title, exc.detail, details or None)
