"""notification delivery: the objects delivered to TAXII contact points

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_object',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('stix_id', sa.String(length=300), nullable=False),
    sa.Column('notification_id', sa.BigInteger(), nullable=False),
    sa.Column('added_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact_point.id'], name=op.f('fk_notification_object_contact_id_contact_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'stix_id', name=op.f('pk_notification_object'))
    )


def downgrade() -> None:
    op.drop_table('notification_object')
