"""reruns: generated_reports.run_number

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

Upgrade: a report counts its runs (0 for the first; a rerun of a component counts one up), so the workflow of
its current run can be found (`<report id>` for the first, `<report id>.rerun-<n>` after). Existing reports get
0. Downgrade drops the column (the workflows of reruns are then no longer found by the sweep).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_number', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.drop_column('run_number')
