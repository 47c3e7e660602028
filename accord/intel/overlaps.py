"""Overlaps (correlation): where one member's intelligence meets what others already know.

When a value is stored, the values it *relates to* are probed in the observable index: the value
itself, every parent domain of a domain, the host (and its parents) of a URL, the domain of an
e-mail address, and every stored network that contains an IP address. Each hit on a value held by
an *earlier, other* object is recorded as one `overlap` row (new object, its value, how it
matched, the known value). Which objects hold the known value is not recorded: it is resolved when
read, through the policy. So storage grows with the number of values, never with pairs (MISP's
pairwise correlation table reached 291 GB for 10.5M attributes), and a reader only ever learns of
objects they may see, counts included.

Values that more than `expand_max` objects the reader may see hold ("hot" values: a popular
resolver, a CDN range) are summarised when read — how many objects and producers the reader may
see — not listed. Hidden holders never decide whether an answer is a list or a summary.
Warninglisted (known-benign) values take no part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, or_, select, text

from accord.db.schema import observable, org, overlap, stix_object
from accord.intel.observables import Observable, networks_at, normalise, parent_domains, url_host
from accord.intel.timestamps import format_micros
from accord.members.model import Viewer
from accord.policy import Policy

MATCHES = ("equal", "cidr", "subdomain", "url-host", "email-domain")
_PROBE_CHUNK = 400
_V4_BASE = 0xFFFF << 32


def related_values(kind: str, value: str) -> list[tuple[str, str]]:
    """(related value, how it relates) for one normalised value, the value itself first."""
    out = [(value, "equal")]
    if kind == "domain":
        out.extend((parent, "subdomain") for parent in parent_domains(value))
    elif kind == "url":
        host = url_host(value)
        if host:
            out.append((host, "url-host"))
            out.extend((parent, "url-host") for parent in parent_domains(host) if not _is_ip(host))
    elif kind == "email":
        domain = value.rpartition("@")[2]
        if domain:
            out.append((domain, "email-domain"))
            out.extend((parent, "email-domain") for parent in parent_domains(domain))
    return out


def _is_ip(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()


@dataclass
class NewValue:
    object_pk: int
    stix_id: str
    kind: str
    value: str
    ip_lo: bytes | None
    ip_hi: bytes | None


_HOLDER = (
    "SELECT s.stix_id FROM observable o JOIN stix_object s ON s.pk = o.object_pk"
    " WHERE o.value = v.value AND o.object_pk <= :top AND o.warninglist IS NULL"
)


def _values_cte(rows: Sequence[tuple[str, ...]], names: str) -> tuple[str, dict[str, Any]]:
    """`WITH v(names) AS (VALUES (...), ...)` with bound parameters (portable across engines)."""
    params: dict[str, Any] = {}
    tuples = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            params[f"p{i}_{j}"] = cell
            cells.append(f":p{i}_{j}")
        tuples.append("(" + ", ".join(cells) + ")")
    return f"WITH v({names}) AS (VALUES " + ", ".join(tuples) + ") ", params


# The values to probe travel as ONE parameter (a JSON array on SQLite, a text[] on PostgreSQL), so
# the statement text never changes: prepared once by the driver, no per-value bind parameters.
_HOLDERS_SQL = {
    "sqlite": "WITH v(value) AS (SELECT value FROM json_each(?)) SELECT v.value, ({holder} LIMIT 1) FROM v",
    "postgresql": "WITH v(value) AS (SELECT unnest(%s::text[])) SELECT v.value, ({holder} LIMIT 1) FROM v",
}
_HOLDER_POSITIONAL = {
    "sqlite": _HOLDER.replace(":top", "?"),
    "postgresql": _HOLDER.replace(":top", "%s"),
}
_HOLDERS_CHUNK = 5000


def _holders(conn: Connection, values: Sequence[str], top_pk: int) -> dict[str, str]:
    """For each value stored before `top_pk`, the id of one object holding it."""
    dialect = conn.dialect.name
    sql = _HOLDERS_SQL[dialect].format(holder=_HOLDER_POSITIONAL[dialect])
    found: dict[str, str] = {}
    for start in range(0, len(values), _HOLDERS_CHUNK):
        chunk = list(values[start : start + _HOLDERS_CHUNK])
        wanted: Any = orjson.dumps(chunk).decode() if dialect == "sqlite" else chunk
        rows = conn.exec_driver_sql(sql, (wanted, top_pk))
        found.update((value, holder) for value, holder in rows if holder is not None)
    return found


def _held_by_others(conn: Connection, pairs: Sequence[tuple[str, str]], top_pk: int) -> set[tuple[str, str]]:
    """The (value, id) pairs whose value some object other than `id` held before `top_pk` (asked
    only when the one holder found was the new object itself: an earlier version of it)."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), _PROBE_CHUNK):
        cte, params = _values_cte(pairs[start : start + _PROBE_CHUNK], "value, id")
        params["top"] = top_pk
        rows = conn.execute(
            text(cte + f"SELECT v.value, v.id FROM v WHERE EXISTS ({_HOLDER} AND s.stix_id <> v.id)"), params
        )
        found.update((value, stix_id) for value, stix_id in rows)
    return found


def _containing_networks(
    conn: Connection, addresses: Sequence[NewValue], top_pk: int, prefixes: Sequence[int]
) -> dict[bytes, list[tuple[str, str]]]:
    """For each address key, (network value, holder id) of the stored networks that contain it:
    one exact probe of the network index per address and prefix length in use."""
    wanted: dict[bytes, list[bytes]] = {}  # network lo -> addresses that would be inside
    for nv in addresses:
        assert nv.ip_lo is not None
        o = Observable(nv.kind, nv.value, nv.ip_lo, nv.ip_hi)
        for lo in networks_at(o, prefixes):
            wanted.setdefault(lo, []).append(nv.ip_lo)
    found: dict[bytes, list[tuple[str, str]]] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), _PROBE_CHUNK * 2):
        rows = conn.execute(
            select(observable.c.ip_lo, observable.c.ip_hi, observable.c.value, stix_object.c.stix_id)
            .join(stix_object, stix_object.c.pk == observable.c.object_pk)
            .where(
                observable.c.ip_lo.in_(keys[start : start + _PROBE_CHUNK * 2]),
                observable.c.ip_lo != observable.c.ip_hi,
                observable.c.object_pk <= top_pk,
                observable.c.warninglist.is_(None),
            )
        )
        for lo, hi, value, stix_id in rows:
            lo, hi = bytes(lo), bytes(hi)
            for address in wanted.get(lo, ()):
                if lo <= address <= hi:
                    found.setdefault(address, []).append((value, stix_id))
    return found


def find(
    conn: Connection, new: Sequence[NewValue], top_pk: int, prefixes: Sequence[int] = ()
) -> list[tuple[int, str, str, str]]:
    """(object_pk, value, match, known value) for each new value that meets an earlier value of
    another object. `prefixes`: the network prefix lengths in use (networks containing addresses
    are probed at those lengths only)."""
    wanted: dict[str, None] = {}
    related: list[tuple[NewValue, list[tuple[str, str]]]] = []
    for nv in new:
        rel = related_values(nv.kind, nv.value)
        related.append((nv, rel))
        for value, _match in rel:
            wanted[value] = None
    holders = _holders(conn, sorted(wanted), top_pk)
    own = sorted(
        {(value, nv.stix_id) for nv, rel in related for value, _m in rel if holders.get(value) == nv.stix_id}
    )
    others = _held_by_others(conn, own, top_pk) if own else set()
    addresses = [nv for nv in new if nv.ip_lo is not None and nv.ip_lo == nv.ip_hi]
    networks = _containing_networks(conn, addresses, top_pk, prefixes) if addresses and prefixes else {}
    out: list[tuple[int, str, str, str]] = []
    for nv, rel in related:
        for value, match in rel:
            holder = holders.get(value)
            if holder is None or (holder == nv.stix_id and (value, nv.stix_id) not in others):
                continue  # unknown, or only an earlier version of the same object holds it
            out.append((nv.object_pk, nv.value, match, value))
        if nv.ip_lo is not None and nv.ip_lo == nv.ip_hi:
            for network, holder_id in networks.get(nv.ip_lo, ()):
                if holder_id != nv.stix_id:
                    out.append((nv.object_pk, nv.value, "cidr", network))
    return sorted(set(out))


def network_prefixes(conn: Connection) -> list[int]:
    return [int(p) for (p,) in conn.exec_driver_sql("SELECT prefix FROM network_prefix ORDER BY prefix")]


def record(conn: Connection, rows: list[tuple[int, str, str, str]], added_us: int) -> None:
    if rows:
        conn.execute(
            overlap.insert(),
            [
                {"object_pk": pk, "value": v, "match": m, "known_value": k, "date_added_us": added_us}
                for pk, v, m, k in rows
            ],
        )


# --- reading ------------------------------------------------------------------------------------------


def _probe_values(o: Observable, conn: Connection, prefixes: Sequence[int]) -> list[tuple[str, str]]:
    """What a value relates to, the stored networks containing an address included (networks that
    start where a containing one does but are smaller are not)."""
    rel = related_values(o.kind, o.value)
    if o.ip_lo is not None and o.ip_lo == o.ip_hi:
        keys = networks_at(o, prefixes)
        if keys:
            rows = conn.execute(
                select(observable.c.value, observable.c.ip_lo, observable.c.ip_hi)
                .where(observable.c.ip_lo.in_(keys), observable.c.ip_lo != observable.c.ip_hi)
                .distinct()
            )
            rel.extend(
                (value, "cidr")
                for value, lo, hi in rows
                if bytes(lo) <= o.ip_lo <= bytes(hi) and value != o.value
            )
    return rel


def related(
    conn: Connection,
    policy: Policy,
    viewer: Viewer,
    values: list[str],
    *,
    exclude_id: str | None = None,
    expand_max: int = 50,
    count_max: int = 100_000,
) -> list[dict[str, Any]]:
    """What else is known about these values, by whom, as far as the viewer may see.

    One entry per related value that some visible object holds: the objects (id, type, producer,
    TLP, when added), or for a value more than `expand_max` visible objects hold a summary of how many
    objects and producers the viewer may see (counted through the policy, up to `count_max`).
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    prefixes = network_prefixes(conn)
    for raw in values:
        o = normalise(raw)
        for known, match in _probe_values(o, conn, prefixes):
            if (known, match) in seen:
                continue
            seen.add((known, match))
            entry = _known(conn, policy, viewer, known, exclude_id, expand_max, count_max)
            if entry is not None:
                out.append({"value": o.value, "match": match, "known_value": known, **entry})
    return out


def _visible_holders(policy: Policy, viewer: Viewer, known: str, exclude_id: str | None) -> Any:
    conditions = [
        observable.c.value == known,
        observable.c.warninglist.is_(None),
        policy.latest_visible(viewer),
    ]
    if exclude_id is not None:
        conditions.append(stix_object.c.stix_id != exclude_id)
    return and_(*conditions)


def _known(
    conn: Connection,
    policy: Policy,
    viewer: Viewer,
    known: str,
    exclude_id: str | None,
    expand_max: int,
    count_max: int,
) -> dict[str, Any] | None:
    base = (
        select(stix_object.c.stix_id, stix_object.c.producer_org_id)
        .join(observable, observable.c.object_pk == stix_object.c.pk)
        .where(_visible_holders(policy, viewer, known, exclude_id))
    )
    # Hot or not is decided by what the viewer may see (bounded), never by the stored total: the
    # difference between a list and a summary must not reveal hidden holders.
    visible = conn.execute(
        select(func.count()).select_from(base.limit(expand_max + 1).subquery())
    ).scalar_one()
    if visible == 0:
        return None
    if visible > expand_max:
        sample = base.limit(count_max).subquery()
        objects, producers = conn.execute(
            select(
                func.count(func.distinct(sample.c.stix_id)),
                func.count(func.distinct(sample.c.producer_org_id)),
            )
        ).one()
        return {
            "summarised": True,
            "objects": objects,
            "producers": producers,
            "at_least": objects >= count_max,
        }
    rows = conn.execute(
        select(
            stix_object.c.stix_id,
            stix_object.c.type,
            stix_object.c.tlp,
            stix_object.c.date_added_us,
            org.c.name,
        )
        .join(observable, observable.c.object_pk == stix_object.c.pk)
        .join(org, org.c.id == stix_object.c.producer_org_id)
        .where(_visible_holders(policy, viewer, known, exclude_id))
        .order_by(stix_object.c.date_added_us, stix_object.c.pk)
    ).all()
    objects_out: list[dict[str, Any]] = []
    ids: set[str] = set()
    for stix_id, type_, tlp, added, producer in rows:
        if stix_id in ids:
            continue
        ids.add(stix_id)
        objects_out.append(
            {
                "id": stix_id,
                "type": type_,
                "producer": producer,
                "tlp": tlp,
                "date_added": format_micros(added),
            }
        )
    if not objects_out:
        return None
    return {
        "summarised": False,
        "objects": len(objects_out),
        "producers": len({o["producer"] for o in objects_out}),
        "holders": objects_out,
    }


def object_values(conn: Connection, policy: Policy, viewer: Viewer, stix_id: str) -> list[str]:
    """The indexed values of the newest version of an object the viewer may see (404 otherwise)."""
    row = policy.get_visible(conn, viewer, stix_id)
    return [v for (v,) in conn.execute(select(observable.c.value).where(observable.c.object_pk == row.pk))]


def recent(
    conn: Connection, policy: Policy, viewer: Viewer, since_us: int, limit: int, mine: bool
) -> list[dict[str, Any]]:
    """Overlaps recorded since `since_us` that the viewer may see on both sides: the new object is
    visible and some other visible object holds the known value. `mine`: only those where one of
    the two sides was produced by the viewer's organisation."""
    known_holder = stix_object.alias("known_holder")
    known_obs = observable.alias("known_obs")
    holder_visible = (
        select(known_holder.c.pk)
        .join(known_obs, known_obs.c.object_pk == known_holder.c.pk)
        .where(
            known_obs.c.value == overlap.c.known_value,
            known_obs.c.warninglist.is_(None),
            known_holder.c.stix_id != stix_object.c.stix_id,
            policy.visible(viewer, known_holder),
        )
    )
    if mine:
        holder_mine = holder_visible.where(known_holder.c.producer_org_id == viewer.org_id)
        side = or_(
            and_(stix_object.c.producer_org_id == viewer.org_id, holder_visible.exists()),
            holder_mine.exists(),
        )
    else:
        side = holder_visible.exists()
    rows = conn.execute(
        select(
            overlap.c.id,
            overlap.c.value,
            overlap.c.match,
            overlap.c.known_value,
            overlap.c.date_added_us,
            stix_object.c.stix_id,
            stix_object.c.type,
            org.c.name,
        )
        .join(stix_object, stix_object.c.pk == overlap.c.object_pk)
        .join(org, org.c.id == stix_object.c.producer_org_id)
        .where(overlap.c.date_added_us >= since_us, policy.visible(viewer), side)
        .order_by(overlap.c.date_added_us.desc(), overlap.c.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "object": r.stix_id,
            "type": r.type,
            "producer": r.name,
            "value": r.value,
            "match": r.match,
            "known_value": r.known_value,
            "date_added": format_micros(r.date_added_us),
        }
        for r in rows
    ]
