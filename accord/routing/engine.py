"""The routing engine: which recipients get which of a batch of stored values.

One batch is a range of stored objects (`stix_object.pk` in (after, upto]). Its IP, domain and URL
values are read with their objects (never warninglisted values, never TLP:RED, never revoked
objects), enriched in bulk (`Enricher.enrich_ips` for addresses, `enrich_many` for names), matched
against the contact directory and the rules, and gated by the policy:

1. **Contacts** (`Directory`): per contact kind, the contact points whose constituency covers the
   value: by country (the address's registered country, or a ccTLD's), AS number, network (the most
   specific CIDR wins) or domain suffix (the nearest one wins). For `abuse`, where no directory entry
   covers the value, the abuse mailbox the enrichment data names for its network is the automatic
   recipient (curated entries win over automatic ones).
2. **Rules** (`rules.Rule`): each enabled rule whose `match` the value passes sends it to its
   `send_to`: the matching contacts of the named kinds and the named contact points, narrowed to the
   rule's organisation's own contacts (an organisation's rule) and to the named sectors.
3. **Policy**: a recipient is an organisation (or a contact outside the alliance) and receives only
   values of objects the policy lets that organisation see. Its `Viewer` (`recipient_viewer`) is
   asked `policy.visible` once per batch over the batch's distinct (audience, source_ref,
   target_ref) triples: those are the only columns of a row `visible` reads, so the answer is the
   policy's own for every row. RED objects carry users audiences, which no recipient is in.

Work is done per distinct combination (country, AS, contacts, automatic mailbox, rules passed,
audience), not per value: a batch of 100,000 addresses has a few thousand such combinations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Connection, Integer, String, cast, literal, null, or_, select, union_all

from accord.db.schema import audience, contact_point, contact_scope, observable, org, stix_object
from accord.intel.observables import normalise_row, parent_domains
from accord.intel.prepare import gc_paused
from accord.members.model import Permission, Role, Viewer
from accord.policy import Policy
from accord.routing.contacts import KINDS
from accord.routing.countries import COUNTRIES, COUNTRY_INDEX
from accord.routing.enrich import NONE, Enricher
from accord.routing.model import Addresses, address_number
from accord.routing.ranges import RangeTable
from accord.routing.rules import KIND_VALUES, Rule, confidence_of, severity_of

__all__ = [
    "Batch", "Directory", "Recipient", "Routed", "Router", "pk_bounds", "read_batch", "recipient_viewer",
    "visible_triples",
]  # fmt: skip

DAY_US = 86_400_000_000
_V4_MAPPED = 0xFFFF << 32  # IPv4 addresses as IPv4-mapped IPv6 numbers, as the store keys them
_NO = -1


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a notification goes to: a contact point, or a network's abuse mailbox (automatic)."""

    key: str  # contact:<id> or abuse:<e-mail>: the outbox's recipient
    contact_id: int | None
    org_id: int | None  # the member organisation whose view gates what it receives
    org_vetted: bool
    sector: str | None
    name: str
    kind: str
    channel: str
    format: str
    address: str
    curated: bool


def recipient_viewer(r: Recipient) -> Viewer:
    """The policy's viewer for a recipient: its organisation as a whole (no user, so never TLP:RED),
    or, outside the alliance, a reader of TLP:CLEAR only."""
    return Viewer(
        user_id=None,
        email=f"recipient:{r.key}",
        org_id=r.org_id,
        org_vetted=r.org_vetted if r.org_id is not None else False,
        role=Role.READER,
        scopes=frozenset({Permission.INTEL_READ}),
        source="routing",
        recipient=True,
    )


# --- the directory, compiled ---------------------------------------------------------------------------


class Directory:
    """The enabled contact points, indexed per kind by country, AS number, network and domain."""

    def __init__(self, contacts: Sequence[Recipient], scopes: Iterable[tuple[int, str, str]]) -> None:
        self.contacts = {c.contact_id: c for c in contacts}
        self.by_name = {c.name: c for c in contacts}
        k = len(KINDS)
        self.by_country: list[dict[int, tuple[int, ...]]] = [{} for _ in range(k)]
        self.by_asn: list[dict[int, tuple[int, ...]]] = [{} for _ in range(k)]
        self.by_domain: list[dict[str, tuple[int, ...]]] = [{} for _ in range(k)]
        networks: list[dict[tuple[int, int], list[int]]] = [{} for _ in range(k)]
        for contact_id, kind, value in scopes:
            c = self.contacts.get(contact_id)
            if c is None:
                continue
            i = KINDS.index(c.kind)
            if kind == "country":
                key = COUNTRY_INDEX.get(value, 0)
                self.by_country[i][key] = (*self.by_country[i].get(key, ()), contact_id)
            elif kind == "asn":
                self.by_asn[i][int(value)] = (*self.by_asn[i].get(int(value), ()), contact_id)
            elif kind == "domain":
                self.by_domain[i][value] = (*self.by_domain[i].get(value, ()), contact_id)
            elif kind == "cidr":
                _k, _v, lo, hi = normalise_row(value)
                assert lo is not None and hi is not None
                networks[i].setdefault((int.from_bytes(lo, "big"), int.from_bytes(hi, "big")), []).append(
                    contact_id
                )
        # Networks: one range table per kind over 16-byte keys; row -> the contacts of that range.
        self.network_groups: list[list[tuple[int, ...]]] = []
        self.network_tables: list[RangeTable | None] = []
        for i in range(k):
            groups = [tuple(ids) for ids in networks[i].values()]
            ranges = [(lo, hi, row) for row, (lo, hi) in enumerate(networks[i])]
            self.network_groups.append(groups)
            self.network_tables.append(RangeTable.build(v6=ranges) if ranges else None)

    @classmethod
    def load(cls, conn: Connection) -> Directory:
        rows = conn.execute(
            select(contact_point, org.c.vetted, org.c.sector)
            .outerjoin(org, org.c.id == contact_point.c.org_id)
            .where(contact_point.c.enabled)
        ).all()
        contacts = [
            Recipient(
                key=f"contact:{r.id}",
                contact_id=r.id,
                org_id=r.org_id,
                org_vetted=bool(r.vetted),
                sector=r.sector,
                name=r.name,
                kind=r.kind,
                channel=r.channel,
                format=r.format,
                address=(r.email if r.channel == "email" else r.url) or "",
                curated=bool(r.curated),
            )
            for r in rows
        ]
        scopes = [(s.contact_id, s.kind, s.value) for s in conn.execute(select(contact_scope))]
        return cls(contacts, scopes)

    def networks(self, keys: npt.NDArray[np.bytes_]) -> list[npt.NDArray[np.int32]]:
        """Per kind, the network group (-1: none) of each 16-byte key."""
        empty = np.zeros(0, dtype=np.uint32)
        out = []
        for table in self.network_tables:
            if table is None:
                out.append(np.full(len(keys), _NO, dtype=np.int32))
            else:
                out.append(table.rows(Addresses(empty, keys, [], []))[1].astype(np.int32))
        return out

    def domain_group(self, kind: int, host: str | None) -> tuple[int, ...]:
        """The contacts of the nearest domain suffix covering `host` (itself first)."""
        if not host or not self.by_domain[kind]:
            return ()
        table = self.by_domain[kind]
        for name in (host, *parent_domains(host)):
            found = table.get(name)
            if found:
                return found
        return ()


# --- a batch read from the store ------------------------------------------------------------------------


@dataclass
class Batch:
    """The routable values of a range of stored objects, as columns in pk order."""

    pk: list[int] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    ip_lo: list[bytes | None] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    tlp: list[str | None] = field(default_factory=list)
    audience: list[int] = field(default_factory=list)
    source_ref: list[str | None] = field(default_factory=list)
    target_ref: list[str | None] = field(default_factory=list)
    added_us: list[int] = field(default_factory=list)
    content: list[str] | None = None  # the objects' JSON, when a rule needs it

    def __len__(self) -> int:
        return len(self.value)


_OPTIONAL = {
    "ip_lo": observable.c.ip_lo,
    "type": stix_object.c.type,
    "tlp": stix_object.c.tlp,
    "content": stix_object.c.content,
}


def read_batch(
    conn: Connection, after_pk: int, upto_pk: int, needs: frozenset[str] = frozenset(_OPTIONAL)
) -> Batch:
    """Values of objects with pk in (after_pk, upto_pk]: IP, domain and URL kinds, not
    warninglisted, of unrevoked objects that are not TLP:RED. `needs` names the optional columns
    to read (ip_lo, type, tlp, content): what the directory and the rules look at.

    Read through the driver's own cursor, in the caller's transaction: at hundreds of thousands of
    rows a batch, building a SQLAlchemy row per value costs as much as the query."""
    optional = [name for name in _OPTIONAL if name in needs]
    columns = [
        observable.c.object_pk, observable.c.kind, observable.c.value, stix_object.c.audience_id,
        stix_object.c.source_ref, stix_object.c.target_ref, stix_object.c.date_added_us,
        *(_OPTIONAL[name] for name in optional),
    ]  # fmt: skip
    query = (
        select(*columns)
        .select_from(observable.join(stix_object, stix_object.c.pk == observable.c.object_pk))
        .where(
            observable.c.object_pk > after_pk,
            observable.c.object_pk <= upto_pk,
            observable.c.kind.in_(KIND_VALUES),
            observable.c.warninglist.is_(None),
            stix_object.c.revoked.is_(False),
            or_(stix_object.c.tlp.is_(None), stix_object.c.tlp != "red"),
        )
        .order_by(observable.c.object_pk)
    )
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    b = Batch()
    n = len(rows)
    if not n:
        return b
    cols = [list(col) for col in zip(*rows, strict=True)]
    b.pk, b.kind, b.value, b.audience, b.source_ref, b.target_ref, b.added_us = cols[:7]
    got = dict(zip(optional, cols[7:], strict=True))
    b.ip_lo = got.get("ip_lo") or [None] * n
    b.type = got.get("type") or [""] * n
    b.tlp = got.get("tlp") or [None] * n
    b.content = got.get("content")
    return b


# --- the policy, per recipient organisation -------------------------------------------------------------


def visible_triples(
    conn: Connection, policy: Policy, viewer: Viewer, triples: Sequence[tuple[int, str | None, str | None]]
) -> set[tuple[int, str | None, str | None]]:
    """Which (audience, source_ref, target_ref) triples `policy.visible` lets the viewer read: the
    columns `visible` looks at, so this is the policy's verdict for every row carrying them."""
    plain = sorted({a for a, s, t in triples if s is None and t is None})
    parts: list[Any] = []
    if plain:
        parts.append(
            select(
                audience.c.id.label("audience_id"),
                cast(null(), String).label("source_ref"),
                cast(null(), String).label("target_ref"),
            ).where(audience.c.id.in_(plain))
        )
    for a, s, t in sorted({x for x in triples if x[1] is not None or x[2] is not None}, key=repr):
        parts.append(
            select(
                literal(a, Integer).label("audience_id"),
                literal(s, String).label("source_ref"),
                literal(t, String).label("target_ref"),
            )
        )
    if not parts:
        return set()
    combined: Any = parts[0]
    if len(parts) > 1:
        combined = union_all(*parts)
    rows = combined.subquery()
    query = select(rows.c.audience_id, rows.c.source_ref, rows.c.target_ref).where(
        policy.visible(viewer, rows)
    )
    return {(int(a), s, t) for a, s, t in conn.execute(query)}


# --- routing ------------------------------------------------------------------------------------------------


def group_rows(columns: Sequence[npt.NDArray[Any]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """(group id per row, first row of each group) for rows keyed by several integer columns: one
    1-D `np.unique` per column (sorting a 2-D array's rows is ten times slower)."""
    key = np.zeros(len(columns[0]), np.int64)
    for col in columns:
        values, inverse = np.unique(col, return_inverse=True)
        key = key * len(values) + inverse.reshape(-1)
        _u, key = np.unique(key, return_inverse=True)  # keep the key small: renumber 0..groups-1
        key = key.reshape(-1)
    _u, first = np.unique(key, return_index=True)
    return key, first


# A routed value, as the outbox stores it: [value, kind, country, asn, object_pk, rule]
Item = tuple[Any, ...]
_KIND_INDEX = {k: i for i, k in enumerate(KIND_VALUES)}


@dataclass
class Routed:
    """What one batch produced: the abuse counts (for the country view) and, per recipient, the
    values it receives (first occurrence of each value in the batch)."""

    candidates: int = 0
    counts: list[dict[str, Any]] = field(default_factory=list)  # abuse_count rows of this batch
    recipients: dict[str, Recipient] = field(default_factory=dict)
    items: dict[str, list[Item]] = field(default_factory=dict)


class Router:
    """Routes batches against one directory and rule set, and one snapshot of the policy's answers
    per recipient organisation (build a new Router, as each run does, to see changes)."""

    def __init__(
        self,
        enricher: Enricher,
        policy: Policy,
        directory: Directory,
        rules: Sequence[Rule],
        network_cache: dict[int, tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.enricher = enricher
        self.policy = policy
        self.directory = directory
        self.rules = [r for r in rules if r.enabled]
        # (operator, abuse mailbox) per network row: fixed for the enricher's life, so shareable.
        self._network_cache = network_cache if network_cache is not None else {}
        self._combo_cache: dict[tuple[Any, ...], tuple[tuple[int, str], ...]] = {}
        self._automatic: dict[str, Recipient] = {}
        self._visible: dict[tuple[int | None, tuple[int, str | None, str | None]], bool] = {}

    @property
    def needs_content(self) -> bool:
        return any(r.needs_content for r in self.rules)

    @property
    def needs(self) -> frozenset[str]:
        """The optional columns `read_batch` must read for this directory and these rules."""
        out = set()
        if any(t is not None for t in self.directory.network_tables):
            out.add("ip_lo")
        if any(r.types for r in self.rules):
            out.add("type")
        if any(r.tlp for r in self.rules):
            out.add("tlp")
        if self.needs_content:
            out.add("content")
        return frozenset(out)

    # -- enrichment -----------------------------------------------------------------------------------

    def _network(self, key: int, asn: int) -> tuple[str | None, str | None]:
        """(operator, abuse mailbox) of a network row (`source << 32 | row`), the mailbox found by AS
        in the other sources when the answering one has none (as `Enricher.enrich` answers)."""
        found = self._network_cache.get(key)
        if found is None:
            net = self.enricher.networks[key >> 32].record(key & 0xFFFFFFFF)
            abuse = net.abuse_email
            if abuse is None and asn:
                for ns in self.enricher.networks:
                    abuse = ns.abuse_for_asn(asn)
                    if abuse is not None:
                        break
            found = self._network_cache[key] = (net.operator, abuse)
        return found

    def _enrich(self, b: Batch) -> tuple[Any, ...]:
        """Per value: country index, AS number, network id (into the returned list of (operator,
        abuse mailbox), -1: none), host name (for domain-suffix contacts) and 16-byte address key."""
        n = len(b)
        country = np.zeros(n, np.uint8)
        asn = np.zeros(n, np.uint32)
        network = np.full(n, -1, np.int64)
        networks: list[tuple[str | None, str | None]] = []
        host: list[Any] = [None] * n
        keys = np.array([k or b"" for k in b.ip_lo], dtype="S16")  # b"": the zero key (no address)
        addr_at = np.flatnonzero(np.isin(np.array(b.kind, dtype=object), ["ipv4", "ipv6"]))
        if len(addr_at):
            values = b.value if len(addr_at) == n else [b.value[i] for i in addr_at.tolist()]
            ips = self.enricher.enrich_ips(values)
            country[addr_at] = ips.country
            asn[addr_at] = ips.asn
            known = ips.network_source != NONE
            combined = (ips.network_source.astype(np.int64) << 32) | ips.network_row.astype(np.int64)
            distinct, inverse = np.unique(combined[known], return_inverse=True)
            asn_of: dict[int, int] = {}
            for k, a in zip(combined[known].tolist(), ips.asn[known].tolist(), strict=True):
                asn_of.setdefault(k, a)
            networks = [self._network(k, asn_of[k]) for k in distinct.tolist()]
            network[addr_at[known]] = inverse.reshape(-1)
        name_at = [i for i, k in enumerate(b.kind) if k not in ("ipv4", "ipv6")]
        if name_at:
            answers = self.enricher.enrich_many([b.value[i] for i in name_at])
            seen: dict[tuple[str | None, str | None], int] = {}
            for i, ans in zip(name_at, answers, strict=True):
                if ans["error"] is not None:
                    continue
                if ans["country"] is not None or ans["asn"] is not None:  # a URL whose host is an address
                    country[i] = COUNTRY_INDEX.get(ans["country"], 0)
                    asn[i] = ans["asn"] or 0
                    pair = (ans["operator"], ans["abuse_email"])
                    if pair not in seen:
                        seen[pair] = len(networks)
                        networks.append(pair)
                    network[i] = seen[pair]
                    try:
                        number, v6 = address_number(ans["host"])
                        keys[i] = (number if v6 else _V4_MAPPED | number).to_bytes(16, "big")
                    except Exception:  # noqa: S112 - a host we cannot key is matched by country and AS only
                        continue
                else:
                    country[i] = COUNTRY_INDEX.get(ans["tld_country"], 0)
                    host[i] = ans["host"]
        return country, asn, network, networks, host, keys

    # -- rules ----------------------------------------------------------------------------------------

    def _rule_bits(
        self, b: Batch, country: npt.NDArray[np.uint8], asn: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.int64]:
        n = len(b)
        bits = np.zeros(n, np.int64)
        if not self.rules:
            return bits
        kinds = np.array(b.kind, dtype=object) if any(r.kinds for r in self.rules) else None
        types = np.array(b.type, dtype=object) if any(r.types for r in self.rules) else None
        tlps = (
            np.array([t or "none" for t in b.tlp], dtype=object) if any(r.tlp for r in self.rules) else None
        )
        severity = confidence = None
        if self.needs_content and b.content is not None:
            severity = np.full(n, -1, np.int16)
            confidence = np.full(n, -1, np.int16)
            parsed: dict[int, tuple[int, int]] = {}
            for i, (pk, text) in enumerate(zip(b.pk, b.content, strict=True)):
                got = parsed.get(pk)
                if got is None:
                    got = (-1, -1)
                    if "severity" in text or "confidence" in text:  # most objects state neither
                        obj = orjson.loads(text)
                        s, c = severity_of(obj), confidence_of(obj)
                        got = (-1 if s is None else s, -1 if c is None else c)
                    parsed[pk] = got
                severity[i], confidence[i] = got
        for i, rule in enumerate(self.rules):
            mask = np.ones(n, bool)
            if rule.countries:
                mask &= np.isin(country, [COUNTRY_INDEX[c] for c in rule.countries])
            if rule.asns:
                mask &= np.isin(asn, np.array(sorted(rule.asns), dtype=np.uint32))
            if rule.kinds and kinds is not None:
                mask &= np.isin(kinds, list(rule.kinds))
            if rule.types and types is not None:
                mask &= np.isin(types, list(rule.types))
            if rule.tlp and tlps is not None:
                mask &= np.isin(tlps, list(rule.tlp))
            if rule.min_severity is not None and severity is not None:
                mask &= severity >= rule.min_severity
            if rule.min_confidence is not None and confidence is not None:
                mask &= confidence >= rule.min_confidence
            bits |= mask.astype(np.int64) << i
        return bits

    def _targets(self, combo: tuple[Any, ...]) -> tuple[tuple[int, str], ...]:
        """(contact id or -1-automatic, rule name) pairs for one combination; -1 stands for the
        automatic abuse mailbox of the combination."""
        cached = self._combo_cache.get(combo)
        if cached is not None:
            return cached
        c, a, rule_bits, auto, *groups = combo
        d = self.directory
        k = len(KINDS)
        matched: list[tuple[int, ...]] = []
        for i in range(k):
            ids = d.by_country[i].get(c, ()) + d.by_asn[i].get(a, ())
            net = groups[i]
            if net >= 0:
                ids += d.network_groups[i][net]
            dom = groups[k + i]
            if dom:
                ids += dom
            matched.append(tuple(dict.fromkeys(ids)))
        out: dict[int, str] = {}
        for bit, rule in enumerate(self.rules):
            if not rule_bits >> bit & 1:
                continue
            chosen: list[int] = []
            for kind in rule.send_kinds:
                found = matched[KINDS.index(kind)]
                if found:
                    chosen += found
                elif kind == "abuse" and auto:
                    chosen.append(-1)  # no directory entry: the enrichment data's mailbox
            chosen += [
                int(d.by_name[name].contact_id or 0) for name in rule.send_contacts if name in d.by_name
            ]
            for cid in chosen:
                contact = d.contacts.get(cid) if cid >= 0 else None
                if rule.org_id is not None and (contact is None or contact.org_id != rule.org_id):
                    continue
                if rule.sectors and (contact is None or contact.sector not in rule.sectors):
                    continue
                out.setdefault(cid, rule.name)
        result = tuple(out.items())
        self._combo_cache[combo] = result
        return result

    def _automatic_recipient(self, email: str, operator: str | None) -> Recipient:
        found = self._automatic.get(email)
        if found is None:
            found = self._automatic[email] = Recipient(
                key=f"abuse:{email}", contact_id=None, org_id=None, org_vetted=False, sector=None,
                name=operator or email, kind="abuse", channel="email", format="xarf", address=email,
                curated=False,
            )  # fmt: skip
        return found

    # -- one batch ------------------------------------------------------------------------------------

    def _may_see(self, conn: Connection, r: Recipient, triple: tuple[int, str | None, str | None],
                 triples: list[tuple[int, str | None, str | None]]) -> bool:  # fmt: skip
        """The policy's verdict for the recipient's organisation on one (audience, refs) triple,
        asked once per organisation for all the batch's triples, remembered for the run."""
        key = (r.org_id, triple)
        found = self._visible.get(key)
        if found is None:
            missing = [t for t in triples if (r.org_id, t) not in self._visible]
            seen = visible_triples(conn, self.policy, recipient_viewer(r), missing)
            for t in missing:
                self._visible[(r.org_id, t)] = t in seen
            found = self._visible[key]
        return found

    def route(self, conn: Connection, b: Batch) -> Routed:
        out = Routed(candidates=len(b))
        n = len(b)
        if not n:
            return out
        country, asn, network, networks, host, keys = self._enrich(b)
        value_ids: dict[str, int] = {}
        value_id = np.fromiter((value_ids.setdefault(v, len(value_ids)) for v in b.value), np.int64, n)
        kind_col = np.fromiter((_KIND_INDEX[k] for k in b.kind), np.int64, n)
        plain = all(s is None for s in b.source_ref) and all(t is None for t in b.target_ref)
        if plain:
            audiences, triple_col = np.unique(np.array(b.audience, dtype=np.int64), return_inverse=True)
            triple_list: list[tuple[int, str | None, str | None]] = [
                (a, None, None) for a in audiences.tolist()
            ]
        else:
            triple_ids: dict[tuple[int, str | None, str | None], int] = {}
            triples = zip(b.audience, b.source_ref, b.target_ref, strict=True)
            triple_col = np.fromiter(
                (triple_ids.setdefault(t, len(triple_ids)) for t in triples), np.int64, n
            )
            triple_list = list(triple_ids)
        triple_col = triple_col.reshape(-1)
        out.counts = self._counts(
            b, country, asn, network, networks, kind_col, value_id, triple_col, triple_list
        )
        bits = self._rule_bits(b, country, asn)
        if not bits.any():
            return out
        # The automatic mailbox of each value's network, as a small integer.
        abuse_ids: dict[str | None, int] = {None: 0}
        net_abuse = np.array([abuse_ids.setdefault(a, len(abuse_ids)) for _op, a in networks] + [0], np.int64)
        abuse_col = net_abuse[network]  # network -1 reads the trailing 0
        k = len(KINDS)
        domain_ids: dict[tuple[int, ...], int] = {(): 0}
        domain_groups: list[tuple[int, ...]] = [()]
        domain_cols = []
        for i in range(k):
            col = np.zeros(n, np.int64)
            if self.directory.by_domain[i]:
                for j, h in enumerate(host):
                    if h is not None:
                        g = self.directory.domain_group(i, h)
                        col[j] = domain_ids.setdefault(g, len(domain_groups))
                        if col[j] == len(domain_groups):
                            domain_groups.append(g)
            domain_cols.append(col)
        live = np.flatnonzero(bits)
        columns = [country, asn, bits, abuse_col, *self.directory.networks(keys), *domain_cols, triple_col]
        group, first = group_rows([c[live] for c in columns])
        sel = live[first]
        combos = list(zip(*(c[sel].tolist() for c in columns), strict=True))
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(combos) + 1))
        abuse_names = list(abuse_ids)
        per_recipient: dict[str, list[tuple[npt.NDArray[np.intp], str]]] = {}
        for ci, combo in enumerate(combos):
            c, a, rb, auto = combo[0], combo[1], combo[2], combo[3]
            doms = [domain_groups[x] for x in combo[4 + k : 4 + 2 * k]]
            targets = self._targets((c, a, rb, auto, *combo[4 : 4 + k], *doms))
            if not targets:
                continue
            triple = triple_list[combo[-1]]
            at = live[order[bounds[ci] : bounds[ci + 1]]]
            for cid, rule_name in targets:
                if cid >= 0:
                    r = self.directory.contacts[cid]
                else:
                    r = self._automatic_recipient(abuse_names[auto] or "", networks[int(network[at[0]])][0])
                if not self._may_see(conn, r, triple, triple_list):
                    continue
                out.recipients[r.key] = r
                per_recipient.setdefault(r.key, []).append((at, rule_name))
        out.items = self._items(b, per_recipient, value_id, country, asn)
        return out

    @staticmethod
    def _items(
        b: Batch,
        per_recipient: dict[str, list[tuple[npt.NDArray[np.intp], str]]],
        value_id: npt.NDArray[np.int64],
        country: npt.NDArray[np.uint8],
        asn: npt.NDArray[np.uint32],
    ) -> dict[str, list[Item]]:
        """Each recipient's items in pk order, a value once (its first occurrence); built by C-level
        zips over columns, with the cyclic collector paused (it finds nothing to free here)."""
        repeated = np.bincount(value_id)[value_id] > 1
        cc = [COUNTRIES[c] for c in country.tolist()]
        an = [a or None for a in asn.tolist()]
        out: dict[str, list[Item]] = {}
        with gc_paused():
            for key, parts in per_recipient.items():
                if len(parts) == 1:
                    at = np.sort(parts[0][0])
                    labels: Any = repeat(parts[0][1])
                else:
                    at = np.concatenate([p[0] for p in parts])
                    part_of = np.concatenate([np.full(len(p[0]), j) for j, p in enumerate(parts)])
                    order = np.argsort(at, kind="stable")  # by position; the first rule listed wins ties
                    at, part_of = at[order], part_of[order]
                    labels = [parts[j][1] for j in part_of.tolist()]
                if repeated[at].any():
                    _u, first = np.unique(value_id[at], return_index=True)
                    first.sort()
                    at = at[first]
                    if not isinstance(labels, repeat):
                        labels = [labels[j] for j in first.tolist()]
                idx = at.tolist()
                if len(idx) == 1:
                    i = idx[0]
                    out[key] = [(b.value[i], b.kind[i], cc[i], an[i], b.pk[i], next(iter(labels)))]
                    continue
                pick = itemgetter(*idx)
                columns = (pick(b.value), pick(b.kind), pick(cc), pick(an), pick(b.pk))
                out[key] = list(zip(*columns, labels, strict=False))  # labels may be an endless repeat
        return out

    def _counts(
        self, b: Batch, country: Any, asn: Any, network: Any, networks: list[tuple[str | None, str | None]],
        kind_col: Any, value_id: Any, triple_col: Any, triple_list: list[tuple[int, str | None, str | None]],
    ) -> list[dict[str, Any]]:  # fmt: skip
        """abuse_count rows: distinct values per (day, country, AS, kind, audience) in this batch
        (values of objects with references are left out: their visibility is not the audience's)."""
        day = np.array(b.added_us, dtype=np.int64) // DAY_US
        audience = np.array([t[0] for t in triple_list], dtype=np.int64)[triple_col]
        plain = np.array([t[1] is None and t[2] is None for t in triple_list], dtype=bool)[triple_col]
        at = np.flatnonzero(plain)
        keyed = [day[at], country[at], asn[at], kind_col[at], audience[at]]
        _pairs, first = group_rows([*keyed, value_id[at]])  # distinct values per group
        group, group_first = group_rows([k[first] for k in keyed])
        count = np.bincount(group)
        pick = first[group_first]
        groups = list(zip(*(k[pick].tolist() for k in keyed), strict=True))
        rows = []
        nets = network[at][first][group_first].tolist()
        for (d, c, a, kind, aud), net, n in zip(groups, nets, count.tolist(), strict=True):
            operator = networks[net][0] if net >= 0 else None
            rows.append({
                "day": d, "country": COUNTRIES[c] or "", "asn": a, "kind": KIND_VALUES[kind],
                "audience_id": aud, "operator": operator[:200] if operator else None, "value_count": n,
            })  # fmt: skip
        return rows


def pk_bounds(conn: Connection, after_pk: int, objects: int) -> int | None:
    """The pk that ends a batch of at most `objects` stored objects after `after_pk` (None: none)."""
    inner = (
        select(stix_object.c.pk)
        .where(stix_object.c.pk > after_pk)
        .order_by(stix_object.c.pk)
        .limit(objects)
        .subquery()
    )
    found = conn.execute(select(inner.c.pk).order_by(inner.c.pk.desc()).limit(1)).scalar()
    return int(found) if found is not None else None
