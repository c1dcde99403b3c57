"""Response imports: one entry point (`parse_responses`) and one parser per format, for the API and the CLI.

A format is registered once (`ResponseFormat`: its name, media types, file suffixes and parser), so a new one
(xlsx) is added here and nowhere else. Parsers turn the upload into records plus the row number of each; then
`parse_responses` checks the answers against the survey (`validate_records`). An import is all or nothing:
every problem is raised together as `ImportValidationError`.

Row numbers: JSON rows are the 0-based index of the response in its list; CSV rows are spreadsheet rows (the
header is row 1); "-" means the upload as a whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from pydantic import TypeAdapter, ValidationError

from workbench.surveys import kinds
from workbench.surveys.kinds import ImportOptions
from workbench.surveys.limits import MULTI_CHOICE_SEPARATOR, forbidden_character
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError, echo, validate_records

# The raw upload (bytes or text), or for JSON also the already decoded document (a snapshot file's responses).
ImportData = bytes | str | list[Any] | dict[str, Any]
Rows = list[int | str]
Parser = Callable[[SurveyDefinition, ImportData, ImportOptions], tuple[list[ResponseRecord], Rows | None]]
MAX_SEPARATOR_LENGTH = 5


class UnsupportedFormatError(ValueError):
    """No registered format matches the media type or file name."""


@dataclass(frozen=True)
class ResponseFormat:
    """One import format: how the API (`media_types`) and the CLI (`suffixes`) recognise it, and its parser.

    `parse` returns the records and the row number of each (None: the 0-based list index); it checks only the
    shape of the upload, `parse_responses` checks the answers; `ImportOptions` carries what the import declares
    (the multi-choice separator).
    """

    name: str
    label: str  # in messages: "the CSV is not UTF-8"
    media_types: tuple[str, ...]  # the first is the one named in "send ..." messages
    suffixes: tuple[str, ...]
    parse: Parser


_FORMATS: dict[str, ResponseFormat] = {}


def register_format(fmt: ResponseFormat) -> ResponseFormat:
    """Add `fmt` to the registry; a name, media type or suffix may belong to one format only.

    Raises:
        ValueError: `fmt` claims a name, media type or suffix already registered.
    """
    for other in _FORMATS.values():
        if (fmt.name == other.name or set(fmt.media_types) & set(other.media_types)
                or set(fmt.suffixes) & set(other.suffixes)):
            raise ValueError(f"format {fmt.name!r} overlaps the registered format {other.name!r}")
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> list[str]:
    """The registered format names, in registration order."""
    return list(_FORMATS)


def resolve_format(*, media_type: str | None = None, filename: str | PurePath | None = None) -> str:
    """The format of an upload: by file suffix when it names one, else by media type.

    The suffix wins because browsers and tools label uploaded files loosely (`application/octet-stream`,
    `text/plain` for a `.json` file); the API passes both, the CLI only the file name.

    Raises:
        UnsupportedFormatError: neither the suffix nor the media type belongs to a registered format.
    """
    suffix = PurePath(filename).suffix.lower() if filename else ""
    media = (media_type or "").split(";")[0].strip().lower()
    for fmt in _FORMATS.values():
        if suffix and suffix in fmt.suffixes:
            return fmt.name
    for fmt in _FORMATS.values():
        if media and media in fmt.media_types:
            return fmt.name
    offered = " or ".join(f.media_types[0] for f in _FORMATS.values())
    suffixes = " or ".join(s for f in _FORMATS.values() for s in f.suffixes)
    if filename is not None and media_type is None:
        raise UnsupportedFormatError(f"cannot import '{PurePath(filename).name}': use a {suffixes} file")
    raise UnsupportedFormatError(f"send {offered}, not '{media or suffix or 'no content type'}'")


def issues_from_validation_error(
    exc: ValidationError, *, row: int | str | None = None, whole: str = "body"
) -> list[ImportIssue]:
    """The one translation of pydantic's errors into import issues.

    Without `row`, the model validated a list of records and each `loc` starts with the record's index, which
    becomes the row (JSON). With `row`, every error belongs to that row (a CSV row, a survey file: "-"). The rest
    of `loc` joined by dots is the field; `whole` names the field when nothing is left (the record itself).

    Args:
        exc: The error raised by pydantic.
        row: The row of every error, or None to read it from the start of each `loc`.
        whole: The field to name when an error is about the validated object as a whole.

    Returns:
        One issue per pydantic error, in pydantic's order.
    """
    issues = []
    for error in exc.errors():
        loc = list(error["loc"])
        at: int | str = "-" if row is None else row
        if row is None and loc and isinstance(loc[0], int):
            at, loc = loc[0], loc[1:]
        issues.append(ImportIssue(at, ".".join(map(str, loc)) or whole, error["msg"]))
    return issues


def parse_responses(
    definition: SurveyDefinition,
    data: ImportData,
    *,
    fmt: str,
    existing: Set[str] = frozenset(),
    separator: str = MULTI_CHOICE_SEPARATOR,
) -> list[ResponseRecord]:
    """Parse and validate an import of responses to `definition`; all or nothing.

    Args:
        definition: The survey the responses answer.
        data: The upload as bytes (decoded as UTF-8, with or without a BOM) or text; for "json" also the decoded
            document. JSON is a list of responses or `{"responses": [...]}`; CSV is described in docs/api.md.
        fmt: A registered format name (see `resolve_format`).
        existing: Respondent ids already stored for the survey; importing one again is an issue.
        separator: What separates the options in a multi-choice CSV cell (1-5 characters, default `|`).

    Returns:
        The records, answers normalised and timestamps made timezone-aware, ready to store.

    Raises:
        ImportValidationError: Any problem; its issues name row and field.
        UnsupportedFormatError: `fmt` is not registered.
    """
    try:
        spec = _FORMATS[fmt]
    except KeyError:
        raise UnsupportedFormatError(f"unknown import format {fmt!r}; known: {', '.join(_FORMATS)}") from None
    options = ImportOptions(separator=_check_separator(separator))
    if isinstance(data, bytes):
        data = _decode(data, spec.label)
    records, rows = spec.parse(definition, data, options)
    return validate_records(definition, records, rows, existing)


def _check_separator(separator: str) -> str:
    problem = forbidden_character(separator)
    if not separator.strip() or len(separator) > MAX_SEPARATOR_LENGTH or problem or any(
            c in separator for c in "\"\r\n"):
        message = (f"the multi-choice separator must be 1-{MAX_SEPARATOR_LENGTH} visible characters other than "
                   f"quotes and line breaks, got {echo(separator)}")
        raise ImportValidationError([ImportIssue("-", "separator", message)])
    return separator


def read_responses_file(
    definition: SurveyDefinition, path: Path, existing: Set[str] = frozenset(),
    separator: str = MULTI_CHOICE_SEPARATOR,
) -> list[ResponseRecord]:
    """Responses from a file whose suffix names its format (`.csv`, `.json`).

    Raises:
        ImportValidationError: Any problem in the file.
        UnsupportedFormatError: The suffix belongs to no format.
    """
    return parse_responses(definition, path.read_bytes(), fmt=resolve_format(filename=path), existing=existing,
                           separator=separator)


def read_survey_file(path: Path) -> tuple[SurveyDefinition, list[Any] | None]:
    """A survey definition file, or a snapshot-shaped file (`{"survey": ..., "responses": [...]}`).

    Returns:
        The definition and, for a snapshot file, its raw responses (pass them to `parse_responses` as "json").

    Raises:
        ImportValidationError: The file is not JSON or not a valid survey; issues have row "-".
    """
    data = _load_json(_decode(path.read_bytes(), "survey file"))
    responses = None
    if isinstance(data, dict) and isinstance(data.get("survey"), dict):
        responses = data.get("responses")
        data = {k: v for k, v in data["survey"].items() if k != "id"}  # a snapshot's survey id is not ours
    try:
        return SurveyDefinition.model_validate(data), responses
    except ValidationError as exc:
        raise ImportValidationError(issues_from_validation_error(exc, row="-", whole="survey")) from None


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: spreadsheet tools on Windows prepend a BOM
    except UnicodeDecodeError:
        raise ImportValidationError([ImportIssue("-", "body", f"the {label} is not UTF-8")]) from None


def _load_json(text: str) -> Any:
    if not text.strip():
        raise ImportValidationError([ImportIssue("-", "body", "the JSON is empty")])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise ImportValidationError([ImportIssue("-", "body", message)]) from None


# --- JSON -----------------------------------------------------------------------------------------------------

_RECORDS = TypeAdapter(list[ResponseRecord])


def _parse_json(
    definition: SurveyDefinition, data: ImportData, options: ImportOptions
) -> tuple[list[ResponseRecord], Rows | None]:
    raw = _load_json(data) if isinstance(data, str) else data
    if isinstance(raw, dict):
        raw = raw.get("responses")
    if not isinstance(raw, list):
        raise ImportValidationError([ImportIssue("-", "responses", "expected a list of responses")])
    try:
        return _RECORDS.validate_python(raw), None
    except ValidationError as exc:
        raise ImportValidationError(issues_from_validation_error(exc, whole="response")) from None


# --- CSV: optional `respondent_id`, `started_at`, `completed_at`, then one column per question key -----------
# Blank cells are "not answered"; a blank `completed_at` marks an incomplete (or unknown) response; blank or
# missing timestamps are unknown. How a cell reads is up to the question's kind (multi-choice cells list
# options separated by the import's separator).

META_COLUMNS = ("respondent_id", "started_at", "completed_at")


def _timestamp(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"must be an ISO 8601 timestamp, got {echo(raw)}") from None


def _parse_csv(
    definition: SurveyDefinition, data: ImportData, options: ImportOptions
) -> tuple[list[ResponseRecord], Rows | None]:
    if not isinstance(data, str):
        raise TypeError(f"a CSV import is text, not {type(data).__name__}")
    text = data.removeprefix("\ufeff")  # a BOM left by a plain UTF-8 decode would corrupt the first column name
    if not text.strip():
        raise ImportValidationError([ImportIssue(1, "body", "the CSV is empty")])
    # Rows are read one at a time, not with list(csv.reader(...)): that one C call would hold the GIL for seconds
    # on a large file, stalling every other thread of the API (its requests included).
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise ImportValidationError([ImportIssue("-", "body", f"not valid CSV: {exc}")]) from None
    issues: list[ImportIssue] = []
    for name in header:
        question = definition.question(name) if name not in META_COLUMNS else None
        if name not in META_COLUMNS and question is None:
            issues.append(ImportIssue(1, name, "unknown question (column)"))
        elif question is not None and (problem := kinds.get(question.type).import_problem(question, options)):
            issues.append(ImportIssue(1, name, problem))
    if len(set(header)) != len(header):
        issues.append(ImportIssue(1, "header", "a column name appears twice"))
    if issues:
        raise ImportValidationError(issues)

    records: list[ResponseRecord] = []
    numbers: Rows = []
    try:
        for number, row in enumerate(reader, start=2):
            _read_csv_row(definition, options, header, number, row, records, numbers, issues)
    except csv.Error as exc:
        raise ImportValidationError([*issues, ImportIssue(reader.line_num, "body", f"not valid CSV: {exc}")]) \
            from None
    if issues:
        raise ImportValidationError(issues)
    if not records:
        raise ImportValidationError([ImportIssue(2, "body", "the CSV has a header but no responses")])
    return records, numbers


def _read_csv_row(
    definition: SurveyDefinition, options: ImportOptions, header: list[str], number: int, row: list[str],
    records: list[ResponseRecord], numbers: Rows, issues: list[ImportIssue],
) -> None:
    """Parse one data row into `records` (with its row number in `numbers`), or its problems into `issues`."""
    if not any(cell.strip() for cell in row):
        return  # spreadsheets leave blank lines; they are not responses
    if len(row) != len(header):
        issues.append(ImportIssue(number, "row", f"has {len(row)} cells, the header has {len(header)}"))
        return
    answers: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    problems = len(issues)
    for name, raw in zip(header, row, strict=True):
        try:
            if name == "respondent_id":
                meta[name] = raw.strip() or None
            elif name in ("started_at", "completed_at"):
                meta[name] = _timestamp(raw) if raw.strip() else None
            elif raw.strip():
                question = definition.question(name)
                assert question is not None  # the header was checked
                answers[name] = kinds.get(question.type).parse_cell(question, raw.strip(), options)
        except ValueError as exc:
            issues.append(ImportIssue(number, name, str(exc)))
    if len(issues) > problems:
        return  # already reported; building the record would only repeat the issue
    try:
        records.append(ResponseRecord(**meta, answers=answers))
        numbers.append(number)
    except ValidationError as exc:
        issues.extend(issues_from_validation_error(exc, row=number))


register_format(ResponseFormat("json", "JSON", ("application/json",), (".json",), _parse_json))
# text/plain: what curl and some spreadsheet exports send for a .csv body
register_format(ResponseFormat("csv", "CSV", ("text/csv", "application/csv", "text/plain"), (".csv",), _parse_csv))
