"""Append-only, hash-chained audit log: who did what, when, from where.

Each row's MAC covers its fields and the previous row's MAC, keyed by a secret kept outside the
database (`<data_dir>/audit.key` or ACCORD_AUDIT_KEY), so someone who can write to the database but
not read the key cannot rewrite the chain: changing, inserting or removing a row breaks it at a
place `verify` names. Cutting rows off the *end* leaves a valid shorter chain, so `verify` prints
the head for operators to anchor elsewhere (THREAT_MODEL.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from accord.db.schema import audit_log
from accord.intel.timestamps import now_micros

GENESIS = bytes(32)


def load_key(data_dir: str, configured: str = "") -> bytes:
    """The audit MAC key: configured (hex), else `<data_dir>/audit.key`, created on first use."""
    if configured:
        return bytes.fromhex(configured)
    path = os.path.join(data_dir, "audit.key")
    if not os.path.exists(path):
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return bytes.fromhex(fh.read().strip())


def _digest(
    key: bytes, prev: bytes, at_us: int, actor: str, source: str, action: str, target: str, detail: str
) -> bytes:
    payload = orjson.dumps([at_us, actor, source, action, target, detail])
    return hmac.new(key, prev + payload, hashlib.sha256).digest()


def record(
    conn: Connection,
    key: bytes,
    *,
    actor: str,
    action: str,
    target: str = "",
    source: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row inside the caller's write transaction (so it commits with the change)."""
    if conn.dialect.name == "postgresql":
        # Serialise appenders so two transactions cannot both chain onto the same previous row.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7310)")
    prev = conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    at_us = now_micros()
    detail_text = orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode()
    conn.execute(
        audit_log.insert().values(
            at_us=at_us,
            actor=actor,
            source=source,
            action=action,
            target=target,
            detail=detail_text,
            prev_hash=prev,
            hash=_digest(key, prev, at_us, actor, source, action, target, detail_text),
        )
    )


@dataclass
class Verdict:
    ok: bool
    rows: int
    head: str
    broken_at: int | None = None
    reason: str = ""


def rows(conn: Connection, limit: int | None = None) -> Iterator[Any]:
    query = select(audit_log).order_by(audit_log.c.id)
    if limit:
        query = query.limit(limit)
    yield from conn.execute(query)


def verify(conn: Connection, key: bytes) -> Verdict:
    """Walk the chain; the first row whose link or hash does not hold is named."""
    prev = GENESIS
    count = 0
    for row in rows(conn):
        count += 1
        if bytes(row.prev_hash) != prev:
            reason = "does not follow the previous row (a row was removed or inserted before it)"
            return Verdict(False, count, prev.hex(), row.id, reason)
        expected = _digest(key, prev, row.at_us, row.actor, row.source, row.action, row.target, row.detail)
        if bytes(row.hash) != expected:
            return Verdict(False, count, prev.hex(), row.id, "its content was changed after it was written")
        prev = expected
    return Verdict(True, count, prev.hex())
