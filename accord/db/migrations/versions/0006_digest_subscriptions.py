"""daily digests per country: subscriptions naming a contact point and a country

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digest_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=400), nullable=False),
    sa.Column('last_day', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact_point.id'], name=op.f('fk_digest_subscription_contact_id_contact_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_subscription')),
    sa.UniqueConstraint('contact_id', 'country', name='uq_digest_subscription_contact')
    )


def downgrade() -> None:
    op.drop_table('digest_subscription')
