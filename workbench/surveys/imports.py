"""Response imports: one entry point (`parse_responses`) and one parser per format, for the API and the CLI.

A format is registered once (`ResponseFormat`: its name, media types, file suffixes and parser), so a new one
(xlsx) is added here and nowhere else. Parsers turn the upload into records plus the row number of each; then
`parse_responses` checks the answers against the survey and the respondent ids (`check_records`). An import is all
or nothing, and every problem is reported in one pass: header, cell and answer problems together, in row order,
raised as one `ImportValidationError` (capped, with the count of the rest).

Raw exports are read through an `ImportMapping` (`workbench.surveys.mapping`): which raw column answers which
question, the multi-choice separator, a timestamp format, what to do with a respondent id seen twice.

Row numbers: JSON rows are the 0-based index of the response in its list; CSV rows are spreadsheet rows (the
header is row 1); "-" means the upload as a whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import IO, Any, cast

from pydantic import TypeAdapter, ValidationError

from workbench.surveys import kinds
from workbench.surveys.kinds import ImportOptions
from workbench.surveys.limits import echo
from workbench.surveys.mapping import (
    MAX_SEPARATOR_LENGTH,  # noqa: F401 (re-exported: its former home)
    META_COLUMNS,  # noqa: F401 (re-exported: its former home)
    ON_DUPLICATE,
    ImportMapping,
    date_format_problem,
    resolve_columns,
    separator_problem,
)
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError, validate_record

# The raw upload (bytes, text or an open binary file, read as a stream), or for JSON also the already decoded
# document (a snapshot file's responses).
ImportData = bytes | str | list[Any] | dict[str, Any] | IO[bytes]
Rows = list[int | str]
Parser = Callable[[SurveyDefinition, ImportData, ImportOptions], tuple[list[ResponseRecord], Rows | None]]


@dataclass(frozen=True)
class ImportSettings(ImportOptions):
    """Everything one import declares, handed to the parser (cell parsers only read `separator`).

    Attributes:
        mapping: The column mapping and options (`ImportMapping`); its `separator` is already in `separator`.
        date_format: A strptime format for timestamps that are not ISO 8601.
        encoding: The upload's text encoding.
    """

    mapping: ImportMapping = field(default_factory=ImportMapping)
    date_format: str | None = None
    encoding: str = "utf-8"


class RowProblems(ImportValidationError):
    """Raised by a parser that found problems but could still read some records: `parse_responses` checks those
    too, so one pass reports everything. `found` holds every issue (`issues` only the first few)."""

    def __init__(self, issues: list[ImportIssue], records: list[ResponseRecord], rows: Rows,
                 rejected_ids: Sequence[tuple[str, int | str]] = ()) -> None:
        super().__init__(issues)
        self.found, self.records, self.rows, self.rejected_ids = issues, records, rows, rejected_ids


class UnsupportedFormatError(ValueError):
    """No registered format matches the media type or file name."""


@dataclass(frozen=True)
class ResponseFormat:
    """One import format: how the API (`media_types`) and the CLI (`suffixes`) recognise it, and its parser.

    `parse` returns the records and the row number of each (None: the 0-based list index); it checks only the
    shape of the upload, `parse_responses` checks the answers; the options (an `ImportSettings`) carry what the
    import declares. A parser that found row problems but read other rows raises `RowProblems` with both. With
    `streams`, the parser gets the upload undecoded (bytes or a binary file) and decodes it as it reads;
    otherwise it gets text (or the decoded JSON document).
    """

    name: str
    label: str  # in messages: "the CSV is not UTF-8"
    media_types: tuple[str, ...]  # the first is the one named in "send ..." messages
    suffixes: tuple[str, ...]
    parse: Parser
    streams: bool = False


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
    separator: str | None = None,
    mapping: ImportMapping | None = None,
    on_duplicate: str | None = None,
    date_format: str | None = None,
) -> list[ResponseRecord]:
    """Parse and validate an import of responses to `definition`; all or nothing, every problem in one pass.

    Args:
        definition: The survey the responses answer.
        data: The upload as bytes, an open binary file (read as a stream) or text; for "json" also the decoded
            document. JSON is a list of responses or `{"responses": [...]}`; CSV is described in docs/api.md.
            Bytes are decoded as the mapping's `encoding` (UTF-8 by default, with or without a BOM).
        fmt: A registered format name (see `resolve_format`).
        existing: Respondent ids already stored for the survey; importing one again is an issue.
        separator: What separates the options in a multi-choice CSV cell (1-5 characters); default: the
            mapping's, else `|`.
        mapping: The column mapping and import options (`workbench.surveys.mapping`); its `survey` is not used.
        on_duplicate: A respondent id twice in the upload: "reject" (an issue naming both rows) or "keep-last";
            default: the mapping's, else "reject".
        date_format: A strptime format for timestamps that are not ISO 8601; default: the mapping's.

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
    mapping = mapping or ImportMapping()
    duplicates = on_duplicate or mapping.on_duplicate
    timestamps = date_format if date_format is not None else mapping.date_format
    problems = []
    if duplicates not in ON_DUPLICATE:
        message = f"must be {' or '.join(ON_DUPLICATE)}, got {echo(duplicates)}"
        problems.append(ImportIssue("-", "on_duplicate", message))
    if timestamps is not None and (problem := date_format_problem(timestamps)):
        problems.append(ImportIssue("-", "date_format", problem))
    if mapping.columns is not None and not spec.streams:
        problems.append(ImportIssue("-", "columns", f"a column mapping applies to CSV uploads, not {spec.label}"))
    try:
        settings = ImportSettings(separator=_check_separator(separator or mapping.separator), mapping=mapping,
                                  date_format=timestamps, encoding=mapping.encoding)
    except ImportValidationError as exc:
        problems.extend(exc.issues)
    if problems:
        raise ImportValidationError(problems)
    if not spec.streams:
        if _is_stream(data):
            data = cast(IO[bytes], data).read()
        if isinstance(data, bytes):
            data = _decode(data, spec.label, settings.encoding)
    found: list[ImportIssue] = []
    rejected: Sequence[tuple[str, int | str]] = ()
    try:
        records, rows = spec.parse(definition, data, settings)
    except RowProblems as exc:
        records, rows, found, rejected = exc.records, exc.rows, exc.found, exc.rejected_ids
    return check_records(definition, records, rows, existing=existing, on_duplicate=duplicates, issues=found,
                         rejected_ids=rejected)


def check_records(
    definition: SurveyDefinition,
    records: list[ResponseRecord],
    rows: Rows | None = None,
    *,
    existing: Set[str] = frozenset(),
    on_duplicate: str = "reject",
    issues: Iterable[ImportIssue] = (),
    rejected_ids: Sequence[tuple[str, int | str]] = (),
) -> list[ResponseRecord]:
    """Check parsed records against the survey and each other; all or nothing.

    Every record is normalised in place (`validate_record`); a respondent id already stored is an issue, and one
    seen twice in the upload is an issue naming both rows, or with `on_duplicate="keep-last"` only its last
    occurrence is kept (every occurrence is still checked: a broken row is reported even when a later one
    replaces it).

    Args:
        definition: The survey the responses answer.
        records: The parsed records.
        rows: The row number of each record (default: the 0-based index).
        existing: Respondent ids already stored for the survey.
        on_duplicate: "reject" or "keep-last".
        issues: Problems the parser already found (in row order), reported with these.
        rejected_ids: (respondent id, row) of rows the parser rejected: still checked for duplicates.

    Returns:
        The records to store, in upload order.

    Raises:
        ImportValidationError: Every issue, in row order (capped, with the count of the rest).
    """
    found = list(issues)
    if not records and not found:
        raise ImportValidationError([ImportIssue("-", "responses", "no responses in the import")])
    numbers: Rows = rows if rows is not None else list(range(len(records)))
    checked: list[ImportIssue] = []
    for record, row in zip(records, numbers, strict=True):
        checked.extend(validate_record(definition, record, row))
    # Respondent ids in upload order, those of rows the parser rejected included (index None): a duplicate of a
    # broken row is reported now, not after the row is fixed.
    ids: Iterable[tuple[int | str, str | None, int | None]] = (
        (row, record.respondent_id, index) for index, (record, row) in enumerate(zip(records, numbers, strict=True)))
    if rejected_ids:
        ids = sorted([*ids, *((row, rid, None) for rid, row in rejected_ids)], key=lambda e: _row_order(e[0]))
    first_row: dict[str, int | str] = {}
    last: dict[str, int] = {}  # respondent id -> index of its last record (keep-last)
    repeated = False
    for row, rid, index in ids:
        if rid is None:
            continue
        if rid in existing:
            checked.append(ImportIssue(row, "respondent_id", f"{echo(rid)} was already imported for this survey"))
        elif rid in first_row:
            if on_duplicate == "reject":
                checked.append(ImportIssue(row, "respondent_id", (
                    f"{echo(rid)} appears on rows {first_row[rid]} and {row} (declare on_duplicate keep-last to "
                    "keep the last)")))
            repeated = True
        else:
            first_row[rid] = row
        if index is not None:
            last[rid] = index
    if checked:
        # Parser issues and answer issues are each in row order: merge them into one (a stable sort).
        found = sorted([*found, *checked], key=lambda issue: _row_order(issue.row))
    if found:
        raise ImportValidationError(found)
    if not repeated:
        return records
    return [r for i, r in enumerate(records) if r.respondent_id is None or last[r.respondent_id] == i]


def _row_order(row: int | str) -> tuple[int, int]:
    # Whole-upload issues ("-") come last: they are what stopped the reading (or what is missing at the end).
    return (0, row) if isinstance(row, int) else (1, 0)


def _check_separator(separator: str) -> str:
    problem = separator_problem(separator)
    if problem:
        raise ImportValidationError([ImportIssue("-", "separator", problem)])
    return separator


def read_responses_file(
    definition: SurveyDefinition, path: Path, existing: Set[str] = frozenset(),
    separator: str | None = None, mapping: ImportMapping | None = None, **options: Any,
) -> list[ResponseRecord]:
    """Responses from a file whose suffix names its format (`.csv`, `.json`), read as a stream.

    Args:
        definition: The survey the responses answer.
        path: The file.
        existing: Respondent ids already stored for the survey.
        separator: The multi-choice separator (default: the mapping's, else `|`).
        mapping: The column mapping and import options.
        **options: `on_duplicate`, `date_format` (see `parse_responses`).

    Raises:
        ImportValidationError: Any problem in the file.
        UnsupportedFormatError: The suffix belongs to no format.
    """
    fmt = resolve_format(filename=path)
    with path.open("rb") as stream:
        return parse_responses(definition, stream, fmt=fmt, existing=existing, separator=separator,
                               mapping=mapping, **options)


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


def _is_stream(data: Any) -> bool:
    return hasattr(data, "read") and not isinstance(data, bytes | str)


def _codec(encoding: str) -> str:
    # -sig: spreadsheet tools on Windows prepend a BOM to UTF-8
    return "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding


def _not_encoded(label: str, encoding: str) -> str:
    name = "UTF-8" if _codec(encoding) == "utf-8-sig" else encoding
    return f"the {label} is not {name}"


def _decode(data: bytes, label: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(_codec(encoding))
    except UnicodeDecodeError:
        raise ImportValidationError([ImportIssue("-", "body", _not_encoded(label, encoding))]) from None


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
_RECORD = TypeAdapter(ResponseRecord)


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
    except ValidationError:
        pass
    # Some responses are malformed: read the rest one by one, so their answers are checked in the same pass and
    # every problem of the upload is reported at once (as for CSV).
    issues: list[ImportIssue] = []
    records: list[ResponseRecord] = []
    rows: list[int | str] = []
    rejected: list[tuple[str, int | str]] = []
    for index, item in enumerate(raw):
        try:
            records.append(_RECORD.validate_python(item))
            rows.append(index)
        except ValidationError as exc:
            issues.extend(issues_from_validation_error(exc, row=index, whole="response"))
            rid = item.get("respondent_id") if isinstance(item, dict) else None
            if isinstance(rid, str):
                rejected.append((rid, index))
    raise RowProblems(issues, records, rows, rejected)


# --- CSV: optional `respondent_id`, `started_at`, `completed_at`, then one column per question key -----------
# (or any headers, read through the mapping's `columns`). Blank cells are "not answered"; a blank `completed_at`
# marks an incomplete (or unknown) response; blank or missing timestamps are unknown. How a cell reads is up to
# the question's kind (multi-choice cells list options separated by the import's separator).


def _timestamp(raw: str, fmt: str | None) -> datetime:
    text = raw.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if fmt:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 timestamp or {echo(fmt)}, got {echo(raw)}") from None
    raise ValueError(f"must be an ISO 8601 timestamp, got {echo(raw)}")


def _text_stream(data: ImportData, encoding: str) -> io.TextIOBase:
    """The upload as text read on demand: no decoded copy of the whole file is made (except for text given)."""
    if isinstance(data, str):
        return io.StringIO(data.removeprefix("\ufeff"), newline="")  # a BOM would corrupt the first column name
    if isinstance(data, bytes):
        data = io.BytesIO(data)  # shares the bytes' buffer; no copy
    if not _is_stream(data):
        raise TypeError(f"a CSV import is text, not {type(data).__name__}")
    return io.TextIOWrapper(cast(IO[bytes], data), encoding=_codec(encoding), newline="")


def _parse_csv(
    definition: SurveyDefinition, data: ImportData, options: ImportOptions
) -> tuple[list[ResponseRecord], Rows | None]:
    settings = options if isinstance(options, ImportSettings) else ImportSettings(separator=options.separator)
    text = _text_stream(data, settings.encoding)
    # Rows are read one at a time, not with list(csv.reader(...)): that one C call would hold the GIL for seconds
    # on a large file, stalling every other thread of the API (its requests included).
    reader = csv.reader(text)
    issues: list[ImportIssue] = []
    records: list[ResponseRecord] = []
    numbers: Rows = []
    rejected: list[tuple[str, int | str]] = []
    number = 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            if header is None or all(not any(c.strip() for c in row) for row in reader):
                raise ImportValidationError([ImportIssue(1, "body", "the CSV is empty")])
            raise ImportValidationError([ImportIssue(1, "header", "the header row is blank")])
        columns, issues = resolve_columns(header, definition, settings.mapping, settings)
        width = len(header)
        for number, row in enumerate(reader, start=2):
            _read_csv_row(definition, settings, columns, width, number, row, records, numbers, issues, rejected)
    except csv.Error as exc:
        issues.append(ImportIssue(reader.line_num, "body", f"not valid CSV: {exc}"))
    except UnicodeDecodeError:
        where = f" (after row {number})" if number > 1 else ""
        issues.append(ImportIssue("-", "body", _not_encoded("CSV", settings.encoding) + where))
    finally:
        if not isinstance(data, str):
            text.detach()  # the caller's file stays open: closing it is the caller's business
    if not records and not issues:
        issues.append(ImportIssue(2, "body", "the CSV has a header but no responses"))
    if issues:
        raise RowProblems(issues, records, numbers, rejected)
    return records, numbers


def _read_csv_row(
    definition: SurveyDefinition, settings: ImportSettings, columns: list[Any], width: int, number: int,
    row: list[str],
    records: list[ResponseRecord], numbers: Rows, issues: list[ImportIssue], rejected: list[tuple[str, int | str]],
) -> None:
    """Parse one data row into `records` (with its row number in `numbers`), or its problems into `issues` (and
    its respondent id, if any, into `rejected`)."""
    if len(row) != width:
        if any(cell.strip() for cell in row):
            issues.append(ImportIssue(number, "row", f"has {len(row)} cells, the header has {width}"))
        return  # a row of blank cells is a blank line a spreadsheet left behind, not a response
    answers: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    problems = len(issues)
    blank = True
    for column in columns:
        raw = row[column.index]
        cell = raw.strip()
        if not cell:
            continue
        blank = False
        target = column.target
        try:
            if column.question is not None:
                answers[target] = kinds.get(column.question.type).parse_cell(column.question, cell, settings)
            elif target == "respondent_id":
                meta[target] = cell
            else:
                meta[target] = _timestamp(cell, settings.date_format)
        except ValueError as exc:
            issues.append(ImportIssue(number, target, str(exc)))
    if blank and not any(cell.strip() for cell in row):
        return  # spreadsheets leave blank lines; they are not responses
    failed = {issue.field for issue in issues[problems:]}
    try:
        record = ResponseRecord(**meta, answers=answers)
    except ValidationError as exc:
        issues.extend(issues_from_validation_error(exc, row=number))
        return
    if not failed:
        records.append(record)
        numbers.append(number)
        return
    if record.respondent_id is not None:
        rejected.append((record.respondent_id, number))
    # One pass: the row is rejected, but the cells that did parse are still checked, so a second problem in the
    # same row is not left for the next attempt. Issues that only follow from a failed cell are left out.
    for issue in validate_record(definition, record, number):
        question = definition.question(issue.field)
        trigger = question.required_if.question if question is not None and question.required_if else None
        if issue.field not in failed and trigger not in failed:
            issues.append(issue)


register_format(ResponseFormat("json", "JSON", ("application/json",), (".json",), _parse_json))
# text/plain: what curl and some spreadsheet exports send for a .csv body
register_format(ResponseFormat("csv", "CSV", ("text/csv", "application/csv", "text/plain"), (".csv",), _parse_csv,
                               streams=True))
