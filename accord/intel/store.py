"""The write path of the intelligence store: version, index, all-or-nothing.

A submission (a bundle, a file, an API request) is one transaction. Objects arrive in prepared
batches (`accord.intel.prepare`: validated, values extracted, hashed); each batch is checked
against what is stored (one query per batch, not per object), inserted with `executemany`, and its
observable values indexed. Any problem anywhere refuses the whole submission; up to `MAX_PROBLEMS`
problems are collected so the submitter can fix them all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accord.db import bulk_insert, serialise_intel_writers, sqlite_insert_rows, tuned_for_bulk
from accord.db.schema import deletion, network_prefix, org, overlap, stix_object
from accord.db.schema import observable as observable_table
from accord.errors import BatchRefused, Forbidden, NotFound, Problem
from accord.intel import overlaps
from accord.intel.observables import Observable, network_prefix_of
from accord.intel.prepare import Parsed, Prepared, prepare_batches
from accord.intel.timestamps import now_micros
from accord.intel.tlp import TLP
from accord.members.model import Permission, Viewer
from accord.policy import NO_SHARE, Policy, Share, ensure_audience

MAX_PROBLEMS = 100
MAX_WARNINGS = 100
ANALYZE_AFTER = 10_000  # rows stored by one submission after which PostgreSQL statistics are refreshed
_CHUNK = 2000  # ids per IN (...) query


Benign = Callable[[Observable], str | None]  # the warninglist naming a value as known-benign, if any


@dataclass
class SubmitResult:
    stored: int = 0
    unchanged: int = 0
    observables: int = 0
    overlaps: int = 0  # stored values that meet values already known from other objects
    warninglisted: int = 0  # stored values a warninglist names as known-benign
    by_type: dict[str, int] = field(default_factory=dict)
    not_indexed: int = 0  # values in stored patterns that are not valid values
    warnings: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_WARNINGS of them

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stored": self.stored,
            "unchanged": self.unchanged,
            "observables": self.observables,
            "overlaps": self.overlaps,
            "warninglisted": self.warninglisted,
            "by_type": dict(sorted(self.by_type.items())),
        }
        if self.not_indexed:
            out["not_indexed"] = self.not_indexed
            out["warnings"] = self.warnings
        return out


@dataclass
class _Submission:
    """The state of one submission while its batches go through."""

    viewer: Viewer
    default_tlp: TLP | None
    share: Share
    added_us: int
    result: SubmitResult = field(default_factory=SubmitResult)
    problems: list[Problem] = field(default_factory=list)
    audiences: dict[str | None, int] = field(default_factory=dict)  # by TLP value
    top_pk: int = 0  # the newest object stored before this submission: overlaps are with those
    benign: Benign | None = None
    prefixes: list[int] | None = None  # network prefix lengths stored before this submission
    # A bulk load into an empty store has no version index while it runs: the pks this submission
    # stored, by id (a list once an id has several versions), are where its repeats are found.
    stored_pks: dict[str, int | list[int]] | None = None

    @property
    def default_tlp_value(self) -> str | None:
        return self.default_tlp.value if self.default_tlp is not None else None


def _allocate_pks(conn: Connection, n: int) -> list[int]:
    """Reserve `n` primary keys, so a batch inserts with plain executemany (no RETURNING, which
    SQLite would run row by row). The caller holds the write transaction: on SQLite that is the
    database lock; on PostgreSQL the sequence hands out distinct blocks to concurrent writers."""
    if conn.dialect.name == "postgresql":
        # Take a block of n values from the sequence in one step; the short advisory lock keeps
        # another writer's block from interleaving between nextval and setval.
        conn.exec_driver_sql("SELECT pg_advisory_lock(7311)")
        try:
            last = conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('stix_object', 'pk'),"
                " nextval(pg_get_serial_sequence('stix_object', 'pk')) + %(n)s - 1)",
                {"n": n},
            ).scalar_one()
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(7311)")
        return list(range(last - n + 1, last + 1))
    top = conn.execute(select(func.max(stix_object.c.pk))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


_OBJECT_COLUMNS = (
    "pk", "stix_id", "type", "spec_version", "created_us", "modified_us", "revoked", "is_latest", "tlp",
    "audience_id", "producer_org_id", "submitter_user_id", "date_added_us", "source_ref", "target_ref",
    "content_hash", "content", "severity", "confidence",
)  # fmt: skip
_OBSERVABLE_COLUMNS = ("object_pk", "kind", "value", "ip_lo", "ip_hi", "warninglist")
# Built once: an expanding parameter is compiled once and cached, unlike a fresh IN list per batch.
_VERSION_COLUMNS = (
    stix_object.c.pk,
    stix_object.c.stix_id,
    stix_object.c.modified_us,
    stix_object.c.producer_org_id,
    stix_object.c.content_hash,
    stix_object.c.revoked,
)
# The ids as one parameter (a JSON array, an array): an IN list of thousands of bound values costs
# more to render and bind than the lookups themselves.
_EXISTING_SQL = {
    "sqlite": "SELECT pk, stix_id, modified_us, producer_org_id, content_hash, revoked FROM stix_object"
    " WHERE stix_id IN (SELECT value FROM json_each(?))",
    "postgresql": "SELECT pk, stix_id, modified_us, producer_org_id, content_hash, revoked FROM stix_object"
    " WHERE stix_id = ANY(%s::text[])",
}
_STORED = select(*_VERSION_COLUMNS).where(stix_object.c.pk.in_(bindparam("pks", expanding=True)))


_by_value = itemgetter(2)

# SQLite binds each parameter in Python, a large share of an insert's cost: the usual row (latest,
# not revoked, no references) binds what varies and names the rest in the statement.
_PLAIN_OBJECT_COLUMNS = (
    "pk", "stix_id", "type", "spec_version", "created_us", "modified_us", "tlp", "audience_id",
    "content_hash", "content",
)  # fmt: skip


def _insert_plain_objects(
    conn: Connection, rows: list[tuple[Any, ...]], org_id: int, user_id: int, added_us: int
) -> None:
    constants = ", ".join(str(int(v)) for v in (org_id, user_id, added_us))
    marks = ", ".join("?" * len(_PLAIN_OBJECT_COLUMNS))
    sqlite_insert_rows(
        conn,
        f"INSERT INTO stix_object ({', '.join(_PLAIN_OBJECT_COLUMNS)}, revoked, is_latest, producer_org_id,"
        " submitter_user_id, date_added_us) VALUES",
        f"({marks}, 0, 1, {constants})",
        rows,
    )


def _insert_observables_sqlite(
    conn: Connection, rows: list[tuple[Any, ...]], ranged: list[tuple[Any, ...]]
) -> None:
    """Observable rows by shape: a value alone, a value with its address range (`ranged`: those of
    `rows` that have one), or a listed one."""
    bare = [(pk, kind, value) for pk, kind, value, lo, _hi, listed in rows if lo is None and listed is None]
    unlisted = [r[:5] for r in ranged if r[5] is None]
    listed = [r for r in rows if r[5] is not None]
    sqlite_insert_rows(conn, "INSERT INTO observable (object_pk, kind, value) VALUES", "(?, ?, ?)", bare)
    head = "INSERT INTO observable (object_pk, kind, value, ip_lo, ip_hi) VALUES"
    sqlite_insert_rows(conn, head, "(?, ?, ?, ?, ?)", unlisted)
    bulk_insert(conn, observable_table, _OBSERVABLE_COLUMNS, listed)


class IntelStore:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def submit(
        self,
        conn: Connection,
        viewer: Viewer,
        objects: Iterable[Parsed],
        *,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        progress: Callable[[int], None] | None = None,
        benign: Benign | None = None,
    ) -> SubmitResult:
        """Store every object of `objects` as produced by the viewer's organisation, or none."""
        return self.submit_prepared(
            conn,
            viewer,
            prepare_batches(objects),
            default_tlp=default_tlp,
            share=share,
            progress=progress,
            benign=benign,
        )

    def submit_prepared(
        self,
        conn: Connection,
        viewer: Viewer,
        batches: Iterable[list[Prepared | Problem]],
        *,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        progress: Callable[[int], None] | None = None,
        expected: int = 0,
        benign: Benign | None = None,
    ) -> SubmitResult:
        """The same, from batches prepared here or in a worker process (`expected`: about how many
        objects will come, when known, so a large import can be tuned for).

        `conn` must be inside a write transaction that the caller commits (or rolls back when this
        raises). Objects carrying no TLP marking get `default_tlp` (None: AMBER+STRICT for the
        producer alone); `share` names the audience of AMBER/AMBER+STRICT (orgs, groups) and RED
        (users) objects. `benign` flags values a warninglist names.
        """
        self._check_submitter(conn, viewer)
        serialise_intel_writers(conn)
        sub = _Submission(viewer, default_tlp, share, now_micros(), benign=benign)
        sub.top_pk = conn.execute(select(func.max(stix_object.c.pk))).scalar() or 0
        with tuned_for_bulk(conn, expected, empty_store=sub.top_pk == 0) as bulk_load:
            if bulk_load:
                sub.stored_pks = {}
            for batch in batches:
                pending, ids = self._dedupe(batch, sub)
                if not sub.problems:
                    self._store_batch(conn, pending, ids, sub)
                if progress is not None:
                    progress(len(batch))
                if len(sub.problems) >= MAX_PROBLEMS:
                    break
        if sub.problems:
            raise BatchRefused(sub.problems[:MAX_PROBLEMS])
        if conn.dialect.name == "postgresql" and sub.result.stored >= ANALYZE_AFTER:
            # Fresh statistics now, not when autovacuum gets to it: with the old ones the planner
            # seq-scans a table it still believes small (4 s instead of 20 ms for a lookup).
            conn.exec_driver_sql("ANALYZE stix_object")
            conn.exec_driver_sql("ANALYZE observable")
        return sub.result

    def _check_submitter(self, conn: Connection, viewer: Viewer) -> None:
        if viewer.user_id is None or viewer.org_id is None:
            raise Forbidden("submitting intelligence needs a user acting for an organisation")
        if not viewer.can(Permission.INTEL_WRITE):
            raise Forbidden(f"{viewer.label()} may not submit intelligence (needs {Permission.INTEL_WRITE})")
        vetted = conn.execute(select(org.c.vetted).where(org.c.id == viewer.org_id)).scalar()
        if not vetted:
            raise Forbidden("an organisation pending vetting may not submit intelligence yet")

    @staticmethod
    def _dedupe(batch: list[Prepared | Problem], sub: _Submission) -> tuple[list[Prepared], set[str]]:
        """Collect problems; drop identical repeats inside the batch, refuse different ones. Returns
        what remains and its ids.

        Repeats across batches need no memory here: the earlier batch is stored by then, so the
        later copy meets it as a stored version (identical: unchanged; different: refused).
        """
        if Problem not in set(map(type, batch)):
            prepared = cast(list[Prepared], batch)
            ids = {p.id for p in prepared}
            if len(ids) == len(prepared):
                return prepared, ids  # the usual batch: no problem, no id twice
        pending: list[Prepared] = []
        seen: dict[tuple[str, int], bytes] = {}
        for item in batch:
            if isinstance(item, Problem):
                sub.problems.append(item)
                continue
            key = (item.id, item.modified_us)
            earlier = seen.get(key)
            if earlier is None:
                seen[key] = item.hash
                pending.append(item)
            elif earlier != item.hash:
                sub.problems.append(
                    Problem(
                        "the submission holds two different objects with this id and modified",
                        {"object": item.id},
                    )
                )
        return pending, {p.id for p in pending}

    @staticmethod
    def _existing(conn: Connection, ids: set[str], sub: _Submission) -> dict[str, list[Any]]:
        """The stored versions of these ids (every producer's), found by the version index, or in a
        bulk load by the pks this submission stored (the store was empty when it began)."""
        existing: dict[str, list[Any]] = {}
        if sub.stored_pks is not None:
            pks: list[int] = []
            for i in sorted(sub.stored_pks.keys() & ids):
                found = sub.stored_pks[i]
                pks.extend(found if isinstance(found, list) else (found,))
            for start in range(0, len(pks), _CHUNK):
                for row in conn.execute(_STORED, {"pks": pks[start : start + _CHUNK]}):
                    existing.setdefault(row.stix_id, []).append(row)
            return existing
        sql = _EXISTING_SQL[conn.dialect.name]
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            param = orjson.dumps(chunk).decode() if conn.dialect.name == "sqlite" else chunk
            for row in conn.exec_driver_sql(sql, (param,)):
                existing.setdefault(row.stix_id, []).append(row)
        return existing

    @staticmethod
    def _remember(stored_pks: dict[str, int | list[int]], stix_id: str, pk: int) -> None:
        earlier = stored_pks.get(stix_id)
        if earlier is None:
            stored_pks[stix_id] = pk  # the common case: one int per id keeps a million ids small
        elif isinstance(earlier, list):
            earlier.append(pk)
        else:
            stored_pks[stix_id] = [earlier, pk]

    def _store_batch(
        self, conn: Connection, pending: list[Prepared], ids: set[str], sub: _Submission
    ) -> None:
        if not pending:
            return
        viewer = sub.viewer
        assert viewer.org_id is not None and viewer.user_id is not None
        existing = self._existing(conn, ids, sub)
        # The newest row per id, across what is stored and what arrives, is the one marked latest.
        # Usually every id is new and arrives once: each row is its id's newest, nothing is demoted.
        arriving: dict[str, Prepared] | None = None
        to_insert = pending
        if existing or len(ids) != len(pending):
            to_insert, arriving = self._versions(conn, pending, existing, sub)
            if sub.problems or not to_insert:
                return

        pks = _allocate_pks(conn, len(to_insert))
        rows_out: list[tuple[Any, ...]] = []  # every column
        plain_rows: list[tuple[Any, ...]] = []  # SQLite: _PLAIN_OBJECT_COLUMNS (the rest are constant)
        sqlite = conn.dialect.name == "sqlite"
        obs_rows: list[tuple[Any, ...]] = []
        new_values: list[overlaps.NewValue] = []
        benign = sub.benign
        by_type = sub.result.by_type
        audiences = sub.audiences
        org_id, user_id, added_us = viewer.org_id, viewer.user_id, sub.added_us
        for pk, p in zip(pks, to_insert, strict=True):
            (_, oid, typ, spec_version, created_us, modified_us, revoked, tlp, source_ref, target_ref, digest,
             raw, observables, warnings, severity, confidence, _) = p  # fmt: skip
            if tlp is None:
                tlp = sub.default_tlp_value
            audience_id = audiences.get(tlp) or self._audience(conn, sub, tlp)
            latest = arriving is None or arriving.get(oid) is p
            if (
                sqlite and latest and not revoked and source_ref is None and target_ref is None
                and severity is None and confidence is None
            ):  # fmt: skip
                plain_rows.append(
                    (pk, oid, typ, spec_version, created_us, modified_us, tlp, audience_id, digest, raw)
                )
            else:
                rows_out.append(
                    (pk, oid, typ, spec_version, created_us, modified_us, revoked, latest, tlp, audience_id,
                     org_id, user_id, added_us, source_ref, target_ref, digest, raw, severity, confidence)
                )  # fmt: skip
            if benign is None and not sub.top_pk:  # nothing to flag, nothing stored before to meet
                for kind, value, lo, hi in observables:
                    obs_rows.append((pk, kind, value, lo, hi, None))
            else:
                for kind, value, lo, hi in observables:
                    listed = benign(Observable(kind, value, lo, hi)) if benign is not None else None
                    obs_rows.append((pk, kind, value, lo, hi, listed))
                    if listed is None:
                        if sub.top_pk:
                            new_values.append(overlaps.NewValue(pk, oid, kind, value, lo, hi))
                    else:
                        sub.result.warninglisted += 1
            for warning in warnings:
                sub.result.not_indexed += 1
                if len(sub.result.warnings) < MAX_WARNINGS:
                    sub.result.warnings.append({"object": oid, "field": "pattern", "detail": warning})
            by_type[typ] = by_type.get(typ, 0) + 1
        bulk_insert(conn, stix_object, _OBJECT_COLUMNS, rows_out)
        if plain_rows:
            _insert_plain_objects(conn, plain_rows, org_id, user_id, added_us)
        if sub.stored_pks is not None:
            if arriving is None:  # none of these ids was stored before, and each arrived once
                sub.stored_pks.update(zip([p.id for p in to_insert], pks, strict=True))
            else:
                for pk, p in zip(pks, to_insert, strict=True):
                    self._remember(sub.stored_pks, p.id, pk)
        if new_values:
            self._record_overlaps(conn, new_values, sub)
        # Index order: random values in sorted runs touch fewer pages of the value index, and a
        # bulk load's index is built at the end quicker from rows that arrive in such runs.
        obs_rows.sort(key=_by_value)
        ranged = [r for r in obs_rows if r[3] is not None]  # addresses and networks
        if sqlite:
            _insert_observables_sqlite(conn, obs_rows, ranged)
        else:
            bulk_insert(conn, observable_table, _OBSERVABLE_COLUMNS, obs_rows)
        prefixes = {
            network_prefix_of(lo, hi)
            for _pk, _k, _v, lo, hi, _listed in ranged
            if hi is not None and lo != hi
        }
        if prefixes:
            insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
            conn.execute(
                insert(network_prefix).on_conflict_do_nothing(), [{"prefix": p} for p in sorted(prefixes)]
            )
        sub.result.stored += len(to_insert)
        sub.result.observables += len(obs_rows)

    def _versions(
        self, conn: Connection, pending: list[Prepared], existing: dict[str, list[Any]], sub: _Submission
    ) -> tuple[list[Prepared], dict[str, Prepared]]:
        """For a batch some of whose ids are stored already or arrive more than once: what to insert
        (problems go to `sub`), and the arriving object that is now the newest of its id; stored
        rows that stop being the newest are marked so."""
        assert sub.viewer.org_id is not None
        others_visible = self._visible_foreign_ids(conn, sub.viewer, existing)
        to_insert = [
            p
            for p in pending
            if p.id not in existing
            or self._admit(p, existing[p.id], sub.viewer.org_id, others_visible, sub.problems)
        ]
        sub.result.unchanged += len(pending) - len(to_insert)
        arriving: dict[str, Prepared] = {}
        if sub.problems or not to_insert:
            return to_insert, arriving
        newest: dict[str, tuple[int, int]] = {}  # id -> (modified, -pk); stored rows win ties
        for stix_id, rows in existing.items():
            for row in rows:
                cand = (row.modified_us, -row.pk)
                if stix_id not in newest or cand > newest[stix_id]:
                    newest[stix_id] = cand
        for p in to_insert:
            best = newest.get(p.id)
            if best is None or p.modified_us > best[0]:
                newest[p.id] = (p.modified_us, 1)
                arriving[p.id] = p
        # Demoted by pk: the stored rows of the ids whose newest version arrives now.
        demote = sorted(r.pk for i in arriving if i in existing for r in existing[i])
        for start in range(0, len(demote), _CHUNK):
            conn.execute(
                update(stix_object)
                .where(stix_object.c.pk.in_(demote[start : start + _CHUNK]), stix_object.c.is_latest)
                .values(is_latest=False)
            )
        return to_insert, arriving

    @staticmethod
    def _record_overlaps(conn: Connection, new_values: list[overlaps.NewValue], sub: _Submission) -> None:
        """Before this batch's values are indexed, so only what was known before this submission
        (pk <= top_pk) counts."""
        if sub.top_pk == 0:  # nothing was stored before this submission: nothing to meet
            return
        if sub.prefixes is None:
            sub.prefixes = overlaps.network_prefixes(conn)
        found = overlaps.find(conn, new_values, sub.top_pk, sub.prefixes)
        overlaps.record(conn, found, sub.added_us)
        sub.result.overlaps += len(found)

    @staticmethod
    def _audience(conn: Connection, sub: _Submission, tlp: str | None) -> int:
        assert sub.viewer.org_id is not None and sub.viewer.user_id is not None
        level = TLP(tlp) if tlp is not None else None
        found = sub.audiences[tlp] = ensure_audience(
            conn, level, sub.viewer.org_id, sub.viewer.user_id, sub.share
        )
        return found

    def _visible_foreign_ids(
        self, conn: Connection, viewer: Viewer, existing: dict[str, list[Any]]
    ) -> set[str]:
        """Ids held by other producers that the submitter may see (only those can conflict)."""
        foreign = sorted(
            i for i, rows in existing.items() if any(r.producer_org_id != viewer.org_id for r in rows)
        )
        visible: set[str] = set()
        for start in range(0, len(foreign), _CHUNK):
            visible.update(
                conn.execute(
                    select(stix_object.c.stix_id)
                    .where(
                        stix_object.c.stix_id.in_(foreign[start : start + _CHUNK]),
                        stix_object.c.producer_org_id != viewer.org_id,
                        self.policy.visible(viewer),
                    )
                    .distinct()
                ).scalars()
            )
        return visible

    @staticmethod
    def _admit(
        p: Prepared, rows: list[Any], producer_org_id: int, others_visible: set[str], problems: list[Problem]
    ) -> bool:
        """Decide a new version against stored ones; False means skip (unchanged or refused)."""
        own = [r for r in rows if r.producer_org_id == producer_org_id]
        where = {"object": p.id}
        if p.timeless and any(r.content_hash == p.hash for r in own):
            return False  # a feed line imported before: the same indicator, whatever its stamps
        for r in own:
            if r.modified_us == p.modified_us:
                if r.content_hash != p.hash:
                    problems.append(
                        Problem("a different object is already stored under this id and modified", where)
                    )
                return False
        if own:
            newest_own = max(own, key=lambda r: r.modified_us)
            if newest_own.revoked and p.modified_us > newest_own.modified_us:
                problems.append(Problem("this object was revoked; no newer version may follow", where))
                return False
        foreign = [r for r in rows if r.producer_org_id != producer_org_id]
        if foreign and p.modified_us:
            # A versioned object (SDO/SRO) belongs to the organisation that first stored it: no one
            # else may add versions, visible or not (else they could supersede what its readers
            # see). This tells the submitter that an id it already knows is taken, nothing more.
            if p.id in others_visible and any(
                r.modified_us == p.modified_us and r.content_hash == p.hash for r in foreign
            ):
                return False  # the same thing, already known: a no-op
            problems.append(
                Problem(
                    "this id belongs to another organisation's object; only its producer may version it",
                    where,
                )
            )
            return False
        # Cyber-observables (no versions; ids derived from their values) are held per producer.
        return True

    # --- deletion ---------------------------------------------------------------------------------

    def delete(self, conn: Connection, viewer: Viewer, stix_id: str, modified_us: int | None = None) -> int:
        """Delete the viewer's organisation's versions of an object (all, or the one at `modified_us`)
        that the viewer may see; returns how many. Not visible: NotFound; visible but produced by
        another organisation: Forbidden. Each deletion leaves a tombstone with the audience of what
        was deleted, so only those who could see it learn of it (and peers can delete their copies).
        """
        query = select(
            stix_object.c.pk,
            stix_object.c.modified_us,
            stix_object.c.producer_org_id,
            stix_object.c.audience_id,
        ).where(stix_object.c.stix_id == stix_id, self.policy.visible(viewer))
        if modified_us is not None:
            query = query.where(stix_object.c.modified_us == modified_us)
        rows = conn.execute(query).all()
        if not rows:
            raise NotFound(f"no object {stix_id}" + (" at that version" if modified_us is not None else ""))
        own = [r for r in rows if r.producer_org_id == viewer.org_id]
        if not own:
            raise Forbidden(f"{stix_id} belongs to another organisation; only its producer may delete it")
        if not viewer.can(Permission.INTEL_WRITE):
            raise Forbidden(f"{viewer.label()} may not delete intelligence (needs {Permission.INTEL_WRITE})")
        pks = sorted(r.pk for r in own)
        # Dependent rows explicitly: the store does not rely on the engines' foreign-key cascades.
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start : start + _CHUNK]
            conn.execute(delete(observable_table).where(observable_table.c.object_pk.in_(chunk)))
            conn.execute(delete(overlap).where(overlap.c.object_pk.in_(chunk)))
            conn.execute(delete(stix_object).where(stix_object.c.pk.in_(chunk)))
        # One tombstone per audience the deleted versions had (modified None: every version).
        serialise_intel_writers(conn)
        now = now_micros()
        conn.execute(
            deletion.insert(),
            [
                {"stix_id": stix_id, "modified_us": modified_us, "producer_org_id": viewer.org_id,
                 "audience_id": a, "deleted_us": now}
                for a in sorted({r.audience_id for r in own})
            ],
        )  # fmt: skip
        self._mark_latest(conn, stix_id)
        return len(pks)

    @staticmethod
    def _mark_latest(conn: Connection, stix_id: str) -> None:
        """After a deletion, the newest remaining row of the id (ties: the first stored) is latest."""
        remaining = conn.execute(
            select(stix_object.c.pk, stix_object.c.modified_us, stix_object.c.is_latest).where(
                stix_object.c.stix_id == stix_id
            )
        ).all()
        if not remaining:
            return
        newest = max(remaining, key=lambda r: (r.modified_us, -r.pk)).pk
        wrong = [r.pk for r in remaining if bool(r.is_latest) != (r.pk == newest)]
        if wrong:
            conn.execute(
                update(stix_object)
                .where(stix_object.c.pk.in_(wrong))
                .values(is_latest=stix_object.c.pk == newest)
            )
