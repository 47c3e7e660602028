"""stix_object: the severity and confidence an object states, as columns read once at ingest

Routing's rules (`min_severity`, `min_confidence`) used to find them by scanning every routed
object's JSON; now ingest writes them beside the object (accord/intel/severity.py), and this
migration fills them in for the objects already stored: only objects whose JSON mentions either
word can state one, and those are read a chunk at a time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import orjson
import sqlalchemy as sa
from alembic import op

from accord.intel.severity import confidence_of, severity_of

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHUNK = 5_000


def upgrade() -> None:
    op.add_column("stix_object", sa.Column("severity", sa.SmallInteger(), nullable=True))
    op.add_column("stix_object", sa.Column("confidence", sa.SmallInteger(), nullable=True))
    bind = op.get_bind()
    objects = sa.table(
        "stix_object", sa.column("pk"), sa.column("content"), sa.column("severity"), sa.column("confidence")
    )
    mentions = sa.or_(objects.c.content.contains("severity"), objects.c.content.contains("confidence"))
    after = 0
    while True:
        rows = bind.execute(
            sa.select(objects.c.pk, objects.c.content)
            .where(objects.c.pk > after, mentions)
            .order_by(objects.c.pk)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        after = rows[-1].pk
        stated = []
        for pk, content in rows:
            obj = orjson.loads(content)
            severity, confidence = severity_of(obj), confidence_of(obj)
            if severity is not None or confidence is not None:
                stated.append({"key": pk, "severity": severity, "confidence": confidence})
        if stated:
            bind.execute(
                objects.update()
                .where(objects.c.pk == sa.bindparam("key"))
                .values(severity=sa.bindparam("severity"), confidence=sa.bindparam("confidence")),
                stated,
            )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place on both engines (SQLite 3.35+): no table rebuild, so no
    # foreign key pointing at stix_object is disturbed.
    op.execute("ALTER TABLE stix_object DROP COLUMN confidence")
    op.execute("ALTER TABLE stix_object DROP COLUMN severity")
