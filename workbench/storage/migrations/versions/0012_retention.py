"""retention and deletion: organizations.retention_days, llm_usage.cache_key, embedding_purges

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Upgrade: an organization may keep its reports for `retention_days` days (NULL: forever; the workers' sweep purges
older ones); each token-ledger row records the reply-cache key it used or filled (`cache_key`), so deleting a
survey or a report also deletes the model replies computed from its answers; `embedding_purges` lists the
embedding-cache keys (sha256 of answer texts) of deleted surveys, which every worker removes from its own on-disk
cache during its sweep. Existing ledger rows have no cache key: the replies they refer to cannot be attributed.
Downgrade drops the three.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('llm_usage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cache_key', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_llm_usage_cache_key'), ['cache_key'], unique=False)
    op.create_table('embedding_purges',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('embedding_purges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_embedding_purges_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('embedding_purges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_embedding_purges_created_at'))
    op.drop_table('embedding_purges')
    with op.batch_alter_table('llm_usage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_usage_cache_key'))
        batch_op.drop_column('cache_key')
    # recreate="never": rebuilding `organizations` on SQLite would drop a table every other one references; SQLite
    # (3.35+) drops a plain column in place, as PostgreSQL does.
    with op.batch_alter_table('organizations', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('retention_days')
