"""The notification outbox: what routing decided to tell whom, waiting in the database for delivery.

Row shape (table `notification`), one row per recipient, interval and routing batch:

- `recipient`: `contact:<contact_point.id>`, or `abuse:<e-mail>` for a network's abuse mailbox taken
  from the enrichment data (no directory entry covered the network);
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

from accord.db.schema import notification
from accord.intel.timestamps import format_micros
from accord.routing.engine import Item, Recipient

__all__ = ["INTERVAL_SECONDS", "Outbox", "describe", "interval_start"]

INTERVAL_SECONDS = 3600  # values for one recipient are batched per hour
_CHUNK = 500


def interval_start(now_us: int, seconds: int = INTERVAL_SECONDS) -> int:
    step = seconds * 1_000_000
    return now_us - now_us % step


@dataclass
class _Known:
    """What a recipient already has in the current interval: its values and its last seq."""

    values: set[str] = field(default_factory=set)
    seq: int = -1


class Outbox:
    """Writes routed values as queued notification rows, one interval at a time.

    Keeps what each recipient already has in the interval in memory across the batches of a run
    (read from the database on first sight), so a value already written for a recipient in this
    interval is not written again, and no row is ever rewritten (rows are appended per batch).
    """

    def __init__(self, interval_seconds: int = INTERVAL_SECONDS) -> None:
        self.interval_seconds = interval_seconds
        self._interval: int | None = None
        self._known: dict[str, _Known] = {}

    def _load(self, conn: Connection, interval: int, keys: list[str]) -> None:
        if interval != self._interval:
            self._interval, self._known = interval, {}
        missing = [k for k in keys if k not in self._known]
        for k in missing:
            self._known[k] = _Known()
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            rows = conn.execute(
                select(notification.c.recipient, notification.c.seq, notification.c.entries).where(
                    notification.c.interval_us == interval, notification.c.recipient.in_(chunk)
                )
            )
            for recipient, seq, items in rows:
                known = self._known[recipient]
                known.seq = max(known.seq, seq)
                known.values.update(item[0] for item in orjson.loads(items))

    def forget(self) -> None:
        """Drop what is remembered (after a rolled-back transaction the database is the truth)."""
        self._interval, self._known = None, {}

    def write(
        self, conn: Connection, recipients: dict[str, Recipient], items: dict[str, list[Item]], now_us: int
    ) -> tuple[int, int]:
        """Queue each recipient's new values; returns (rows written, items written)."""
        interval = interval_start(now_us, self.interval_seconds)
        self._load(conn, interval, sorted(items))
        due = interval + self.interval_seconds * 1_000_000
        rows: list[dict[str, Any]] = []
        written = 0
        for key in sorted(items):
            known = self._known[key]
            fresh = [it for it in items[key] if it[0] not in known.values]
            if not fresh:
                continue
            known.values.update(it[0] for it in fresh)
            known.seq += 1
            r = recipients[key]
            countries = sorted({it[2] for it in fresh if it[2]})
            rows.append(
                {
                    "recipient": key, "interval_us": interval, "seq": known.seq, "contact_id": r.contact_id,
                    "org_id": r.org_id, "name": r.name[:200], "channel": r.channel, "format": r.format,
                    "address": r.address, "countries": ("," + ",".join(countries) + ",")[:1000],
                    "entries": orjson.dumps(fresh).decode(), "entry_count": len(fresh), "status": "queued",
                    "attempts": 0, "next_attempt_us": due, "created_us": now_us, "updated_us": now_us,
                }
            )  # fmt: skip
            written += len(fresh)
        for start in range(0, len(rows), 5000):
            conn.execute(notification.insert(), rows[start : start + 5000])
        return len(rows), written


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
