"""abuse_count_pending: routing appends its counts, and folds them into abuse_count later

A routing batch used to upsert its thousands of (day, country, AS, kind, audience) counts into
abuse_count, which costs PostgreSQL about 15 µs a row; now it appends them to this table, and the
end of each routing run folds the rows of past days into abuse_count (one row per key). Readers
sum both. Downgrade folds every pending row back into abuse_count first, so no count is lost.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abuse_count_pending",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("audience_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=True),
        sa.Column("value_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_abuse_count_pending_day", "abuse_count_pending", ["day", "country"], unique=False)


def downgrade() -> None:
    # The fold of every pending row (as accord.routing.service.fold_counts does it), then the table.
    key = "day, country, asn, kind, audience_id"
    names = f"{key}, operator, value_count"
    op.execute(
        f"INSERT INTO abuse_count ({names}) SELECT {key}, max(operator), sum(value_count) "
        f"FROM abuse_count_pending WHERE true GROUP BY {key} "
        f"ON CONFLICT ({key}) DO UPDATE SET value_count = abuse_count.value_count + excluded.value_count, "
        "operator = coalesce(excluded.operator, abuse_count.operator)"
    )
    op.drop_index("ix_abuse_count_pending_day", table_name="abuse_count_pending")
    op.drop_table("abuse_count_pending")
