"""Authentication: argon2 passwords, hashed API tokens, and failed-log-in limits.

Tokens look like `acc_<prefix>_<secret>`; only sha256(secret) is stored (the secret has 256 bits of
entropy, so a slow hash adds nothing and would slow every request). Failures are counted per
account and per address in the database, in one place that every authentication method passes
through, so no HTTP method or endpoint escapes the limit (MISP's brute-force bypass, DOMAIN.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, select, update

from accord.db.schema import api_token, auth_failure, membership, org, peer, user
from accord.errors import TooManyAttempts
from accord.intel.timestamps import now_micros
from accord.members.model import ALL_SCOPES, Permission, Role, Viewer, parse_collections, parse_scopes

_hasher = PasswordHasher()
TOKEN_PREFIX = "acc_"  # noqa: S105 - a format marker, not a secret


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("a password needs at least 10 characters")
    return _hasher.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        _hasher.hash("timing-equaliser")  # same cost whether or not the account has a password
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str  # shown once, never stored


def new_token_secret() -> tuple[str, str, bytes]:
    """(full token, prefix, sha256 of secret)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}{prefix}_{secret}", prefix, hashlib.sha256(secret.encode()).digest()


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    rest = token[len(TOKEN_PREFIX) :]
    prefix, sep, secret = rest.partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


class Limiter:
    """Counts failed log-ins per key within a window; past the limit every attempt gets 429."""

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window_us = window_seconds * 1_000_000

    def check(self, conn: Connection, keys: list[str]) -> None:
        since = now_micros() - self.window_us
        for key in keys:
            count = conn.execute(
                select(func.count()).where(auth_failure.c.key == key, auth_failure.c.at_us >= since)
            ).scalar_one()
            if count >= self.max_failures:
                raise TooManyAttempts("too many failed log-ins; try again later", key=key.split(":", 1)[0])

    def record(self, conn: Connection, keys: list[str]) -> None:
        now = now_micros()
        conn.execute(auth_failure.insert(), [{"key": k, "at_us": now} for k in keys])
        conn.execute(delete(auth_failure).where(auth_failure.c.at_us < now - self.window_us))


def viewer_for(
    conn: Connection, user_id: int, org_id: int | None = None, scopes: frozenset[Permission] = ALL_SCOPES
) -> Viewer:
    """The viewer for a user acting for `org_id` (default: the user's first organisation)."""
    u = conn.execute(select(user).where(user.c.id == user_id)).one()
    query = (
        select(membership.c.org_id, membership.c.role, org.c.vetted)
        .join(org, org.c.id == membership.c.org_id)
        .where(membership.c.user_id == user_id)
        .order_by(membership.c.org_id)
    )
    if org_id is not None:
        query = query.where(membership.c.org_id == org_id)
    m = conn.execute(query.limit(1)).first()
    return Viewer(
        user_id=u.id,
        email=u.email,
        org_id=m.org_id if m else None,
        org_vetted=bool(m.vetted) if m else False,
        role=Role(m.role) if m else None,
        platform_admin=bool(u.platform_admin),
        scopes=scopes,
    )


def authenticate_token(conn: Connection, token: str) -> Viewer | None:
    """The viewer a token stands for, or None if it is unknown, wrong, expired or revoked."""
    parts = split_token(token)
    if parts is None:
        return None
    prefix, secret = parts
    row = conn.execute(
        select(api_token, user.c.disabled)
        .join(user, user.c.id == api_token.c.user_id)
        .where(api_token.c.prefix == prefix)
    ).first()
    digest = hashlib.sha256(secret.encode()).digest()
    if row is None:
        return _peer_by_token(conn, prefix, digest)
    if not hmac.compare_digest(row.secret_hash, digest):
        return None
    now = now_micros()
    if row.revoked_us is not None or row.disabled or (row.expires_us is not None and row.expires_us <= now):
        return None
    member = conn.execute(
        select(membership.c.role).where(
            membership.c.user_id == row.user_id, membership.c.org_id == row.org_id
        )
    ).first()
    if member is None:  # no longer a member of the organisation the token was made for
        return None
    viewer = viewer_for(conn, row.user_id, row.org_id, parse_scopes(row.scopes))
    return replace(viewer, collections=parse_collections(row.collections))


def _peer_by_token(conn: Connection, prefix: str, digest: bytes) -> Viewer | None:
    row = conn.execute(
        select(peer.c.id, peer.c.in_token_hash, peer.c.enabled).where(peer.c.in_token_prefix == prefix)
    ).first()
    if row is None or row.in_token_hash is None or not row.enabled:
        return None
    if not hmac.compare_digest(row.in_token_hash, digest):
        return None
    return peer_viewer(conn, int(row.id))


def peer_viewer(conn: Connection, peer_id: int) -> Viewer:
    """The viewer a peer node is: its system user acting for the node's organisation, representing
    every organisation the node hosts. It may read and submit intelligence, never administer."""
    p = conn.execute(select(peer).where(peer.c.id == peer_id)).one()
    hosted = set(conn.execute(select(org.c.id).where(org.c.node == p.name)).scalars())
    return Viewer(
        user_id=p.user_id,
        email=f"peer:{p.name}",
        org_id=p.org_id,
        org_vetted=True,
        role=Role.ANALYST,
        scopes=frozenset({Permission.INTEL_READ, Permission.INTEL_WRITE}),
        peer_id=p.id,
        represents=frozenset(hosted | {p.org_id}),
        community=bool(p.community),
    )


def touch_token(conn: Connection, token: str) -> None:
    parts = split_token(token)
    if parts:
        conn.execute(
            update(api_token).where(api_token.c.prefix == parts[0]).values(last_used_us=now_micros())
        )


def authenticate_password(conn: Connection, email: str, password: str) -> int | None:
    """The user id if the password is right and the account enabled, else None."""
    row = conn.execute(
        select(user.c.id, user.c.password_hash, user.c.disabled).where(user.c.email == email.strip().lower())
    ).first()
    ok = check_password(row.password_hash if row else None, password)
    if row is None or not ok or row.disabled:
        return None
    return int(row.id)
