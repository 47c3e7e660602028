"""The read path of the intelligence store. Every query here starts from the policy's filter.

Pages are ordered by (date_added, pk) and the cursor encodes the last pair, so paging is
stateless, costs the same on page 1 and page 1,000, and works across processes (DESIGN.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, String, bindparam, func, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from accord.db.schema import network_prefix, observable, org, stix_object
from accord.errors import InvalidInput, NotFound
from accord.intel import observables as obs
from accord.intel.timestamps import format_micros
from accord.intel.tlp import EMIT_ID, LEVEL_OF_ID, TLP, marking_definition
from accord.members.model import Viewer
from accord.policy import Policy, redact, references


@dataclass
class ListFilter:
    types: list[str] = field(default_factory=list)
    added_after_us: int | None = None
    modified_from_us: int | None = None
    modified_to_us: int | None = None
    tlp: list[str] = field(default_factory=list)  # values of TLP, or "none"
    producer_org_id: int | None = None
    value: str | None = None  # an observable value the object names
    include_revoked: bool = True
    text: str | None = None  # free text: in a name, description, pattern or value, or an observable value
    ref: str | None = None  # relationships and sightings with this object at one end


# What free text is looked for in (top-level string fields of the stored JSON).
TEXT_FIELDS = ("name", "description", "pattern", "value")


class _JsonText(FunctionElement[str]):
    """A top-level field of an object's stored JSON as text, extracted by the database (no column
    holds names: the JSON is stored as received). A scan: fine for a page of matches, slow for rare
    words over millions of objects (a full-text index is future work)."""

    type = String()
    inherit_cache = True
    name = "json_text"


@compiles(_JsonText)
def _json_text_pg(element: _JsonText, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return f"(CAST({compiler.process(column, **kw)} AS JSON) ->> {compiler.process(key, **kw)})"


@compiles(_JsonText, "sqlite")
def _json_text_sqlite(element: _JsonText, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return f"json_extract({compiler.process(column, **kw)}, '$.' || {compiler.process(key, **kw)})"


def encode_cursor(date_added_us: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{date_added_us}.{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        added, pk = text.split(".")
        return int(added), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("not a cursor this server issued", field="cursor") from None


def _filtered(policy: Policy, viewer: Viewer, f: ListFilter) -> Any:
    query = select(stix_object).where(policy.latest_visible(viewer))
    if f.types:
        query = query.where(stix_object.c.type.in_(f.types))
    if f.added_after_us is not None:
        query = query.where(stix_object.c.date_added_us > f.added_after_us)
    if f.modified_from_us is not None:
        query = query.where(stix_object.c.modified_us >= f.modified_from_us)
    if f.modified_to_us is not None:
        query = query.where(stix_object.c.modified_us <= f.modified_to_us)
    if f.tlp:
        levels = [t for t in f.tlp if t != "none"]
        conds = [stix_object.c.tlp.in_(levels)] if levels else []
        if "none" in f.tlp:
            conds.append(stix_object.c.tlp.is_(None))
        query = query.where(or_(*conds))
    if f.producer_org_id is not None:
        query = query.where(stix_object.c.producer_org_id == f.producer_org_id)
    if f.value is not None:
        o = obs.try_normalise(f.value)
        wanted = o.value if o is not None else f.value.strip()
        query = query.where(
            stix_object.c.pk.in_(select(observable.c.object_pk).where(observable.c.value == wanted))
        )
    if not f.include_revoked:
        query = query.where(stix_object.c.revoked.is_(False))
    if f.text and f.text.strip():
        needle = f.text.strip()
        o = obs.try_normalise(needle)
        named = [_JsonText(stix_object.c.content, k).icontains(needle, autoescape=True) for k in TEXT_FIELDS]
        holds = select(observable.c.object_pk).where(observable.c.value == (o.value if o else needle))
        query = query.where(or_(*named, stix_object.c.pk.in_(holds)))
    if f.ref is not None:
        query = query.where(or_(stix_object.c.source_ref == f.ref, stix_object.c.target_ref == f.ref))
    return query


# A page after a cursor (date_added A, key K) is read in two index ranges: rows added at A with a key
# after K, then rows added after A. (One comparison `(added, key) > (A, K)` is a range on `added`
# alone for SQLite, which then walks every row added at A: all of a big import, page after page.)
START, SAME, LATER = "start", "same", "later"


def keyset(query: Any, added: Any, key: Any, phase: str) -> Any:
    """`query` narrowed to one phase of a keyset page, ordered, limited by the `lim` parameter."""
    if phase == SAME:
        query = query.where(added == bindparam("after_added"), key > bindparam("after_key"))
    elif phase == LATER:
        query = query.where(added > bindparam("after_added"))
    return query.order_by(added, key).limit(bindparam("lim"))


def keyset_rows(
    conn: Connection, statement: Callable[[str], Any], limit: int, after: tuple[int, int] | None
) -> list[Any]:
    """Up to `limit` rows after the cursor pair, from the statements `statement(phase)`."""
    if after is None:
        return list(conn.execute(statement(START), {"lim": limit}))
    at, after_key = after
    rows = list(conn.execute(statement(SAME), {"lim": limit, "after_added": at, "after_key": after_key}))
    if len(rows) < limit:
        rows += conn.execute(statement(LATER), {"lim": limit - len(rows), "after_added": at})
    return rows


def list_rows(
    conn: Connection, policy: Policy, viewer: Viewer, f: ListFilter, limit: int, cursor: str | None = None
) -> tuple[list[Any], str | None]:
    base = _filtered(policy, viewer, f)

    def statement(phase: str) -> Any:
        return keyset(base, stix_object.c.date_added_us, stix_object.c.pk, phase)

    rows = keyset_rows(conn, statement, limit + 1, decode_cursor(cursor) if cursor else None)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].date_added_us, rows[-1].pk) if more and rows else None
    return rows, next_cursor


def count(conn: Connection, policy: Policy, viewer: Viewer, f: ListFilter) -> int:
    sub = _filtered(policy, viewer, f).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def counts_by(conn: Connection, policy: Policy, viewer: Viewer, column: str) -> dict[str, int]:
    """Counts of visible objects grouped by `type` or `tlp`."""
    sub = _filtered(policy, viewer, ListFilter()).subquery()
    col = sub.c[column]
    rows = conn.execute(select(col, func.count()).group_by(col).order_by(col))
    return {"none" if k is None else str(k): int(n) for k, n in rows}


def versions(conn: Connection, policy: Policy, viewer: Viewer, stix_id: str) -> list[Any]:
    rows = conn.execute(
        select(stix_object)
        .where(stix_object.c.stix_id == stix_id, policy.visible(viewer))
        .order_by(stix_object.c.modified_us, stix_object.c.pk)
    ).all()
    if not rows:
        raise NotFound(f"no object {stix_id}")
    return list(rows)


def _tlp_refs(content: dict[str, Any], tlp: str | None) -> dict[str, Any]:
    """Emit TLP 2.0 marking ids: legacy TLP ids are replaced, a TLP given at import is added."""
    refs = content.get("object_marking_refs")
    level = TLP(tlp) if tlp else None
    if level is None and not refs:
        return content
    kept = [r for r in (refs or []) if r not in LEVEL_OF_ID]
    has_tlp = any(r in LEVEL_OF_ID for r in (refs or []))
    if level is not None:
        kept.append(EMIT_ID[level])
    elif has_tlp:  # stored without a level but marked: keep the strictest marking as given
        kept += [EMIT_ID[LEVEL_OF_ID[r]] for r in refs or [] if r in LEVEL_OF_ID]
    if kept == refs:
        return content
    out = dict(content)
    out["object_marking_refs"] = kept
    return out


class Renderer:
    """Turns stored rows into what a viewer receives: references to hidden objects removed."""

    def __init__(self, conn: Connection, policy: Policy, viewer: Viewer) -> None:
        self.conn, self.policy, self.viewer = conn, policy, viewer
        self._org_names: dict[int, str] = {}

    def objects(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        parsed = [orjson.loads(r.content) for r in rows]
        refs: set[str] = set()
        for p in parsed:
            refs |= references(p)
        refs -= set(LEVEL_OF_ID)
        hidden = self.policy.hidden_ids(self.conn, self.viewer, refs) if refs else set()
        return [_tlp_refs(redact(p, hidden), r.tlp) for p, r in zip(parsed, rows, strict=True)]

    def org_name(self, org_id: int) -> str:
        if org_id not in self._org_names:
            self._org_names[org_id] = self.conn.execute(
                select(org.c.name).where(org.c.id == org_id)
            ).scalar_one()
        return self._org_names[org_id]

    def items(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Objects with what the store knows about them (producer, TLP, when added)."""
        return [
            {
                "object": obj,
                "producer": {"id": r.producer_org_id, "name": self.org_name(r.producer_org_id)},
                "tlp": r.tlp,
                "date_added": format_micros(r.date_added_us),
                "revoked": bool(r.revoked),
            }
            for obj, r in zip(self.objects(rows), rows, strict=True)
        ]


def export(
    conn: Connection, policy: Policy, viewer: Viewer, types: list[str] | None = None, page: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every latest visible object, then the TLP marking definitions they use."""
    renderer = Renderer(conn, policy, viewer)
    used: set[TLP] = set()
    cursor: str | None = None
    f = ListFilter(types=types or [])
    while True:
        rows, cursor = list_rows(conn, policy, viewer, f, page, cursor)
        for obj in renderer.objects(rows):
            for ref in obj.get("object_marking_refs", []):
                if ref in LEVEL_OF_ID:
                    used.add(LEVEL_OF_ID[ref])
            yield obj
        if cursor is None:
            break
    for level in sorted(used, key=lambda lv: lv.rank):
        yield marking_definition(level)


# The partial index's own condition, spelled the same so both planners can use that index.
NETWORK_ROWS = text("observable.ip_lo <> observable.ip_hi")


def lookup(conn: Connection, policy: Policy, viewer: Viewer, values: list[str]) -> list[dict[str, Any]]:
    """For each value: what visible, unrevoked objects name it, exactly, by CIDR or by parent domain."""
    parsed: list[tuple[str, obs.Observable | None]] = [(v, obs.try_normalise(v)) for v in values]
    exact: set[str] = set()
    networks: set[bytes] = set()
    prefixes = sorted(conn.execute(select(network_prefix.c.prefix)).scalars())
    for _raw, o in parsed:
        if o is None:
            continue
        exact.add(o.value)
        if o.kind in ("ipv4", "ipv6") and o.ip_lo == o.ip_hi:
            networks.update(obs.networks_at(o, prefixes))
        elif o.kind == "domain":
            exact.update(obs.parent_domains(o.value))
    cols = [
        observable.c.kind,
        observable.c.value,
        observable.c.ip_lo,
        observable.c.ip_hi,
        stix_object.c.stix_id,
        stix_object.c.type,
        stix_object.c.tlp,
        stix_object.c.producer_org_id,
        stix_object.c.modified_us,
    ]
    # Start from the observable index (a few rows), then the policy on each object row found.
    base = (
        select(*cols)
        .select_from(observable.join(stix_object, stix_object.c.pk == observable.c.object_pk))
        .where(policy.latest_visible(viewer), stix_object.c.revoked.is_(False))
    )
    by_value: dict[str, list[Any]] = {}
    exact_list, net_list = sorted(exact), sorted(networks)
    for start in range(0, len(exact_list), 500):
        for h in conn.execute(base.where(observable.c.value.in_(exact_list[start : start + 500]))):
            by_value.setdefault(h.value, []).append(h)
    network_hits: list[Any] = []
    for start in range(0, len(net_list), 500):
        network_hits += conn.execute(
            base.where(NETWORK_ROWS, observable.c.ip_lo.in_(net_list[start : start + 500]))
        ).all()
    renderer = Renderer(conn, policy, viewer)
    out = []
    for raw, o in parsed:
        entry: dict[str, Any] = {
            "value": raw,
            "normalised": o.value if o else None,
            "kind": o.kind if o else None,
            "matches": [],
        }
        if o is not None:
            found = [("exact", h) for h in by_value.get(o.value, ())]
            if o.kind == "domain":
                found += [
                    ("parent-domain", h) for p in obs.parent_domains(o.value) for h in by_value.get(p, ())
                ]
            elif o.ip_lo is not None and o.ip_lo == o.ip_hi:
                found += [
                    ("cidr", h)
                    for h in network_hits
                    if h.kind == o.kind and bytes(h.ip_lo) <= o.ip_lo <= bytes(h.ip_hi)
                ]
            seen: set[tuple[str, str]] = set()
            for how, h in found:
                if (h.stix_id, h.value) in seen:
                    continue
                seen.add((h.stix_id, h.value))
                entry["matches"].append(
                    {
                        "id": h.stix_id,
                        "type": h.type,
                        "match": how,
                        "indicator_value": h.value,
                        "tlp": h.tlp,
                        "producer": renderer.org_name(h.producer_org_id),
                        "modified": format_micros(h.modified_us),
                    }
                )
        entry["matches"].sort(key=lambda m: (m["match"], m["id"]))
        out.append(entry)
    return out
