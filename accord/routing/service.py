"""Routing as a service: the batch job that routes what was stored since a cursor, and the country
view built from what it recorded.

The job (`Routing.route_new`) takes stored objects in pk order, a batch at a time; each batch is one
transaction that adds to the abuse counts, writes its queued notifications (`outbox`) and the cursor
(`routing_cursor`), so a crash loses nothing and nothing is routed twice. The façade calls it after a
submission (its new objects are what lies past the cursor) and the worker or `accord route run` call
it for anything left. Only objects committed before the job began are routed: it reads the
high-water mark while holding the intelligence writers' lock (PostgreSQL; SQLite has one writer).

The country view reads the abuse counts (`abuse_count`, one row per key, and the rows batches
appended since the last fold, `abuse_count_pending`) through the policy: a viewer sums only the
audiences `policy.visible` lets it read, and sees only the notified values of objects it may see. What came
back (`came_back`) are the sightings and outcome reports (`x_accord_outcome`: taken down, mitigated,
…) the viewer may see, of objects it may see that were notified for the country. Who was notified is
directory information: shown to those who may read the contact directory (`contacts.may_read`),
withheld (null) for anyone else. `Routing.digest` is the view of one past UTC day: what a daily
digest (`accord.routing.digest`) carries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, and_, func, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.db import Database, bulk_insert, serialise_intel_writers
from accord.db.schema import abuse_count, abuse_count_pending, notification, org, routing_cursor, stix_object
from accord.errors import InvalidInput
from accord.intel.prepare import gc_paused
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.validate import OUTCOME_PROPERTY, OUTCOMES
from accord.members.model import Viewer
from accord.policy import Policy
from accord.routing import rules as rules_mod
from accord.routing.contacts import may_read as may_read_directory
from accord.routing.countries import COUNTRIES, country_code
from accord.routing.engine import (
    DAY_US,
    Batch,
    Directory,
    Routed,
    Router,
    has_other_connections,
    in_thread,
    on_other_connection,
    pk_bounds,
    read_batch,
    visible_triples,
)
from accord.routing.enrich import Enricher
from accord.routing.outbox import INTERVAL_SECONDS, Outbox, Queued, describe

__all__ = ["BATCH_OBJECTS", "Routing", "address_space"]

BATCH_OBJECTS = 100_000  # stored objects routed per transaction
CURSOR = "default"
CAME_BACK_LOOKBACK_DAYS = 30  # reports in the window count for objects notified up to this long before it
CAME_BACK_RECENT = 20
_SCAN_ROWS = 20_000  # outbox rows read for what came back (newest first)


class Routing:
    """Routing over one database: the enricher (built once, on first use), the outbox, the cursor."""

    def __init__(
        self,
        db: Database,
        policy: Policy,
        *,
        enricher: Callable[[], Enricher] = Enricher,
        interval_seconds: int = INTERVAL_SECONDS,
        data_dir: str | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self._make_enricher = enricher
        self._enricher: Enricher | None = None
        self._networks: dict[int, tuple[str | None, str | None]] = {}  # the Routers' network cache
        self.outbox = Outbox(interval_seconds)
        self.data_dir = data_dir
        self.space_step_bits = 8  # address space counted per /24 (a coarser count is quicker)

    @property
    def enricher(self) -> Enricher:
        if self._enricher is None:
            self._enricher = self._make_enricher()
        return self._enricher

    # --- the batch job -------------------------------------------------------------------------------

    def _high_water(self) -> int:
        """The newest pk whose submission has committed: read under the writers' lock (PostgreSQL),
        so no pk below it can still appear."""
        with self.db.write() as conn:
            serialise_intel_writers(conn)
            return int(conn.execute(select(func.max(stix_object.c.pk))).scalar() or 0)

    def _cursor(self, conn: Connection) -> int:
        insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        conn.execute(
            insert(routing_cursor)
            .values(name=CURSOR, last_pk=0, updated_us=now_micros())
            .on_conflict_do_nothing()
        )
        found = conn.execute(
            select(routing_cursor.c.last_pk).where(routing_cursor.c.name == CURSOR).with_for_update()
        ).scalar_one()
        return int(found)

    def cursor(self) -> int:
        with self.db.read() as conn:
            return self._stored_cursor(conn)

    def route_new(self, *, batch_objects: int = BATCH_OBJECTS, now_us: int | None = None) -> dict[str, Any]:
        """Route every object stored past the cursor (committed when this starts), a batch per
        transaction; returns what was done.

        Three batches are in flight at once: the next one is read (`_ReadAhead`), this one is
        routed and its outbox rows built, the previous one is written (`_write_batch`, in a
        thread). Reading and writing are mostly the database's work (or SQLite's, outside the
        interpreter's lock), routing is Python's, so the two cores share them. A batch is routed
        assuming the previous one's write moves the cursor to where it ends; the write checks that,
        under the cursor's row lock, and if another process moved it meanwhile, what was routed
        past it is dropped (and the outbox forgets its rows) and routing goes on from where the
        cursor is. In-memory SQLite (one connection) does all three in turn."""
        upto_all = self._high_water()
        report = {"batches": 0, "objects_upto": 0, "values": 0, "notifications": 0, "items": 0}
        with self.db.read() as conn:
            directory, rules = Directory.load(conn), rules_mod.load(conn)
            after = self._stored_cursor(conn)
        router = Router(self.enricher, self.policy, directory, rules, self._networks)
        # The outbox remembers what recipients have this interval; only routing writes notifications,
        # always with the cursor, so if the cursor moved under us another process wrote some.
        self.outbox.forget()
        overlap = has_other_connections(self.db.engine)
        ahead: _ReadAhead | None = None
        writing: Callable[[], _Written] | None = None

        def finish_write() -> int | None:
            """Wait for the write under way: add it to the report; None, or where another process
            moved the cursor to."""
            nonlocal writing
            if writing is None:
                return None
            wait, writing = writing, None
            try:
                done = wait()
            except BaseException:
                self.outbox.forget()
                raise
            if done.moved_to is not None:
                self.outbox.forget()
                return done.moved_to
            report["batches"] += 1
            report["objects_upto"] = done.upto
            report["values"] += done.values
            report["notifications"] += done.rows
            report["items"] += done.items
            return None

        # A batch allocates hundreds of thousands of acyclic objects, in three threads at once: the
        # cyclic collector's passes over them (and over the enrichment data) free nothing, so it
        # waits for the end of the run.
        with gc_paused():
            try:
                while True:
                    taken = ahead.take(after) if ahead is not None else None
                    ahead = None
                    if taken is None and after < upto_all:
                        with self.db.read() as conn:
                            found = pk_bounds(conn, after, batch_objects)
                            if found is not None:
                                upto = min(found, upto_all)
                                taken = upto, read_batch(conn, after, upto, router.needs)
                    if taken is None:  # nothing left past `after`: done once the last write is
                        moved = finish_write()
                        if moved is None or moved >= upto_all:
                            break
                        after = moved
                        continue
                    upto, batch = taken
                    if upto < upto_all:  # the next batch is read while this one is routed
                        ahead = _ReadAhead.start(self.db, upto, upto_all, batch_objects, router.needs)
                    at = now_us if now_us is not None else now_micros()
                    with self.db.read() as conn:
                        routed = router.route(conn, batch)
                        # Its outbox rows, remembered as written (forgotten if a write does not commit).
                        queued = self.outbox.rows(conn, routed.recipients, routed.items, at)
                    moved = finish_write()
                    if moved is not None:  # another process routed past the previous batch: from there
                        after = moved
                        continue
                    write = partial(self._write_batch, after, upto, routed, queued)
                    writing = in_thread(write, inline=not overlap)
                    after = upto
            finally:
                if ahead is not None:
                    ahead.abandon()
                if writing is not None:  # leaving on an error: let the write under way end
                    with contextlib.suppress(Exception):
                        writing()
        # The counts of past days stop growing once routed: fold them (today's wait for tomorrow).
        report["counts_folded"] = self.fold_counts((now_us if now_us is not None else now_micros()) // DAY_US)
        report["cursor"] = self.cursor()
        return report

    def fold_counts(self, before_day: int | None = None) -> int:
        """Fold the pending abuse counts of days before `before_day` (None: all) into one row per
        key (`fold_counts`), taking turns with batch writes; returns how many rows were folded."""
        with self.db.write() as conn:
            self._cursor(conn)  # the cursor's row lock, held until commit
            return fold_counts(conn, before_day)

    def _stored_cursor(self, conn: Connection) -> int:
        found = conn.execute(select(routing_cursor.c.last_pk).where(routing_cursor.c.name == CURSOR)).scalar()
        return int(found or 0)

    def _write_batch(self, after: int, upto: int, routed: Routed, queued: Queued) -> _Written:
        """One routed batch, written in one transaction with the cursor moving from `after` to
        `upto`: its counts and its outbox rows. Nothing is written if the cursor is no longer at
        `after` (another process routed those objects)."""
        with gc_paused(), self.db.write() as conn:
            at = self._cursor(conn)  # the cursor's row stays locked until commit
            if at != after:
                return _Written(upto, moved_to=at)
            _add_counts(conn, routed.counts)
            self.outbox.insert(conn, queued)
            conn.execute(
                update(routing_cursor)
                .where(routing_cursor.c.name == CURSOR)
                .values(last_pk=upto, updated_us=now_micros())
            )
        return _Written(upto, values=routed.candidates, rows=len(queued.rows), items=queued.items)

    # --- the country view ----------------------------------------------------------------------------

    def _audiences(self, conn: Connection, viewer: Viewer, counts: Any, where: Any) -> list[int]:
        """Of the audiences counted under `where` (in `counts`, see `_counted`), those the policy
        lets the viewer read."""
        present = conn.execute(select(counts.c.audience_id).where(where).distinct()).scalars().all()
        seen = visible_triples(conn, self.policy, viewer, [(int(a), None, None) for a in present])
        return sorted(a for a, _s, _t in seen)

    def country_view(
        self, viewer: Viewer, country: str, *, days: int = 30, now_us: int | None = None
    ) -> dict[str, Any]:
        """Abused infrastructure in a country (by AS and operator, per day, per kind), what was
        notified to whom and what came back, over the `days` UTC days ending with the day of
        `now_us` (default: today), counting only what the viewer may see."""
        code = country_code(country)
        if code is None:
            raise InvalidInput(
                f"unknown country {country!r} (want an ISO 3166-1 alpha-2 code)", field="country"
            )
        if not 1 <= days <= 366:
            raise InvalidInput("days must be between 1 and 366", field="days")
        now = now_us if now_us is not None else now_micros()
        last = now // DAY_US
        since = last - days + 1
        until_us = (last + 1) * DAY_US
        counts = _counted()
        window = and_(counts.c.country == code, counts.c.day >= since, counts.c.day <= last)
        total = func.sum(counts.c.value_count)
        with self.db.read() as conn:
            where = and_(window, counts.c.audience_id.in_(self._audiences(conn, viewer, counts, window)))
            by_kind = conn.execute(select(counts.c.kind, total).where(where).group_by(counts.c.kind)).all()
            by_asn = conn.execute(
                select(counts.c.asn, func.max(counts.c.operator), total)
                .where(where)
                .group_by(counts.c.asn)
                .order_by(total.desc(), counts.c.asn)
                .limit(50)
            ).all()
            trend = conn.execute(
                select(counts.c.day, total).where(where).group_by(counts.c.day).order_by(counts.c.day)
            ).all()
            notified = self._notified(conn, viewer, code, since * DAY_US, until_us)
            came_back = self._came_back(conn, viewer, code, since * DAY_US, until_us)
        if not may_read_directory(viewer):
            notified = [{**n, "recipient": None, "name": None} for n in notified]
        return {
            "country": code,
            "days": days,
            "since": format_micros(since * DAY_US),
            "abused": sum(int(n) for _k, n in by_kind),
            "by_kind": {k: int(n) for k, n in by_kind},
            "by_asn": [{"asn": a or None, "operator": op, "values": int(n)} for a, op, n in by_asn],
            "trend": [{"day": format_micros(d * DAY_US)[:10], "values": int(n)} for d, n in trend],
            "notified": notified,
            "came_back": came_back,
        }

    def digest(self, viewer: Viewer, country: str, day_us: int) -> dict[str, Any]:
        """The country view of one UTC day (the day holding `day_us`): a daily digest's content."""
        view = self.country_view(viewer, country, days=1, now_us=day_us)
        return {"day": format_micros(day_us - day_us % DAY_US)[:10], **view}

    def _visible_pks(self, conn: Connection, viewer: Viewer, pks: set[int]) -> dict[int, str]:
        """Of these objects, those the viewer may see (by the policy), with their STIX ids."""
        wanted = sorted(pks)
        seen: dict[int, str] = {}
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            query = select(stix_object.c.pk, stix_object.c.stix_id).where(
                stix_object.c.pk.in_(chunk), self.policy.visible(viewer)
            )
            seen.update({pk: sid for pk, sid in conn.execute(query)})
        return seen

    def _notified(
        self, conn: Connection, viewer: Viewer, code: str, since_us: int, until_us: int, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Per recipient: how many of the country's values it was sent (or has queued), of objects
        the viewer may see."""
        rows = conn.execute(
            select(notification)
            .where(
                notification.c.countries.contains(f",{code},"),
                notification.c.interval_us >= since_us,
                notification.c.interval_us < until_us,
            )
            .order_by(notification.c.interval_us.desc(), notification.c.id.desc())
            .limit(5000)
        ).all()
        parsed = [(r, [it for it in orjson.loads(r.entries) if it[2] == code]) for r in rows]
        seen = self._visible_pks(conn, viewer, {it[4] for _r, items in parsed for it in items})
        per: dict[str, dict[str, Any]] = {}
        for r, items in parsed:
            shown = [it for it in items if it[4] in seen]
            if not shown:
                continue
            entry = per.setdefault(
                r.recipient,
                {"recipient": r.recipient, "name": r.name, "channel": r.channel, "values": 0, "queued": 0,
                 "sent": 0, "last": format_micros(r.interval_us)},
            )  # fmt: skip
            entry["values"] += len(shown)
            if r.status == "sent":
                entry["sent"] += len(shown)
            elif r.status in ("queued", "sending"):
                entry["queued"] += len(shown)
        return sorted(per.values(), key=lambda e: (-e["values"], e["name"]))[:limit]

    def _came_back(
        self, conn: Connection, viewer: Viewer, code: str, since_us: int, until_us: int
    ) -> dict[str, Any]:
        """Sightings and outcome reports added in [since_us, until_us) that the viewer may see (each
        at its newest visible version), of objects it may see that were notified for the country in
        that window or the `CAME_BACK_LOOKBACK_DAYS` before it (a take-down is reported after the
        notification)."""
        entries = conn.execute(
            select(notification.c.entries)
            .where(
                notification.c.countries.contains(f",{code},"),
                notification.c.interval_us >= since_us - CAME_BACK_LOOKBACK_DAYS * DAY_US,
                notification.c.interval_us < until_us,
            )
            .order_by(notification.c.interval_us.desc(), notification.c.id.desc())
            .limit(_SCAN_ROWS)
        ).scalars()
        value_of: dict[int, str] = {}  # object pk -> its newest value notified for the country
        for text in entries:
            for it in orjson.loads(text):
                if it[2] == code:
                    value_of.setdefault(int(it[4]), it[0])
        notified: dict[str, str] = {}  # STIX id of a visible notified object -> its value
        for pk, sid in sorted(self._visible_pks(conn, viewer, set(value_of)).items()):
            notified.setdefault(sid, value_of[pk])
        outcomes = dict.fromkeys(OUTCOMES, 0)
        plain = 0
        reports: list[tuple[int, int, dict[str, Any]]] = []
        wanted = sorted(notified)
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(
                    stix_object.c.pk, stix_object.c.target_ref, stix_object.c.content,
                    stix_object.c.date_added_us, org.c.name,
                )
                .join(org, org.c.id == stix_object.c.producer_org_id)
                .where(
                    stix_object.c.target_ref.in_(wanted[start : start + 500]),
                    stix_object.c.type == "sighting",
                    stix_object.c.date_added_us >= since_us,
                    stix_object.c.date_added_us < until_us,
                    self.policy.latest_visible(viewer),
                )
            )  # fmt: skip
            for pk, target, content, added, reporter in rows:
                outcome = orjson.loads(content).get(OUTCOME_PROPERTY)
                if isinstance(outcome, str) and outcome in outcomes:
                    outcomes[outcome] += 1
                else:
                    outcome = "sighting"
                    plain += 1
                reports.append(
                    (added, pk, {"stix_id": target, "value": notified[target], "outcome": outcome,
                                 "reported_by": reporter, "when": format_micros(added)})
                )  # fmt: skip
        reports.sort(key=lambda r: (-r[0], -r[1]))
        return {
            "sightings": plain,
            "outcomes": outcomes,
            "recent": [r for _a, _p, r in reports[:CAME_BACK_RECENT]],
        }

    def notifications(
        self, viewer: Viewer, *, country: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Outbox rows, newest first, each narrowed to the items whose objects the viewer may see
        (rows left with none are not shown)."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        query = select(notification).order_by(notification.c.id.desc()).limit(limit * 5)
        if country is not None:
            code = country_code(country)
            if code is None:
                raise InvalidInput(f"unknown country {country!r}", field="country")
            query = query.where(notification.c.countries.contains(f",{code},"))
        if status is not None:
            query = query.where(notification.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            parsed = [(r, orjson.loads(r.entries)) for r in rows]
            seen = self._visible_pks(conn, viewer, {it[4] for _r, items in parsed for it in items})
        out = []
        for r, items in parsed:
            shown = [it for it in items if it[4] in seen]
            if shown:
                out.append(describe(r, shown, seen))
            if len(out) >= limit:
                break
        return out

    def ranking(self, viewer: Viewer, *, days: int = 30, now_us: int | None = None) -> list[dict[str, Any]]:
        """Countries ranked by abused IPv4 addresses per million IPv4 addresses registered to them
        (address counts from the enrichment data), counting what the viewer may see."""
        if not 1 <= days <= 366:
            raise InvalidInput("days must be between 1 and 366", field="days")
        now = now_us if now_us is not None else now_micros()
        since = now // DAY_US - days + 1
        counts = _counted()
        window = and_(counts.c.country != "", counts.c.day >= since)
        with self.db.read() as conn:
            where = and_(window, counts.c.audience_id.in_(self._audiences(conn, viewer, counts, window)))
            rows = conn.execute(
                select(counts.c.country, counts.c.kind, func.sum(counts.c.value_count))
                .where(where)
                .group_by(counts.c.country, counts.c.kind)
            ).all()
        space = address_space(self.enricher, self.data_dir, step_bits=self.space_step_bits)
        per: dict[str, dict[str, Any]] = {}
        for cc, kind, n in rows:
            entry = per.setdefault(cc, {"country": cc, "ipv4": 0, "ipv6": 0, "domain": 0, "url": 0})
            entry[kind] = int(n)
        out = []
        for cc, entry in per.items():
            addresses = space.get(cc, 0)
            entry["ipv4_space"] = addresses
            entry["per_million"] = round(entry["ipv4"] * 1_000_000 / addresses, 3) if addresses else None
            out.append(entry)
        out.sort(key=lambda e: (-(e["per_million"] or 0), -e["ipv4"], e["country"]))
        for rank, entry in enumerate(out, 1):
            entry["rank"] = rank
        return out


_COUNT_COLUMNS = ("day", "country", "asn", "kind", "audience_id", "operator", "value_count")


@dataclass(frozen=True)
class _Written:
    """What writing one routed batch did: `moved_to` is where another process had moved the
    cursor (nothing written)."""

    upto: int
    values: int = 0
    rows: int = 0
    items: int = 0
    moved_to: int | None = None


class _ReadAhead:
    """The batch after `after_pk`, read on a connection of its own in a thread (`on_other_connection`)
    while the current one is routed and written: reading costs about as much as routing, and the
    database (or SQLite's driver, outside the interpreter's lock) reads on the other core. Objects
    below the high-water mark are committed and their values never change, so reading them a batch
    early reads the same; if the cursor has moved meanwhile (another process routed), the read is
    dropped and the batch the cursor names is read instead."""

    def __init__(self, after_pk: int, wait: Callable[[], tuple[int, Batch] | None]) -> None:
        self.after_pk = after_pk
        self._wait = wait

    @classmethod
    def start(
        cls, db: Database, after_pk: int, upto_all: int, objects: int, needs: frozenset[str]
    ) -> _ReadAhead | None:
        def read(conn: Connection) -> tuple[int, Batch] | None:
            found = pk_bounds(conn, after_pk, objects)
            if found is None:
                return None
            upto = min(found, upto_all)
            return upto, read_batch(conn, after_pk, upto, needs)

        wait = on_other_connection(db.engine, read)
        return None if wait is None else cls(after_pk, wait)

    def take(self, after_pk: int) -> tuple[int, Batch] | None:
        """(upto, batch) if this is the batch after `after_pk`; None if not (or there is none)."""
        if after_pk != self.after_pk:
            self.abandon()
            return None
        return self._wait()

    def abandon(self) -> None:
        """Wait for the read to end (its connection closes) and drop what it read."""
        with contextlib.suppress(Exception):  # nothing is taken from an abandoned read
            self._wait()


def _add_counts(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Append a batch's counts (tuples in `_COUNT_COLUMNS` order) to `abuse_count_pending`, in the
    batch's transaction; `fold_counts` adds them to the rows of their keys later."""
    bulk_insert(conn, abuse_count_pending, _COUNT_COLUMNS, rows, binary=True)


def fold_counts(conn: Connection, before_day: int | None = None) -> int:
    """Move the pending counts of days before `before_day` (None: all) into `abuse_count`, one row
    per key, in the caller's transaction; returns how many pending rows were moved. Lock the
    routing cursor's row first (`Routing._cursor`), so folds and batch writes take turns: on
    PostgreSQL the rows are taken by the DELETE itself, so a row appended meanwhile waits for
    the next fold and none is moved twice."""
    names = ", ".join(_COUNT_COLUMNS)
    key = "day, country, asn, kind, audience_id"
    where = "" if before_day is None else f"WHERE day < {int(before_day)}"
    upsert = (
        f"ON CONFLICT ({key}) DO UPDATE SET value_count = abuse_count.value_count + excluded.value_count, "
        "operator = coalesce(excluded.operator, abuse_count.operator)"
    )
    summed = f"{key}, max(operator), sum(value_count)"
    if conn.dialect.name == "postgresql":
        moved = conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM abuse_count_pending {where} RETURNING {names}), "
            f"added AS (INSERT INTO abuse_count ({names}) "
            f"SELECT {summed} FROM moved GROUP BY {key} {upsert}) "
            "SELECT count(*) FROM moved"
        ).scalar_one()
        return int(moved)
    # SQLite: one writer at a time, so the two statements see the same rows. (WHERE true: an
    # INSERT … SELECT … ON CONFLICT needs a WHERE for SQLite's parser.)
    conn.exec_driver_sql(
        f"INSERT INTO abuse_count ({names}) SELECT {summed} FROM abuse_count_pending "
        f"{where or 'WHERE true'} GROUP BY {key} {upsert}"
    )
    return int(conn.exec_driver_sql(f"DELETE FROM abuse_count_pending {where}").rowcount)


def _counted() -> Any:
    """The abuse counts as readers sum them: `abuse_count` and the pending rows not yet folded in."""
    return union_all(
        select(*(abuse_count.c[c] for c in _COUNT_COLUMNS)),
        select(*(abuse_count_pending.c[c] for c in _COUNT_COLUMNS)),
    ).subquery("counted")


# --- address space per country ------------------------------------------------------------------------

_SPACE: dict[tuple[Any, ...], dict[str, int]] = {}


def address_space(enricher: Enricher, data_dir: str | None = None, *, step_bits: int = 8) -> dict[str, int]:
    """IPv4 addresses registered to each country, by the enricher's country sources, counted per
    /24 (2^step_bits addresses; the RIRs delegate nothing smaller): each /24's first address asked
    in one batch. About ten seconds for the whole space, so kept per data version in memory and in
    `<data_dir>/routing/` ."""
    key = (tuple(orjson.dumps(s) for s in enricher.sources() if s["answers"] == "country"), step_bits)
    found = _SPACE.get(key)
    if found is not None:
        return found
    path = None
    if data_dir:
        digest = hashlib.sha256(b"|".join(key[0]) + str(step_bits).encode()).hexdigest()[:16]
        path = Path(data_dir) / "routing" / f"space-{step_bits}-{digest}.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("key") == [k.decode() for k in key[0]]:
                _SPACE[key] = cached["space"]
                return _SPACE[key]
    counts = np.zeros(len(COUNTRIES), dtype=np.int64)
    per_block = 1 << step_bits
    blocks = 1 << (32 - step_bits)
    ntoa = socket.inet_ntoa
    chunk = 1 << 20
    for first in range(0, blocks, chunk):
        numbers = (np.arange(first, min(first + chunk, blocks), dtype=np.uint64) << step_bits).astype(">u4")
        raw = numbers.tobytes()
        texts = [ntoa(raw[i : i + 4]) for i in range(0, len(raw), 4)]
        got = enricher.enrich_ips(texts).country
        counts += np.bincount(got, minlength=len(COUNTRIES)) * per_block
    space = {str(COUNTRIES[i]): int(n) for i, n in enumerate(counts.tolist()) if i and n}
    _SPACE[key] = space
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": [k.decode() for k in key[0]], "space": space}))
        tmp.replace(path)
    return space
