"""The write path of the intelligence store: validate, version, index, all-or-nothing.

A submission (a bundle, a file, an API request) is one transaction. Objects stream through in
batches: each batch is validated, checked against what is stored (one query per batch, not per
object), inserted with `executemany`, and its observable values indexed. Any problem anywhere
refuses the whole submission; up to `MAX_PROBLEMS` problems are collected so the submitter can fix
them all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Connection, select, update

from accord.db.schema import observable as observable_table
from accord.db.schema import org, stix_object
from accord.errors import BatchRefused, Forbidden, InvalidInput, Problem
from accord.intel import observables as obs
from accord.intel.patterns import observables_of_pattern
from accord.intel.timestamps import now_micros
from accord.intel.tlp import TLP
from accord.intel.validate import Checked, check_object, content_hash
from accord.members.model import Permission, Viewer
from accord.policy import NO_SHARE, Policy, Share, ensure_audience

MAX_PROBLEMS = 100
BATCH = 5000

Parsed = tuple[int, Any, str]  # (index in the input, parsed object, raw JSON text as received)


@dataclass
class SubmitResult:
    stored: int = 0
    unchanged: int = 0
    observables: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "unchanged": self.unchanged,
            "observables": self.observables,
            "by_type": dict(sorted(self.by_type.items())),
        }


@dataclass(slots=True)
class _Pending:
    index: int
    checked: Checked
    raw: str
    hash: bytes
    observables: list[obs.Observable]


def _where(c: Checked | None, index: int) -> dict[str, Any]:
    return {"object": c.id if c is not None else f"#{index}"}


def extract_observables(checked: Checked) -> list[obs.Observable]:
    """Observable values an object names: SCO values, and simple indicator patterns' values."""
    obj = checked.obj
    if checked.type == "indicator":
        if obj.get("pattern_type") == "stix":
            return observables_of_pattern(obj["pattern"])
        return []
    return obs.from_sco(obj)


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
    ) -> SubmitResult:
        """Store every object of `objects` as produced by the viewer's organisation, or none.

        `conn` must be inside a write transaction that the caller commits (or rolls back when this
        raises). Objects carrying no TLP marking get `default_tlp` (None: AMBER+STRICT for the
        producer alone); `share` names the audience of AMBER/AMBER+STRICT (orgs, groups) and RED
        (users) objects.
        """
        self._check_submitter(conn, viewer)
        assert viewer.org_id is not None and viewer.user_id is not None
        result = SubmitResult()
        problems: list[Problem] = []
        audiences: dict[TLP | None, int] = {}
        added_us = now_micros()
        seen_in_submission: dict[tuple[str, int], bytes] = {}
        iterator: Iterator[Parsed] = iter(objects)
        while batch := list(islice(iterator, BATCH)):
            pending = self._check_batch(batch, seen_in_submission, problems)
            if not problems:
                self._store_batch(
                    conn, viewer, pending, problems, result, audiences, default_tlp, share, added_us
                )
            if progress is not None:
                progress(len(batch))
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise BatchRefused(problems[:MAX_PROBLEMS])
        return result

    def _check_submitter(self, conn: Connection, viewer: Viewer) -> None:
        if viewer.user_id is None or viewer.org_id is None:
            raise Forbidden("submitting intelligence needs a user acting for an organisation")
        if not viewer.can(Permission.INTEL_WRITE):
            raise Forbidden(f"{viewer.label()} may not submit intelligence (needs {Permission.INTEL_WRITE})")
        vetted = conn.execute(select(org.c.vetted).where(org.c.id == viewer.org_id)).scalar()
        if not vetted:
            raise Forbidden("an organisation pending vetting may not submit intelligence yet")

    def _check_batch(
        self, batch: list[Parsed], seen: dict[tuple[str, int], bytes], problems: list[Problem]
    ) -> list[_Pending]:
        pending: list[_Pending] = []
        for index, parsed, raw in batch:
            checked: Checked | None = None
            try:
                checked = check_object(parsed, index)
                values = extract_observables(checked)
            except InvalidInput as exc:
                where = {**_where(checked, index), **exc.where}
                if checked is not None and "field" not in where:
                    where["field"] = "pattern" if checked.type == "indicator" else "value"
                problems.append(Problem(exc.detail, where))
                continue
            digest = content_hash(checked.obj)
            key = (checked.id, checked.modified_us or 0)
            earlier = seen.get(key)
            if earlier is not None:
                if earlier != digest:
                    problems.append(
                        Problem(
                            "the submission holds two different objects with this id and modified",
                            _where(checked, index),
                        )
                    )
                continue  # an identical repeat inside one submission: keep the first
            seen[key] = digest
            pending.append(_Pending(index, checked, raw, digest, values))
        return pending

    def _store_batch(
        self,
        conn: Connection,
        viewer: Viewer,
        pending: list[_Pending],
        problems: list[Problem],
        result: SubmitResult,
        audiences: dict[TLP | None, int],
        default_tlp: TLP | None,
        share: Share,
        added_us: int,
    ) -> None:
        if not pending:
            return
        assert viewer.org_id is not None and viewer.user_id is not None
        ids = sorted({p.checked.id for p in pending})
        existing: dict[str, list[Any]] = {}
        for start in range(0, len(ids), 2000):
            rows = conn.execute(
                select(
                    stix_object.c.pk,
                    stix_object.c.stix_id,
                    stix_object.c.modified_us,
                    stix_object.c.producer_org_id,
                    stix_object.c.content_hash,
                    stix_object.c.revoked,
                    stix_object.c.is_latest,
                ).where(stix_object.c.stix_id.in_(ids[start : start + 2000]))
            ).all()
            for row in rows:
                existing.setdefault(row.stix_id, []).append(row)
        others_visible = self._visible_foreign_ids(conn, viewer, existing)

        to_insert: list[_Pending] = []
        for p in pending:
            rows = existing.get(p.checked.id, [])
            if rows and not self._admit(p, rows, viewer.org_id, others_visible, problems):
                continue
            to_insert.append(p)
        if problems or not to_insert:
            result.unchanged += len(pending) - len(to_insert)
            return
        result.unchanged += len(pending) - len(to_insert)

        # Newest version per id across what is stored and what arrives decides `is_latest`.
        newest: dict[str, tuple[int, int]] = {}  # id -> (modified, -rank): stored rows win ties
        for stix_id, rows in existing.items():
            for row in rows:
                cand = (row.modified_us, -row.pk)
                if stix_id not in newest or cand > newest[stix_id]:
                    newest[stix_id] = cand
        arriving: dict[str, _Pending] = {}
        for p in to_insert:
            cid, mod = p.checked.id, p.checked.modified_us or 0
            best = newest.get(cid)
            if best is None or mod > best[0]:
                newest[cid] = (mod, 1)
                arriving[cid] = p
        demote = [i for i in arriving if i in existing]
        if demote:
            for start in range(0, len(demote), 2000):
                conn.execute(
                    update(stix_object)
                    .where(stix_object.c.stix_id.in_(demote[start : start + 2000]), stix_object.c.is_latest)
                    .values(is_latest=False)
                )

        rows_out = []
        for p in to_insert:
            c = p.checked
            tlp = c.tlp if c.tlp is not None else default_tlp
            audience_id = audiences.get(tlp)
            if audience_id is None:
                audience_id = audiences[tlp] = ensure_audience(
                    conn, tlp, viewer.org_id, viewer.user_id, share
                )
            rows_out.append(
                {
                    "stix_id": c.id,
                    "type": c.type,
                    "spec_version": c.spec_version,
                    "created_us": c.created_us,
                    "modified_us": c.modified_us or 0,
                    "revoked": c.revoked,
                    "is_latest": arriving.get(c.id) is p,
                    "tlp": tlp.value if tlp is not None else None,
                    "audience_id": audience_id,
                    "producer_org_id": viewer.org_id,
                    "submitter_user_id": viewer.user_id,
                    "date_added_us": added_us,
                    "source_ref": c.obj.get("source_ref") if c.type == "relationship" else None,
                    "target_ref": c.obj.get("target_ref") if c.type == "relationship" else None,
                    "content_hash": p.hash,
                    "content": p.raw,
                }
            )
            result.by_type[c.type] = result.by_type.get(c.type, 0) + 1
        pks = (
            conn.execute(
                stix_object.insert().returning(stix_object.c.pk, sort_by_parameter_order=True), rows_out
            )
            .scalars()
            .all()
        )
        obs_rows = [
            {"object_pk": pk, "kind": o.kind, "value": o.value, "ip_lo": o.ip_lo, "ip_hi": o.ip_hi}
            for pk, p in zip(pks, to_insert, strict=True)
            for o in p.observables
        ]
        if obs_rows:
            conn.execute(observable_table.insert(), obs_rows)
        result.stored += len(rows_out)
        result.observables += len(obs_rows)

    def _visible_foreign_ids(
        self, conn: Connection, viewer: Viewer, existing: dict[str, list[Any]]
    ) -> set[str]:
        """Ids held by other producers that the submitter may see (only those can conflict)."""
        foreign = sorted(
            i for i, rows in existing.items() if any(r.producer_org_id != viewer.org_id for r in rows)
        )
        visible: set[str] = set()
        for start in range(0, len(foreign), 2000):
            visible.update(
                conn.execute(
                    select(stix_object.c.stix_id)
                    .where(
                        stix_object.c.stix_id.in_(foreign[start : start + 2000]),
                        stix_object.c.producer_org_id != viewer.org_id,
                        self.policy.visible(viewer),
                    )
                    .distinct()
                ).scalars()
            )
        return visible

    @staticmethod
    def _admit(
        p: _Pending, rows: list[Any], producer_org_id: int, others_visible: set[str], problems: list[Problem]
    ) -> bool:
        """Decide a new version against stored ones; False means skip (unchanged or refused)."""
        c = p.checked
        modified = c.modified_us or 0
        own = [r for r in rows if r.producer_org_id == producer_org_id]
        where = {"object": c.id}
        for r in own:
            if r.modified_us == modified:
                if r.content_hash != p.hash:
                    problems.append(
                        Problem("a different object is already stored under this id and modified", where)
                    )
                return False
        if own:
            newest_own = max(own, key=lambda r: r.modified_us)
            if newest_own.revoked and modified > newest_own.modified_us:
                problems.append(Problem("this object was revoked; no newer version may follow", where))
                return False
        if c.id in others_visible:
            # Another organisation's object that the submitter can see: never version it for them.
            foreign = [r for r in rows if r.producer_org_id != producer_org_id]
            if any(r.modified_us == modified and r.content_hash == p.hash for r in foreign):
                return False  # the same thing, already known: a no-op
            problems.append(
                Problem(
                    "this object belongs to another organisation; only its producer may version it", where
                )
            )
            return False
        return True
