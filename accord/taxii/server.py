"""The TAXII 2.1 HTTP face: discovery at /taxii2/, one API root at /taxii2/api/.

Thin like the JSON API: check the media types, find the collection the viewer may use, ask
`accord.taxii.pages` for a page through the policy, shape the TAXII resource. Every failure under
/taxii2/ is a TAXII error resource (not an RFC 9457 problem), with the spec's status codes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from accord.app import Accord
from accord.db.schema import stix_object
from accord.errors import AccordError, BatchRefused, Forbidden, InvalidInput, NotFound, Problem
from accord.federation.provenance import provenance
from accord.federation.receive import receive
from accord.intel.prepare import BATCH, Prepared, prepare
from accord.intel.store import MAX_PROBLEMS
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.members.model import Viewer
from accord.policy import NO_SHARE, Share
from accord.taxii import collections, pages, status
from accord.taxii.collections import Collection
from accord.taxii.envelope import iter_envelope
from accord.taxii.errors import (
    TAXII_MEDIA,
    NotAcceptable,
    TaxiiJSON,
    UnsupportedMediaType,
    error_response,
    from_accord_error,
    is_taxii_path,
)
from accord.taxii.pages import BadRequest
from accord.web.api import POLICY, AppDep, ViewerDep, _copy_body

ROOT = "/taxii2/api/"
_TAXII_TYPES = ("application/taxii+json", "application/stix+json")

router = APIRouter(tags=["TAXII 2.1"], default_response_class=TaxiiJSON)

CollectionId = Annotated[str, Path(max_length=100, description="a collection id from /collections/")]
ObjectId = Annotated[str, Path(max_length=300, description="a STIX id")]


# --- media types ---------------------------------------------------------------------------------


def _media(item: str) -> tuple[str, dict[str, str]]:
    kind, *params = item.split(";")
    named = {}
    for p in params:
        key, _, value = p.partition("=")
        named[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), named


def _ours(kind: str, params: dict[str, str]) -> bool:
    """A TAXII or STIX JSON media type of version 2.1 (the version parameter may be absent)."""
    return kind in _TAXII_TYPES and params.get("version", "2.1") == "2.1"


def check_accept(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 JSON (or STIX 2.1 JSON, or anything)."""
    header = request.headers.get("accept")
    if not header or not header.strip():
        return
    for item in header.split(","):
        kind, params = _media(item)
        if params.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if _ours(kind, params) or kind in ("*/*", "application/*"):
            return
    raise NotAcceptable(
        f"this server answers {TAXII_MEDIA}; the Accept header does not allow it: {header[:200]!r}",
        header="Accept",
    )


def check_content_type(request: Request) -> None:
    header = request.headers.get("content-type", "")
    kind, params = _media(header)
    if not _ours(kind, params):
        raise UnsupportedMediaType(
            f"send the objects as {TAXII_MEDIA} (an envelope); Content-Type was {header[:200]!r}",
            header="Content-Type",
        )


# --- helpers -------------------------------------------------------------------------------------


def _collection(app: Accord, viewer: Viewer, collection_id: str) -> Collection:
    with app.db.read() as conn:
        return collections.find(conn, app.settings.node_name, viewer, collection_id)


def _page(app: Accord, request: Request) -> pages.Page:
    return pages.parse_page(request.query_params, app.settings.page_size_default, app.settings.page_size_max)


def _answer(body: dict[str, Any] | bytes, rows: pages.Rows | None = None) -> TaxiiJSON:
    return TaxiiJSON(body, headers=rows.headers if rows is not None else None)


# --- discovery, API root, status -----------------------------------------------------------------


@router.get("/taxii2/", openapi_extra=POLICY)
def discovery(request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    """The TAXII server discovery resource: this node's one API root."""
    check_accept(request)
    node = app.settings.node_name
    root = str(request.base_url).rstrip("/") + ROOT  # absolute: some clients do not resolve paths
    return _answer(
        {
            "title": f"Accord {node}",
            "description": f"The TAXII 2.1 server of the Accord node {node}: what you may see, as the "
            "alliance's sharing policy allows.",
            "default": root,
            "api_roots": [root],
        }
    )


@router.get(ROOT, openapi_extra=POLICY)
def api_root(request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    check_accept(request)
    node = app.settings.node_name
    return _answer(
        {
            "title": f"Accord {node}",
            "description": "Collections: the community feed, each organisation's intelligence, "
            "sharing groups and your organisation's inbox.",
            "versions": [TAXII_MEDIA],
            "max_content_length": app.settings.max_body_bytes,
        }
    )


@router.get(ROOT + "status/{status_id}/", openapi_extra=POLICY)
def get_status(
    status_id: Annotated[str, Path(max_length=36)], request: Request, viewer: ViewerDep, app: AppDep
) -> TaxiiJSON:
    """The status of a POST, for whoever posted it."""
    check_accept(request)
    with app.db.read() as conn:
        return _answer(status.get(conn, viewer, status_id))


# --- collections ---------------------------------------------------------------------------------


@router.get(ROOT + "collections/", openapi_extra=POLICY)
def list_collections(request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    check_accept(request)
    with app.db.read() as conn:
        found = collections.readable(conn, app.settings.node_name, viewer)
    return _answer({"collections": [c.resource() for c in found]} if found else {})


@router.get(ROOT + "collections/{collection_id}/", openapi_extra=POLICY)
def get_collection(
    collection_id: CollectionId, request: Request, viewer: ViewerDep, app: AppDep
) -> TaxiiJSON:
    check_accept(request)
    return _answer(_collection(app, viewer, collection_id).resource())


@router.get(ROOT + "collections/{collection_id}/objects/", openapi_extra=POLICY)
def get_objects(collection_id: CollectionId, request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    """A page of the collection's objects the viewer may see (filters: added_after, match[id],
    match[type], match[version], match[spec_version]; paging: limit, next)."""
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("added_after", "id", "type", "version", "spec_version"))
    page = _page(app, request)
    with app.db.read() as conn:
        coll = collections.find(conn, app.settings.node_name, viewer, collection_id)
        rows = pages.objects(conn, app.policy, viewer, coll, f, page)
        return _answer(_envelope(conn, app, viewer, rows), rows)


def _envelope(conn: Any, app: Accord, viewer: Viewer, rows: pages.Rows) -> bytes:
    extra = None
    if viewer.is_peer and rows.rows:  # only a peer node learns where each object comes from
        extra = {"x_accord_provenance": provenance(conn, app.settings.node_name, viewer, rows.rows)}
    return pages.envelope_bytes(rows, pages.render_objects(conn, app.policy, viewer, rows.rows), extra)


@router.get(ROOT + "collections/{collection_id}/objects/{object_id}/", openapi_extra=POLICY)
def get_object(
    collection_id: CollectionId, object_id: ObjectId, request: Request, viewer: ViewerDep, app: AppDep
) -> TaxiiJSON:
    """The object's versions the filters name (default: the newest the viewer may see)."""
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("added_after", "version", "spec_version"))
    page = _page(app, request)
    with app.db.read() as conn:
        coll = collections.find(conn, app.settings.node_name, viewer, collection_id)
        rows = pages.objects(conn, app.policy, viewer, coll, f, page, stix_id=object_id)
        if not rows.rows and not pages.in_collection(conn, app.policy, viewer, coll, object_id):
            raise _no_object(object_id, coll)
        return _answer(_envelope(conn, app, viewer, rows), rows)


def _no_object(object_id: str, coll: Collection) -> AccordError:
    return NotFound(f"no object {object_id} in the collection {coll.title}", object=object_id)


@router.get(ROOT + "collections/{collection_id}/objects/{object_id}/versions/", openapi_extra=POLICY)
def get_versions(
    collection_id: CollectionId, object_id: ObjectId, request: Request, viewer: ViewerDep, app: AppDep
) -> TaxiiJSON:
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("added_after", "spec_version"))
    page = _page(app, request)
    with app.db.read() as conn:
        coll = collections.find(conn, app.settings.node_name, viewer, collection_id)
        rows = pages.versions(conn, app.policy, viewer, coll, f, page, object_id)
        if not rows.rows and not pages.in_collection(conn, app.policy, viewer, coll, object_id):
            raise _no_object(object_id, coll)
    return _answer(pages.envelope(rows, [pages.row_version(r) for r in rows.rows], "versions"), rows)


@router.get(ROOT + "collections/{collection_id}/manifest/", openapi_extra=POLICY)
def get_manifest(collection_id: CollectionId, request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("added_after", "id", "type", "version", "spec_version"))
    page = _page(app, request)
    with app.db.read() as conn:
        coll = collections.find(conn, app.settings.node_name, viewer, collection_id)
        rows = pages.objects(conn, app.policy, viewer, coll, f, page, content=False)
    return _answer(pages.envelope(rows, pages.manifest_records(rows.rows)), rows)


@router.delete(ROOT + "collections/{collection_id}/objects/{object_id}/", openapi_extra=POLICY)
def delete_object(
    collection_id: CollectionId, object_id: ObjectId, request: Request, viewer: ViewerDep, app: AppDep
) -> Response:
    """Delete the caller's organisation's versions of an object (default: all of them; or those
    match[version] names). Only its producer may: others get 404 if they cannot see it, else 403."""
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("version", "spec_version"), default_version="all")
    with app.db.read() as conn:
        coll = collections.find(conn, app.settings.node_name, viewer, collection_id)
        every = pages.Page(limit=app.settings.page_size_max)
        found = pages.objects(conn, app.policy, viewer, coll, f, every, stix_id=object_id, content=False)
    if not found.rows:
        raise _no_object(object_id, coll)
    if not coll.can_write:
        raise Forbidden(f"the collection {coll.title} is not writable for you", collection=coll.id)
    own = sorted({r.modified_us for r in found.rows if r.producer_org_id == viewer.org_id})
    if not own:
        raise Forbidden(f"{object_id} belongs to another organisation; only its producer may delete it")
    if f.versions == {"all"} and not f.version_times and not f.spec_versions:
        app.delete_object(viewer, object_id)
    else:
        for modified_us in own:
            app.delete_object(viewer, object_id, modified_us)
    return TaxiiJSON(b"", status_code=200)


# --- adding objects ------------------------------------------------------------------------------


@router.post(ROOT + "collections/{collection_id}/objects/", openapi_extra=POLICY, status_code=202)
async def add_objects(
    collection_id: CollectionId, request: Request, viewer: ViewerDep, app: AppDep
) -> TaxiiJSON:
    """Add the objects of a TAXII envelope: every object is validated first (any invalid one: 422,
    nothing stored); then those the store accepts are stored in one transaction, and the status
    resource (202) lists each success, and each failure with its reason."""
    check_accept(request)
    request_us = now_micros()
    coll = await run_in_threadpool(_collection, app, viewer, collection_id)
    if not coll.can_write:
        raise Forbidden(f"the collection {coll.title} is not writable for you", collection=coll.id)
    check_content_type(request)
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed below
    try:
        try:
            await _copy_body(request, app.settings.max_body_bytes, spool, "the request body is empty")
        except InvalidInput as exc:
            raise BadRequest(f"{exc.detail}; send a TAXII envelope") from None
        spool.seek(0)
        body = await run_in_threadpool(_add, app, viewer, coll, spool, request_us)
    finally:
        spool.close()
    return TaxiiJSON(body, status_code=202)


def _add(app: Accord, viewer: Viewer, coll: Collection, fp: Any, request_us: int) -> dict[str, Any]:
    if viewer.is_peer:
        return _add_from_peer(app, viewer, fp, request_us)
    try:
        items = [prepare(i, obj, raw) for i, obj, raw in iter_envelope(fp)]
    except InvalidInput as exc:
        raise BadRequest(f"the request body is not a TAXII envelope: {exc.detail}", **exc.where) from None
    problems = [p for p in items if isinstance(p, Problem)]
    if problems:
        raise BatchRefused(problems[:MAX_PROBLEMS])  # 422, every invalid object named; nothing stored
    prepared = [p for p in items if isinstance(p, Prepared)]
    if coll.kind == collections.GROUP:
        assert coll.key is not None
        default_tlp, share = TLP.AMBER, Share(group_ids=frozenset({coll.key}))
    else:
        default_tlp, share = None, NO_SHARE  # no marking: AMBER+STRICT for the producer alone
    refused = _store(app, viewer, prepared, default_tlp, share, f"taxii:{coll.alias}")
    stored_at = _added_dates(app, viewer, [p for p in prepared if p.id not in refused])
    successes, failures = [], []
    for p in prepared:
        version = p.modified_us or p.created_us or stored_at.get(p.id, request_us)
        if p.id in refused:
            failures.append(status.detail(p.id, format_micros(version), refused[p.id]))
        else:
            successes.append(status.detail(p.id, format_micros(version)))
    with app.db.write() as conn:
        return status.create(conn, viewer, request_us, successes, failures)


def _add_from_peer(app: Accord, viewer: Viewer, fp: Any, request_us: int) -> dict[str, Any]:
    """A peer pushing: each object gets the producer and audience its provenance names; objects
    the receiving rules refuse (RED, invalid, another producer's version) are failures."""
    extra: dict[str, Any] = {}
    try:
        entries = list(iter_envelope(fp, extra=extra))
    except InvalidInput as exc:
        raise BadRequest(f"the request body is not a TAXII envelope: {exc.detail}", **exc.where) from None
    objects, raws = [obj for _, obj, _ in entries], [raw for _, _, raw in entries]
    result = receive(app, viewer, objects, extra.get("x_accord_provenance"), raw=raws)
    successes = [
        status.detail(stix_id, format_micros(modified_us or request_us))
        for stix_id, modified_us in result.accepted
    ]
    failures = [status.detail(label, format_micros(request_us), reason) for label, reason in result.failures]
    with app.db.write() as conn:
        return status.create(conn, viewer, request_us, successes, failures)


def _store(
    app: Accord, viewer: Viewer, prepared: list[Prepared], default_tlp: TLP | None, share: Share, what: str
) -> dict[str, str]:
    """Store what the store accepts, in one transaction; returns the refused ids with the reason.

    The store refuses a submission whole (ownership, a different object under a stored version, a
    version after a revocation), naming each object; those are set aside and the rest stored.
    """
    refused: dict[str, str] = {}
    while True:
        todo = [p for p in prepared if p.id not in refused]
        if not todo:
            return refused
        try:
            app.submit_batches(viewer, _batches(todo), default_tlp=default_tlp, share=share, what=what)
            return refused
        except BatchRefused as exc:
            ids = {p.id for p in todo}
            named = {
                str(problem.where["object"]): problem.detail
                for problem in exc.problems
                if problem.where.get("object") in ids
            }
            if not named:
                raise
            refused.update(named)


def _batches(items: list[Prepared]) -> Iterator[list[Prepared | Problem]]:
    for start in range(0, len(items), BATCH):
        yield list(items[start : start + BATCH])


def _added_dates(app: Accord, viewer: Viewer, items: list[Prepared]) -> dict[str, int]:
    """When the organisation's copies of unversioned objects (SCOs) were added: their TAXII version."""
    ids = sorted({p.id for p in items if not p.modified_us and not p.created_us})
    found: dict[str, int] = {}
    with app.db.read() as conn:
        for start in range(0, len(ids), 1000):
            found.update(
                conn.execute(
                    select(stix_object.c.stix_id, func.max(stix_object.c.date_added_us))
                    .where(
                        stix_object.c.stix_id.in_(ids[start : start + 1000]),
                        stix_object.c.producer_org_id == viewer.org_id,
                    )
                    .group_by(stix_object.c.stix_id)
                ).tuples()
            )
    return found


# --- the Accord extension: deletions -------------------------------------------------------------


@router.get(ROOT + "x-accord/deletions/", openapi_extra=POLICY)
def get_deletions(request: Request, viewer: ViewerDep, app: AppDep) -> TaxiiJSON:
    """Objects deleted here that the caller could see (so peers delete their copies): paged like
    objects, with `added_after` on when they were deleted."""
    check_accept(request)
    f = pages.parse_filters(request.query_params, ("added_after",))
    page = _page(app, request)
    if not viewer.may_use_collection(collections.community_id(app.settings.node_name)):
        raise Forbidden("this token is limited to some collections; deletions span them all")
    with app.db.read() as conn:
        rows = pages.deletions(conn, app.policy, viewer, f.added_after_us, page)
    records = pages.deletion_records(rows.rows, app.settings.node_name)
    return _answer(pages.envelope(rows, records, "deletions"), rows)


# --- mounting ------------------------------------------------------------------------------------

Handler = Callable[[Request, Any], Awaitable[Response]]


def _taxii_error(exc: Exception) -> Response:
    if isinstance(exc, AccordError):
        return from_accord_error(exc)
    if isinstance(exc, RequestValidationError):
        errors = [
            {"detail": e.get("msg", "invalid"), "field": ".".join(str(p) for p in e.get("loc", ()))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"detail": "invalid request", "field": ""}
        return error_response(
            400, "Bad request", f"{first['detail']} ({first['field']})", {"problems": errors}
        )
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return error_response(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))


def _path_aware(fallback: Handler | None) -> Handler:
    async def handle(request: Request, exc: Any) -> Response:
        if is_taxii_path(request.url.path) or fallback is None:
            return _taxii_error(exc)
        return await fallback(request, exc)

    return handle


def install(app: FastAPI) -> None:
    """Add the TAXII routes to the HTTP app; errors under /taxii2/ become TAXII error resources."""
    app.include_router(router)
    for exc_class in (AccordError, RequestValidationError, StarletteHTTPException):
        fallback: Any = app.exception_handlers.get(exc_class)
        app.add_exception_handler(exc_class, _path_aware(fallback))
