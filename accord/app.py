"""`Accord`: the one façade every face builds the same way (`create_app(settings)`), no globals.

It owns the settings, the database, the policy and the services, and offers the operations the
faces (HTTP API, CLI, later TAXII, web UI, worker) share, each in its own transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO

import orjson
from sqlalchemy import func, select, update

from accord import audit, jobs
from accord.db import Database, is_bulk_load
from accord.db.schema import contact_point, membership, observable, sharing_group, stix_object, user
from accord.db.schema import warninglist as warninglist_table
from accord.errors import BatchRefused, Forbidden, InvalidInput, NotFound, Problem
from accord.ingest import ImportOptions, org_namespace, run
from accord.intel import loginput, overlaps, query, sightings, trends
from accord.intel.matcher import Matcher
from accord.intel.observables import Observable, normalise
from accord.intel.prepare import Parsed, Prepared, gc_paused, prepare_batches
from accord.intel.store import IntelStore, SubmitResult
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.intel.warninglists import Warninglist, WarninglistIndex
from accord.members.auth import Limiter, viewer_for
from accord.members.model import Permission, Viewer
from accord.members.service import Members
from accord.policy import NO_SHARE, Policy, Share, audience_share, check_share
from accord.routing import contacts as contacts_mod
from accord.routing import digest as digests
from accord.routing import rules as rules_mod
from accord.routing.delivery import Deliverer, requeue, webhook_secret
from accord.routing.service import Routing
from accord.settings import Settings

BYTES_PER_OBJECT = 400  # a typical STIX indicator's JSON: sizes a file import before it is read


class Accord:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.audit_key = audit.load_key(settings.data_dir, settings.audit_key)
        self.policy = Policy(public_feed=settings.public_feed)
        self.members = Members(self.audit_key)
        self.store = IntelStore(self.policy)
        self.limiter = Limiter(settings.login_max_failures, settings.login_window_seconds)
        self.token_last_touched: dict[str, float] = {}
        self._warninglist_key: tuple[Any, ...] | None = None
        self._warninglist_index: WarninglistIndex | None = None

    def init(self) -> str:
        return self.db.migrate()

    def close(self) -> None:
        self.db.dispose()

    # --- viewers ----------------------------------------------------------------------------------

    def viewer(self, email: str, org: str | None = None, source: str = "cli") -> Viewer:
        """The viewer for a user by e-mail, acting for `org` (default: their first organisation)."""
        with self.db.read() as conn:
            user_id = self.members.user_id(conn, email)
            org_id = None
            if org is not None:
                org_id = self.members.org_id(conn, org)
                if not conn.execute(
                    select(membership).where(membership.c.user_id == user_id, membership.c.org_id == org_id)
                ).first():
                    raise InvalidInput(f"{email} is not a member of {org}", field="org")
            disabled = conn.execute(select(user.c.disabled).where(user.c.id == user_id)).scalar()
            if disabled:
                raise InvalidInput(f"the account {email} is disabled")
            v = viewer_for(conn, user_id, org_id)
        return replace(v, source=source)

    def resolve_share(self, viewer: Viewer, specs: Iterable[str]) -> Share:
        """`org:NAME`, `group:NAME`, `user:EMAIL` → ids. Only groups the viewer's org is in or owns."""
        orgs: set[int] = set()
        groups: set[int] = set()
        users: set[int] = set()
        with self.db.read() as conn:
            for spec in specs:
                kind, sep, name = spec.partition(":")
                if not sep or not name:
                    raise InvalidInput(f"share target {spec!r} must be org:NAME, group:NAME or user:EMAIL")
                if kind == "org":
                    orgs.add(self.members.org_id(conn, name))
                elif kind == "group":
                    gid = self.members.group_id(conn, name)
                    self.members.get_group(conn, viewer, gid)  # 404 unless the viewer's org owns or is in it
                    groups.add(gid)
                elif kind == "user":
                    users.add(self.members.user_id(conn, name))
                else:
                    raise InvalidInput(f"share target {spec!r} must start with org:, group: or user:")
        return Share(frozenset(orgs), frozenset(groups), frozenset(users))

    # --- intelligence -----------------------------------------------------------------------------

    def submit(
        self,
        viewer: Viewer,
        objects: Iterable[Parsed],
        *,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        progress: Callable[[int], None] | None = None,
        what: str = "",
    ) -> SubmitResult:
        """Store a submission in one transaction, audited; on any problem nothing is stored."""
        return self.submit_batches(
            viewer,
            prepare_batches(objects),
            default_tlp=default_tlp,
            share=share,
            progress=progress,
            what=what,
        )

    def import_file(
        self,
        viewer: Viewer,
        path: str,
        *,
        fmt: str | None = None,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        column_map: dict[str, int] | None = None,
        observed_us: int | None = None,
        progress: Callable[[int], None] | None = None,
        what: str | None = None,
        feed_id: int | None = None,
        job_id: int | None = None,
        exclusive: bool = False,
    ) -> run.Report:
        """Import a file in any supported format (detected when `fmt` is None) as one transaction,
        recorded as a job. `observed_us` stamps indicators generated from lines that carry no time
        (default: the file's modification time). `exclusive`: a big import into an empty store may
        take the database for itself (`submit_batches`). Raises BatchRefused listing
        every problem."""
        what = what or os.path.basename(path)
        fmt = fmt or run.detect_format(path)
        run.reader(fmt)  # an unknown format fails here, before a job is recorded
        assert viewer.org_id is not None and viewer.user_id is not None
        size = os.path.getsize(path)
        options = ImportOptions(
            namespace=org_namespace(viewer.org_id),
            observed_us=observed_us if observed_us is not None else int(os.path.getmtime(path) * 1_000_000),
            tlp=default_tlp,
            column_map=column_map,
            source=what,
        )
        with self.db.write() as conn:
            if job_id is None:
                job_id = jobs.create(
                    conn, kind="feed" if feed_id else "import", what=what, user_id=viewer.user_id,
                    org_id=viewer.org_id, feed_id=feed_id, total=size, status="running",
                )  # fmt: skip
        skips = run.Skips()

        def prepared() -> Iterator[list[Prepared | Problem]]:
            for batch, skipped in run.file_batches(path, fmt, options, progress):
                skips.add(skipped)
                yield batch

        try:
            result = self.submit_batches(
                viewer,
                prepared(),
                default_tlp=default_tlp,
                share=share,
                what=f"{fmt}:{what}",
                expected=size // BYTES_PER_OBJECT if fmt in ("stix", "misp") else size // 40,
                exclusive=exclusive,
            )
        except BatchRefused as exc:
            refused = {"format": fmt, "refused": [{**p.where, "detail": p.detail} for p in exc.problems]}
            self._end_job(job_id, "failed", refused, str(exc))
            raise
        except KeyboardInterrupt:
            self._end_job(job_id, "interrupted", None, "interrupted; nothing was stored: run it again")
            raise
        except Exception as exc:
            self._end_job(job_id, "failed", None, str(exc))
            raise
        report = run.Report(fmt, result, skips, job_id)
        self._end_job(job_id, "done", report.as_dict(), None)
        return report

    def _end_job(self, job_id: int, status: str, report: dict[str, Any] | None, error: str | None) -> None:
        with self.db.write() as conn:
            jobs.finish(conn, job_id, status, report, error)

    def submit_batches(
        self,
        viewer: Viewer,
        batches: Iterable[list[Prepared | Problem]],
        *,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        progress: Callable[[int], None] | None = None,
        what: str = "",
        expected: int = 0,
        exclusive: bool = False,
    ) -> SubmitResult:
        """`exclusive`: a bulk load (`is_bulk_load`: about `expected` objects into an empty store)
        takes the database (SQLite) or the intelligence tables (PostgreSQL) for itself when no one
        else is using them (`Database.write`); for the command line, where nothing else is waiting
        on the node."""
        benign = self.benign()
        exclusive = exclusive and is_bulk_load(expected, self._intel_empty())
        with gc_paused(), self.db.write(exclusive=exclusive) as conn:
            result = self.store.submit_prepared(
                conn,
                viewer,
                batches,
                default_tlp=default_tlp,
                share=share,
                progress=progress,
                expected=expected,
                benign=benign,
            )
            audit.record(
                conn,
                self.audit_key,
                actor=viewer.actor(),
                source=viewer.source,
                action="intel.submit",
                target=what or f"org:{viewer.org_id}",
                detail={
                    **result.as_dict(),
                    "default_tlp": default_tlp.value if default_tlp else None,
                    "share": {
                        "orgs": sorted(share.org_ids),
                        "groups": sorted(share.group_ids),
                        "users": sorted(share.user_ids),
                    },
                },
            )
        return result

    def _intel_empty(self) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(stix_object.c.pk).limit(1)).first() is None

    def get_object(self, viewer: Viewer, stix_id: str, modified_us: int | None = None) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self.policy.get_visible(conn, viewer, stix_id, modified_us)
            return query.Renderer(conn, self.policy, viewer).items([row])[0]

    def delete_object(self, viewer: Viewer, stix_id: str, modified_us: int | None = None) -> int:
        """Delete the viewer's organisation's versions of an object (all, or one), audited; returns
        how many versions were deleted. A tombstone tells those who could see it (and peers)."""
        with self.db.write() as conn:
            deleted = self.store.delete(conn, viewer, stix_id, modified_us)
            audit.record(
                conn,
                self.audit_key,
                actor=viewer.actor(),
                source=viewer.source,
                action="intel.delete",
                target=stix_id,
                detail={
                    "versions": deleted,
                    "version": format_micros(modified_us) if modified_us is not None else "all",
                    "org": viewer.org_id,
                },
            )
        return deleted

    def versions(self, viewer: Viewer, stix_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = query.versions(conn, self.policy, viewer, stix_id)
            return query.Renderer(conn, self.policy, viewer).items(rows)

    def list_objects(
        self, viewer: Viewer, f: query.ListFilter, limit: int | None = None, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        limit = self._limit(limit)
        with self.db.read() as conn:
            rows, next_cursor = query.list_rows(conn, self.policy, viewer, f, limit, cursor)
            return query.Renderer(conn, self.policy, viewer).items(rows), next_cursor

    def count(self, viewer: Viewer, f: query.ListFilter) -> int:
        with self.db.read() as conn:
            return query.count(conn, self.policy, viewer, f)

    def stats(self, viewer: Viewer) -> dict[str, Any]:
        with self.db.read() as conn:
            return {
                "by_type": query.counts_by(conn, self.policy, viewer, "type"),
                "by_tlp": query.counts_by(conn, self.policy, viewer, "tlp"),
            }

    def lookup(self, viewer: Viewer, values: list[str]) -> list[dict[str, Any]]:
        if len(values) > 10_000:
            raise InvalidInput("look up at most 10,000 values per call", field="values")
        with self.db.read() as conn:
            return query.lookup(conn, self.policy, viewer, values)

    def export(self, viewer: Viewer, types: list[str] | None = None) -> Iterator[dict[str, Any]]:
        with self.db.read() as conn:
            yield from query.export(conn, self.policy, viewer, types)

    def _limit(self, limit: int | None) -> int:
        if limit is None:
            return self.settings.page_size_default
        if not 1 <= limit <= self.settings.page_size_max:
            raise InvalidInput(f"limit must be between 1 and {self.settings.page_size_max}", field="limit")
        return limit

    # --- warninglists ------------------------------------------------------------------------------

    def load_warninglists(self, lists: Iterable[Warninglist], actor: str = "cli") -> dict[str, int]:
        """Store (or replace, by name) warninglists; values stored from now on are checked against
        them. Returns how many lists were added and replaced."""
        added = replaced = 0
        now = now_micros()
        with self.db.write() as conn:
            for wl in lists:
                values = {
                    "version": wl.version,
                    "type": wl.type,
                    "category": wl.category,
                    "description": wl.description,
                    "kinds": ",".join(sorted(wl.kinds)),
                    "entries": orjson.dumps(list(wl.entries)).decode(),
                    "enabled": True,
                    "loaded_us": now,
                }
                done = conn.execute(
                    update(warninglist_table).where(warninglist_table.c.name == wl.name).values(**values)
                ).rowcount
                if done:
                    replaced += 1
                else:
                    conn.execute(warninglist_table.insert().values(name=wl.name, **values))
                    added += 1
            audit.record(
                conn,
                self.audit_key,
                actor=actor,
                source=actor,
                action="warninglist.load",
                target="warninglists",
                detail={"added": added, "replaced": replaced},
            )
        return {"added": added, "replaced": replaced}

    def warninglists(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(warninglist_table).order_by(warninglist_table.c.name)).all()
        return [
            {
                "name": r.name,
                "version": r.version,
                "type": r.type,
                "category": r.category,
                "kinds": r.kinds.split(",") if r.kinds else [],
                "entries": len(orjson.loads(r.entries)),
                "enabled": r.enabled,
                "loaded": format_micros(r.loaded_us),
            }
            for r in rows
        ]

    def warninglist_index(self) -> WarninglistIndex | None:
        """The enabled warninglists, compiled once per change (None when there are none)."""
        with self.db.read() as conn:
            key = tuple(
                conn.execute(
                    select(func.count(), func.max(warninglist_table.c.loaded_us)).where(
                        warninglist_table.c.enabled
                    )
                ).one()
            )
            if key == self._warninglist_key:
                return self._warninglist_index
            rows = conn.execute(select(warninglist_table).where(warninglist_table.c.enabled)).all()
        index = None
        if rows:
            index = WarninglistIndex(
                Warninglist(
                    name=r.name,
                    version=r.version,
                    description=r.description,
                    type=r.type,
                    entries=tuple(orjson.loads(r.entries)),
                    kinds=frozenset(r.kinds.split(",")) if r.kinds else frozenset(),
                    category=r.category,
                )
                for r in rows
            )
        self._warninglist_key, self._warninglist_index = key, index
        return index

    def benign(self) -> Callable[[Observable], str | None] | None:
        index = self.warninglist_index()
        return index.match if index is not None else None

    # --- overlaps, sightings, scores ----------------------------------------------------------------

    def related(
        self, viewer: Viewer, *, object_id: str | None = None, values: list[str] | None = None
    ) -> dict[str, Any]:
        """What else is known about an object's values, or about given values, by whom — as far as
        the viewer may see."""
        if (object_id is None) == (not values):
            raise InvalidInput("ask about one object id or about values, not both or neither")
        with self.db.read() as conn:
            if object_id is not None:
                values = overlaps.object_values(conn, self.policy, viewer, object_id)
            assert values is not None
            if len(values) > 1000:
                raise InvalidInput("ask about at most 1,000 values at once", field="values")
            found = overlaps.related(
                conn, self.policy, viewer, values, exclude_id=object_id,
                expand_max=self.settings.overlap_expand_max,
            )  # fmt: skip
        return {"object": object_id, "values": values, "related": found}

    def overlaps(
        self, viewer: Viewer, *, since_us: int = 0, limit: int | None = None, mine: bool = True
    ) -> list[dict[str, Any]]:
        limit = self._limit(limit)
        with self.db.read() as conn:
            return overlaps.recent(conn, self.policy, viewer, since_us, limit, mine)

    def report_sighting(
        self,
        viewer: Viewer,
        indicator_id: str,
        *,
        count: int = 1,
        first_seen_us: int | None = None,
        last_seen_us: int | None = None,
        description: str | None = None,
        tlp: TLP = TLP.AMBER,
        share: Share = NO_SHARE,
        outcome: str | None = None,
    ) -> dict[str, Any]:
        """Say the viewer's organisation saw an indicator it may see, or, with `outcome`, what it
        did about a notified object (a take-down report: a sighting of any SDO carrying
        `x_accord_outcome`). AMBER and AMBER+STRICT sightings are shared with the object's producer
        (so it learns), plus `share`."""
        assert viewer.org_id is not None
        with self.db.read() as conn:
            target = self.policy.get_visible(conn, viewer, indicator_id)
            if outcome is None and target.type != "indicator":
                raise InvalidInput(
                    f"{indicator_id} is a {target.type}; sightings are of indicators", field="id"
                )
            if target.type not in sightings.SIGHTABLE:
                raise InvalidInput(
                    f"{indicator_id} is a {target.type}; a STIX sighting is of an SDO (an indicator, "
                    "infrastructure, observed-data, …): report on the indicator that names the value",
                    field="id",
                )
            me = self.members.get_org(conn, viewer.org_id)
            producer_org_id = target.producer_org_id
        identity = sightings.org_identity(viewer.org_id, me["name"], me["created_us"])
        obj = sightings.sighting_object(
            indicator_id, identity["id"], count=count, first_seen_us=first_seen_us, last_seen_us=last_seen_us,
            description=description, tlp=tlp, now_us=now_micros(), outcome=outcome,
        )  # fmt: skip
        if tlp in (TLP.AMBER, TLP.AMBER_STRICT):
            share = replace(share, org_ids=share.org_ids | {producer_org_id})
        self.submit(
            viewer,
            [(0, identity, orjson.dumps(identity).decode()), (1, obj, orjson.dumps(obj).decode())],
            share=share,
            what=f"sighting:{indicator_id}",
        )
        return obj

    def sightings(self, viewer: Viewer, indicator_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            self.policy.get_visible(conn, viewer, indicator_id)
            return sightings.sightings_of(conn, self.policy, viewer, indicator_id)

    def score(self, viewer: Viewer, indicator_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return sightings.score(
                conn, self.policy, viewer, indicator_id, self.settings.score_half_life_days, now_micros()
            )

    # --- the dashboard (accord/intel/trends.py): counts through the policy ----------------------------

    def newest(self, viewer: Viewer, *, since_us: int, limit: int = 10) -> dict[str, Any]:
        """The newest objects the viewer may see, and how many were added since `since_us`."""
        with self.db.read() as conn:
            rows, count = trends.newest(conn, self.policy, viewer, since_us, limit)
            return {"items": query.Renderer(conn, self.policy, viewer).items(rows), "count": count}

    def activity(self, viewer: Viewer, *, since_us: int, bucket_us: int) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return trends.activity(conn, self.policy, viewer, since_us, bucket_us)

    def sightings_of_mine(self, viewer: Viewer, *, limit: int = 20) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return trends.sightings_of_org(conn, self.policy, viewer, limit)

    def infrastructure_countries(self, viewer: Viewer, *, max_values: int = 200_000) -> dict[str, Any]:
        """Where the addresses and networks named in what the viewer may see are registered (the
        offline enrichment: a network counts by its first address), counted per country."""
        with self.db.read() as conn:
            values, capped = trends.ip_values(conn, self.policy, viewer, max_values)
        counts: dict[str, int] = {}
        unknown = 0
        for code in self.routing.enricher.enrich_ips(values).countries() if values else []:
            if code is None:
                unknown += 1
            else:
                counts[code] = counts.get(code, 0) + 1
        ranked = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return {"countries": ranked, "addresses": len(values), "unknown": unknown, "capped": capped}

    # --- new versions of one's own objects (edit, share, revoke) ----------------------------------------

    def own_object(self, viewer: Viewer, stix_id: str) -> dict[str, Any]:
        """The newest visible version of an object the viewer's organisation produced, with the
        audience its producer named (as `share_with` specs: org:NAME, group:NAME, user:EMAIL), to
        base a new version on. Only the producer organisation's analysts make new versions, and only
        of versioned objects: for anyone or anything else it does not exist (NotFound)."""
        with self.db.read() as conn:
            row = self.policy.get_visible(conn, viewer, stix_id)
            if (
                row.producer_org_id != viewer.org_id
                or not viewer.can(Permission.INTEL_WRITE)
                or row.modified_us == 0
            ):
                raise NotFound(f"no object {stix_id} that you may change")
            item = query.Renderer(conn, self.policy, viewer).items([row])[0]
            orgs, groups, users = audience_share(conn, row.audience_id)
            members = set(
                conn.execute(
                    select(membership.c.user_id).where(membership.c.org_id == viewer.org_id)
                ).scalars()
            )
            specs = [
                "org:" + self.members.get_org(conn, o)["name"] for o in sorted(orgs - {row.producer_org_id})
            ]
            group_names = select(sharing_group.c.name).where(sharing_group.c.id.in_(sorted(groups)))
            specs += ["group:" + name for name in sorted(conn.execute(group_names).scalars())]
            emails = select(user.c.email).where(user.c.id.in_(sorted(users & members)))
            specs += ["user:" + email for email in sorted(conn.execute(emails).scalars())]
        return {**item, "share_with": specs}

    def check_share(self, viewer: Viewer, tlp: TLP | None, share: Share) -> None:
        """Refuse an audience the TLP level does not allow (`policy.check_share`)."""
        with self.db.read() as conn:
            check_share(conn, viewer, tlp, share)

    # --- log matching -----------------------------------------------------------------------------

    def matcher(self, viewer: Viewer) -> Matcher:
        """Every value of every current, unrevoked indicator the viewer may see, warninglisted values
        left out: built once per run, then matched in memory."""
        rows = (
            select(
                observable.c.kind,
                observable.c.value,
                observable.c.ip_lo,
                observable.c.ip_hi,
                stix_object.c.stix_id,
            )
            .select_from(observable.join(stix_object, stix_object.c.pk == observable.c.object_pk))
            .where(
                stix_object.c.type == "indicator",
                stix_object.c.revoked.is_(False),
                observable.c.warninglist.is_(None),
                self.policy.latest_visible(viewer),
            )
        )
        with self.db.read() as conn:
            return Matcher((r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(rows))

    def match(self, viewer: Viewer, fp: BinaryIO, fmt: str, emit: Callable[[bytes], Any]) -> dict[str, Any]:
        """Match a log or value list against the viewer's indicators: each hit goes to `emit` as a
        JSON line; returns the summary. Warninglisted values never hit."""
        if fmt != "auto" and fmt not in loginput.FORMATS:
            raise InvalidInput(
                f"unknown match format {fmt!r} (use auto or one of {', '.join(loginput.FORMATS)})",
                field="format",
            )
        matcher = self.matcher(viewer)
        index = self.warninglist_index()
        benign = None
        if index is not None:
            lists = index

            def benign(kind: str, value: str) -> str | None:
                return lists.match(Observable(kind, value, *_ip_keys(kind, value)))

        summary = loginput.Summary()
        for hit in loginput.match_stream(matcher, fp, fmt, benign, summary=summary):
            emit(orjson.dumps(hit) + b"\n")
        return {**summary.as_dict(), "indicators": len(matcher)}

    # --- operator helpers -------------------------------------------------------------------------

    def verify_audit(self) -> audit.Verdict:
        with self.db.read() as conn:
            return audit.verify(conn, self.audit_key)

    # --- routing: contact points, rules, the outbox, the country view (accord/routing) ---------------

    @property
    def routing(self) -> Routing:
        """The routing service (its enricher is built on first use and kept)."""
        found: Routing | None = self.__dict__.get("_routing")
        if found is None:
            found = self.__dict__["_routing"] = Routing(
                self.db,
                self.policy,
                data_dir=self.settings.data_dir,
                interval_seconds=self.settings.notify_interval_seconds,
            )
        return found

    def route_new_objects(self) -> dict[str, Any]:
        """Route what was stored since the routing cursor: call it after a submission (its new
        objects lie past the cursor; the batch job never routes them again)."""
        return self.routing.route_new()

    def contacts(
        self, viewer: Viewer, *, country: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return contacts_mod.list_contacts(conn, viewer, country=country, kind=kind)

    def contact(self, viewer: Viewer, contact_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            return contacts_mod.get(conn, viewer, contact_id)

    def add_contact(self, viewer: Viewer, record: dict[str, Any]) -> dict[str, Any]:
        """One contact point (the viewer's organisation's, unless the operator names another or none)."""
        checked, problems = contacts_mod.check_record(record)
        if checked is None:
            f, detail = problems[0]
            more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
            raise InvalidInput(f"{f}: {detail}{more}", field=f)
        with self.db.write() as conn:
            contacts_mod.save(conn, viewer, [({}, checked)], replace=False, audit_key=self.audit_key)
            return contacts_mod.get(conn, viewer, contacts_mod.contact_id(conn, checked.name))

    def update_contact(self, viewer: Viewer, contact_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as conn:
            return contacts_mod.update_one(conn, viewer, contact_id, changes, audit_key=self.audit_key)

    def remove_contact(self, viewer: Viewer, contact_id: int) -> None:
        with self.db.write() as conn:
            contacts_mod.remove(conn, viewer, contact_id, audit_key=self.audit_key)

    def import_contacts(
        self, viewer: Viewer, data: bytes, fmt: str, *, replace: bool = True
    ) -> dict[str, Any]:
        """A CSV or JSON file of contact points: all stored (entries of the same name replaced), or,
        if any record is bad, none (BatchRefused names each by record, line and field)."""
        records = contacts_mod.parse_contacts(data, fmt)
        with self.db.write() as conn:
            return contacts_mod.save(
                conn, viewer, records, replace=replace, audit_key=self.audit_key
            ).as_dict()

    def routing_rules(self, viewer: Viewer) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return rules_mod.list_rules(conn, viewer)

    def save_rule(
        self,
        viewer: Viewer,
        name: str,
        match: dict[str, Any] | None,
        send_to: dict[str, Any] | None,
        *,
        enabled: bool = True,
        org: str | None = None,
        replace: bool = False,
    ) -> dict[str, Any]:
        rule = rules_mod.check_rule(name, match, send_to, enabled)
        with self.db.write() as conn:
            return rules_mod.save(conn, viewer, rule, org_name=org, replace=replace, audit_key=self.audit_key)

    def set_rule_enabled(self, viewer: Viewer, rule: str | int, enabled: bool) -> dict[str, Any]:
        with self.db.write() as conn:
            return rules_mod.set_enabled(
                conn, viewer, rules_mod.rule_id(conn, rule), enabled, audit_key=self.audit_key
            )

    def remove_rule(self, viewer: Viewer, rule: str | int) -> None:
        with self.db.write() as conn:
            rules_mod.remove(conn, viewer, rules_mod.rule_id(conn, rule), audit_key=self.audit_key)

    def country_view(self, viewer: Viewer, country: str, *, days: int = 30) -> dict[str, Any]:
        return self.routing.country_view(viewer, country, days=days)

    # --- daily digests per country (accord/routing/digest.py) -------------------------------------------

    def digest(self, viewer: Viewer, country: str, day: str | None = None) -> dict[str, Any]:
        """The daily digest of a country for a UTC day (`YYYY-MM-DD`; default yesterday), as the
        viewer may see it."""
        return self.routing.digest(viewer, country, digests.parse_day(day, now_micros()))

    def digest_subscriptions(self, viewer: Viewer) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return digests.list_subscriptions(conn, viewer)

    def subscribe_digest(self, viewer: Viewer, country: str, contact: str | int) -> dict[str, Any]:
        """Send `contact` the daily digest of `country` (those who manage the contact point)."""
        with self.db.write() as conn:
            return digests.subscribe(
                conn, viewer, country, contact, now_us=now_micros(), audit_key=self.audit_key
            )

    def unsubscribe_digest(
        self, viewer: Viewer, subscription: int | None = None, *, country: str | None = None,
        contact: str | int | None = None,
    ) -> None:  # fmt: skip
        """Stop a digest: by subscription id, or by country and contact point."""
        with self.db.write() as conn:
            if subscription is None:
                if country is None or contact is None:
                    raise InvalidInput("name the subscription, or its country and contact point")
                subscription = digests.find(conn, viewer, country, contact)
            digests.unsubscribe(conn, viewer, subscription, audit_key=self.audit_key)

    def queue_digests(self, *, now_us: int | None = None) -> list[tuple[int, str]]:
        """Queue the digest of every day that is over, once per subscription and day (the worker
        calls it); returns (subscription, day) of what was queued."""
        with self.db.write() as conn:
            return digests.queue_due(
                conn, now_us if now_us is not None else now_micros(), self.settings.digest_catch_up_days
            )

    def country_ranking(self, viewer: Viewer, *, days: int = 30) -> list[dict[str, Any]]:
        return self.routing.ranking(viewer, days=days)

    def notifications(
        self, viewer: Viewer, *, country: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.routing.notifications(viewer, country=country, status=status, limit=limit)

    # --- delivery of notifications (accord/routing/delivery.py) ----------------------------------------

    @property
    def delivery(self) -> Deliverer:
        found: Deliverer | None = self.__dict__.get("_delivery")
        if found is None:
            found = self.__dict__["_delivery"] = Deliverer(self.db, self.policy, self.settings)
        return found

    def deliver_notifications(self, *, now_us: int | None = None, flush: bool = False) -> dict[str, Any]:
        """Send the notifications that are due (with `flush`, every queued one): e-mail, webhooks,
        TAXII collections. Failures are recorded and retried, never raised."""
        return self.delivery.run(now_us=now_us, flush=flush)

    def retry_notification(self, viewer: Viewer, notification_id: int) -> dict[str, Any]:
        """Queue a failed or cancelled notification again (the operator's and platform admins')."""
        if not viewer.can_administer_platform:
            raise Forbidden("only the operator and platform administrators retry notifications")
        with self.db.write() as conn:
            ids = requeue(conn, notification_id, now_micros())
            audit.record(
                conn, self.audit_key, actor=viewer.actor(), source=viewer.source, action="notification.retry",
                target=str(notification_id), detail={"rows": ids},
            )  # fmt: skip
        return {"requeued": ids}

    def webhook_secret(self, viewer: Viewer, contact_id: int) -> dict[str, Any]:
        """The secret a contact's webhook receiver checks `X-Accord-Signature` with: for those who
        manage the contact point."""
        with self.db.read() as conn:
            found = contacts_mod.get(conn, viewer, contact_id)
            owner = conn.execute(
                select(contact_point.c.org_id).where(contact_point.c.id == contact_id)
            ).scalar_one()
        if not contacts_mod.may_manage(viewer, owner):
            raise Forbidden("only the operator and the organisation's admins see a contact's webhook secret")
        return {
            "contact": found["name"],
            "channel": found["channel"],
            "secret": webhook_secret(self.delivery.webhook_key, contact_id),
            "signature": "X-Accord-Signature: sha256=<hex HMAC-SHA256 of the raw request body>",
        }


def _ip_keys(kind: str, value: str) -> tuple[bytes | None, bytes | None]:
    """The range keys of a normalised address (warninglist CIDR checks need them)."""
    if kind not in ("ipv4", "ipv6"):
        return None, None
    o = normalise(value, kind)
    return o.ip_lo, o.ip_hi


def create_app(settings: Settings | None = None) -> Accord:
    return Accord(settings or Settings.from_env())
