"""TAXII status resources: what became of each object of a POST, kept in `taxii_status`.

A status belongs to who posted it (the user, or the peer node): anyone else gets 404, as if it did
not exist. Posts are processed before the answer, so every status is `complete`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import Connection, select

from accord.db.schema import taxii_status
from accord.errors import NotFound
from accord.intel.timestamps import format_micros
from accord.members.model import Viewer


def detail(object_id: str, version: str, message: str | None = None) -> dict[str, Any]:
    """A TAXII status-details entry."""
    out = {"id": object_id, "version": version}
    if message:
        out["message"] = message
    return out


def create(
    conn: Connection,
    viewer: Viewer,
    request_us: int,
    successes: list[dict[str, Any]],
    failures: list[dict[str, Any]],
) -> dict[str, Any]:
    """Record a finished post; returns its status resource."""
    status_id = str(uuid.uuid4())
    conn.execute(
        taxii_status.insert().values(
            id=status_id,
            user_id=None if viewer.is_peer else viewer.user_id,
            peer_id=viewer.peer_id,
            status="complete",
            request_us=request_us,
            total=len(successes) + len(failures),
            success=len(successes),
            failure=len(failures),
            pending=0,
            detail=orjson.dumps({"successes": successes, "failures": failures, "pendings": []}).decode(),
        )
    )
    return get(conn, viewer, status_id)


def get(conn: Connection, viewer: Viewer, status_id: str) -> dict[str, Any]:
    """The status resource, if this viewer posted it."""
    query = select(taxii_status).where(taxii_status.c.id == status_id)
    if viewer.is_peer:
        query = query.where(taxii_status.c.peer_id == viewer.peer_id)
    elif viewer.user_id is not None:
        query = query.where(taxii_status.c.user_id == viewer.user_id, taxii_status.c.peer_id.is_(None))
    else:
        raise NotFound(f"no status {status_id}")
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no status {status_id}")
    lists = orjson.loads(row.detail)
    out: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "request_timestamp": format_micros(row.request_us),
        "total_count": row.total,
        "success_count": row.success,
        "failure_count": row.failure,
        "pending_count": row.pending,
    }
    for name in ("successes", "failures", "pendings"):  # lists of one or more, else absent
        if lists[name]:
            out[name] = lists[name]
    return out
