"""`workbench survey ...`: import, export and list surveys."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, err, fail, sessions_for
from workbench.config import get_settings

app = typer.Typer(help="Surveys and responses.", no_args_is_help=True)


PROGRESS_BYTES = 1024 * 1024  # files larger than this show a progress bar on a terminal


@app.command("import")
def survey_import(
    source: Annotated[Path, typer.Argument(
        help="Survey definition JSON, or a snapshot file with responses; with a --map file that holds the survey "
             "(and no --responses): the responses file", exists=True, dir_okay=False)],
    responses: Annotated[Path | None, typer.Option(help="Responses as .csv or .json", exists=True,
                                                   dir_okay=False)] = None,
    map_file: Annotated[Path | None, typer.Option(
        "--map", help="Mapping JSON (see `workbench survey infer`): the survey, raw header -> question key, options",
        exists=True, dir_okay=False)] = None,
    separator: Annotated[str | None, typer.Option(
        help="What separates the options of a multi-choice cell in a CSV (default: the mapping's, else |)")] = None,
    on_duplicate: Annotated[str | None, typer.Option(
        "--on-duplicate", help="A respondent id twice in the file: reject (default) or keep-last")] = None,
    date_format: Annotated[str | None, typer.Option(
        help="strptime format of started_at/completed_at cells that are not ISO 8601, e.g. '%m/%d/%Y %H:%M'")] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Show progress bars (default: on a terminal, for files over 1 MB)")] = None,
) -> None:
    """Create a survey and import its responses straight into the database, in one transaction; prints its id.

    `workbench survey import --map mapping.json export.csv` imports a raw export through its mapping; nothing is
    stored when any response is rejected.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workbench.storage import surveys as store
    from workbench.storage.db import transaction
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.imports import (
        UnsupportedFormatError,
        parse_responses,
        read_survey_file,
        resolve_format,
    )
    from workbench.surveys.mapping import ON_DUPLICATE, read_mapping_file
    from workbench.surveys.validation import ImportValidationError

    if on_duplicate is not None and on_duplicate not in ON_DUPLICATE:
        raise fail(f"--on-duplicate must be {' or '.join(ON_DUPLICATE)}, not {on_duplicate!r}")
    settings = get_settings()
    try:
        mapping = read_mapping_file(map_file) if map_file is not None else None
        data_file: Path | None
        if mapping is not None and mapping.survey is not None and responses is None:
            definition, inline, data_file = mapping.survey, None, source
        else:
            definition, inline = read_survey_file(source)
            data_file = responses
        fmt = resolve_format(filename=data_file) if data_file is not None else None
        show = progress if progress is not None else (
            err.is_terminal and data_file is not None and data_file.stat().st_size > PROGRESS_BYTES)
        bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, disable=not show, transient=False)
        with bars:
            # An exported survey without responses has `"responses": []`: nothing to import, not an error.
            records = (parse_responses(definition, inline, fmt="json", on_duplicate=on_duplicate)
                       if inline not in (None, []) else [])
            if data_file is not None and fmt is not None:
                with data_file.open("rb") as raw:
                    reader = bars.wrap_file(raw, total=data_file.stat().st_size, description="reading")
                    records += parse_responses(
                        definition, reader, fmt=fmt, mapping=mapping,
                        existing={r.respondent_id for r in records if r.respondent_id}, separator=separator,
                        on_duplicate=on_duplicate, date_format=date_format)
            storing = bars.add_task("storing", total=len(records))
            with transaction(sessions_for(settings)) as session:
                survey = store.create_survey_with_responses(
                    session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition, records=records,
                    progress=lambda done: bars.update(storing, completed=done))
    except UnsupportedFormatError as exc:
        raise fail(str(exc)) from None
    except ImportValidationError as exc:
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, markup=False)
        more = f" (the first {len(exc.issues)} shown)" if exc.total > len(exc.issues) else ""
        raise fail(f"nothing imported: {exc.total} problem(s) in the input{more}") from None
    except OSError as exc:
        raise fail(f"cannot read {exc.filename or 'the input'}: {exc.strerror or exc}") from None
    console.print(f"survey {survey.id} '{definition.title}': {len(records)} responses imported",
                  highlight=False, markup=False)


@app.command("infer")
def survey_infer(
    file: Annotated[Path, typer.Argument(help="A raw CSV export (any headers)", exists=True, dir_okay=False)],
    out: Annotated[Path | None, typer.Option(
        help="Mapping file to write (default: <FILE stem>.mapping.json here)", dir_okay=False)] = None,
    separator: Annotated[str, typer.Option(help="What separates the entries of a multi-select cell")] = "|",
    title: Annotated[str | None, typer.Option(help="The survey title (default: from the file name)")] = None,
    encoding: Annotated[str, typer.Option(help="The file's text encoding")] = "utf-8",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the mapping file if it exists")] = False,
) -> None:
    """Propose a survey definition and column mapping from a raw export, to edit and then import with --map.

    Keys come from the headers, kinds from the values (scales, NPS, choices, multi-select, Likert labels, dates,
    free text, an id column); the table shows each guess and why a close call went the way it did.
    """
    import json

    from rich.table import Table

    from workbench.surveys.infer import infer_mapping

    path = out or Path(f"{file.stem}.mapping.json")
    try:
        inference = infer_mapping(file, separator=separator, title=title, encoding=encoding)
    except (ValueError, LookupError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    table = Table(title=f"{file.name}: proposed questions")
    wide = max(10, min(36, (console.width - 52) // 2))  # what #, kind, detail and the borders leave
    table.add_column("#", justify="right", min_width=4, no_wrap=True)
    table.add_column("header", overflow="ellipsis", max_width=wide, no_wrap=True)
    table.add_column("maps to", overflow="ellipsis", max_width=wide, no_wrap=True)
    table.add_column("kind", min_width=13, no_wrap=True)
    table.add_column("detail", min_width=11, no_wrap=True)
    for g in inference.columns:
        table.add_row(str(g.position) + (" *" if g.note else ""), " ".join(g.header.split()) or "(blank)",
                      g.target or "(ignored)", g.kind or "", g.detail)
    console.print(table, markup=False, highlight=False)
    for g in inference.columns:
        if g.note:  # the notes are also in the file's "notes", for whoever edits it
            console.print(f"  * column {g.position}: {g.note}", markup=False, highlight=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w" if force else "x", encoding="utf-8") as f:
            json.dump(inference.mapping, f, indent=2, ensure_ascii=False)
            f.write("\n")
    except FileExistsError:
        raise fail(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    questions = len(inference.mapping["survey"]["questions"])
    console.print(f"wrote {path}: {questions} questions; edit it, then run "
                  f"`workbench survey import --map {path} {file}`", highlight=False, markup=False)


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
