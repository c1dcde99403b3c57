"""`workbench survey-delete` and `workbench retention ...`: delete a survey with everything derived from it, and
keep an organization's reports only so long (docs/data-retention.md)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import console, fail, sessions_for
from workbench.config import get_settings

if TYPE_CHECKING:
    from workbench.storage.deletion import DeletionSummary

retention_app = typer.Typer(help="How long each organization's reports are kept.", no_args_is_help=True)

FOREVER = ("none", "forever", "never")


def _database_error(exc: Exception) -> typer.Exit:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        return fail(f"the database failed: {str(exc).splitlines()[0]}", code=1)
    raise exc


def _print_counts(summary: DeletionSummary) -> None:
    if not summary.counts:
        console.print("  no rows")
    for table, rows in sorted(summary.counts.items()):
        console.print(f"  {table}: {rows}")
    console.print(f"  files removed: {summary.files_removed}, embedding-cache entries removed: "
                  f"{summary.embeddings_removed}")


def survey_delete(
    survey_id: Annotated[str, typer.Argument(help="The survey's id")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the survey and everything derived from it go for good")]
    = False,
    org: Annotated[str | None, typer.Option(
        help="The organization's slug the survey must belong to (default: the survey's own)")] = None,
) -> None:
    """Delete a survey with its responses, imports, reports (snapshots, results, PDFs, downloads, webhook
    deliveries, token ledger, cached model replies) and their files; refused while a report of it is running."""
    from sqlalchemy import select

    from workbench.storage import deletion
    from workbench.storage.models import Organization, Survey

    try:
        parsed = uuid.UUID(survey_id)
    except ValueError:
        raise fail(f"{survey_id!r} is not a survey id (a UUID)") from None
    if not yes:
        raise fail("deleting a survey cannot be undone: repeat the command with --yes")
    settings = get_settings()
    sessions = sessions_for(settings)
    try:
        with sessions() as session:
            owner = session.scalar(select(Survey.organization_id).where(Survey.id == parsed))
            wanted = session.scalar(select(Organization.id).where(Organization.slug == org)) if org else owner
        if org and wanted is None:
            raise fail(f"organization {org!r} not found")
        if owner is None or wanted != owner:
            raise fail(f"survey {parsed} not found" + (f" in organization {org!r}" if org else ""))
        summary = deletion.delete_survey_and_files(sessions, settings.data_dir, organization_id=owner,
                                                   survey_id=parsed)
    except deletion.SurveyNotFound as exc:
        raise fail(str(exc)) from None
    except deletion.SurveyBusy as exc:
        raise fail(str(exc), code=1) from None
    except typer.Exit:
        raise
    except Exception as exc:
        raise _database_error(exc) from None
    console.print(f"deleted survey {parsed} and {len(summary.report_ids)} report(s):")
    _print_counts(summary)


def _days(value: str) -> int | None:
    if value.strip().lower() in FOREVER:
        return None
    try:
        days = int(value)
    except ValueError:
        raise fail(f"--days must be a whole number of days or 'none' (keep forever), not {value!r}") from None
    if days < 1:
        raise fail(f"--days must be at least 1 (or 'none' to keep reports forever), not {days}")
    return days


@retention_app.command("set")
def retention_set(
    org: Annotated[str, typer.Option(help="The organization's slug")],
    days: Annotated[str, typer.Option(help="Keep reports this many days, or 'none' to keep them forever")],
) -> None:
    """Set how long the organization's reports are kept; the workers' sweep purges older ones."""
    from workbench.storage import deletion
    from workbench.storage.db import transaction

    kept = _days(days)
    try:
        with transaction(sessions_for(get_settings())) as session:
            deletion.set_retention(session, slug=org, days=kept)
    except (LookupError, ValueError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise _database_error(exc) from None
    console.print(f"organization {org!r}: reports are kept "
                  + ("forever" if kept is None else f"{kept} day(s), then purged"))


@retention_app.command("show")
def retention_show() -> None:
    """Each organization's retention."""
    from sqlalchemy import select

    from workbench.storage.models import Organization

    try:
        with sessions_for(get_settings())() as session:
            rows = session.execute(select(Organization.slug, Organization.retention_days)
                                   .order_by(Organization.slug)).all()
    except Exception as exc:
        raise _database_error(exc) from None
    for slug, days in rows:
        console.print(f"{slug}: " + ("forever" if days is None else f"{days} day(s)"), highlight=False)


@retention_app.command("purge")
def retention_purge() -> None:
    """Purge now the reports older than their organization's retention (the workers' sweep does it too)."""
    from workbench.storage import deletion
    from workbench.storage.models import utcnow

    settings = get_settings()
    try:
        summary = deletion.run_retention(sessions_for(settings), settings.data_dir, now=utcnow())
    except Exception as exc:
        raise _database_error(exc) from None
    console.print(f"purged {len(summary.report_ids)} report(s) past their retention:")
    _print_counts(summary)
