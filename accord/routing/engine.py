"""The routing engine: which recipients get which of a batch of stored values.

One batch is a range of stored objects (`stix_object.pk` in (after, upto]). Its IP, domain and URL
values are read with their objects in one query, each column aggregated by the database into one
array (never warninglisted values, never TLP:RED, never revoked objects), with what the objects state
of severity and confidence (stored at ingest; only when a rule asks). They are enriched
in bulk (`Enricher.enrich_ips` for addresses, `enrich_names` for domains and URLs), matched against
the contact directory and the rules, and gated by the policy:

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
   asked `policy.visible` once per run over the distinct (audience, source_ref, target_ref) triples
   of the batches: those are the only columns of a row `visible` reads, so the answer is the
   policy's own for every row. RED objects carry users audiences, which no recipient is in.

Why it is fast: values are columns (numpy arrays), never a Python object each, and arrive as
columns (one aggregated row, not a tuple per value). Contacts and rules are decided once per
distinct combination (country, contacts of the AS, rules passed, automatic mailbox or not, network
and domain contacts) — a few hundred per batch — and spread back to the values with `np.repeat`;
the policy's verdicts form a small (organisation x triple) table read with one fancy index (its
statements built once per process); a stable sort by recipient keeps each recipient's values in
pk order, and each recipient's share is a slice of shared item columns (`Items`), made into tuples
only as the outbox writes them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from accord.db.schema import audience, contact_point, contact_scope, observable, org, stix_object
from accord.intel.observables import normalise_row, parent_domains
from accord.intel.prepare import gc_paused
from accord.members.model import Permission, Role, Viewer
from accord.policy import Policy
from accord.routing.contacts import KINDS
from accord.routing.countries import COUNTRIES, COUNTRY_INDEX
from accord.routing.enrich import NONE, Enricher
from accord.routing.model import Addresses
from accord.routing.ranges import RangeTable
from accord.routing.rules import KIND_VALUES, Rule

__all__ = [
    "Batch", "Directory", "Items", "Recipient", "Routed", "Router", "first_seen", "first_seen_keys",
    "group_rows", "has_other_connections", "in_thread", "on_other_connection", "pk_bounds", "read_batch",
    "recipient_viewer", "visible_triples",
]  # fmt: skip

DAY_US = 86_400_000_000
T = TypeVar("T")
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

I64 = npt.NDArray[np.int64]
Triple = tuple[int, str | None, str | None]  # (audience, source_ref, target_ref): what `visible` reads


@dataclass
class Batch:
    """The routable values of a range of stored objects, as columns in pk order. The optional
    columns are read only when the directory or the rules look at them (`Router.needs`)."""

    pk: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    kind: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))  # in KIND_VALUES
    value: Sequence[str] = ()
    audience: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    source_ref: Sequence[str | None] = ()
    target_ref: Sequence[str | None] = ()
    added_us: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    ip_lo: Sequence[bytes | None] | None = None  # when the directory has networks
    type: Sequence[str] | None = None  # when a rule matches STIX types
    tlp: Sequence[str | None] | None = None  # when a rule matches TLP levels
    # When a rule needs severity or confidence ("content"): what each value's object states, as a
    # rank in SEVERITIES and a confidence (-1: states none), as ingest stored them.
    severity: npt.NDArray[np.int16] | None = None
    confidence: npt.NDArray[np.int16] | None = None
    # PostgreSQL: each value's IPv4 address as an integer, from its stored key, where the value is
    # one IPv4 address (-1: it is not), so enrichment need not parse the texts (None: not read).
    v4: I64 | None = None

    def __len__(self) -> int:
        return len(self.value)


_OPTIONAL = ("ip_lo", "type", "tlp", "content")


def _routable(after_pk: Any, upto_pk: Any) -> list[Any]:
    """The objects of a batch that routing reads: pk in (after, upto], not revoked, not TLP:RED."""
    return [
        stix_object.c.pk > after_pk,
        stix_object.c.pk <= upto_pk,
        stix_object.c.revoked.is_(False),
        or_(stix_object.c.tlp.is_(None), stix_object.c.tlp != "red"),
    ]


def _driver_query(conn: Connection, query: Any) -> tuple[str, Any]:
    """A statement compiled for the driver's own cursor: its SQL and its parameters."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    return str(compiled), params


def _too_big(exc: BaseException) -> bool:
    """The engine's limit on one value (1 GB by default) refused an aggregated column."""
    sqlite, postgresql = getattr(exc, "sqlite_errorname", None), getattr(exc, "sqlstate", None)
    return sqlite == "SQLITE_TOOBIG" or postgresql == "54000"  # program_limit_exceeded


def _columns(
    conn: Connection, aggregates: Sequence[Any], after_pk: int, upto_pk: int
) -> tuple[int, list[Any]]:
    """Columns of the values of objects with pk in (after, upto] (see `read_batch`), each
    aggregated by the database into one value (`aggregates`): one row, instead of a tuple per value
    to build (at hundreds of thousands of values a batch, building them costs more than the query).
    SQLite's JSON arrays (`json_group_array`) arrive decoded; PostgreSQL's arrays (`array_agg`,
    binary) as lists and its byte strings (`string_agg` of packed records) as bytes. Every
    aggregate takes the rows in the same order; `read_batch` puts them in pk order. Also how many
    of the values' objects have references (source_ref or target_ref; most have neither). A range
    whose column passes the engine's size limit for one value is read in two halves (lists and
    byte strings join by `+`)."""
    sqlite = conn.dialect.name == "sqlite"
    referring = func.count(stix_object.c.source_ref) + func.count(stix_object.c.target_ref)
    query = (
        select(func.count(), referring, *aggregates)
        .select_from(observable.join(stix_object, stix_object.c.pk == observable.c.object_pk))
        .where(
            observable.c.object_pk > after_pk,
            observable.c.object_pk <= upto_pk,
            # The same range on the objects' side: without it PostgreSQL's merge join walks the
            # objects' primary key from the first object, for every batch.
            *_routable(after_pk, upto_pk),
            observable.c.kind.in_(KIND_VALUES),
            observable.c.warninglist.is_(None),
        )
    )
    sql, params = _driver_query(conn, query)
    raw: Any = conn.connection.dbapi_connection
    # psycopg: binary results (integers arrive as integers, not text to parse).
    cursor = raw.cursor() if sqlite else raw.cursor(binary=True)
    try:
        savepoint = None if sqlite else conn.begin_nested()  # PostgreSQL: an error ends the transaction
        try:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        except Exception as exc:
            if savepoint is not None:
                savepoint.rollback()
            if not _too_big(exc) or upto_pk - after_pk < 2:
                raise
            middle = (after_pk + upto_pk) // 2
            refs, lower = _columns(conn, aggregates, after_pk, middle)
            more, upper = _columns(conn, aggregates, middle, upto_pk)
            if lower and upper:
                return refs + more, [a + b for a, b in zip(lower, upper, strict=True)]
            return refs + more, lower or upper
        if savepoint is not None:
            savepoint.commit()
    finally:
        cursor.close()
    if not row[0]:
        return 0, []
    return int(row[1]), [orjson.loads(col) for col in row[2:]] if sqlite else list(row[2:])


# PostgreSQL: the fixed-width columns of a batch travel as one byte string of packed big-endian
# records (`string_agg` of `int8send(…) || int4send(…) || …`): one aggregate for all of them instead
# of one array each (an aggregate's step per value is most of the query's time), and no number
# to decode one by one (numpy reads the records in place).
_PACKED_TYPES: dict[str, tuple[Any, str]] = {
    "int8": (BigInteger, ">i8"),
    "int4": (Integer, ">i4"),
    "int2": (SmallInteger, ">i2"),
    "bytes8": (None, ">i8"),  # an expression that is already 8 bytes (bytea), read as a signed integer
}


def _packed(parts: Sequence[tuple[str, Any, str]]) -> tuple[Any, np.dtype[Any]]:
    """The aggregate of (name, expression, int8|int4|int2|bytes8) parts, and the numpy record it
    reads as."""
    joined: Any = None
    for _name, expr, kind in parts:
        sa_type = _PACKED_TYPES[kind][0]
        sent = expr if sa_type is None else getattr(func, f"{kind}send")(cast(expr, sa_type))
        joined = sent if joined is None else joined.op("||")(sent)
    record = np.dtype([(name, _PACKED_TYPES[kind][1]) for name, _expr, kind in parts])
    return func.string_agg(joined, literal_column("''::bytea")), record


def _references(conn: Connection, after_pk: int, upto_pk: int) -> dict[int, tuple[str | None, str | None]]:
    """(source_ref, target_ref) of the objects of a batch that have either."""
    query = select(stix_object.c.pk, stix_object.c.source_ref, stix_object.c.target_ref).where(
        *_routable(after_pk, upto_pk),
        or_(stix_object.c.source_ref.is_not(None), stix_object.c.target_ref.is_not(None)),
    )
    return {pk: (source, target) for pk, source, target in conn.execute(query)}


def has_other_connections(engine: Engine) -> bool:
    """Whether another connection sees the same database (not so for in-memory SQLite)."""
    return not (engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"))


def in_thread(work: Callable[[], T], *, inline: bool = False) -> Callable[[], T]:
    """`work()` in a thread of its own while the caller goes on; returns the wait for its answer
    (which raises what `work` raised). `inline`: does the work now, in this thread (the answer
    waits all the same). A thread per call, not a pool: a pool's threads would not survive a fork
    of the process."""
    answer: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(work())
        except BaseException as exc:  # handed over by the wait
            failed.append(exc)

    def result() -> T:
        if thread is not None:
            thread.join()
        if failed:
            raise failed[0]
        return answer[0]

    thread = None
    if inline:
        run()
    else:
        thread = threading.Thread(target=run, name="accord-routing", daemon=True)
        thread.start()
    return result


def on_other_connection(engine: Engine, read: Callable[[Connection], T]) -> Callable[[], T] | None:
    """`read(connection)` on a connection of its own, in a thread (`in_thread`), while the caller
    goes on: the database (or, for SQLite, the driver, which lets go of the interpreter while it
    works) does it on the other core. On PostgreSQL its transaction reads one snapshot throughout
    (REPEATABLE READ). None for an in-memory SQLite database (another connection would see another
    database)."""
    if not has_other_connections(engine):
        return None

    def work() -> T:
        with engine.connect() as other:
            if engine.dialect.name == "postgresql":
                other.execution_options(isolation_level="REPEATABLE READ")
            with other.begin():
                return read(other)

    return in_thread(work)


def read_batch(
    conn: Connection, after_pk: int, upto_pk: int, needs: frozenset[str] = frozenset(_OPTIONAL)
) -> Batch:
    """Values of objects with pk in (after_pk, upto_pk]: IP, domain and URL kinds, not
    warninglisted, of unrevoked objects that are not TLP:RED. `needs` names the optional columns
    to read (ip_lo, type, tlp, content): what the directory and the rules look at.

    Through the driver's own cursor, in the caller's transaction (see `_columns`): the numbers
    as JSON arrays on SQLite and as one byte string of packed records on PostgreSQL (`_packed`),
    the texts as arrays. The kind comes as its index in KIND_VALUES."""
    sqlite = conn.dialect.name == "sqlite"
    kind = case({k: i for i, k in enumerate(KIND_VALUES)}, value=observable.c.kind, else_=-1)
    numbers: list[tuple[str, Any, str]] = [
        ("pk", observable.c.object_pk, "int8"),
        ("added_us", stix_object.c.date_added_us, "int8"),
        ("audience", stix_object.c.audience_id, "int4"),
        ("kind", kind, "int2"),
    ]
    if "content" in needs:
        numbers += [
            ("severity", func.coalesce(stix_object.c.severity, -1), "int2"),
            ("confidence", func.coalesce(stix_object.c.confidence, -1), "int2"),
        ]
    ip_lo = observable.c.ip_lo
    if not sqlite:  # one IPv4 address (not a network): its key's last 4 bytes, as 8; else -1
        single = (observable.c.kind == "ipv4") & (ip_lo == observable.c.ip_hi)
        numbers.append((
            "v4",
            case(
                (single, literal(bytes(4), LargeBinary).op("||")(func.substring(ip_lo, 13, 4))),
                else_=literal(b"\xff" * 8, LargeBinary),
            ),
            "bytes8",
        ))  # fmt: skip
    optional: dict[str, Any] = {
        # JSON holds no bytes: SQLite sends the key as hex (hex() of NULL would be '').
        "ip_lo": case((ip_lo.is_(None), null()), else_=func.hex(ip_lo)) if sqlite else ip_lo,
        "type": stix_object.c.type,
        "tlp": stix_object.c.tlp,
    }
    texts = [("value", observable.c.value)] + [(n, c) for n, c in optional.items() if n in needs]
    if sqlite:
        record = None
        aggregates = [func.json_group_array(e) for _n, e, _k in numbers]
    else:
        packed, record = _packed(numbers)
        aggregates = [packed]
    aggregates += [(func.json_group_array if sqlite else func.array_agg)(e) for _n, e in texts]
    with gc_paused():  # an object per value: the cyclic collector's passes over them free nothing
        refs, got = _columns(conn, aggregates, after_pk, upto_pk)
        if not got:
            return Batch()
        if record is None:
            firsts = got[: len(numbers)]
            number = {
                name: np.array(c, dtype=np.int64) for (name, _e, _k), c in zip(numbers, firsts, strict=True)
            }
            rest = got[len(numbers) :]
        else:
            records = np.frombuffer(got[0], dtype=record)
            number = {name: records[name].astype(np.int64) for name, _e, _k in numbers}
            rest = got[1:]
        text = {name: c for (name, _e), c in zip(texts, rest, strict=True)}
        pk = number["pk"]
        if len(pk) > 1 and not (pk[1:] >= pk[:-1]).all():  # in pk order (ties: as the engine read them)
            order = np.argsort(pk, kind="stable")
            number = {name: c[order] for name, c in number.items()}
            at = order.tolist()
            text = {name: [c[i] for i in at] for name, c in text.items()}
            pk = number["pk"]
        n = len(pk)
        b = Batch(
            pk=pk,
            kind=number["kind"].astype(np.int8),
            value=text["value"],
            audience=number["audience"],
            source_ref=[None] * n,
            target_ref=[None] * n,
            added_us=number["added_us"],
        )
        if refs:
            found = _references(conn, after_pk, upto_pk)
            ends = list(map(found.get, pk.tolist(), repeat((None, None), n)))
            b.source_ref, b.target_ref = [e[0] for e in ends], [e[1] for e in ends]
        if "v4" in number:
            b.v4 = number["v4"]
        if "severity" in number:
            b.severity = number["severity"].astype(np.int16)
            b.confidence = number["confidence"].astype(np.int16)
        if "ip_lo" in text:
            lo = text["ip_lo"]
            b.ip_lo = [None if h is None else bytes.fromhex(h) for h in lo] if sqlite else lo
        if "type" in text:
            b.type = text["type"]
        if "tlp" in text:
            b.tlp = text["tlp"]
    return b


def pk_bounds(conn: Connection, after_pk: int, objects: int) -> int | None:
    """The pk that ends a batch of at most `objects` stored objects after `after_pk` (None: none):
    the objects-th pk after it (OFFSET skips rows without returning them), or the last one."""
    if objects < 1:
        return None
    after = stix_object.c.pk > after_pk
    found = conn.execute(
        select(stix_object.c.pk).where(after).order_by(stix_object.c.pk).limit(1).offset(objects - 1)
    ).scalar()
    if found is None:
        found = conn.execute(select(func.max(stix_object.c.pk)).where(after)).scalar()
    return int(found) if found is not None else None


# --- the policy, per recipient organisation -------------------------------------------------------------


def visible_triples(
    conn: Connection, policy: Policy, viewer: Viewer, triples: Sequence[tuple[int, str | None, str | None]]
) -> set[tuple[int, str | None, str | None]]:
    """Which (audience, source_ref, target_ref) triples `policy.visible` lets the viewer read: the
    columns `visible` looks at, so this is the policy's verdict for every row carrying them. Asked
    of the database every time; the statement is built once per policy, viewer and triples (the
    policy's SQL costs milliseconds to build, and routing asks it for every recipient organisation
    on every run)."""
    key = (viewer, tuple(sorted(set(triples), key=repr)))
    statements = _STATEMENTS.setdefault(policy, {})
    query = statements.get(key)
    if query is None:
        query = _visible_query(policy, viewer, key[1])
        if query is None:
            return set()
        if len(statements) >= 256:
            statements.clear()
        statements[key] = query
    return {(int(a), s, t) for a, s, t in conn.execute(query)}


_STATEMENTS: weakref.WeakKeyDictionary[Policy, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def _visible_query(policy: Policy, viewer: Viewer, triples: Sequence[Triple]) -> Any:
    """The triples as rows, filtered by `policy.visible` for the viewer (None: no triples)."""
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
        return None
    combined: Any = parts[0]
    if len(parts) > 1:
        combined = union_all(*parts)
    rows = combined.subquery()
    return select(rows.c.audience_id, rows.c.source_ref, rows.c.target_ref).where(
        policy.visible(viewer, rows)
    )


# --- routing ------------------------------------------------------------------------------------------------

_PACKED = 1 << 62  # keys of several columns packed into one int64 while their product stays below
_DENSE_MIN = 1 << 16  # keys spanning at most max(this, 4 x rows) are numbered by a table, not a sort


def _numbered(key: I64, span: int) -> tuple[I64, I64]:
    """(the distinct keys in order, each row's number among them) for keys in [0, span): what
    `np.unique(key, return_inverse=True)` gives, by a table of the keys present when the span is
    small (about 20 times quicker than its sort for 100,000 rows), else by that sort."""
    if span <= max(_DENSE_MIN, 4 * len(key)):
        present = np.zeros(span, np.bool_)
        present[key] = True
        numbers = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present).astype(np.int64), numbers[key]
    distinct, inverse = np.unique(key, return_inverse=True)  # no return_index: a quicker, unstable sort
    return distinct.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def group_rows(columns: Sequence[npt.NDArray[Any]]) -> tuple[I64, I64]:
    """(group id per row, first row of each group) for rows keyed by several integer columns,
    groups numbered in key order: the columns packed into one int64 (mixed radix, each column's own
    range) and numbered once (`_numbered`); a column too wide to pack is renumbered first."""
    n = len(columns[0])
    key = np.zeros(n, np.int64)
    span = 1
    for col in columns:
        if not n:
            break
        lo, hi = int(col.min()), int(col.max())
        width = hi - lo + 1
        if span * width >= _PACKED:  # renumber what is packed so far, then this column, then go on
            distinct, key = _numbered(key, span)
            span = len(distinct)
            values, inverse = np.unique(col, return_inverse=True)
            width, part = len(values), inverse.reshape(-1).astype(np.int64)
        else:
            part = col.astype(np.int64) - lo
        key = key * width + part
        span *= width
    distinct, group = _numbered(key, span if n else 0)
    first = np.full(len(distinct), n, np.int64)
    np.minimum.at(first, group, np.arange(n, dtype=np.int64))
    return group, first


def first_seen(values: Sequence[str]) -> tuple[I64, npt.NDArray[np.bool_] | None]:
    """Each value's first row in the batch (its id: an earlier first sight is a smaller id), and
    which rows hold a value the batch has more than once (None: every value once). Dicts built
    by C-level zips, no Python loop."""
    n = len(values)
    first = dict(zip(reversed(values), range(n - 1, -1, -1), strict=True))  # the first row wins
    if len(first) == n:
        return np.arange(n, dtype=np.int64), None
    ids = np.fromiter(map(first.__getitem__, values), np.int64, n)
    return ids, np.bincount(ids, minlength=n)[ids] > 1


def first_seen_keys(keys: npt.NDArray[np.uint32]) -> tuple[I64, npt.NDArray[np.bool_] | None]:
    """`first_seen` for values that are their keys (IPv4 addresses in normalised form): by sorting
    integers instead of hashing texts. Each key and its row travel as one 64-bit integer, so one
    plain sort orders keys with rows breaking ties (half the time of a stable argsort)."""
    n = len(keys)
    bits = max(1, (n - 1).bit_length())
    packed = np.sort((keys.astype(np.uint64) << np.uint64(bits)) | np.arange(n, dtype=np.uint64))
    ordered = packed >> np.uint64(bits)
    starts_run = np.ones(n, np.bool_)
    starts_run[1:] = ordered[1:] != ordered[:-1]
    if starts_run.all():  # the usual batch: each address once
        return np.arange(n, dtype=np.int64), None
    order = (packed & np.uint64((1 << bits) - 1)).astype(np.int64)
    starts = np.flatnonzero(starts_run)
    counts = np.diff(np.append(starts, n))
    ids = np.empty(n, np.int64)
    ids[order] = np.repeat(order[starts], counts)  # a run's first row is its smallest
    repeated = np.empty(n, np.bool_)
    repeated[order] = np.repeat(counts > 1, counts)
    return ids, repeated


# A routed value, as the outbox stores it: [value, kind, country, asn, object_pk, rule]
Item = tuple[Any, ...]


class Items:
    """One recipient's routed values in a batch, as rows [lo, hi) of the batch's item columns
    (value, kind, country, asn, object_pk, rule), which all its recipients share: no tuple per
    value until the outbox writes them (hundreds of thousands of tuples alive would cost the cyclic
    collector's passes more than building them)."""

    __slots__ = ("columns", "hi", "lo")

    def __init__(self, columns: Sequence[list[Any]], lo: int, hi: int) -> None:
        self.columns, self.lo, self.hi = columns, lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def column(self, i: int) -> list[Any]:
        return self.columns[i][self.lo : self.hi]

    def rows(self) -> list[Item]:
        return list(zip(*(c[self.lo : self.hi] for c in self.columns), strict=True))


_KIND_TEXT = np.array(KIND_VALUES, dtype=object)
_COUNTRY_TEXT = np.array(COUNTRIES, dtype=object)
_COUNTRY_KEY = np.array([c or "" for c in COUNTRIES], dtype=object)  # abuse_count's: "" for unknown
_ADDRESS_KINDS = KIND_VALUES.index("ipv6") + 1  # kinds below this are addresses (ipv4, ipv6)
_WORD = 62  # rules per int64 word of rule bits


@dataclass
class Routed:
    """What one batch produced: the abuse counts (for the country view) and, per recipient, the
    values it receives (first occurrence of each value in the batch)."""

    candidates: int = 0
    # abuse_count rows of this batch: (day, country, asn, kind, audience_id, operator, value_count)
    counts: list[tuple[Any, ...]] = field(default_factory=list)
    recipients: dict[str, Recipient] = field(default_factory=dict)
    items: dict[str, Items] = field(default_factory=dict)


class _Enriched(NamedTuple):
    """A batch's enrichment, per value: country index, AS number, network (index into `networks`,
    -1: none), host name (for domain-suffix contacts; None when the directory has none) and 16-byte
    address key (for network contacts; None when the directory has none)."""

    country: npt.NDArray[np.uint8]
    asn: npt.NDArray[np.uint32]
    network: I64
    networks: list[tuple[str | None, str | None]]  # (operator, abuse mailbox)
    host: list[str | None] | None
    keys: npt.NDArray[np.bytes_] | None
    v4_keys: npt.NDArray[np.uint32] | None  # when every value is an IPv4 address (see IPBatch)


class _Triples(NamedTuple):
    """The batch's distinct (audience, source_ref, target_ref) triples and each row's one."""

    column: I64
    triples: list[Triple]
    audience: I64  # per triple
    plain: npt.NDArray[np.bool_]  # per triple: no references (its visibility is its audience's)


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
        self._rule_names = np.array([r.name for r in self.rules], dtype=object)
        # (operator, abuse mailbox) per network row: fixed for the enricher's life, so shareable.
        self._network_cache = network_cache if network_cache is not None else {}
        self._combo_cache: dict[tuple[int, ...], tuple[tuple[int, int], ...]] = {}
        self._automatic: dict[str, Recipient] = {}
        self._visible: dict[tuple[int | None, Triple], bool] = {}
        # Recipients are numbered: the directory's contacts first, then the batch's automatic mailboxes.
        self._contacts = list(directory.contacts.values())
        self._slot = {c.contact_id: i for i, c in enumerate(self._contacts)}
        # An AS number matters to the directory only if some contact lists it: others share signature 0.
        asns = sorted({a for table in directory.by_asn for a in table})
        self._asn_keys = np.array(asns, dtype=np.uint32)
        self._asn_of_signature = [0, *asns]
        self._domain_groups: list[tuple[int, ...]] = [()]  # numbered for the run, so keys stay ints
        self._domain_ids: dict[tuple[int, ...], int] = {(): 0}

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

    def _enrich(self, b: Batch) -> _Enriched:
        """Addresses as addresses; domains and URLs by host: a URL whose host is an address the data
        places (country or AS) as that address, any other by its host name and ccTLD country."""
        n = len(b)
        d = self.directory
        country = np.zeros(n, np.uint8)
        asn = np.zeros(n, np.uint32)
        source = np.full(n, NONE, np.uint8)
        row = np.full(n, -1, np.int32)
        keys = None
        v4_keys = None
        if any(t is not None for t in d.network_tables):
            lo = b.ip_lo if b.ip_lo is not None else [None] * n
            keys = np.array([k or b"" for k in lo], dtype="S16")  # b"": the zero key (no address)
        host: list[str | None] | None = None
        address = b.kind < _ADDRESS_KINDS
        addr_at = np.flatnonzero(address)
        if len(addr_at):
            values = b.value if len(addr_at) == n else [b.value[i] for i in addr_at.tolist()]
            stored = b.v4 if b.v4 is None or len(addr_at) == n else b.v4[addr_at]
            plain_v4 = stored is not None and bool((stored >= 0).all())  # each one stored IPv4 address
            keys4 = stored.astype(np.uint32) if stored is not None and plain_v4 else None
            ips = self.enricher.enrich_ips(values, keys4)
            if len(addr_at) == n:
                v4_keys = ips.v4_keys
            country[addr_at], asn[addr_at] = ips.country, ips.asn
            source[addr_at], row[addr_at] = ips.network_source, ips.network_row
        name_at = np.flatnonzero(~address)
        if len(name_at):
            names = self.enricher.enrich_names([b.value[i] for i in name_at.tolist()])
            placed = names.address & ((names.country != 0) | (names.asn != 0))
            at = name_at[placed]
            country[at], asn[at] = names.country[placed], names.asn[placed]
            source[at], row[at] = names.network_source[placed], names.network_row[placed]
            if keys is not None:
                keys[at] = names.keys[placed]
            other = name_at[~placed]
            country[other] = names.tld_country[~placed]
            if any(d.by_domain):
                host = [None] * n
                for i, h in zip(other.tolist(), compress(names.host, ~placed), strict=True):
                    host[i] = h
        network = np.full(n, -1, np.int64)
        networks: list[tuple[str | None, str | None]] = []
        known = np.flatnonzero(source != NONE)
        if len(known):
            # Numbered by (source, row): few sources and a network table of some 150,000 rows
            # make a span the table of `_numbered` covers.
            rows, sources = row[known].astype(np.int64), source[known].astype(np.int64)
            least = int(rows.min())
            width = int(rows.max()) - least + 1
            numbered, inverse = _numbered(sources * width + rows - least, (int(sources.max()) + 1) * width)
            distinct = ((numbered // width) << 32) | (numbered % width + least)  # what `_network` takes
            asn_of = np.zeros(len(distinct), np.uint32)
            asn_of[inverse] = asn[known]  # a network row has one AS: any of its values tells it
            networks = [self._network(k, a) for k, a in zip(distinct.tolist(), asn_of.tolist(), strict=True)]
            network[known] = inverse
        return _Enriched(country, asn, network, networks, host, keys, v4_keys)

    # -- rules ----------------------------------------------------------------------------------------

    def _rule_bits(self, b: Batch, country: npt.NDArray[np.uint8], asn: npt.NDArray[np.uint32]) -> list[I64]:
        """Which rules each value passes: bit i of word i // 62 for rule i."""
        n = len(b)
        words = [np.zeros(n, np.int64) for _ in range(-(-len(self.rules) // _WORD))]
        if not self.rules:
            return words
        types = _codes(b.type) if b.type is not None and any(r.types for r in self.rules) else None
        tlps = (
            _codes([t or "none" for t in b.tlp])
            if b.tlp is not None and any(r.tlp for r in self.rules)
            else None
        )
        severity, confidence = (b.severity, b.confidence) if self.needs_content else (None, None)
        for i, rule in enumerate(self.rules):
            mask = np.ones(n, bool)
            if rule.countries:
                mask &= _table(256, [COUNTRY_INDEX[c] for c in rule.countries])[country]
            if rule.asns:
                mask &= np.isin(asn, np.array(sorted(rule.asns), dtype=np.uint32))
            if rule.kinds:
                mask &= _table(len(KIND_VALUES), [KIND_VALUES.index(k) for k in rule.kinds])[b.kind]
            if rule.types and types is not None:
                mask &= _table(len(types[1]), [types[1][t] for t in rule.types if t in types[1]])[types[0]]
            if rule.tlp and tlps is not None:
                mask &= _table(len(tlps[1]), [tlps[1][t] for t in rule.tlp if t in tlps[1]])[tlps[0]]
            if rule.min_severity is not None and severity is not None:
                mask &= severity >= rule.min_severity
            if rule.min_confidence is not None and confidence is not None:
                mask &= confidence >= rule.min_confidence
            words[i // _WORD] |= mask.astype(np.int64) << (i % _WORD)
        return words

    def _targets(self, combo: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """(recipient slot, rule index) pairs for one combination (country, AS signature, rule
        words..., automatic mailbox or not, network groups per kind, domain groups per kind); slot -1
        stands for the automatic abuse mailbox of the value's network. The first rule listed that
        sends to a recipient names it."""
        cached = self._combo_cache.get(combo)
        if cached is not None:
            return cached
        d = self.directory
        k = len(KINDS)
        words = -(-len(self.rules) // _WORD)
        c, signature = combo[0], combo[1]
        rule_words = combo[2 : 2 + words]
        auto = combo[2 + words]
        groups = combo[3 + words :]
        a = self._asn_of_signature[signature]
        matched: list[tuple[int, ...]] = []
        for i in range(k):
            ids = d.by_country[i].get(c, ()) + (d.by_asn[i].get(a, ()) if signature else ())
            net = groups[i]
            if net >= 0:
                ids += d.network_groups[i][net]
            ids += self._domain_groups[groups[k + i]]
            matched.append(tuple(dict.fromkeys(ids)))
        out: dict[int, int] = {}
        for index, rule in enumerate(self.rules):
            if not rule_words[index // _WORD] >> (index % _WORD) & 1:
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
                out.setdefault(cid, index)
        result = tuple((self._slot[cid] if cid >= 0 else -1, index) for cid, index in out.items())
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

    def _triples(self, b: Batch) -> _Triples:
        n = len(b)
        if b.source_ref.count(None) == n and b.target_ref.count(None) == n:
            audiences, column = np.unique(b.audience, return_inverse=True)
            triples: list[Triple] = [(a, None, None) for a in audiences.tolist()]
            return _Triples(
                column.reshape(-1), triples, audiences.astype(np.int64), np.ones(len(triples), bool)
            )
        ids: dict[Triple, int] = {}
        rows = zip(b.audience.tolist(), b.source_ref, b.target_ref, strict=True)
        column = np.fromiter((ids.setdefault(t, len(ids)) for t in rows), np.int64, n)
        triples = list(ids)
        return _Triples(
            column,
            triples,
            np.array([t[0] for t in triples], dtype=np.int64),
            np.array([t[1] is None and t[2] is None for t in triples], dtype=bool),
        )

    def _visibility(self, conn: Connection, recipients: list[Recipient], triples: list[Triple]) -> Any:
        """(organisation index per recipient, verdict table organisation x triple): the policy's
        answers, asked once per organisation for the triples it has not been asked about this run."""
        org_index: dict[int | None, int] = {}
        first: list[Recipient] = []
        for r in recipients:
            if r.org_id not in org_index:
                org_index[r.org_id] = len(first)
                first.append(r)
        table = np.zeros((len(first), len(triples)), dtype=bool)
        for i, r in enumerate(first):
            missing = [t for t in triples if (r.org_id, t) not in self._visible]
            if missing:
                seen = visible_triples(conn, self.policy, recipient_viewer(r), missing)
                for t in missing:
                    self._visible[(r.org_id, t)] = t in seen
            table[i] = [self._visible[(r.org_id, t)] for t in triples]
        return np.array([org_index[r.org_id] for r in recipients], dtype=np.intp), table

    def route(self, conn: Connection, b: Batch) -> Routed:
        """One batch: its abuse counts, and per recipient the values it gets (each once, in pk order,
        with the first rule listed that sends it there)."""
        out = Routed(candidates=len(b))
        n = len(b)
        if not n:
            return out
        with gc_paused():  # hundreds of thousands of acyclic objects: the collector frees none
            return self._route(conn, b, out)

    def _route(self, conn: Connection, b: Batch, out: Routed) -> Routed:
        """Enrich, count, apply the rules; then per distinct combination its targets, spread back
        over the values as (row, recipient, rule) pairs, gated by the policy, sorted by recipient."""
        n = len(b)
        d = self.directory
        e = self._enrich(b)
        value_id, repeated = first_seen(b.value) if e.v4_keys is None else first_seen_keys(e.v4_keys)
        triples = self._triples(b)
        out.counts = self._counts(b, e, value_id, repeated, triples)
        words = self._rule_bits(b, e.country, e.asn)
        if not words:
            return out
        passed = words[0] != 0
        for w in words[1:]:
            passed |= w != 0
        live = np.flatnonzero(passed)
        if not len(live):
            return out
        # The automatic mailbox of each value's network, as a small integer (0: none).
        abuse_ids: dict[str | None, int] = {None: 0}
        net_abuse = np.array(
            [abuse_ids.setdefault(a, len(abuse_ids)) for _op, a in e.networks] + [0], np.int64
        )
        abuse = net_abuse[e.network]  # network -1 reads the trailing 0
        # An AS number's signature: its position among the ASNs some contact lists (0: none lists it).
        signature = np.zeros(n, np.int64)
        if len(self._asn_keys):
            pos = np.searchsorted(self._asn_keys, e.asn)
            hit = self._asn_keys[np.minimum(pos, len(self._asn_keys) - 1)] == e.asn
            signature[hit] = pos[hit] + 1
        nets = d.networks(e.keys) if e.keys is not None else [np.full(n, -1, np.int32) for _ in KINDS]
        columns = [e.country, signature, *words, abuse > 0, *nets, *self._domain_columns(e.host, n)]
        live_columns = [c[live] for c in columns]
        group, first = group_rows(live_columns)
        combos = zip(*(c[first].tolist() for c in live_columns), strict=True)
        targets = [self._targets(tuple(combo)) for combo in combos]
        sizes = np.array([len(t) for t in targets], dtype=np.int64)
        flat = np.array([pair for t in targets for pair in t], dtype=np.int64).reshape(-1, 2)
        # Spread each combination's targets over its values: one (row, recipient, rule) per pair.
        per_row = sizes[group]
        total = int(per_row.sum())
        if not total:
            return out
        rows = np.repeat(live, per_row)
        starts = np.cumsum(sizes) - sizes
        row_starts = np.cumsum(per_row) - per_row
        at = np.repeat(starts[group] - row_starts, per_row) + np.arange(total)
        slot, rule = flat[at, 0], flat[at, 1]
        contacts = len(self._contacts)
        recipient = np.where(slot >= 0, slot, contacts - 1 + abuse[rows])  # automatic: after the contacts
        # Renumbered 0.. in order (what np.unique gives), by a table over the few possible ids.
        present = np.zeros(contacts + len(abuse_ids), dtype=bool)
        present[recipient] = True
        ids = np.flatnonzero(present)
        recipient = (np.cumsum(present) - 1)[recipient]
        # The policy: each recipient organisation's verdict on each value's triple.
        viewers = [self._contacts[r] if r < contacts else _OUTSIDE for r in ids.tolist()]
        org_of, table = self._visibility(conn, viewers, triples.triples)
        keep = table[org_of[recipient], triples.column[rows]]
        rows, recipient, rule = rows[keep], recipient[keep], rule[keep]
        # Each recipient's values in pk order: a stable sort by recipient (pairs are in row order;
        # 16-bit keys sort by radix).
        order = np.argsort(recipient.astype(np.uint16) if len(ids) <= 1 << 16 else recipient, kind="stable")
        rows, recipient, rule = rows[order], recipient[order], rule[order]
        if repeated is not None:  # a value once per recipient: its first row, with that row's rule
            again = np.flatnonzero(repeated[rows])
            if len(again):
                _u, firsts = np.unique(recipient[again] * n + value_id[rows[again]], return_index=True)
                drop = np.ones(len(again), bool)
                drop[firsts] = False
                kept = np.ones(len(rows), bool)
                kept[again[drop]] = False
                rows, recipient, rule = rows[kept], recipient[kept], rule[kept]
        bounds = np.searchsorted(recipient, np.arange(len(ids) + 1)).tolist()
        columns = self._items(b, e, rows, rule)
        abuse_names = list(abuse_ids)
        for s, rid in enumerate(ids.tolist()):
            lo, hi = bounds[s], bounds[s + 1]
            if lo == hi:
                continue
            if rid < contacts:
                r = self._contacts[rid]
            else:  # named after the operator of the first value it gets
                operator = e.networks[int(e.network[rows[lo]])][0]
                r = self._automatic_recipient(abuse_names[rid - contacts + 1] or "", operator)
            out.recipients[r.key] = r
            out.items[r.key] = Items(columns, lo, hi)
        return out

    def _items(self, b: Batch, e: _Enriched, rows: I64, rule: I64) -> list[list[Any]]:
        """The outbox's item columns for these rows: lists of shared objects, by fancy indexing."""
        asn = e.asn[rows]
        asns = asn.astype(object)
        asns[asn == 0] = None
        values = np.array(b.value, dtype=object)[rows] if len(rows) else np.zeros(0, dtype=object)
        return [
            values.tolist(),
            _KIND_TEXT[b.kind[rows]].tolist(),
            _COUNTRY_TEXT[e.country[rows]].tolist(),
            asns.tolist(),
            b.pk[rows].tolist(),
            self._rule_names[rule].tolist(),
        ]

    def _domain_columns(self, host: list[str | None] | None, n: int) -> list[I64]:
        """Per kind, each value's domain group (0: none): the contacts of the nearest domain suffix
        covering its host, numbered for the run; looked up once per distinct host."""
        out = []
        for i in range(len(KINDS)):
            if host is None or not self.directory.by_domain[i]:
                out.append(np.zeros(n, np.int64))
                continue
            seen: dict[str | None, int] = {None: 0}
            ids = []
            for h in host:
                found = seen.get(h)
                if found is None:
                    group = self.directory.domain_group(i, h)
                    found = self._domain_ids.get(group)
                    if found is None:
                        found = self._domain_ids[group] = len(self._domain_groups)
                        self._domain_groups.append(group)
                    seen[h] = found
                ids.append(found)
            out.append(np.array(ids, dtype=np.int64))
        return out

    def _counts(
        self, b: Batch, e: _Enriched, value_id: I64, repeated: npt.NDArray[np.bool_] | None, triples: _Triples
    ) -> list[tuple[Any, ...]]:
        """abuse_count rows: distinct values per (day, country, AS, kind, audience) in this batch
        (values of objects with references are left out: their visibility is not the audience's).
        A group's operator is that of its earliest-seen value's network."""
        plain = triples.plain[triples.column]
        at = np.arange(len(b)) if plain.all() else np.flatnonzero(plain)
        if not len(at):
            return []
        day = b.added_us[at] // DAY_US
        audience = triples.audience[triples.column[at]]
        group, first = group_rows([day, e.country[at], e.asn[at], b.kind[at], audience])
        groups = len(first)
        count = np.bincount(group, minlength=groups)
        ids = value_id[at]
        if repeated is None:
            earliest = at[first]  # every value once: the first row holds the earliest-seen value
        else:
            again = np.flatnonzero(repeated[at])  # a value counted once per group
            if len(again):
                pairs = np.unique(group[again] * len(b) + ids[again])
                count -= np.bincount(group[again], minlength=groups)
                count += np.bincount(pairs // len(b), minlength=groups)
            earliest = np.full(groups, len(b), np.int64)
            np.minimum.at(earliest, group, ids)  # ids are rows: the value's first row
        rep = at[first]
        operators = np.array([op[:200] if op else None for op, _a in e.networks] + [None], dtype=object)
        return list(zip(
            day[first].tolist(), _COUNTRY_KEY[e.country[rep]].tolist(), e.asn[rep].tolist(),
            _KIND_TEXT[b.kind[rep]].tolist(), audience[first].tolist(),
            operators[e.network[earliest]].tolist(),  # network -1 reads the trailing None
            count.tolist(), strict=True,
        ))  # fmt: skip


# A recipient outside the alliance, for asking the policy about automatic abuse mailboxes.
_OUTSIDE = Recipient(
    key="abuse:", contact_id=None, org_id=None, org_vetted=False, sector=None, name="", kind="abuse",
    channel="email", format="xarf", address="", curated=False,
)  # fmt: skip


def _codes(column: Iterable[Any]) -> tuple[I64, dict[Any, int]]:
    """A column of texts as small integers, and the integer of each distinct text."""
    index: dict[Any, int] = {}
    values = [index.setdefault(v, len(index)) for v in column]
    return np.array(values, dtype=np.int64), index


def _table(size: int, true_at: Sequence[int]) -> npt.NDArray[np.bool_]:
    """A lookup table: True at the given codes."""
    table = np.zeros(max(size, 1), dtype=bool)
    table[list(true_at)] = True
    return table
