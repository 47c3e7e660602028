"""TAXII filters and pages over a collection, always starting from the policy's clause.

Pages are ordered by (date_added, pk) as TAXII 2.1 sorts results (ascending date added), and `next`
encodes the last pair (the JSON API's cursor), so paging is stateless — any process, after a
restart — and flat-cost: a keyset range on the (date_added, pk) index, never an OFFSET. A page
costs one query for its rows, one `policy.hidden_ids` for the references it must strip, and (for a
peer) two for provenance: nothing per object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    not_,
    or_,
    select,
)
from starlette.datastructures import QueryParams

from accord.db.schema import deletion, org, stix_object
from accord.errors import AccordError, InvalidInput
from accord.federation.provenance import own_name
from accord.intel.query import _tlp_refs, decode_cursor, encode_cursor, keyset, keyset_rows
from accord.intel.timestamps import format_micros, parse_micros
from accord.intel.tlp import EMIT_ID, LEVEL_OF_ID, TLP
from accord.intel.validate import id_problem
from accord.members.model import Viewer
from accord.policy import Policy, redact, references
from accord.taxii.collections import Collection
from accord.taxii.errors import STIX_MEDIA

VERSION_WORDS = ("first", "last", "all")
_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII).fullmatch
_SPEC_VERSION = re.compile(r"[0-9]+\.[0-9]+", re.ASCII).fullmatch
MAX_LIST = 1000  # values per match[...] filter


class BadRequest(AccordError):
    """A TAXII request the server cannot understand (a bad filter, timestamp, limit or `next`)."""

    status = 400
    title = "Bad request"


@dataclass(frozen=True)
class Filters:
    added_after_us: int | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: frozenset[str] = frozenset({"last"})  # of VERSION_WORDS
    version_times: tuple[int, ...] = ()
    spec_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    limit: int
    after: tuple[int, int] | None = None  # (date_added, pk) of the last row of the previous page


@dataclass
class Rows:
    rows: list[Any]
    more: bool
    next: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


# --- parsing -------------------------------------------------------------------------------------


def _values(params: QueryParams, name: str) -> list[str]:
    """Every comma-separated value of a (possibly repeated) query parameter."""
    out = [v.strip() for raw in params.getlist(name) for v in raw.split(",")]
    if any(not v for v in out):
        raise BadRequest(f"{name} has an empty value", parameter=name)
    if len(out) > MAX_LIST:
        raise BadRequest(f"{name} may list at most {MAX_LIST} values", parameter=name)
    return out


def _timestamp(value: str, name: str) -> int:
    try:
        return parse_micros(value)
    except ValueError as exc:
        raise BadRequest(f"{name} is not a timestamp: {exc}", parameter=name) from None


def parse_filters(params: QueryParams, allowed: Iterable[str], default_version: str = "last") -> Filters:
    """The filters an endpoint supports (`allowed`: added_after, id, type, version, spec_version);
    a bad value is a 400 naming the parameter. Other parameters are ignored."""
    allowed = set(allowed)
    added_after = None
    if "added_after" in allowed and "added_after" in params:
        values = params.getlist("added_after")
        if len(values) != 1:
            raise BadRequest("added_after takes one timestamp", parameter="added_after")
        added_after = _timestamp(values[0], "added_after")
    ids: list[str] = []
    if "id" in allowed:
        ids = _values(params, "match[id]")
        for i in ids:
            problem = id_problem(i)
            if problem is not None:
                raise BadRequest(f"match[id] value {i[:100]!r}: {problem}", parameter="match[id]")
    types: list[str] = []
    if "type" in allowed:
        types = _values(params, "match[type]")
        for t in types:
            if not (3 <= len(t) <= 250 and _TYPE(t)):
                raise BadRequest(f"match[type] value {t[:100]!r} is not a STIX type", parameter="match[type]")
    words: set[str] = set()
    times: list[int] = []
    if "version" in allowed:
        for v in _values(params, "match[version]"):
            if v in VERSION_WORDS:
                words.add(v)
            else:
                try:
                    times.append(parse_micros(v))
                except ValueError as exc:
                    raise BadRequest(
                        f"match[version] value must be first, last, all or a timestamp: {exc}",
                        parameter="match[version]",
                    ) from None
    spec_versions: list[str] = []
    if "spec_version" in allowed:
        spec_versions = _values(params, "match[spec_version]")
        for s in spec_versions:
            if not _SPEC_VERSION(s):
                raise BadRequest(
                    f"match[spec_version] value {s[:100]!r} is not a STIX version such as 2.1",
                    parameter="match[spec_version]",
                )
    if not words and not times:
        words = {default_version}
    return Filters(
        added_after_us=added_after,
        ids=tuple(ids),
        types=tuple(types),
        versions=frozenset(words),
        version_times=tuple(times),
        spec_versions=tuple(spec_versions),
    )


def parse_page(params: QueryParams, default: int, maximum: int) -> Page:
    """`limit` (default `default`, capped at `maximum`) and `next`; bad values are a 400."""
    limit = default
    raw = params.get("limit")
    if raw is not None:
        if not raw.strip().isdigit() or int(raw) < 1:
            raise BadRequest(f"limit must be a positive whole number, not {raw[:40]!r}", parameter="limit")
        limit = int(raw)
    after = None
    token = params.get("next")
    if token is not None:
        try:
            after = decode_cursor(token)
        except InvalidInput:
            raise BadRequest("next is not a token this server issued", parameter="next") from None
    return Page(limit=min(limit, maximum), after=after)


# --- the clauses ---------------------------------------------------------------------------------


def version_of(row: Any = stix_object) -> ColumnElement[int]:
    """An object's TAXII version: `modified`, else `created`, else when it was added (SCOs)."""
    return case(
        (row.c.modified_us != 0, row.c.modified_us),
        else_=func.coalesce(row.c.created_us, row.c.date_added_us),
    )


def row_version(r: Any) -> str:
    return format_micros(r.modified_us or r.created_us or r.date_added_us)


def _first_visible(policy: Policy, viewer: Viewer) -> ColumnElement[bool]:
    """The oldest version the viewer may read of each object (ties: the first stored)."""
    older = stix_object.alias()
    older_visible = exists().where(
        older.c.stix_id == stix_object.c.stix_id,
        or_(
            older.c.modified_us < stix_object.c.modified_us,
            and_(older.c.modified_us == stix_object.c.modified_us, older.c.pk < stix_object.c.pk),
        ),
        policy.visible(viewer, older),
    )
    return and_(policy.visible(viewer), not_(older_visible))


def version_clause(policy: Policy, viewer: Viewer, f: Filters) -> ColumnElement[bool]:
    """The policy's clause for the versions `match[version]` asks for (default: the newest)."""
    if "all" in f.versions:
        return policy.visible(viewer)
    if f.versions == {"last"} and not f.version_times:
        return policy.latest_visible(viewer)
    parts = []
    if "last" in f.versions:
        parts.append(policy.latest_visible(viewer))
    if "first" in f.versions:
        parts.append(_first_visible(policy, viewer))
    if f.version_times:
        parts.append(and_(policy.visible(viewer), version_of().in_(sorted(set(f.version_times)))))
    return or_(*parts)


def _where(query: Any, coll: Collection, f: Filters, stix_id: str | None) -> Any:
    scope = coll.scope()
    if scope is not None:
        query = query.where(scope)
    if stix_id is not None:
        query = query.where(stix_object.c.stix_id == stix_id)
    if f.ids:
        query = query.where(stix_object.c.stix_id.in_(sorted(set(f.ids))))
    if f.types:
        query = query.where(stix_object.c.type.in_(sorted(set(f.types))))
    if f.spec_versions:
        query = query.where(stix_object.c.spec_version.in_(sorted(set(f.spec_versions))))
    if f.added_after_us is not None:
        query = query.where(stix_object.c.date_added_us > f.added_after_us)
    return query


def _viewer_key(viewer: Viewer) -> Viewer:
    """The viewer without the request's address: what the statements depend on."""
    return replace(viewer, source="")


# Statements are cached (with the cursor and limit as parameters): building the policy's clause and
# its cache key costs milliseconds of Python per page, more than reading a thousand rows.
@lru_cache(maxsize=256)
def _objects_statement(
    policy: Policy,
    viewer: Viewer,
    coll: Collection,
    f: Filters,
    columns: str,
    stix_id: str | None,
    phase: str,
) -> Any:
    query = select(*_COLUMNS[columns]).where(version_clause(policy, viewer, f))
    return keyset(_where(query, coll, f, stix_id), stix_object.c.date_added_us, stix_object.c.pk, phase)


@lru_cache(maxsize=256)
def _versions_statement(
    policy: Policy, viewer: Viewer, coll: Collection, f: Filters, stix_id: str, phase: str
) -> Any:
    query = _where(select(*_COLUMNS["rows"]).where(policy.visible(viewer)), coll, f, stix_id)
    return keyset(query, stix_object.c.date_added_us, stix_object.c.pk, phase)


@lru_cache(maxsize=256)
def _deletions_statement(policy: Policy, viewer: Viewer, added_after_us: int | None, phase: str) -> Any:
    query = (
        select(deletion, org.c.name.label("producer_name"), org.c.node.label("producer_node"))
        .join(org, org.c.id == deletion.c.producer_org_id)
        .where(policy.audience_visible(viewer, deletion))
    )
    if added_after_us is not None:
        query = query.where(deletion.c.deleted_us > added_after_us)
    return keyset(query, deletion.c.deleted_us, deletion.c.id, phase)


def _page(conn: Connection, statement: Callable[[str], Any], page: Page, added: str, key: str) -> Rows:
    """One page: rows in (added, key) order after the cursor; `more` when another row follows."""
    want = page.limit + 1
    rows = keyset_rows(conn, statement, want, page.after)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    out = Rows(rows, more)
    if rows:
        first, last = rows[0]._mapping[added], rows[-1]._mapping[added]
        out.headers = {
            "X-TAXII-Date-Added-First": format_micros(first),
            "X-TAXII-Date-Added-Last": format_micros(last),
        }
        if more:
            out.next = encode_cursor(last, rows[-1]._mapping[key])
    return out


_ROW_COLUMNS = (
    stix_object.c.pk,
    stix_object.c.stix_id,
    stix_object.c.date_added_us,
    stix_object.c.modified_us,
    stix_object.c.created_us,
    stix_object.c.producer_org_id,
)
_COLUMNS = {
    "rows": _ROW_COLUMNS,
    "content": (*_ROW_COLUMNS, stix_object.c.tlp, stix_object.c.content),
    "peer": (*_ROW_COLUMNS, stix_object.c.tlp, stix_object.c.content, stix_object.c.audience_id),
}


def objects(
    conn: Connection,
    policy: Policy,
    viewer: Viewer,
    coll: Collection,
    f: Filters,
    page: Page,
    stix_id: str | None = None,
    content: bool = True,
) -> Rows:
    """A page of the collection's objects (with their content, or only what a manifest needs)."""
    columns = ("peer" if viewer.is_peer else "content") if content else "rows"
    key = _viewer_key(viewer)

    def statement(phase: str) -> Any:
        return _objects_statement(policy, key, coll, f, columns, stix_id, phase)

    return _page(conn, statement, page, "date_added_us", "pk")


def versions(
    conn: Connection, policy: Policy, viewer: Viewer, coll: Collection, f: Filters, page: Page, stix_id: str
) -> Rows:
    key = _viewer_key(viewer)

    def statement(phase: str) -> Any:
        return _versions_statement(policy, key, coll, f, stix_id, phase)

    return _page(conn, statement, page, "date_added_us", "pk")


def in_collection(conn: Connection, policy: Policy, viewer: Viewer, coll: Collection, stix_id: str) -> bool:
    """Whether any version of the object is in the collection for this viewer."""
    query = _where(select(stix_object.c.pk).where(policy.visible(viewer)), coll, Filters(), stix_id)
    return conn.execute(query.limit(1)).first() is not None


def deletions(
    conn: Connection, policy: Policy, viewer: Viewer, added_after_us: int | None, page: Page
) -> Rows:
    """Tombstones of objects deleted here that the viewer could see (the deleted version's audience)."""
    key = _viewer_key(viewer)

    def statement(phase: str) -> Any:
        return _deletions_statement(policy, key, added_after_us, phase)

    return _page(conn, statement, page, "deleted_us", "id")


# --- rendering -----------------------------------------------------------------------------------


def envelope(rows: Rows, items: list[Any], member: str = "objects") -> dict[str, Any]:
    """The TAXII envelope (or manifest / versions resource): `more`, `next`, and the items if any."""
    out: dict[str, Any] = {"more": rows.more}
    if rows.next is not None:
        out["next"] = rows.next
    if items:
        out[member] = items
    return out


def envelope_bytes(rows: Rows, objects: list[bytes], extra: dict[str, Any] | None = None) -> bytes:
    """The envelope with each object's JSON spliced in as it is (see `render_objects`)."""
    head = orjson.dumps(envelope(rows, []))
    if not objects:
        return head
    tail = b"".join(b',"' + k.encode() + b'":' + orjson.dumps(v) for k, v in (extra or {}).items())
    return head[:-1] + b',"objects":[' + b",".join(objects) + b"]" + tail + b"}"


# An object whose only reference is its own TLP 2.0 marking needs no change: sent as stored.
_ONLY_MARKING = {level.value: f'"object_marking_refs":["{EMIT_ID[level]}"]' for level in TLP}


def render_objects(conn: Connection, policy: Policy, viewer: Viewer, rows: Sequence[Any]) -> list[bytes]:
    """Each object's JSON as the viewer receives it: references to hidden objects removed and TLP
    2.0 marking ids emitted, exactly as `accord.intel.query.Renderer` does (one `hidden_ids` per
    page). Objects that need neither — no reference but their TLP 2.0 marking — are sent as stored,
    unparsed; the rest are parsed, and their references found by a full walk only if their text
    names a reference other than markings."""
    out: list[bytes] = []
    parsed: dict[int, dict[str, Any]] = {}
    refs: set[str] = set()
    for i, r in enumerate(rows):
        content: str = r.content
        n = content.count("_ref")
        if (n == 0 and r.tlp is None) or (n == 1 and r.tlp is not None and _ONLY_MARKING[r.tlp] in content):
            out.append(content.encode())
            continue
        obj = orjson.loads(content)
        parsed[i] = obj
        if n == content.count("object_marking_refs"):
            refs.update(x for x in obj.get("object_marking_refs") or () if isinstance(x, str))
        else:
            refs |= references(obj)
        out.append(b"")
    refs.difference_update(LEVEL_OF_ID)
    hidden = policy.hidden_ids(conn, viewer, refs) if refs else set()
    for i, obj in parsed.items():
        out[i] = orjson.dumps(_tlp_refs(redact(obj, hidden), rows[i].tlp))
    return out


def manifest_records(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.stix_id,
            "date_added": format_micros(r.date_added_us),
            "version": row_version(r),
            "media_type": STIX_MEDIA,
        }
        for r in rows
    ]


def deletion_records(rows: Sequence[Any], node_name: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r.stix_id,
            "version": format_micros(r.modified_us) if r.modified_us else None,
            "producer": own_name(r.producer_name, r.producer_node),
            "producer_node": r.producer_node or node_name,
            "deleted": format_micros(r.deleted_us),
        }
        for r in rows
    ]
