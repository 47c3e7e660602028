"""The outbox's memory of what each recipient already has in the interval: a value is queued once
per recipient and interval, across batches, across processes (read back from the rows), whatever
else the batch holds; a new interval starts afresh."""

# ruff: noqa: F401, F811 - `routed` is a fixture imported from routing_helpers, then taken as an argument

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from routing_helpers import routed
from sqlalchemy import select

from accord.db.schema import notification
from accord.routing.engine import Items, Recipient
from accord.routing.outbox import INTERVAL_SECONDS, Outbox, interval_start

pytestmark = pytest.mark.store

NOW = interval_start(1_790_000_000_000_000) + 1


def _recipient(i: int) -> Recipient:
    email = f"abuse{i}@net{i}.example"
    return Recipient(
        key=f"abuse:{email}", contact_id=None, org_id=None, org_vetted=False, sector=None, name=f"net {i}",
        kind="abuse", channel="email", format="xarf", address=email, curated=False,
    )  # fmt: skip


def _batch(rnd: random.Random, recipients: list[Recipient], pool: list[str]) -> dict[str, list[str]]:
    """Per recipient (some get nothing), distinct values drawn from a small pool: many repeats."""
    return {r.key: rnd.sample(pool, rnd.randrange(1, 12)) for r in recipients if rnd.random() < 0.8}


def _write(
    app: Any, outbox: Outbox, recipients: list[Recipient], given: dict[str, list[str]], now: int
) -> int:
    """One batch's items as the engine hands them over: slices of shared columns, by recipient."""
    columns: list[list[Any]] = [[], [], [], [], [], []]
    items: dict[str, Items] = {}
    for key, values in given.items():
        lo = len(columns[0])
        for v in values:
            for column, cell in zip(columns, (v, "ipv4", "PL", 8308, 1, "default"), strict=True):
                column.append(cell)
        items[key] = Items(columns, lo, len(columns[0]))
    with app.db.write() as conn:
        queued = outbox.rows(conn, {r.key: r for r in recipients}, items, now)
        outbox.insert(conn, queued)
    return queued.items


def _stored(app: Any) -> dict[tuple[str, int], list[str]]:
    out: dict[tuple[str, int], list[str]] = {}
    with app.db.read() as conn:
        for row in conn.execute(select(notification).order_by(notification.c.id)):
            out.setdefault((row.recipient, row.interval_us), []).extend(
                e[0] for e in orjson.loads(row.entries)
            )
    return out


def test_a_value_is_queued_once_per_recipient_and_interval(routed: Any) -> None:
    app = routed.app
    rnd = random.Random(11)
    recipients = [_recipient(i) for i in range(40)]
    pool = [f"195.187.6.{i}" for i in range(30)]
    outbox = Outbox()
    expected: dict[str, list[str]] = {}
    for batch in range(8):
        if batch == 4:
            outbox = Outbox()  # another process: it reads back what the interval's rows hold
        given = _batch(rnd, recipients, pool)
        new = 0
        for key, values in given.items():
            fresh = [v for v in values if v not in expected.get(key, [])]
            expected.setdefault(key, []).extend(fresh)
            new += len(fresh)
        assert _write(app, outbox, recipients, given, NOW) == new
    interval = interval_start(NOW)
    stored = _stored(app)
    assert stored == {(key, interval): values for key, values in expected.items()}
    assert sum(len(v) for v in expected.values()) < 8 * 40 * 6 * 0.8  # repeats were dropped
    # The next interval: what a recipient had in the last one is queued again.
    later = NOW + INTERVAL_SECONDS * 1_000_000
    given = _batch(rnd, recipients, pool)
    assert _write(app, outbox, recipients, given, later) == sum(len(v) for v in given.values())
    assert {k: v for (k, at), v in _stored(app).items() if at == interval_start(later)} == given
