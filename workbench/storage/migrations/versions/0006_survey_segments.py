"""declared segment questions: surveys.segments

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Upgrade: `surveys.segments` (JSON, nullable) holds the keys of the survey's declared segment questions
(`SurveyDefinition.segments`); existing surveys declare none (NULL). Downgrade drops the column, and with it the
declarations: reports then compare by the segments they name.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segments', JSONType, nullable=True))


def downgrade() -> None:
    # recreate="never": rebuilding `surveys` on SQLite would drop a table that questions, responses and reports
    # reference; SQLite (3.35+) drops a plain column in place, as PostgreSQL does.
    with op.batch_alter_table('surveys', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('segments')
