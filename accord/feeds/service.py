"""Feeds: named sources (a URL, or a file on the server) imported on a schedule by the worker.

A feed imports as the member who added it, for their organisation, through the same import as
`accord import` (one transaction, idempotent, a job per run). Due feeds become queued jobs; the
worker claims jobs one at a time, so feeds, imports and their state live in the database:
visible (`accord feed list`, the jobs API), durable, and resumed after a crash (`accord.jobs`).
Only the operator (the CLI on the server) may add a `--path` feed: a member must not be able to
make the server read its own files.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from typing import Any, BinaryIO, cast

import orjson
from sqlalchemy import Connection, select, update

from accord import jobs
from accord.app import Accord
from accord.db import new_id
from accord.db.schema import feed, job, org, user
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.feeds.fetch import fetch, vet_url
from accord.ingest import FORMATS
from accord.ingest.run import Report
from accord.intel.timestamps import format_micros, now_micros
from accord.intel.tlp import TLP
from accord.members.auth import viewer_for
from accord.members.model import Viewer

_INTERVAL = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_SECONDS = 60


def parse_interval(text: str) -> int:
    """`90s`, `15m`, `6h`, `1d` or plain seconds → seconds (at least a minute)."""
    m = _INTERVAL.fullmatch(text.strip().lower())
    if m is None:
        raise InvalidInput(f"interval {text!r} is not like 15m, 6h or 1d", field="every")
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds < MIN_INTERVAL_SECONDS:
        raise InvalidInput(f"interval {text!r} is shorter than a minute", field="every")
    return seconds


def add(
    app: Accord,
    viewer: Viewer,
    name: str,
    *,
    url: str | None = None,
    path: str | None = None,
    fmt: str,
    tlp: TLP | None = None,
    every_seconds: int | None = None,
    column_map: dict[str, int] | None = None,
    share: list[str] | None = None,
) -> dict[str, Any]:
    if (url is None) == (path is None):
        raise InvalidInput("a feed has either a URL or a path", field="url")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})", field="format")
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a feed needs a name of 1-200 characters", field="name")
    if url is not None:
        vet_url(url)  # scheme, userinfo and literal addresses now; resolved addresses at each fetch
    if path is not None:
        if viewer.source != "cli":
            raise Forbidden("only the operator (the accord command on the server) may add a file feed")
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise InvalidInput(f"no such file: {path}", field="path")
    if viewer.user_id is None or viewer.org_id is None:
        raise Forbidden("a feed imports as a user acting for an organisation")
    app.resolve_share(viewer, share or [])  # the share targets must exist and be allowed now
    now = now_micros()
    with app.db.write() as conn:
        if conn.execute(select(feed.c.id).where(feed.c.name == name)).first():
            raise Conflict(f"a feed named {name!r} exists already", field="name")
        feed_id = new_id(
            conn.execute(
                feed.insert().values(
                    name=name,
                    url=url,
                    path=path,
                    format=fmt,
                    options=orjson.dumps({"column_map": column_map, "share": share or []}).decode(),
                    tlp=tlp.value if tlp else None,
                    user_id=viewer.user_id,
                    org_id=viewer.org_id,
                    every_seconds=every_seconds,
                    enabled=True,
                    created_us=now,
                    next_run_us=now if every_seconds else None,
                )
            )
        )
        return _describe(conn.execute(_LISTED.where(feed.c.id == feed_id)).one())


def _row(conn: Connection, feed_id: int) -> Any:
    row = conn.execute(select(feed).where(feed.c.id == feed_id)).first()
    if row is None:
        raise NotFound(f"no feed {feed_id}")
    return row


def _by_name(conn: Connection, name: str) -> Any:
    row = conn.execute(select(feed).where(feed.c.name == name)).first()
    if row is None:
        raise NotFound(f"no feed named {name!r}")
    return row


_LISTED = (
    select(feed, user.c.email.label("owner"), org.c.name.label("org_name"))
    .join(user, user.c.id == feed.c.user_id)
    .join(org, org.c.id == feed.c.org_id)
)


def _describe(row: Any) -> dict[str, Any]:
    """A feed as shown; `row` comes from `_LISTED` (with its owner's e-mail and org name)."""
    owner, org_name = row.owner, row.org_name
    options = orjson.loads(row.options)
    return {
        "name": row.name,
        "url": row.url,
        "path": row.path,
        "format": row.format,
        "tlp": row.tlp,
        "as": owner,
        "org": org_name,
        "every_seconds": row.every_seconds,
        "column_map": options.get("column_map"),
        "share": options.get("share", []),
        "enabled": row.enabled,
        "next_run": format_micros(row.next_run_us) if row.next_run_us else None,
        "last_run": format_micros(row.last_run_us) if row.last_run_us else None,
        "last_status": row.last_status,
    }


def list_feeds(app: Accord, viewer: Viewer) -> list[dict[str, Any]]:
    """The operator and platform admins see every feed; members see their organisation's."""
    with app.db.read() as conn:
        query = _LISTED.order_by(feed.c.name)
        if not (viewer.operator or viewer.platform_admin):
            query = query.where(feed.c.org_id == viewer.org_id)
        return [_describe(r) for r in conn.execute(query)]


def enqueue_due(app: Accord) -> list[int]:
    """A queued job for every enabled feed that is due and has none queued or running."""
    now = now_micros()
    queued: list[int] = []
    with app.db.write() as conn:
        due = conn.execute(
            select(feed).where(feed.c.enabled, feed.c.next_run_us.is_not(None), feed.c.next_run_us <= now)
        ).all()
        for row in due:
            busy = conn.execute(
                select(job.c.id).where(job.c.feed_id == row.id, job.c.status.in_(("queued", "running")))
            ).first()
            conn.execute(
                update(feed)
                .where(feed.c.id == row.id)
                .values(next_run_us=now + row.every_seconds * 1_000_000)
            )
            if busy:
                continue
            queued.append(
                jobs.create(
                    conn, kind="feed", what=row.name, user_id=row.user_id, org_id=row.org_id, feed_id=row.id
                )
            )
    return queued


def run_feed(app: Accord, name: str) -> Report:
    """Run one feed now, in this process (a job records it like any other run)."""
    with app.db.write() as conn:
        row = _by_name(conn, name)
        job_id = jobs.create(
            conn, kind="feed", what=row.name, user_id=row.user_id, org_id=row.org_id, feed_id=row.id,
            status="running",
        )  # fmt: skip
    return _run(app, row, job_id)


def _viewer(app: Accord, row: Any) -> Viewer:
    with app.db.read() as conn:
        if conn.execute(select(user.c.disabled).where(user.c.id == row.user_id)).scalar():
            raise Forbidden("the feed's user is disabled")
        viewer = viewer_for(conn, row.user_id, row.org_id)
    if viewer.org_id != row.org_id:
        raise Forbidden("the feed's user is no longer a member of its organisation")
    return viewer


def _run(app: Accord, row: Any, job_id: int) -> Report:
    """Fetch (or open) and import one feed under an already running job."""
    started = now_micros()
    try:
        viewer = _viewer(app, row)
        options = orjson.loads(row.options)
        share = app.resolve_share(viewer, options.get("share") or [])
        tlp = TLP(row.tlp) if row.tlp else None
        column_map = options.get("column_map")
        if row.path is not None:
            return app.import_file(
                viewer, row.path, fmt=row.format, default_tlp=tlp, share=share, column_map=column_map,
                what=row.name, feed_id=row.id, job_id=job_id,
            )  # fmt: skip
        return _fetch_and_import(app, row, viewer, job_id, tlp, share, column_map, started)
    except BaseException as exc:
        with app.db.write() as conn:
            current = conn.execute(select(job.c.status).where(job.c.id == job_id)).scalar()
            if current == "running":  # failed before the import recorded its own end
                jobs.finish(conn, job_id, "failed", None, str(exc))
        raise
    finally:
        with app.db.write() as conn:
            final = conn.execute(select(job.c.status).where(job.c.id == job_id)).scalar()
            conn.execute(
                update(feed).where(feed.c.id == row.id).values(last_run_us=started, last_status=final)
            )


def _fetch_and_import(
    app: Accord,
    row: Any,
    viewer: Viewer,
    job_id: int,
    tlp: TLP | None,
    share: Any,
    column_map: dict[str, int] | None,
    started: int,
) -> Report:
    settings = app.settings
    allow = [n.strip() for n in settings.feed_allow_networks.split(",") if n.strip()]
    folder = os.path.join(settings.data_dir, "feeds")
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f"feed-{row.id}-", delete=False) as tmp:
        try:
            result = fetch(
                row.url, cast(BinaryIO, tmp), allow_networks=allow, max_bytes=settings.feed_max_bytes,
                timeout=float(settings.feed_timeout_seconds), etag=row.etag, last_modified=row.last_modified,
            )  # fmt: skip
            tmp.close()
            if result.not_modified:
                from accord.ingest.run import Skips
                from accord.intel.store import SubmitResult

                report = Report(row.format, SubmitResult(), Skips(), job_id)
                with app.db.write() as conn:
                    jobs.finish(conn, job_id, "done", {**report.as_dict(), "not_modified": True})
                return report
            report = app.import_file(
                viewer, tmp.name, fmt=row.format, default_tlp=tlp, share=share, column_map=column_map,
                observed_us=started, what=row.name, feed_id=row.id, job_id=job_id,
            )  # fmt: skip
            with app.db.write() as conn:
                conn.execute(
                    update(feed)
                    .where(feed.c.id == row.id)
                    .values(etag=result.etag, last_modified=result.last_modified)
                )
            return report
        finally:
            tmp.close()
            os.unlink(tmp.name)


def work(app: Accord, *, once: bool = False, stop: threading.Event | None = None) -> int:
    """The worker loop: requeue orphans, queue due feeds, run queued jobs; returns jobs run.
    `once`: until nothing is left to do now."""
    stop = stop or threading.Event()
    ran = 0
    while not stop.is_set():
        with app.db.write() as conn:
            jobs.requeue_orphans(conn)
        enqueue_due(app)
        with app.db.write() as conn:
            claimed = jobs.claim(conn)
        if claimed is None:
            if once:
                break
            stop.wait(app.settings.worker_poll_seconds)
            continue
        ran += 1
        with contextlib.suppress(Exception):  # recorded on the job; the worker goes on with the next one
            _run_job(app, claimed)
    return ran


def _run_job(app: Accord, claimed: dict[str, Any]) -> None:
    if claimed["feed_id"] is None:
        with app.db.write() as conn:
            jobs.finish(conn, claimed["id"], "failed", None, "queued imports carry no file; run them again")
        return
    with app.db.read() as conn:
        row = _row(conn, claimed["feed_id"])
    _run(app, row, claimed["id"])
