"""import options: import_jobs.options

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Upgrade: `import_jobs.options` (JSON, nullable) holds what a background import declared besides its upload (the
column mapping, multi-choice separator, timestamp format, what to do with duplicate respondent ids), so a job
resumed after a restart imports exactly as requested. Existing jobs declared nothing (NULL: the defaults).
Downgrade drops the column; a job still queued then would run with the defaults, so finish jobs first.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('options', JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('options')
