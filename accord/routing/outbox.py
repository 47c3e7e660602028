"""The notification outbox: what routing decided to tell whom, waiting in the database for delivery.

Row shape (table `notification`), one row per recipient, interval and routing batch:

- `recipient`: `contact:<contact_point.id>`, or `abuse:<e-mail>` for a network's abuse mailbox taken
  from the enrichment data (no directory entry covered the network); `digest:<subscription id>`
  for a daily digest (`accord.routing.digest`: no entries, one row per day);
- `interval_us`, `seq`: the interval the values were routed in (its start; `INTERVAL_SECONDS` long)
  and the row's number within it. (`recipient`, `interval_us`, `seq`) is the **dedupe key** (unique);
- `contact_id`, `org_id`: the contact point (None: automatic) and the organisation whose view gated
  the values (None: outside the alliance, so TLP:CLEAR only);
- `name`, `channel`, `format`, `address`: whom to tell and how (`email` / `webhook` / `taxii`,
  `xarf` / `csv` / `stix`, the e-mail address or URL);
- `entries`: JSON list of `[value, kind, country, asn, object_pk, rule]`, one per value; a
  value appears once per recipient and interval across all its rows;
- `entry_count`, `countries`: how many entries; `,PL,DE,`: their countries (the country view filters on it);
- `status`: `queued` when written; delivery moves it on (`sending`, `sent`, `failed`, `cancelled`);
- `attempts`, `next_attempt_us`: 0, and the end of the interval (a recipient's values are sent
  together once the interval is over);
- `created_us`, `updated_us`, `sent_us`, `ticket`, `last_error`: bookkeeping for delivery and the
  record of what was sent.

Delivery (`accord.routing.delivery`) claims due `queued` rows by a conditional update (`sending`,
`next_attempt_us` becoming the claim's lease), sends all rows of one (recipient, interval, ticket)
together in the contact's current channel, format and language (PGP-encrypted where the contact
has a key), re-checking each item's object through the policy as the recipient, and marks them
`sent` with the ticket, or back to `queued` with `attempts + 1`, a later `next_attempt_us` and
`last_error` (`failed` when no attempts are left). A `sending` row whose lease has passed was
abandoned by a dead worker and is claimed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from accord.db import bulk_insert
from accord.db.schema import notification
from accord.intel.prepare import gc_paused
from accord.intel.timestamps import format_micros
from accord.routing.engine import Item, Items, Recipient

__all__ = ["INTERVAL_SECONDS", "Outbox", "Queued", "describe", "interval_start"]

INTERVAL_SECONDS = 3600  # values for one recipient are batched per hour


def interval_start(now_us: int, seconds: int = INTERVAL_SECONDS) -> int:
    step = seconds * 1_000_000
    return now_us - now_us % step


@dataclass(frozen=True)
class Queued:
    """Notification rows ready to insert (in `_COLUMNS` order) and how many items they carry."""

    rows: list[tuple[Any, ...]]
    items: int


@dataclass
class _Known:
    """What a recipient already has in the current interval: its values and its last seq. The
    values are a dict's keys, not a set: a dict of texts is not tracked by the cyclic collector,
    which would otherwise visit every value remembered on each full pass."""

    values: dict[str, None] = field(default_factory=dict)
    seq: int = -1


class Outbox:
    """Routed values as queued notification rows (`rows` builds them, `insert` stores them), one
    interval at a time.

    Keeps what each recipient already has in the interval in memory across the batches of a run
    (read from the database on first sight), so a value already written for a recipient in this
    interval is not written again, and no row is ever rewritten (rows are appended per batch).
    """

    def __init__(self, interval_seconds: int = INTERVAL_SECONDS) -> None:
        self.interval_seconds = interval_seconds
        self._interval: int | None = None
        self._known: dict[str, _Known] = {}
        self._stored: set[str] = set()  # recipients with rows in the interval when first seen
        self._lz4: bool | None = None  # PostgreSQL: whether the server compresses TOAST with lz4

    def _load(self, conn: Connection, interval: int, keys: list[str]) -> None:
        """Remember what these recipients already have in the interval. On first sight of an
        interval, which recipients have rows in it at all (one query): only theirs are read. Only
        routing writes rows for its recipients (contact:, abuse:), remembering what it wrote, and
        `forget` is called when another process did."""
        if interval != self._interval:
            self._interval, self._known = interval, {}
            self._stored = set(
                conn.execute(
                    select(notification.c.recipient).where(notification.c.interval_us == interval).distinct()
                ).scalars()
            )
        missing = [k for k in keys if k not in self._known]
        for k in missing:
            self._known[k] = _Known()
        stored = [k for k in missing if k in self._stored]
        if not stored:
            return
        # One statement for all of them (the dedupe key's index finds each recipient's rows).
        keys_param: Any
        if conn.dialect.name == "sqlite":
            where = "recipient IN (SELECT value FROM json_each(?)) AND interval_us = ?"
            keys_param = orjson.dumps(stored).decode()
        else:
            where, keys_param = "recipient = ANY(%s) AND interval_us = %s", stored
        cursor = conn.connection.cursor()
        try:
            cursor.execute(
                f"SELECT recipient, seq, entries FROM notification WHERE {where}", (keys_param, interval)
            )
            for recipient, seq, items in cursor.fetchall():
                known = self._known[recipient]
                known.seq = max(known.seq, seq)
                known.values.update(dict.fromkeys(item[0] for item in orjson.loads(items)))
        finally:
            cursor.close()

    def forget(self) -> None:
        """Drop what is remembered (after a rolled-back transaction the database is the truth)."""
        self._interval, self._known = None, {}

    def rows(
        self, conn: Connection, recipients: dict[str, Recipient], items: dict[str, Items], now_us: int
    ) -> Queued:
        """The rows that queue each recipient's new values, remembered as written: `insert` them in
        the transaction that moves the routing cursor, or `forget` if it does not commit. Routing
        builds the next batch's rows (Python's work) while the database inserts these."""
        with gc_paused():  # a tuple per value, freed once its row is built: the collector frees none
            return self._rows(conn, recipients, items, now_us)

    def _rows(
        self, conn: Connection, recipients: dict[str, Recipient], items: dict[str, Items], now_us: int
    ) -> Queued:
        interval = interval_start(now_us, self.interval_seconds)
        self._load(conn, interval, sorted(items))
        due = interval + self.interval_seconds * 1_000_000
        rows: list[tuple[Any, ...]] = []
        written = 0
        for key in sorted(items):
            got = items[key]
            known = self._known[key]
            values = got.column(0)
            entries = got.rows()
            countries = set(got.column(2))
            if not known.values:  # most recipients: nothing yet in this interval
                known.values = dict.fromkeys(values)
            elif known.values.keys().isdisjoint(values):  # at C speed: most values are new
                known.values.update(dict.fromkeys(values))
            else:
                entries = [it for it in entries if it[0] not in known.values]
                if not entries:
                    continue
                known.values.update(dict.fromkeys(it[0] for it in entries))
                countries = {it[2] for it in entries}
            known.seq += 1
            r = recipients[key]
            countries.discard(None)
            countries.discard("")
            rows.append((
                key, interval, known.seq, r.contact_id, r.org_id, r.name[:200], r.channel, r.format,
                r.address, ("," + ",".join(sorted(countries)) + ",")[:1000], orjson.dumps(entries).decode(),
                len(entries), "queued", 0, due, now_us, now_us,
            ))  # fmt: skip
            written += len(entries)
        return Queued(rows, written)

    def insert(self, conn: Connection, queued: Queued) -> None:
        """Insert what `rows` built, in the caller's transaction."""
        if conn.dialect.name != "postgresql" or not self._has_lz4(conn):
            bulk_insert(conn, notification, _COLUMNS, queued.rows, binary=True)
            return
        # Large entries are compressed out of line (TOAST): lz4 where the server has it, several
        # times quicker than the default pglz on this JSON; readers decompress either transparently.
        conn.exec_driver_sql("SET LOCAL default_toast_compression = lz4")
        bulk_insert(conn, notification, _COLUMNS, queued.rows, binary=True)
        conn.exec_driver_sql("SET LOCAL default_toast_compression = DEFAULT")

    def _has_lz4(self, conn: Connection) -> bool:
        if self._lz4 is None:
            self._lz4 = bool(
                conn.exec_driver_sql(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
                ).scalar()
            )
        return self._lz4


_COLUMNS = (
    "recipient", "interval_us", "seq", "contact_id", "org_id", "name", "channel", "format", "address",
    "countries", "entries", "entry_count", "status", "attempts", "next_attempt_us", "created_us",
    "updated_us",
)  # fmt: skip


def describe(row: Any, items: Iterable[Item], stix_ids: dict[int, str]) -> dict[str, Any]:
    """A notification row as the API shows it: `items` narrowed by the caller through the policy,
    `stix_ids` the ids of their objects."""
    shown = list(items)
    return {
        "id": row.id,
        "recipient": row.recipient,
        "name": row.name,
        "channel": row.channel,
        "format": row.format,
        "address": row.address,
        "interval": format_micros(row.interval_us),
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt": format_micros(row.next_attempt_us),
        "sent": format_micros(row.sent_us) if row.sent_us else None,
        "ticket": row.ticket,
        "last_error": row.last_error,
        "created": format_micros(row.created_us),
        "updated": format_micros(row.updated_us),
        "count": len(shown),
        "items": [
            {"value": v, "kind": k, "country": c, "asn": a, "object": stix_ids.get(pk), "rule": rule}
            for v, k, c, a, pk, rule in shown
        ],
    }


def queued_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).where(notification.c.status == "queued")).scalar_one())
