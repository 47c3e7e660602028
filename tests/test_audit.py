"""The audit log: every write is recorded; changing, inserting or removing any row is detected."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from stix_factory import ip_indicator, parsed

from accord import audit
from accord.db.schema import audit_log
from accord.intel.tlp import TLP

pytestmark = pytest.mark.store


@pytest.fixture
def logged(alliance: Any) -> Any:
    alliance.org("A", country="AR")
    alliance.org("B", country="BR")
    alliance.user("a@a.example", "A")
    alliance.group("g", "A", ["B"])
    alliance.token("a@a.example")
    alliance.app.submit(alliance.viewer("a@a.example"), parsed([ip_indicator("192.0.2.1", TLP.GREEN)]))
    return alliance.app


def test_writes_and_admin_actions_are_recorded(logged: Any) -> None:
    with logged.db.read() as conn:
        actions = [r.action for r in audit.rows(conn)]
    assert actions == ["org.add", "org.add", "user.add", "group.add", "token.create", "intel.submit"]
    with logged.db.read() as conn:
        submit_row = list(audit.rows(conn))[-1]
    assert submit_row.actor == "user:a@a.example" and submit_row.source == "cli"
    assert '"stored":1' in submit_row.detail
    assert logged.verify_audit().ok


def _ids(app: Any) -> list[int]:
    with app.db.read() as conn:
        return list(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id)).scalars())


@pytest.mark.parametrize("column", ["actor", "action", "target", "detail", "source"])
def test_changed_row_is_named(logged: Any, column: str) -> None:
    victim = _ids(logged)[2]
    with logged.db.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == victim).values({column: "tampered"}))
    verdict = logged.verify_audit()
    assert not verdict.ok and verdict.broken_at == victim


def test_changed_time_is_named(logged: Any) -> None:
    victim = _ids(logged)[1]
    with logged.db.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == victim).values(at_us=audit_log.c.at_us + 1))
    assert logged.verify_audit().broken_at == victim


def test_removed_row_is_detected_at_its_successor(logged: Any) -> None:
    ids = _ids(logged)
    with logged.db.write() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == ids[3]))
    verdict = logged.verify_audit()
    assert not verdict.ok and verdict.broken_at == ids[4]


def test_inserted_row_is_detected(logged: Any) -> None:
    with logged.db.write() as conn:
        last = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()
        # A forger without the key copies a real row's link and hash: still caught.
        conn.execute(
            insert(audit_log).values(
                at_us=last.at_us + 1,
                actor="user:mallory",
                source="x",
                action="org.add",
                target="org:evil",
                detail="{}",
                prev_hash=last.hash,
                hash=last.hash,
            )
        )
    verdict = logged.verify_audit()
    assert not verdict.ok and verdict.broken_at == _ids(logged)[-1]


def test_rewritten_chain_without_the_key_is_detected(logged: Any) -> None:
    """Someone with database access but not the key recomputes every hash: the MAC gives them away."""
    import hashlib

    import orjson

    with logged.db.write() as conn:
        rows = list(conn.execute(select(audit_log).order_by(audit_log.c.id)))
        prev = audit.GENESIS
        for r in rows:
            actor = "user:mallory" if r.id == rows[1].id else r.actor
            payload = orjson.dumps([r.at_us, actor, r.source, r.action, r.target, r.detail])
            new_hash = hashlib.sha256(prev + payload).digest()
            conn.execute(
                update(audit_log)
                .where(audit_log.c.id == r.id)
                .values(actor=actor, prev_hash=prev, hash=new_hash)
            )
            prev = new_hash
    verdict = logged.verify_audit()
    assert not verdict.ok and verdict.broken_at == rows[0].id
