"""Search and object pages: everything read through the `Accord` façade, so through the policy
(a hidden object is a 404 here exactly as in the API)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from accord.errors import InvalidInput, NotFound
from accord.intel.query import ListFilter
from accord.intel.tlp import LEVEL_OF_ID, TLP
from accord.members.model import Permission
from accord.ui.editing import may_change
from accord.ui.render import page, ui_router
from accord.web.api import POLICY, AppDep, MemberDep, _timestamp, list_filter

router = ui_router()

# Offered in the type filter (any other STIX type can still be asked for with ?type=).
TYPES = (
    "indicator", "malware", "threat-actor", "intrusion-set", "campaign", "attack-pattern", "tool",
    "infrastructure", "vulnerability", "report", "grouping", "note", "opinion", "observed-data",
    "identity", "location", "course-of-action", "incident", "malware-analysis", "relationship",
    "sighting", "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file",
)  # fmt: skip
PAGE_SIZE = 50
MAX_QUERY = 500
RELATIONSHIPS_SHOWN = 200
NAMES_LOOKED_UP = 50


@router.get("/search", openapi_extra=POLICY)
def search(
    request: Request,
    viewer: MemberDep,
    app: AppDep,
    q: Annotated[str, Query(description="free text: names, descriptions, patterns, values")] = "",
    type: Annotated[list[str], Query()] = [],  # noqa: B006
    tlp: Annotated[list[str], Query()] = [],  # noqa: B006
    producer: str = "",
    since: Annotated[str, Query(description="added on or after this day (YYYY-MM-DD)")] = "",
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Response:
    """Objects the viewer may see, newest last, a page at a time (the API's filters and cursor)."""
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"the search text is longer than {MAX_QUERY} characters", field="q")
    f = list_filter(
        app,
        type=[t for t in type if t],
        tlp=[t for t in tlp if t],
        producer=producer or None,
        added_after=None,
        modified_from=None,
        modified_to=None,
        value=None,
        revoked=True,
    )
    f.text = q.strip() or None
    if since:
        f.added_after_us = _day_start_us(since) - 1
    items, next_cursor = app.list_objects(viewer, f, limit, cursor or None)
    query = {"q": q, "type": f.types, "tlp": f.tlp, "producer": producer, "since": since}
    data = {"query": query, "items": items, "next": next_cursor}
    with app.db.read() as conn:
        orgs = app.members.list_orgs(conn)
    extra = {"orgs": orgs, "types": TYPES, "tlps": [t.value for t in TLP], "first_page": cursor is not None}
    return page(request, "search.html", data, extra=extra, section="search")


def _day_start_us(day: str) -> int:
    try:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    except ValueError:
        raise InvalidInput(f"not a day (YYYY-MM-DD): {day!r}", field="since") from None
    return int(start.timestamp()) * 1_000_000


@router.get("/objects/{stix_id}", openapi_extra=POLICY)
def object_page(
    request: Request,
    stix_id: str,
    viewer: MemberDep,
    app: AppDep,
    version: Annotated[str | None, Query(description="a modified timestamp")] = None,
) -> Response:
    """One object with every visible version, its relationships, sightings, score and what else is
    known about its values. Hidden or absent: 404."""
    item = app.get_object(viewer, stix_id, _timestamp(version, "version"))
    obj = item["object"]
    versions = app.versions(viewer, stix_id)
    relationships, more = app.list_objects(
        viewer, ListFilter(types=["relationship"], ref=stix_id), RELATIONSHIPS_SHOWN
    )
    try:
        related: dict[str, Any] | None = app.related(viewer, object_id=stix_id)
    except InvalidInput:  # more values than one question may ask about: shown without
        related = None
    data = {
        "object": item,
        "versions": versions,
        "relationships": relationships,
        "more_relationships": more is not None,
        "sightings": app.sightings(viewer, stix_id),
        "score": app.score(viewer, stix_id) if obj.get("type") == "indicator" else None,
        "related": related,
    }
    extra = {
        "names": _names(app, viewer, _other_ends(stix_id, relationships)),
        "markings": [
            {"id": ref, "tlp": LEVEL_OF_ID[ref].label if ref in LEVEL_OF_ID else None}
            for ref in obj.get("object_marking_refs", [])
        ],
        "version": version,
        "can_change": may_change(viewer, versions[-1]),  # edit, share, revoke (ui/editing.py)
        "can_write": viewer.can(Permission.INTEL_WRITE),
    }
    return page(request, "object.html", data, extra=extra, section="search")


def _other_ends(stix_id: str, relationships: list[dict[str, Any]]) -> list[str]:
    ends: list[str] = []
    for r in relationships:
        for key in ("source_ref", "target_ref"):
            ref = r["object"].get(key)
            if isinstance(ref, str) and ref != stix_id and ref not in ends:
                ends.append(ref)
    return ends


def _names(app: Any, viewer: Any, ids: list[str]) -> dict[str, str]:
    """What the objects at the other ends are called (those the viewer may see, the first few)."""
    names: dict[str, str] = {}
    for ref in ids[:NAMES_LOOKED_UP]:
        try:
            obj = app.get_object(viewer, ref)["object"]
        except NotFound:
            continue
        name = obj.get("name") or obj.get("value")
        if isinstance(name, str):
            names[ref] = name
    return names
