"""report parameters and component provenance

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    # Reports made before this revision asked for no parameters: an empty object, not NULL.
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parameters', JSONType, nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table('report_components', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provenance', JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report_components', schema=None) as batch_op:
        batch_op.drop_column('provenance')
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.drop_column('parameters')
