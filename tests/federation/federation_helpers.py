"""Helpers for the federation tests: read what peers sent, and the state they left."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from accord.db.schema import peer, stix_object
from accord.members.auth import peer_viewer


def peer_row(app: Any, name: str) -> Any:
    with app.db.read() as conn:
        return conn.execute(select(peer).where(peer.c.name == name)).one()


def rows_from(app: Any, name: str) -> list[Any]:
    """Every stored version a peer sent, oldest first."""
    user_id = peer_row(app, name).user_id
    with app.db.read() as conn:
        return list(
            conn.execute(
                select(stix_object)
                .where(stix_object.c.submitter_user_id == user_id)
                .order_by(stix_object.c.pk)
            )
        )


def count_all(app: Any) -> int:
    with app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(stix_object)).scalar_one())


def make_world(alliance: Any) -> Any:
    """A home alliance: two organisations, one analyst in each (each test module's `world`)."""
    alliance.org("CERT Home", "csirt", "PL")
    alliance.org("CERT Other", "csirt", "DE")
    alliance.user("ana@home.example", "CERT Home")
    alliance.user("otto@other.example", "CERT Other")
    return alliance


def viewer_of(app: Any, name: str) -> Any:
    """The viewer a peer is when it presents its node token."""
    with app.db.read() as conn:
        return peer_viewer(conn, peer_row(app, name).id)


def prov(
    recipients: list[str] | None = None, producer: str = "CERT-A", node: str = "alpha"
) -> dict[str, Any]:
    """One `x_accord_provenance` entry, as an Accord peer sends it."""
    return {
        "producer": producer,
        "producer_node": node,
        "producer_country": "fr",
        "recipients": recipients or [],
    }
