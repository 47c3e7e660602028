"""The routing engine's columnar pieces (grouping, first sightings, the batch read, batch bounds) and
the routing decisions that rest on them: a value in several objects, many rules, severity read only
where an object states it, automatic mailboxes named after the network of their first value."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import random
import socket
import sqlite3
from typing import Any

import numpy as np
import orjson
import pytest
from routing_helpers import ip_bundle, routed
from sqlalchemy import func, select, update
from stix_factory import indicator, ip_indicator, parsed

from accord.db.schema import abuse_count_pending, notification, stix_object
from accord.intel.severity import SEVERITIES, severity_of
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.routing import engine
from accord.routing.engine import _numbered, first_seen, first_seen_keys, group_rows, pk_bounds, read_batch

PL_NASK = "195.187.6.33"  # PL, AS8308, abuse@nask.pl
BR_NIC = "200.160.2.3"  # BR, AS22548
NASK = "NAUKOWA I AKADEMICKA SIEC KOMPUTEROWA - PANSTWOWY INSTYTUT BADAWCZY"


# --- the columnar pieces (no database) ------------------------------------------------------------------


@pytest.mark.parametrize("wide", [False, True])
def test_group_rows_numbers_groups_in_key_order(wide: bool) -> None:
    """Packed keys give what a dict of row tuples gives: one id per distinct key, in key order, and
    the first row of each; columns too wide to pack together are renumbered on the way."""
    rnd = np.random.default_rng(3)
    n = 5000
    columns = [
        rnd.integers(0, 4, n).astype(np.uint8),
        rnd.integers(0, (1 << 32) if wide else 7, n, dtype=np.uint64).astype(np.uint32),
        rnd.integers(-1, 3, n).astype(np.int32),
        rnd.integers(0, 1 << 40 if wide else 3, n).astype(np.int64),
        rnd.integers(0, 1 << 40 if wide else 2, n).astype(np.int64),
    ]
    group, first = group_rows(columns)
    keys = list(zip(*(c.tolist() for c in columns), strict=True))
    ordered = sorted(set(keys))
    assert group.tolist() == [ordered.index(k) for k in keys]
    assert first.tolist() == [keys.index(k) for k in ordered]


@pytest.mark.parametrize(("rows", "span"), [(0, 0), (1, 1), (5000, 7), (5000, 30_000), (5000, 1 << 40)])
def test_keys_are_numbered_in_key_order_by_table_or_by_sort(rows: int, span: int) -> None:
    """Small spans take the table, wide ones the sort: both number keys as `np.unique` does."""
    key = np.random.default_rng(span).integers(0, max(span, 1), rows).astype(np.int64)
    numbered, numbers = _numbered(key, span)
    distinct, inverse = np.unique(key, return_inverse=True)
    assert numbered.tolist() == distinct.tolist()
    assert numbers.tolist() == inverse.reshape(-1).tolist()


def test_group_rows_of_nothing() -> None:
    group, first = group_rows([np.zeros(0, np.int64), np.zeros(0, np.uint8)])
    assert len(group) == len(first) == 0


def test_first_seen_ids_values_by_their_first_row() -> None:
    ids, repeated = first_seen(["a", "b", "c"])
    assert ids.tolist() == [0, 1, 2] and repeated is None
    ids, repeated = first_seen(("b", "a", "b", "c", "a", "b"))
    assert ids.tolist() == [0, 1, 0, 3, 1, 0]
    assert repeated is not None and repeated.tolist() == [True, True, True, False, True, True]


def test_first_seen_of_addresses_by_their_integers_agrees_with_their_texts() -> None:
    rnd = random.Random(5)
    texts = [f"10.0.{rnd.randrange(3)}.{rnd.randrange(40)}" for _ in range(300)]
    keys = np.array([int.from_bytes(socket.inet_aton(t), "big") for t in texts], dtype=np.uint32)
    ids, repeated = first_seen_keys(keys)
    want_ids, want_repeated = first_seen(texts)
    assert ids.tolist() == want_ids.tolist()
    assert repeated is not None and want_repeated is not None
    assert repeated.tolist() == want_repeated.tolist()
    distinct = sorted(set(texts))
    keys = np.array([int.from_bytes(socket.inet_aton(t), "big") for t in distinct], dtype=np.uint32)
    ids, repeated = first_seen_keys(keys)
    assert ids.tolist() == list(range(len(distinct))) and repeated is None


def test_first_seen_of_addresses_with_a_few_repeats_among_many_agrees_with_their_texts() -> None:
    """The usual batch: addresses from the whole space, the odd one seen twice or three times."""
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 1 << 32, 20_000, dtype=np.uint64).astype(np.uint32)
    keys[[7000, 15000, 19999]] = keys[[3, 3, 12345]]
    ids, repeated = first_seen_keys(keys)
    want_ids, want_repeated = first_seen([str(k) for k in keys.tolist()])
    assert ids.tolist() == want_ids.tolist()
    assert repeated is not None and want_repeated is not None
    assert repeated.tolist() == want_repeated.tolist()
    assert first_seen_keys(np.zeros(0, np.uint32))[0].tolist() == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"x_severity": " High "}, "high"),
        ({"x_severity": "urgent", "severity": "LOW"}, "low"),  # not a level: the next source speaks
        ({"severity": 3, "labels": ["severity=critical"]}, "critical"),  # not text: ignored
        ({"labels": ["tlp:green", " Severity : Medium "]}, "medium"),
        ({"labels": ["severity:bad", "severity:info"]}, "info"),
        ({"labels": "severity:high"}, None),  # labels must be a list
        ({"labels": [None, 7, "severity"]}, None),
        ({}, None),
    ],
)
def test_severity_is_read_from_properties_then_labels(obj: dict[str, Any], expected: str | None) -> None:
    assert severity_of(obj) == (SEVERITIES.index(expected) if expected else None)


# --- against the store -----------------------------------------------------------------------------------


def _entries(app: Any) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    with app.db.read() as conn:
        for r in conn.execute(select(notification).order_by(notification.c.id)):
            out.setdefault(r.recipient, []).extend(orjson.loads(r.entries))
    return out


def _key(app: Any, name: str) -> str:
    return next(f"contact:{c['id']}" for c in app.contacts(OPERATOR) if c["name"] == name)


def _pks(app: Any) -> list[int]:
    with app.db.read() as conn:
        return list(conn.execute(select(stix_object.c.pk).order_by(stix_object.c.pk)).scalars())


@pytest.mark.store
def test_a_value_in_several_objects_goes_once_with_the_first_object_its_recipient_may_see(
    routed: Any,
) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    # The same address GREEN (members only) first, then CLEAR; two values in one object.
    app.submit(producer, ip_bundle([PL_NASK], TLP.GREEN, name="first"))
    app.submit(producer, ip_bundle([PL_NASK], TLP.CLEAR, name="second"))
    pair = indicator(f"[ipv4-addr:value = '{PL_NASK}'] OR [ipv4-addr:value = '195.187.6.34']", TLP.CLEAR)
    app.submit(producer, parsed([pair]))
    green, clear, both = _pks(app)
    report = app.route_new_objects()
    assert report["values"] == 4 and report["batches"] == 1
    got = _entries(app)
    # CERT Polska (a member) sees the GREEN object: the value comes with it, once.
    cert = got[_key(app, "CERT Polska incident desk")]
    assert [(e[0], e[4]) for e in cert] == [(PL_NASK, green), ("195.187.6.34", both)]
    # The network's mailbox is outside the alliance: TLP:CLEAR only, so the CLEAR object's.
    assert [(e[0], e[4]) for e in got["abuse:abuse@nask.pl"]] == [(PL_NASK, clear), ("195.187.6.34", both)]
    with app.db.read() as conn:
        counted = conn.execute(
            select(abuse_count_pending.c.audience_id, abuse_count_pending.c.value_count).where(
                abuse_count_pending.c.asn == 8308
            )
        ).all()
        names = conn.execute(
            select(notification.c.name).where(notification.c.recipient == "abuse:abuse@nask.pl")
        ).scalars()
        assert set(names) == {NASK}  # an automatic mailbox is named after its network's operator
    # Distinct values per audience: GREEN counts one, CLEAR two (the repeated address once).
    assert sorted(n for _a, n in counted) == [1, 2]


@pytest.mark.store
def test_rules_beyond_sixty_two_still_decide(routed: Any) -> None:
    """Rule bits come in 62-bit words: the 70th rule matches as the first does."""
    app = routed.app
    app.set_rule_enabled(OPERATOR, "default", False)
    for i in range(69):
        app.save_rule(OPERATOR, f"nobody {i:02}", {"countries": ["JP"]}, {"contacts": ["CERT.br"]})
    app.save_rule(
        OPERATOR, "zz last", {"countries": ["PL"], "min_severity": "high"}, {"contacts": ["CERT.br"]}
    )
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([PL_NASK], TLP.GREEN, labels=["severity:critical"]))
    app.submit(producer, ip_bundle(["195.187.6.40"], TLP.GREEN, labels=["severity:low"]))
    app.route_new_objects()
    got = _entries(app)
    assert list(got) == [_key(app, "CERT.br")]
    assert [(e[0], e[5]) for e in got[_key(app, "CERT.br")]] == [(PL_NASK, "zz last")]


def _submit(routed: Any, objs: list[dict[str, Any]]) -> list[int]:
    """Submit the objects as the producer; the stored objects' pks, in order."""
    routed.app.submit(routed.viewer("p@producer.example"), parsed(objs))
    return _pks(routed.app)


@pytest.mark.store
def test_the_batch_read_takes_severity_and_confidence_as_ingest_stored_them(routed: Any) -> None:
    app = routed.app
    objs = [
        indicator(f"[ipv4-addr:value = '{PL_NASK}']", TLP.CLEAR),
        indicator(f"[ipv4-addr:value = '{BR_NIC}']", TLP.CLEAR, x_severity="high"),
        indicator("[domain-name:value = 'phish.example.pl']", TLP.CLEAR, confidence=70),
        indicator("[file:hashes.'SHA-256' = '" + "a" * 64 + "']", TLP.CLEAR, labels=["severity:Critical"]),
    ]
    pks = _submit(routed, objs)
    with app.db.read() as conn:
        stored = conn.execute(
            select(stix_object.c.severity, stix_object.c.confidence).order_by(stix_object.c.pk)
        ).all()
        b = read_batch(conn, 0, pks[-1], frozenset({"content", "type", "tlp", "ip_lo"}))
        plain = read_batch(conn, 0, pks[-1], frozenset())
    assert [tuple(r) for r in stored] == [
        (None, None), (SEVERITIES.index("high"), None), (None, 70), (SEVERITIES.index("critical"), None)
    ]  # fmt: skip
    assert list(b.value) == [PL_NASK, BR_NIC, "phish.example.pl"]  # a hash names no infrastructure
    assert b.kind.tolist() == [0, 0, 2] and b.pk.tolist() == pks[:3]
    assert b.severity is not None and b.confidence is not None
    assert b.severity.tolist() == [-1, SEVERITIES.index("high"), -1]
    assert b.confidence.tolist() == [-1, -1, 70]
    assert list(b.type or ()) == ["indicator"] * 3 and list(b.tlp or ()) == ["clear"] * 3
    assert b.ip_lo is not None and b.ip_lo[2] is None and len(b.ip_lo[0] or b"") == 16
    assert plain.severity is None and plain.type is None and plain.ip_lo is None
    assert list(plain.value) == list(b.value)


@pytest.mark.store
def test_the_batch_read_on_postgresql_brings_each_stored_ipv4_address_as_its_integer(routed: Any) -> None:
    """So enrichment need not parse those texts; a network, an IPv6 address, a name: -1."""
    app = routed.app
    objs = [
        indicator(f"[ipv4-addr:value = '{PL_NASK}']", TLP.CLEAR),
        indicator("[ipv4-addr:value = '195.187.0.0/16']", TLP.CLEAR),
        indicator("[ipv6-addr:value = '2001:db8::1']", TLP.CLEAR),
        indicator("[ipv4-addr:value = '255.255.255.255']", TLP.CLEAR),
        indicator(f"[url:value = 'http://{BR_NIC}/x']", TLP.CLEAR),
    ]
    pks = _submit(routed, objs)
    with app.db.read() as conn:
        b = read_batch(conn, 0, pks[-1], frozenset())
    assert list(b.value) == [
        PL_NASK,
        "195.187.0.0/16",
        "2001:db8::1",
        "255.255.255.255",
        f"http://{BR_NIC}/x",
    ]
    if app.db.engine.dialect.name == "sqlite":
        assert b.v4 is None  # SQLite's read has no cheap way to send them: the texts are parsed
        return
    assert b.v4 is not None
    assert b.v4.tolist() == [int(socket.inet_aton(PL_NASK).hex(), 16), -1, -1, 0xFFFFFFFF, -1]


@pytest.mark.store
def test_batch_bounds_count_stored_objects(routed: Any) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([f"195.187.6.{i}" for i in range(5)], TLP.GREEN))
    pks = _pks(app)
    with app.db.read() as conn:
        assert pk_bounds(conn, 0, 2) == pks[1]
        assert pk_bounds(conn, pks[1], 2) == pks[3]
        assert pk_bounds(conn, pks[3], 2) == pks[4]  # the short last batch
        assert pk_bounds(conn, pks[4], 2) is None
        assert pk_bounds(conn, 0, 0) is None
        assert conn.execute(select(func.count()).select_from(stix_object)).scalar_one() == 5


@pytest.mark.store
def test_routing_in_batches_equals_routing_at_once(routed: Any) -> None:
    """Batch boundaries change nothing a recipient gets: the same values, in pk order, once."""
    rnd = random.Random(4)
    app = routed.app
    producer = routed.viewer("p@producer.example")
    values = [f"195.187.{rnd.randrange(4, 8)}.{rnd.randrange(256)}" for _ in range(40)] + [
        BR_NIC,
        "8.8.8.8",
    ] * 3
    rnd.shuffle(values)
    for start in range(0, len(values), 7):
        app.submit(producer, ip_bundle(values[start : start + 7], rnd.choice([TLP.CLEAR, TLP.GREEN])))
    app.routing.route_new(batch_objects=3)
    small = _entries(app)
    with app.db.write() as conn:
        conn.execute(notification.delete())
        conn.execute(abuse_count_pending.delete())
    from accord.db.schema import routing_cursor

    with app.db.write() as conn:
        conn.execute(routing_cursor.delete())
    app.routing.outbox.forget()
    app.routing.route_new()
    assert _entries(app) == small
    for entries in small.values():
        assert len({e[0] for e in entries}) == len(entries)
        assert [e[4] for e in entries] == sorted(e[4] for e in entries)


def _columns_of(b: Any) -> tuple[Any, ...]:
    """A batch's columns as plain lists, to compare two reads of it."""
    stated = (
        None if b.severity is None or b.confidence is None else (b.severity.tolist(), b.confidence.tolist())
    )
    return (
        b.pk.tolist(), b.kind.tolist(), list(b.value), b.audience.tolist(), list(b.source_ref),
        list(b.target_ref), b.added_us.tolist(), stated,
    )  # fmt: skip


@pytest.mark.store
def test_the_batch_read_sets_an_objects_references_beside_each_of_its_values(routed: Any) -> None:
    """Objects with references are few and read apart: each of their values gets them, in place."""
    app = routed.app
    producer = routed.viewer("p@producer.example")
    pair = indicator(f"[ipv4-addr:value = '{PL_NASK}'] OR [ipv4-addr:value = '{BR_NIC}']", TLP.CLEAR)
    app.submit(
        producer, parsed([ip_indicator("8.8.8.8", TLP.CLEAR), pair, ip_indicator("9.9.9.9", TLP.CLEAR)])
    )
    first, both, last = _pks(app)
    with app.db.write() as conn:
        conn.execute(
            update(stix_object)
            .where(stix_object.c.pk == both)
            .values(source_ref="indicator--1", target_ref="malware--2")
        )
    with app.db.read() as conn:
        b = read_batch(conn, 0, last, frozenset())
    assert b.pk.tolist() == [first, both, both, last]
    assert sorted(zip(b.value, b.source_ref, b.target_ref, strict=True)) == [
        ("195.187.6.33", "indicator--1", "malware--2"),
        ("200.160.2.3", "indicator--1", "malware--2"),
        ("8.8.8.8", None, None),
        ("9.9.9.9", None, None),
    ]


@pytest.mark.store
def test_a_batch_past_the_size_limit_of_one_value_is_read_in_parts(routed: Any, monkeypatch: Any) -> None:
    """Each column of a batch comes from the database as one value: past the engine's limit on
    one value, the batch is read in halves. The same batch either way."""
    app = routed.app
    if app.db.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite connection can lower its limit; PostgreSQL's is 1 GB")
    objs = [
        ip_indicator(f"195.187.6.{i}", TLP.CLEAR, **({"x_severity": "high"} if i % 3 == 0 else {}))
        for i in range(80)
    ]
    pks = _submit(routed, objs)
    everything = frozenset({"content"})
    with app.db.read() as conn:
        whole = [_columns_of(read_batch(conn, 0, pks[-1], needs)) for needs in (frozenset(), everything)]
        longest = max(len(c) for c in conn.execute(select(stix_object.c.content)).scalars())
        raw: Any = conn.connection.dbapi_connection
        before = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest + 50)  # one object's JSON, not 80 values
        try:
            with pytest.raises(sqlite3.DataError):  # the limit holds: one value for all of them is refused
                raw.execute("SELECT json_group_array(value) FROM observable").fetchall()
            calls: list[str] = []

            def spy(name: str) -> Any:
                real = getattr(engine, name)

                def called(*args: Any, **kwargs: Any) -> Any:
                    calls.append(name)
                    return real(*args, **kwargs)

                return called

            monkeypatch.setattr(engine, "_columns", spy("_columns"))
            parts = [_columns_of(read_batch(conn, 0, pks[-1], needs)) for needs in (frozenset(), everything)]
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, before)
    assert parts == whole
    assert len(calls) > 4  # in halves, and halves of halves
    assert whole[1][7][0].count(SEVERITIES.index("high")) == 27  # the objects stating a severity
    assert len(whole[0][0]) == 80


@pytest.mark.store
def test_each_run_asks_the_policy_again(routed: Any) -> None:
    """The policy's statements are built once and kept, its answers are not: an organisation added
    to a sharing group between two runs gets what the group may see from the second run on."""
    app = routed.app
    routed.group("Southern", "Producer", ["CERT Polska"])
    producer = routed.viewer("p@producer.example")
    share = app.resolve_share(producer, ["group:Southern"])
    app.submit(producer, ip_bundle([BR_NIC], TLP.AMBER), share=share)
    app.route_new_objects()
    assert _key(app, "CERT.br") not in _entries(app)  # not in the group
    with app.db.write() as conn:
        app.members.set_group_members(
            conn, OPERATOR, routed.groups["Southern"], [routed.orgs["CERT Polska"], routed.orgs["CERT.br"]]
        )
    app.submit(producer, ip_bundle(["200.160.2.4"], TLP.AMBER), share=share)
    with app.db.read() as conn:  # one audience: the same question of the policy, asked again
        assert len(set(conn.execute(select(stix_object.c.audience_id)).scalars())) == 1
    app.route_new_objects()
    assert [e[0] for e in _entries(app)[_key(app, "CERT.br")]] == ["200.160.2.4"]


@pytest.mark.store
def test_outbox_entries_are_compressed_with_lz4_where_the_server_has_it(routed: Any) -> None:
    app = routed.app
    if app.db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's TOAST compression")
    with app.db.read() as conn:
        lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        default = conn.exec_driver_sql("SHOW default_toast_compression").scalar()
    producer = routed.viewer("p@producer.example")
    app.submit(producer, ip_bundle([f"195.187.{i // 200}.{i % 200}" for i in range(400)], TLP.GREEN))
    app.route_new_objects()
    with app.db.read() as conn:
        row = conn.execute(
            select(notification.c.entries, func.pg_column_compression(notification.c.entries)).where(
                notification.c.recipient == _key(app, "CERT Polska incident desk")
            )
        ).one()
        after = conn.exec_driver_sql("SHOW default_toast_compression").scalar()
    assert len(orjson.loads(row[0])) == 400
    assert row[1] == ("lz4" if lz4 else default)
    assert after == default  # only the outbox's rows, only in routing's transaction


@pytest.mark.store
def test_a_failed_read_ahead_fails_the_run_and_keeps_what_was_written(routed: Any, monkeypatch: Any) -> None:
    """The next batch is read on another connection while this one is routed and written: its error
    is the run's. The batch already routed is still written (its own transaction), nothing after."""
    from accord.routing import service

    app = routed.app
    producer = routed.viewer("p@producer.example")
    for value in (PL_NASK, BR_NIC, "195.187.6.40"):
        app.submit(producer, ip_bundle([value], TLP.CLEAR))
    pks = _pks(app)
    real_read = service.read_batch
    calls: list[int] = []

    def read(conn: Any, after: int, upto: int, needs: Any) -> Any:
        calls.append(after)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return real_read(conn, after, upto, needs)

    monkeypatch.setattr(service, "read_batch", read)
    with pytest.raises(RuntimeError, match="connection lost"):
        app.routing.route_new(batch_objects=1)
    monkeypatch.undo()
    assert calls == [0, pks[0]]
    assert app.routing.cursor() == pks[0]  # the first batch was written; the second was never read
    assert app.routing.route_new()["values"] == 2  # the rest, on the next run
