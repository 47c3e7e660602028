"""Jobs: the durable record of every import and feed run (who, what, state, report).

A job row is written in its own short transaction before the work starts and again when it ends,
so it is visible while the import's own transaction is still open (and survives its rollback).
Queued jobs are claimed by a worker with a conditional update (only one claimant wins). A job left
`running` by a process that died is found by its owner (host and pid) and requeued: the import was
one transaction, so nothing of it was stored and a fresh run starts clean.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from accord.db import new_id
from accord.db.schema import job
from accord.errors import NotFound
from accord.intel.timestamps import format_micros, now_micros
from accord.members.model import Viewer

STATES = ("queued", "running", "done", "failed", "interrupted")
MAX_ATTEMPTS = 3


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create(
    conn: Connection,
    *,
    kind: str,
    what: str,
    user_id: int,
    org_id: int,
    feed_id: int | None = None,
    total: int | None = None,
    status: str = "queued",
) -> int:
    now = now_micros()
    return new_id(
        conn.execute(
            job.insert().values(
                kind=kind,
                feed_id=feed_id,
                what=what,
                user_id=user_id,
                org_id=org_id,
                status=status,
                attempts=1 if status == "running" else 0,
                created_us=now,
                started_us=now if status == "running" else None,
                heartbeat_us=now if status == "running" else None,
                progress=0,
                total=total,
                owner=this_process() if status == "running" else None,
            )
        )
    )


def claim(conn: Connection) -> dict[str, Any] | None:
    """Take the oldest queued job for this process, or None. The update only succeeds for one
    claimant when several workers race for the same row."""
    candidates = conn.execute(
        select(job.c.id).where(job.c.status == "queued").order_by(job.c.created_us, job.c.id).limit(5)
    ).scalars()
    now = now_micros()
    for job_id in candidates:
        won = conn.execute(
            update(job)
            .where(job.c.id == job_id, job.c.status == "queued")
            .values(status="running", started_us=now, heartbeat_us=now, attempts=job.c.attempts + 1,
                    owner=this_process())
        ).rowcount  # fmt: skip
        if won:
            return get_row(conn, job_id)
    return None


def finish(
    conn: Connection, job_id: int, status: str, report: dict[str, Any] | None = None, error: str | None = None
) -> None:
    conn.execute(
        update(job)
        .where(job.c.id == job_id)
        .values(
            status=status,
            finished_us=now_micros(),
            result=orjson.dumps(report).decode() if report is not None else None,
            error=error,
        )
    )


def requeue_orphans(conn: Connection) -> list[int]:
    """Running jobs of processes on this host that no longer exist go back to the queue (or fail
    after MAX_ATTEMPTS). Returns their ids."""
    host = socket.gethostname()
    requeued: list[int] = []
    for row in conn.execute(select(job.c.id, job.c.owner, job.c.attempts).where(job.c.status == "running")):
        owner_host, _, pid = (row.owner or "").rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        give_up = row.attempts >= MAX_ATTEMPTS
        conn.execute(
            update(job)
            .where(job.c.id == row.id, job.c.status == "running")
            .values(
                status="failed" if give_up else "queued",
                error=f"the process running it ({row.owner}) stopped"
                + ("; gave up after repeated attempts" if give_up else "; queued again"),
            )
        )
        requeued.append(row.id)
    return requeued


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def get_row(conn: Connection, job_id: int) -> dict[str, Any]:
    row = conn.execute(select(job).where(job.c.id == job_id)).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return dict(row._mapping)


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """A job as the API and CLI show it."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "what": row["what"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created": format_micros(row["created_us"]),
        "started": format_micros(row["started_us"]) if row["started_us"] else None,
        "finished": format_micros(row["finished_us"]) if row["finished_us"] else None,
        "report": orjson.loads(row["result"]) if row["result"] else None,
        "error": row["error"] if row["status"] in ("failed", "interrupted", "queued") else None,
    }


def visible_to(conn: Connection, viewer: Viewer, job_id: int) -> dict[str, Any]:
    """A job of the viewer's organisation (404 for anyone else's: jobs name files and feeds)."""
    row = get_row(conn, job_id)
    if row["org_id"] != viewer.org_id and not (viewer.platform_admin or viewer.operator):
        raise NotFound(f"no job {job_id}")
    return row


def list_for(conn: Connection, viewer: Viewer, limit: int = 100) -> list[dict[str, Any]]:
    query = select(job).order_by(job.c.created_us.desc(), job.c.id.desc()).limit(limit)
    if not (viewer.platform_admin or viewer.operator):
        query = query.where(job.c.org_id == viewer.org_id)
    return [dict(r._mapping) for r in conn.execute(query)]
