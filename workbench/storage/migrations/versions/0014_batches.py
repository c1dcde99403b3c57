"""batches: report_batches; generated_reports.batch_id, batch_index, segment_filter

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Upgrade: a batch of reports (`POST /api/v1/report-batches`: several surveys, or one survey split by a segment
question) is a `report_batches` row listing its items; each report it makes names the batch and its item
(`batch_id`, `batch_index`, unique together) and, for a per-segment report, the responses its snapshot keeps
(`segment_filter`). Existing reports get NULLs (asked alone, every response). `batch_id` has no foreign key: SQLite
cannot add one to `generated_reports` without rebuilding the table every report table references. Downgrade drops
them.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('report_batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('items', JSONType, nullable=False),
    sa.Column('split_by', sa.String(length=63), nullable=True),
    sa.Column('component_names', JSONType, nullable=False),
    sa.Column('parameters', JSONType, nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('item_errors', JSONType, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_batches_organization_id'), ['organization_id'], unique=False)
    # Plain column additions and an index: done in place on SQLite too (no table rebuild).
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('batch_index', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('segment_filter', JSONType, nullable=True))
        batch_op.create_index('ix_generated_reports_batch_item', ['batch_id', 'batch_index'], unique=True)


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops plain columns in place, as PostgreSQL does; rebuilding
    # generated_reports would touch every table that references it.
    with op.batch_alter_table('generated_reports', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_generated_reports_batch_item')
        batch_op.drop_column('segment_filter')
        batch_op.drop_column('batch_index')
        batch_op.drop_column('batch_id')
    with op.batch_alter_table('report_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_batches_organization_id'))
    op.drop_table('report_batches')
