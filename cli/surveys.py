"""`workbench survey ...`: import, export and list surveys."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, err, fail, sessions_for
from workbench.config import get_settings

app = typer.Typer(help="Surveys and responses.", no_args_is_help=True)


@app.command("import")
def survey_import(
    survey_file: Annotated[Path, typer.Argument(help="Survey definition JSON, or a snapshot file with responses",
                                                exists=True, dir_okay=False)],
    responses: Annotated[Path | None, typer.Option(help="Responses as .csv or .json", exists=True,
                                                   dir_okay=False)] = None,
    separator: Annotated[str, typer.Option(help="What separates the options of a multi-choice cell in a CSV")] = "|",
) -> None:
    """Create a survey (and import its responses) straight into the database; prints the survey id."""
    from workbench.storage import surveys as store
    from workbench.storage.db import transaction
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.imports import (
        UnsupportedFormatError,
        parse_responses,
        read_responses_file,
        read_survey_file,
    )
    from workbench.surveys.validation import ImportValidationError

    settings = get_settings()
    try:
        definition, inline = read_survey_file(survey_file)
        # An exported survey without responses has `"responses": []`: nothing to import, not an error.
        records = parse_responses(definition, inline, fmt="json") if inline not in (None, []) else []
        if responses is not None:
            records += read_responses_file(definition, responses, {r.respondent_id for r in records
                                                                    if r.respondent_id}, separator=separator)
    except UnsupportedFormatError as exc:
        raise fail(str(exc)) from None
    except ImportValidationError as exc:
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, markup=False)
        raise fail(f"nothing imported: {exc.total} problem(s) in the input") from None
    with transaction(sessions_for(settings)) as session:
        survey = store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        if records:
            store.add_responses(session, survey_id=survey.id, records=records)
    console.print(f"survey {survey.id} '{definition.title}': {len(records)} responses imported",
                  highlight=False, markup=False)


@app.command("export")
def survey_export(
    survey_id: Annotated[uuid.UUID, typer.Argument(help="The survey to export (see `workbench survey list`)")],
    out: Annotated[Path | None, typer.Option(help="File to write (default: <survey_id>.json here)",
                                             dir_okay=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the file if it exists")] = False,
) -> None:
    """Write the survey and its responses as a snapshot file, for a notebook's `snapshot_path` parameter."""
    from workbench.storage import surveys as store
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID

    path = out or Path(f"{survey_id}.json")
    with sessions_for(get_settings())() as session:
        survey = store.get_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
        if survey is None:
            raise fail(f"survey {survey_id} not found")
        snapshot = store.build_snapshot(session, survey=survey)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x" refuses an existing file at the moment of writing, not just when checked
        with path.open("w" if force else "x", encoding="utf-8") as f:
            f.write(snapshot.model_dump_json())
    except FileExistsError:
        raise fail(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    console.print(f"wrote {len(snapshot.responses)} responses to {path}", highlight=False, markup=False)


@app.command("list")
def survey_list() -> None:
    """List surveys with their response counts."""
    from workbench.storage import surveys as store
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID

    with sessions_for(get_settings())() as session:
        for s in store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID):
            total, completed = store.count_responses(session, survey_id=s.id)
            console.print(f"{s.id}  {s.title}  ({total} responses, {completed} completed)",
                          highlight=False, markup=False)
