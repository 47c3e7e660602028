"""The versioned JSON API (/api/v1). Thin: parse the request, call the `Accord` façade, shape JSON.

Every route declares its access kind in `openapi_extra["x-access"]`:
- "policy": reads or writes intelligence through the policy (an authenticated viewer, or an
  anonymous one only where the operator enabled the public feed);
- "members": membership administration, authorised in `accord.members.service`;
- "public": needs no authentication (a short list the route meta-test pins down).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from accord import __version__, jobs
from accord.app import Accord
from accord.errors import Forbidden, InvalidInput, TooLarge, Unauthenticated
from accord.intel.bundle_stream import iter_bundle
from accord.intel.query import ListFilter
from accord.intel.timestamps import parse_micros
from accord.intel.tlp import TLP
from accord.members.auth import authenticate_password, viewer_for
from accord.members.model import Permission, Viewer
from accord.web import problems
from accord.web.auth import ACCESS_KEY, Authenticate, client_address, request_viewer

POLICY = {ACCESS_KEY: "policy"}
MEMBERS = {ACCESS_KEY: "members"}
PUBLIC = {ACCESS_KEY: "public"}


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _app(request: Request) -> Accord:
    accord: Accord = request.app.state.accord
    return accord


def current_viewer(request: Request) -> Viewer:
    """Authenticated viewer; anonymous only passes if the operator enabled the public feed."""
    app = _app(request)
    viewer = request_viewer(request)
    if viewer.anonymous and not app.settings.public_feed:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    return viewer


def member_viewer(request: Request) -> Viewer:
    viewer = request_viewer(request)
    if viewer.anonymous:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
MemberDep = Annotated[Viewer, Depends(member_viewer)]
AppDep = Annotated[Accord, Depends(_app)]


def _need(viewer: Viewer, permission: Permission) -> None:
    if not viewer.can(permission):
        raise Forbidden(f"this needs the {permission.value} permission")


def _timestamp(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_micros(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not a STIX timestamp: {exc}", field=name) from None


def _tlp_list(values: list[str]) -> list[str]:
    out = []
    for v in values:
        if v.lower() == "none":
            out.append("none")
            continue
        try:
            out.append(TLP.parse(v).value)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="tlp") from None
    return out


def _tlp_param(tlp: str | None) -> TLP | None:
    if tlp is None:
        return None
    try:
        return TLP.parse(tlp)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tlp") from None


def list_filter(
    app: AppDep,
    type: Annotated[list[str], Query(description="STIX type; repeat for several")] = [],  # noqa: B006
    added_after: str | None = None,
    modified_from: str | None = None,
    modified_to: str | None = None,
    tlp: Annotated[list[str], Query()] = [],  # noqa: B006
    producer: str | None = None,
    value: str | None = None,
    revoked: bool = True,
) -> ListFilter:
    producer_id = None
    if producer is not None:
        with app.db.read() as conn:
            producer_id = app.members.org_id(conn, producer)
    for t in type:
        if not (1 <= len(t) <= 250) or not all(c.isalnum() or c == "-" for c in t):
            raise InvalidInput(f"not a STIX type: {t!r}", field="type")
    return ListFilter(
        types=type,
        added_after_us=_timestamp(added_after, "added_after"),
        modified_from_us=_timestamp(modified_from, "modified_from"),
        modified_to_us=_timestamp(modified_to, "modified_to"),
        tlp=_tlp_list(tlp),
        producer_org_id=producer_id,
        value=value,
        include_revoked=revoked,
    )


FilterDep = Annotated[ListFilter, Depends(list_filter)]

intel = APIRouter(prefix="/api/v1", tags=["intelligence"])
admin = APIRouter(prefix="/api/v1", tags=["members"])
public = APIRouter(prefix="/api/v1", tags=["public"])


# --- public ------------------------------------------------------------------------------------------


@public.get("/health", openapi_extra=PUBLIC)
def health(app: AppDep) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "schema": app.db.revision()}


class LoginBody(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)
    org: str | None = Field(default=None, description="organisation to act for (default: the first)")


def password_login(
    app: Accord, address: str, email: str, password: str, org: str | None = None, label: str = "login"
) -> tuple[str, Viewer]:
    """E-mail and password for a 12-hour token and its viewer, rate-limited like every log-in (the
    API's POST /login and the web UI's log-in form both come through here)."""
    keys = [f"addr:{address}", f"account:{email.strip().lower()}"]
    with app.db.read() as conn:
        app.limiter.check(conn, keys)
        user_id = authenticate_password(conn, email, password)
    if user_id is None:
        with app.db.write() as conn:
            app.limiter.record(conn, keys)
        raise Unauthenticated("the e-mail or password was not accepted")
    with app.db.write() as conn:
        org_id = app.members.org_id(conn, org) if org else None
        viewer = replace(viewer_for(conn, user_id, org_id), source=address)
        if viewer.org_id is None:
            raise InvalidInput("this account belongs to no organisation", field="org")
        token = app.members.create_token(conn, viewer, user_id, viewer.org_id, label=label, expires_days=0.5)
    return token.token, viewer


@public.post("/login", openapi_extra=PUBLIC)
def login(body: LoginBody, request: Request, app: AppDep) -> dict[str, Any]:
    """Exchange e-mail and password for a 12-hour token (rate-limited like every log-in)."""
    token, viewer = password_login(app, client_address(request), body.email, body.password, body.org)
    return {"token": token, "org_id": viewer.org_id, "expires_in": 12 * 3600}


# --- intelligence ------------------------------------------------------------------------------------


@intel.get("/me", openapi_extra=POLICY)
def me(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        memberships = app.members.memberships(conn, viewer.user_id) if viewer.user_id else []
    return {
        "email": viewer.email,
        "org_id": viewer.org_id,
        "role": viewer.role,
        "platform_admin": viewer.platform_admin,
        "permissions": sorted(p.value for p in viewer.permissions),
        "memberships": memberships,
    }


@intel.get("/objects", openapi_extra=POLICY, response_class=JSONBytes)
def list_objects(
    viewer: ViewerDep, app: AppDep, f: FilterDep, limit: int | None = None, cursor: str | None = None
) -> Any:
    items, next_cursor = app.list_objects(viewer, f, limit, cursor)
    return JSONBytes({"items": items, "next": next_cursor})


@intel.get("/objects/count", openapi_extra=POLICY)
def count_objects(viewer: ViewerDep, app: AppDep, f: FilterDep) -> dict[str, int]:
    return {"count": app.count(viewer, f)}


@intel.get("/stats", openapi_extra=POLICY)
def stats(viewer: ViewerDep, app: AppDep) -> dict[str, Any]:
    return app.stats(viewer)


async def _copy_body(request: Request, limit: int, out: IO[bytes], empty: str) -> None:
    """Stream the request body into `out`, refusing more than `limit` bytes (413) or nothing (422)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is larger than {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes")
        out.write(chunk)
    if size == 0:
        raise InvalidInput(empty)


async def _read_body(request: Request, limit: int) -> tempfile.SpooledTemporaryFile[bytes]:
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - handed to the caller, who closes it
    try:
        await _copy_body(request, limit, spool, "the request body is empty; send a STIX bundle or object")
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


@intel.post("/objects", openapi_extra=POLICY, status_code=201)
async def submit_objects(
    request: Request,
    viewer: ViewerDep,
    app: AppDep,
    tlp: Annotated[str | None, Query(description="TLP for objects that carry no TLP marking")] = None,
    share_with: Annotated[list[str], Query(description="org:NAME, group:NAME or user:EMAIL")] = [],  # noqa: B006
) -> dict[str, Any]:
    """Submit a bundle, an array of objects or one object; all of it is stored, or none."""

    default_tlp = _tlp_param(tlp)
    _need(viewer, Permission.INTEL_WRITE)  # before reading a body that may be 256 MB
    share = await run_in_threadpool(app.resolve_share, viewer, share_with)
    spool = await _read_body(request, app.settings.max_body_bytes)
    try:

        def work() -> dict[str, Any]:
            result = app.submit(viewer, iter_bundle(spool), default_tlp=default_tlp, share=share, what="api")
            return result.as_dict()

        return await run_in_threadpool(work)
    finally:
        spool.close()


@intel.get("/objects/{stix_id}", openapi_extra=POLICY, response_class=JSONBytes)
def get_object(
    stix_id: str,
    viewer: ViewerDep,
    app: AppDep,
    version: Annotated[str | None, Query(description="a modified timestamp, or 'all'")] = None,
) -> Any:
    if version == "all":
        return JSONBytes({"items": app.versions(viewer, stix_id)})
    return JSONBytes(app.get_object(viewer, stix_id, _timestamp(version, "version")))


@intel.get("/objects/{stix_id}/versions", openapi_extra=POLICY)
def object_versions(stix_id: str, viewer: ViewerDep, app: AppDep) -> dict[str, Any]:
    items = app.versions(viewer, stix_id)
    return {"versions": [i["object"].get("modified") for i in items]}


class LookupBody(BaseModel):
    values: list[Annotated[str, Field(max_length=2048)]] = Field(max_length=10000)


@intel.post("/lookup", openapi_extra=POLICY, response_class=JSONBytes)
def lookup(body: LookupBody, viewer: ViewerDep, app: AppDep) -> Any:
    """Which of these values are known, and from whom (only what the caller may see)."""
    return JSONBytes({"results": app.lookup(viewer, body.values)})


@intel.get("/export", openapi_extra=POLICY)
def export(
    viewer: ViewerDep,
    app: AppDep,
    type: Annotated[list[str], Query()] = [],  # noqa: B006
) -> StreamingResponse:
    """One STIX 2.1 bundle of every latest object the caller may see, with TLP markings."""
    import uuid

    def body() -> Iterator[bytes]:
        yield b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
        first = True
        for obj in app.export(viewer, type or None):
            yield (b"" if first else b",") + orjson.dumps(obj)
            first = False
        yield b"]}"

    return StreamingResponse(body(), media_type="application/stix+json;version=2.1")


# --- imports, jobs, feeds ----------------------------------------------------------------------------


async def _body_to_file(request: Request, app: Accord) -> str:
    """The request body streamed to a file under the data directory (imports read files)."""
    limit = app.settings.max_body_bytes
    folder = os.path.join(app.settings.data_dir, "uploads")
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            await _copy_body(request, limit, out, "the request body is empty; send the file as the body")
    except BaseException:
        os.unlink(path)
        raise
    return path


@intel.post("/imports", openapi_extra=POLICY, status_code=201)
async def import_upload(
    request: Request,
    viewer: ViewerDep,
    app: AppDep,
    format: Annotated[str | None, Query(description="stix, misp, csv or text (default: detected)")] = None,
    tlp: Annotated[str | None, Query(description="TLP for objects that carry no TLP marking")] = None,
    share_with: Annotated[list[str], Query(description="org:NAME, group:NAME or user:EMAIL")] = [],  # noqa: B006
    map: Annotated[str | None, Query(description="CSV columns, e.g. value=1,type=2")] = None,
    source: Annotated[
        str,
        Query(
            max_length=200,
            description="names what is uploaded (a feed, a file): indicators generated from CSV or text "
            "get ids from organisation, source and value, so uploading the same source again adds nothing",
        ),
    ] = "api upload",
) -> dict[str, Any]:
    """Import a file sent as the request body, in any supported format: all of it, or nothing.
    The answer is the import's report (taken, skipped and why); a refusal lists every problem."""
    from accord.ingest.tabular import parse_column_map

    default_tlp = _tlp_param(tlp)
    column_map = parse_column_map(map) if map else None
    _need(viewer, Permission.INTEL_WRITE)
    share = await run_in_threadpool(app.resolve_share, viewer, share_with)
    path = await _body_to_file(request, app)
    try:

        def work() -> dict[str, Any]:
            report = app.import_file(
                viewer, path, fmt=format, default_tlp=default_tlp, share=share, column_map=column_map,
                what=source,
            )  # fmt: skip
            return report.as_dict()

        return await run_in_threadpool(work)
    finally:
        os.unlink(path)


@intel.get("/jobs", openapi_extra=POLICY)
def list_jobs(viewer: MemberDep, app: AppDep, limit: int = 100) -> dict[str, Any]:
    """Imports and feed runs of the caller's organisation, newest first."""
    with app.db.read() as conn:
        return {"jobs": [jobs.describe(r) for r in jobs.list_for(conn, viewer, min(max(limit, 1), 1000))]}


@intel.get("/jobs/{job_id}", openapi_extra=POLICY)
def get_job(job_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return jobs.describe(jobs.visible_to(conn, viewer, job_id))


@intel.get("/feeds", openapi_extra=POLICY)
def list_feeds(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    from accord.feeds import service

    return {"feeds": service.list_feeds(app, viewer)}


class FeedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a `path` must not be silently ignored: it is refused

    name: str = Field(max_length=200)
    url: str = Field(max_length=2048)
    format: str
    tlp: str | None = None
    every: str | None = Field(default=None, description="15m, 6h, 1d; none: only when run by hand")
    map: str | None = None
    share_with: list[str] = Field(default_factory=list, max_length=100)


@intel.post("/feeds", openapi_extra=POLICY, status_code=201)
def add_feed(body: FeedBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """Subscribe the caller's organisation to a feed URL (private and local addresses are refused)."""
    from accord.feeds import service
    from accord.ingest.tabular import parse_column_map

    _need(viewer, Permission.INTEL_WRITE)
    return service.add(
        app, viewer, body.name, url=body.url, fmt=body.format, tlp=_tlp_param(body.tlp),
        every_seconds=service.parse_interval(body.every) if body.every else None,
        column_map=parse_column_map(body.map) if body.map else None, share=body.share_with,
    )  # fmt: skip


@intel.get("/warninglists", openapi_extra=POLICY)
def list_warninglists(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    return {"warninglists": app.warninglists()}


# --- overlaps, sightings, scores, matching -----------------------------------------------------------


@intel.get("/objects/{stix_id}/related", openapi_extra=POLICY, response_class=JSONBytes)
def object_related(stix_id: str, viewer: ViewerDep, app: AppDep) -> Any:
    """What else is known about this object's values, and by whom, as far as the caller may see."""
    return JSONBytes(app.related(viewer, object_id=stix_id))


class RelatedBody(BaseModel):
    values: list[Annotated[str, Field(max_length=2048)]] = Field(min_length=1, max_length=1000)


@intel.post("/related", openapi_extra=POLICY, response_class=JSONBytes)
def values_related(body: RelatedBody, viewer: ViewerDep, app: AppDep) -> Any:
    """What is known about these values (equal, inside a network, parent domains, URL hosts)."""
    return JSONBytes(app.related(viewer, values=body.values))


@intel.get("/overlaps", openapi_extra=POLICY, response_class=JSONBytes)
def list_overlaps(
    viewer: MemberDep,
    app: AppDep,
    since: str | None = None,
    all: Annotated[bool, Query(description="every visible overlap, not only my organisation's")] = False,
    limit: int | None = None,
) -> Any:
    """Overlaps recorded since `since`, newest first: only where the caller may see both sides."""
    since_us = _timestamp(since, "since") or 0
    return JSONBytes({"overlaps": app.overlaps(viewer, since_us=since_us, limit=limit, mine=not all)})


class SightingBody(BaseModel):
    count: int = Field(default=1, ge=0, le=999_999_999)
    first_seen: str | None = None
    last_seen: str | None = None
    description: str | None = Field(default=None, max_length=10000)
    tlp: str = "amber"
    share_with: list[str] = Field(default_factory=list, max_length=100)
    outcome: str | None = Field(
        default=None,
        description="a take-down report: taken-down, mitigated, false-positive or not-responsible",
    )


@intel.post("/objects/{stix_id}/sightings", openapi_extra=POLICY, status_code=201, response_class=JSONBytes)
def add_sighting(stix_id: str, body: SightingBody, viewer: ViewerDep, app: AppDep) -> Any:
    """Report that the caller's organisation saw this indicator, or (`outcome`) what it did about a
    notified object; AMBER (the default) shares the sighting with the object's producer."""
    _need(viewer, Permission.INTEL_WRITE)
    tlp = _tlp_param(body.tlp)
    assert tlp is not None
    obj = app.report_sighting(
        viewer, stix_id, count=body.count, first_seen_us=_timestamp(body.first_seen, "first_seen"),
        last_seen_us=_timestamp(body.last_seen, "last_seen"), description=body.description, tlp=tlp,
        share=app.resolve_share(viewer, body.share_with), outcome=body.outcome,
    )  # fmt: skip
    return JSONBytes(obj, status_code=201)


@intel.get("/objects/{stix_id}/sightings", openapi_extra=POLICY, response_class=JSONBytes)
def list_sightings(stix_id: str, viewer: ViewerDep, app: AppDep) -> Any:
    return JSONBytes({"sightings": app.sightings(viewer, stix_id)})


@intel.get("/objects/{stix_id}/score", openapi_extra=POLICY, response_class=JSONBytes)
def indicator_score(stix_id: str, viewer: ViewerDep, app: AppDep) -> Any:
    """The indicator's score (0-100) for the caller, with how it was computed."""
    return JSONBytes(app.score(viewer, stix_id))


@intel.post("/match", openapi_extra=POLICY)
async def match_log(
    request: Request,
    viewer: ViewerDep,
    app: AppDep,
    format: Annotated[str, Query(description="auto, values, csv, zeek, zeek-json or text")] = "auto",
) -> StreamingResponse:
    """Check a log or a list of values (the request body) against every indicator the caller may
    see. Answers JSON lines: one per hit, then one `{"summary": ...}` line."""
    path = await _body_to_file(request, app)
    hits_path = path + ".hits"

    def cleanup() -> None:
        for p in (path, hits_path):
            if os.path.exists(p):
                os.unlink(p)

    def work() -> dict[str, Any]:
        with open(path, "rb") as fp, open(hits_path, "wb") as out:  # the reader unpacks gzip itself
            return app.match(viewer, fp, format, out.write)

    try:
        summary = await run_in_threadpool(work)
    except BaseException:
        cleanup()
        raise

    def body() -> Iterator[bytes]:
        try:
            with open(hits_path, "rb") as hits:
                while chunk := hits.read(1 << 16):
                    yield chunk
            yield orjson.dumps({"summary": summary}) + b"\n"
        finally:
            cleanup()

    return StreamingResponse(body(), media_type="application/x-ndjson")


# --- members -----------------------------------------------------------------------------------------


@admin.get("/orgs", openapi_extra=MEMBERS)
def list_orgs(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return {"orgs": app.members.list_orgs(conn)}


class OrgBody(BaseModel):
    name: str = Field(max_length=200)
    sector: str
    country: str = Field(max_length=2)
    pending: bool = False


@admin.post("/orgs", openapi_extra=MEMBERS, status_code=201)
def add_org(body: OrgBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.write() as conn:
        org_id = app.members.add_org(conn, viewer, body.name, body.sector, body.country, body.pending)
        return app.members.get_org(conn, org_id)


@admin.get("/orgs/{org_id}", openapi_extra=MEMBERS)
def get_org(org_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return app.members.get_org(conn, org_id)


class OrgPatch(BaseModel):
    vetted: bool


@admin.patch("/orgs/{org_id}", openapi_extra=MEMBERS)
def patch_org(org_id: int, body: OrgPatch, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.write() as conn:
        app.members.set_vetted(conn, viewer, org_id, body.vetted)
        return app.members.get_org(conn, org_id)


@admin.get("/users", openapi_extra=MEMBERS)
def list_users(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return {"users": app.members.list_users(conn, viewer)}


class UserBody(BaseModel):
    email: str = Field(max_length=320)
    org_id: int
    role: str
    name: str = Field(default="", max_length=200)
    language: str = "en"
    platform_admin: bool = False
    password: str | None = Field(default=None, max_length=1000)


@admin.post("/users", openapi_extra=MEMBERS, status_code=201)
def add_user(body: UserBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.write() as conn:
        user_id = app.members.add_user(
            conn,
            viewer,
            body.email,
            body.org_id,
            body.role,
            name=body.name,
            language=body.language,
            platform_admin=body.platform_admin,
            password=body.password,
        )
    return {"id": user_id}


class RoleBody(BaseModel):
    org_id: int
    role: str


@admin.put("/users/{user_id}/role", openapi_extra=MEMBERS)
def set_role(user_id: int, body: RoleBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.write() as conn:
        app.members.set_role(conn, viewer, user_id, body.org_id, body.role)
    return {"id": user_id, "org_id": body.org_id, "role": body.role}


class PasswordBody(BaseModel):
    password: str = Field(max_length=1000)


@admin.put("/users/{user_id}/password", openapi_extra=MEMBERS, status_code=204)
def set_password(user_id: int, body: PasswordBody, viewer: MemberDep, app: AppDep) -> Response:
    with app.db.write() as conn:
        app.members.set_password(conn, viewer, user_id, body.password)
    return Response(status_code=204)


@admin.delete("/users/{user_id}/memberships/{org_id}", openapi_extra=MEMBERS, status_code=204)
def remove_member(user_id: int, org_id: int, viewer: MemberDep, app: AppDep) -> Response:
    with app.db.write() as conn:
        app.members.remove_member(conn, viewer, user_id, org_id)
    return Response(status_code=204)


@admin.get("/groups", openapi_extra=MEMBERS)
def list_groups(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return {"groups": app.members.list_groups(conn, viewer)}


class GroupBody(BaseModel):
    name: str = Field(max_length=200)
    member_org_ids: list[int] = Field(default_factory=list, max_length=10000)


@admin.post("/groups", openapi_extra=MEMBERS, status_code=201)
def add_group(body: GroupBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    if viewer.org_id is None:
        raise InvalidInput("a sharing group is owned by the organisation you act for; you act for none")
    with app.db.write() as conn:
        group_id = app.members.add_group(conn, viewer, body.name, viewer.org_id, body.member_org_ids)
        return app.members.get_group(conn, viewer, group_id)


@admin.get("/groups/{group_id}", openapi_extra=MEMBERS)
def get_group(group_id: int, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return app.members.get_group(conn, viewer, group_id)


class GroupMembersBody(BaseModel):
    member_org_ids: list[int] = Field(max_length=10000)


@admin.put("/groups/{group_id}/members", openapi_extra=MEMBERS)
def set_group_members(
    group_id: int, body: GroupMembersBody, viewer: MemberDep, app: AppDep
) -> dict[str, Any]:
    with app.db.write() as conn:
        app.members.set_group_members(conn, viewer, group_id, body.member_org_ids)
        return app.members.get_group(conn, viewer, group_id)


@admin.get("/tokens", openapi_extra=MEMBERS)
def list_tokens(viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    with app.db.read() as conn:
        return {"tokens": app.members.list_tokens(conn, viewer)}


class TokenBody(BaseModel):
    user_id: int | None = None
    org_id: int | None = None
    label: str = Field(default="", max_length=200)
    scopes: str | None = None
    expires_days: int | None = Field(default=None, ge=0, le=3650)
    collections: str | None = Field(default=None, max_length=4000)  # "COLLECTION-ID:r,COLLECTION-ID:rw"


@admin.post("/tokens", openapi_extra=MEMBERS, status_code=201)
def create_token(body: TokenBody, viewer: MemberDep, app: AppDep) -> dict[str, Any]:
    """A new token; the secret is in this answer only."""
    user_id = body.user_id if body.user_id is not None else viewer.user_id
    if user_id is None:
        raise InvalidInput("name the user the token is for", field="user_id")
    days = body.expires_days if body.expires_days is not None else app.settings.token_default_days
    with app.db.write() as conn:
        new = app.members.create_token(
            conn,
            viewer,
            user_id,
            body.org_id if body.org_id is not None else viewer.org_id,
            label=body.label,
            scopes=body.scopes,
            expires_days=days,
            collections=body.collections,
        )
    return {"id": new.id, "token": new.token}


@admin.delete("/tokens/{token_id}", openapi_extra=MEMBERS, status_code=204)
def revoke_token(token_id: int, viewer: MemberDep, app: AppDep) -> Response:
    with app.db.write() as conn:
        app.members.revoke_token(conn, viewer, token_id)
    return Response(status_code=204)


def create_asgi(accord: Accord) -> FastAPI:
    """The HTTP face of one `Accord` (no globals: tests build several side by side)."""
    app = FastAPI(
        title="Accord",
        version=__version__,
        default_response_class=JSONBytes,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.accord = accord
    problems.install(app)
    app.include_router(public)
    app.include_router(intel)
    app.include_router(admin)
    from accord.routing.api import router as routing_router  # imports this module: not at the top

    app.include_router(routing_router)
    from accord.taxii.server import install as install_taxii  # imports this module: not at the top

    install_taxii(app)
    app.add_middleware(Authenticate, accord=accord)
    from accord.ui import install as install_ui  # imports this module: not at the top

    install_ui(app, accord)  # the web UI under /ui/ (its headers middleware outermost)
    return app
