"""schedules: report_schedules; generated_reports.schedule_id, schedule_run

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Upgrade: a recurring report (`POST /api/v1/schedules`) is a `report_schedules` row: its organization and survey
(so lists and reads are scoped to the organization, and deleting the survey stops it), when it runs (a cron
expression or an interval, in a time zone), what it runs (components, parameters) and whether it is paused; the
Temporal Schedule that fires it has the row's id. Each report a schedule makes names it (`schedule_id`) and the
scheduled run that made it (`schedule_run`, the run's workflow id; unique together: one report per run, however
often its step is retried). Existing reports get NULLs. `schedule_id` has no foreign key: SQLite cannot add one to
`generated_reports` without rebuilding the table every report table references. Downgrade drops them.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('report_schedules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('survey_id', sa.Uuid(), nullable=False),
    sa.Column('cron', sa.String(length=200), nullable=True),
    sa.Column('interval_seconds', sa.Integer(), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('component_names', JSONType, nullable=False),
    sa.Column('parameters', JSONType, nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_schedules_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_schedules_survey_id'), ['survey_id'], unique=False)
    # Plain column additions and an index: done in place on SQLite too (no table rebuild).
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('schedule_run', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_generated_reports_schedule_run', ['schedule_id', 'schedule_run'], unique=True)


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops plain columns in place, as PostgreSQL does; rebuilding
    # generated_reports would touch every table that references it.
    with op.batch_alter_table('generated_reports', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_generated_reports_schedule_run')
        batch_op.drop_column('schedule_run')
        batch_op.drop_column('schedule_id')
    with op.batch_alter_table('report_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_schedules_survey_id'))
        batch_op.drop_index(batch_op.f('ix_report_schedules_organization_id'))
    op.drop_table('report_schedules')
