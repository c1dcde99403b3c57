"""rendered documents and downloads: report_documents, report_downloads

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

Upgrade: `report_documents` keeps a finished report's PDF per template version (the first download renders it,
later ones are served from storage); `report_downloads` records every download (report, kind, who, when,
whether it was served from storage). Downgrade drops both: cached PDFs are rendered again on demand, the
download history is lost.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('report_documents',
    sa.Column('report_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('template_version', sa.String(length=40), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('render_seconds', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['generated_reports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'kind', 'template_version')
    )
    op.create_table('report_downloads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('who', sa.String(length=200), nullable=True),
    sa.Column('cached', sa.Boolean(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['generated_reports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_downloads_report_id'), ['report_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_downloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_downloads_report_id'))
    op.drop_table('report_downloads')
    op.drop_table('report_documents')
