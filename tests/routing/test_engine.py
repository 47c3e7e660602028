"""The routing engine's columnar pieces (grouping, first sightings, the batch read, batch bounds) and
the routing decisions that rest on them: a value in several objects, many rules, severity read only
where an object states it, automatic mailboxes named after the network of their first value."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pytest
from routing_helpers import ip_bundle, routed
from sqlalchemy import func, select
from stix_factory import indicator, parsed

from accord.db.schema import abuse_count, notification, stix_object
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.routing.engine import first_seen, group_rows, pk_bounds, read_batch
from accord.routing.rules import SEVERITIES, severity_of

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


def test_group_rows_of_nothing() -> None:
    group, first = group_rows([np.zeros(0, np.int64), np.zeros(0, np.uint8)])
    assert len(group) == len(first) == 0


def test_first_seen_ids_values_by_their_first_row() -> None:
    ids, repeated = first_seen(["a", "b", "c"])
    assert ids.tolist() == [0, 1, 2] and repeated is None
    ids, repeated = first_seen(("b", "a", "b", "c", "a", "b"))
    assert ids.tolist() == [0, 1, 0, 3, 1, 0]
    assert repeated is not None and repeated.tolist() == [True, True, True, False, True, True]


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
            select(abuse_count.c.audience_id, abuse_count.c.value_count).where(abuse_count.c.asn == 8308)
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


@pytest.mark.store
def test_the_batch_read_takes_json_only_where_an_object_states_severity_or_confidence(
    routed: Any,
) -> None:
    app = routed.app
    producer = routed.viewer("p@producer.example")
    objs = [
        indicator(f"[ipv4-addr:value = '{PL_NASK}']", TLP.CLEAR),
        indicator(f"[ipv4-addr:value = '{BR_NIC}']", TLP.CLEAR, x_severity="high"),
        indicator("[domain-name:value = 'phish.example.pl']", TLP.CLEAR, confidence=70),
        indicator("[file:hashes.'SHA-256' = '" + "a" * 64 + "']", TLP.CLEAR, x_severity="high"),
    ]
    app.submit(producer, parsed(objs))
    pks = _pks(app)
    with app.db.read() as conn:
        b = read_batch(conn, 0, pks[-1], frozenset({"content", "type", "tlp", "ip_lo"}))
        plain = read_batch(conn, 0, pks[-1], frozenset())
    assert list(b.value) == [PL_NASK, BR_NIC, "phish.example.pl"]  # a hash names no infrastructure
    assert b.kind.tolist() == [0, 0, 2] and b.pk.tolist() == pks[:3]
    assert b.content is not None and b.content[0] is None
    assert orjson.loads(b.content[1] or "")["x_severity"] == "high"
    assert orjson.loads(b.content[2] or "")["confidence"] == 70
    assert list(b.type or ()) == ["indicator"] * 3 and list(b.tlp or ()) == ["clear"] * 3
    assert b.ip_lo is not None and b.ip_lo[2] is None and len(b.ip_lo[0] or b"") == 16
    assert plain.content is None and plain.type is None and plain.ip_lo is None
    assert list(plain.value) == list(b.value)


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
        conn.execute(abuse_count.delete())
    from accord.db.schema import routing_cursor

    with app.db.write() as conn:
        conn.execute(routing_cursor.delete())
    app.routing.outbox.forget()
    app.routing.route_new()
    assert _entries(app) == small
    for entries in small.values():
        assert len({e[0] for e in entries}) == len(entries)
        assert [e[4] for e in entries] == sorted(e[4] for e in entries)
