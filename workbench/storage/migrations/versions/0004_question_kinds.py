"""question kinds: questions.config, rating -> scale 1-5, optional response start times

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Upgrade: `questions.config` (JSON) holds each kind's extra fields (min, max, labels, format) and required_if;
stored `rating` questions become `scale` questions from 1 to 5; `responses.started_at` may be NULL (unknown).
Snapshots in `report_snapshots.data` are left as they are: the schema reads `type: rating` as a 1-5 scale.

Downgrade works while every question still fits the old types (a `scale` must be exactly 1-5 with no labels,
nothing else may use `config`) and every response has a start time; otherwise it stops and says what is in
the way, before changing anything. Snapshots taken after the upgrade keep `scale` and would not load in 0003.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
RATING_CONFIG = {"min": 1, "max": 5}
OLD_TYPES = ("nps", "rating", "single_choice", "multi_choice", "text")

questions = sa.table(
    "questions", sa.column("id", sa.Integer()), sa.column("type", sa.String(30)), sa.column("config", JSONType),
)
responses = sa.table("responses", sa.column("started_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config', JSONType, nullable=True))
    op.execute(questions.update().where(questions.c.type == "rating").values(type="scale", config=RATING_CONFIG))
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.alter_column('started_at', existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(questions.c.id, questions.c.type, questions.c.config)).all()
    ratings = [row.id for row in rows if row.type == "scale" and row.config == RATING_CONFIG]
    stuck = [row for row in rows if row.id not in ratings and (row.type not in OLD_TYPES or row.config)]
    untimed = bind.execute(sa.select(sa.func.count()).select_from(responses)
                           .where(responses.c.started_at.is_(None))).scalar_one()
    if stuck or untimed:
        kinds = sorted({row.type for row in stuck})
        raise RuntimeError(
            f"cannot downgrade below 0004: {len(stuck)} question(s) use kinds or fields 0003 cannot hold "
            f"({', '.join(kinds) or 'conditions or labels'}) and {untimed} response(s) have no started_at; "
            "delete or convert them first")
    if ratings:
        op.execute(questions.update().where(questions.c.id.in_(ratings)).values(type="rating"))
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.alter_column('started_at', existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_column('config')
