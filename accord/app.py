"""`Accord`: the one façade every face builds the same way (`create_app(settings)`), no globals.

It owns the settings, the database, the policy and the services, and offers the operations the
faces (HTTP API, CLI, later TAXII, web UI, worker) share, each in its own transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from accord import audit
from accord.db import Database
from accord.db.schema import membership, user
from accord.errors import InvalidInput, Problem
from accord.intel import query
from accord.intel.prepare import Parsed, Prepared, gc_paused, prepare_batches, prepare_file_in_worker
from accord.intel.store import IntelStore, SubmitResult
from accord.intel.tlp import TLP
from accord.members.auth import Limiter, viewer_for
from accord.members.model import Viewer
from accord.members.service import Members
from accord.policy import NO_SHARE, Policy, Share
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

    def submit_file(
        self,
        viewer: Viewer,
        path: str,
        *,
        default_tlp: TLP | None = None,
        share: Share = NO_SHARE,
        progress: Callable[[int], None] | None = None,
    ) -> SubmitResult:
        """A bundle file: prepared in a worker process while this one writes (two cores, twice the
        speed); `progress` receives bytes of the file read."""
        done = 0

        def batches() -> Iterator[list[Prepared | Problem]]:
            nonlocal done
            for batch, offset in prepare_file_in_worker(path):
                if progress is not None:
                    progress(offset - done)
                done = offset
                yield batch

        return self.submit_batches(
            viewer,
            batches(),
            default_tlp=default_tlp,
            share=share,
            what=f"file:{os.path.basename(path)}",
            expected=os.path.getsize(path) // BYTES_PER_OBJECT,
        )

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
    ) -> SubmitResult:
        with gc_paused(), self.db.write() as conn:
            result = self.store.submit_prepared(
                conn,
                viewer,
                batches,
                default_tlp=default_tlp,
                share=share,
                progress=progress,
                expected=expected,
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

    def get_object(self, viewer: Viewer, stix_id: str, modified_us: int | None = None) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self.policy.get_visible(conn, viewer, stix_id, modified_us)
            return query.Renderer(conn, self.policy, viewer).items([row])[0]

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

    # --- operator helpers -------------------------------------------------------------------------

    def verify_audit(self) -> audit.Verdict:
        with self.db.read() as conn:
            return audit.verify(conn, self.audit_key)


def create_app(settings: Settings | None = None) -> Accord:
    return Accord(settings or Settings.from_env())
