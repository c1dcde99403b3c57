"""Import mappings: how the columns of a raw export become a survey's answers, and the options of one import.

A raw export (a survey tool's CSV) has its own headers: long question texts, duplicates ("Why or why not?"
twice), trailing spaces, an empty first header. A mapping says, per raw column, which question key it answers,
or that it is the `respondent_id`, `started_at` or `completed_at`, or `null` to ignore it. A column is named by its
exact header text, or by its 1-based position (`"#12"`) when the text is ambiguous (a duplicate, a blank header).

A mapping file (`workbench survey infer` writes one to edit) is JSON:

    {"survey": {...definition...} | "survey.json",
     "columns": {"Raw header": "question_key", "#38": "why_physical", "Timestamp": "completed_at", "Junk": null},
     "ignore_unmapped": false, "separator": "|", "date_format": "%m/%d/%Y %H:%M",
     "on_duplicate": "reject", "encoding": "utf-8", "notes": ["free text for the reader"]}

Everything is optional: without `columns` the headers are the question keys (the plain CSV format). The options
apply to CSV; JSON uploads only use `on_duplicate`. Core only: no FastAPI, no Temporal.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.surveys import kinds
from workbench.surveys.kinds import ImportOptions
from workbench.surveys.limits import (
    MAX_FORMAT_LENGTH,
    MAX_QUESTION_TEXT_LENGTH,
    MULTI_CHOICE_SEPARATOR,
    QUESTION_KEY,
    echo,
    forbidden_character,
)
from workbench.surveys.schema import SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

META_COLUMNS = ("respondent_id", "started_at", "completed_at")
TIMESTAMP_COLUMNS = ("started_at", "completed_at")
MAX_SEPARATOR_LENGTH = 5
MAX_MAPPED_COLUMNS = 10_000  # a mapping names each raw column once; exports beyond this are not surveys
POSITION = re.compile(r"#([1-9][0-9]{0,5})")
OnDuplicate = Literal["reject", "keep-last"]
ON_DUPLICATE: tuple[OnDuplicate, ...] = ("reject", "keep-last")
_PROBE = datetime(2026, 11, 27, 13, 45, 56)  # every field differs, so a format missing one is caught


def separator_problem(separator: Any) -> str | None:
    """Why `separator` cannot separate multi-choice options in a CSV cell, or None."""
    if (not isinstance(separator, str) or not separator.strip() or len(separator) > MAX_SEPARATOR_LENGTH
            or forbidden_character(separator) or any(c in separator for c in "\"\r\n")):
        return (f"the multi-choice separator must be 1-{MAX_SEPARATOR_LENGTH} visible characters other than "
                f"quotes and line breaks, got {echo(separator)}")
    return None


def date_format_problem(fmt: str) -> str | None:
    """Why `fmt` cannot read timestamps (it must name at least the year, month and day), or None."""
    if len(fmt) > MAX_FORMAT_LENGTH:
        return f"must be at most {MAX_FORMAT_LENGTH} characters"
    problem = forbidden_character(fmt)
    if problem:
        return problem
    try:
        parsed = datetime.strptime(_PROBE.strftime(fmt), fmt)
    except ValueError:
        parsed = None
    if parsed is None or parsed.date() != _PROBE.date():
        return f"must be a strptime format naming the year, month and day (like '%m/%d/%Y %H:%M'), got {echo(fmt)}"
    return None


class ImportMapping(BaseModel):
    """How a raw export maps onto a survey, and the options of the import (see the module docstring).

    Attributes:
        survey: The survey definition (mapping files, `POST /api/v1/surveys/import`); None when the survey exists.
        columns: Raw header (or `#<position>`, from 1) -> question key, a meta column, or None (ignore). None: the
            headers are the question keys and meta column names themselves.
        ignore_unmapped: Raw columns the mapping does not name are ignored instead of being an issue.
        separator: What separates the options of a multi-choice cell.
        date_format: A strptime format for `started_at`/`completed_at` cells that are not ISO 8601.
        on_duplicate: A respondent id seen twice in one upload: `reject` the import, or `keep-last` occurrence.
        encoding: The upload's text encoding (UTF-8 may start with a BOM).
        notes: Free text for whoever edits the file (what `infer` guessed); not used by the import.
    """

    model_config = ConfigDict(extra="forbid")

    survey: SurveyDefinition | None = None
    columns: dict[str, str | None] | None = Field(None, max_length=MAX_MAPPED_COLUMNS)
    ignore_unmapped: bool = False
    separator: str = MULTI_CHOICE_SEPARATOR
    date_format: str | None = None
    on_duplicate: OnDuplicate = "reject"
    encoding: str = "utf-8"
    notes: list[str] = Field(default_factory=list, max_length=1_000)

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: dict[str, str | None] | None) -> dict[str, str | None] | None:
        if columns is None:
            return None
        used: dict[str, str] = {}
        for header, target in columns.items():
            if len(header) > MAX_QUESTION_TEXT_LENGTH:
                raise ValueError(f"column {echo(header)} is longer than {MAX_QUESTION_TEXT_LENGTH} characters")
            if target is None:
                continue
            if target not in META_COLUMNS and not QUESTION_KEY.fullmatch(target):
                raise ValueError(f"column {echo(header)} maps to {echo(target)}: a target is a question key (lower "
                                 f"snake case), {', '.join(META_COLUMNS)}, or null to ignore the column")
            if target in used:
                raise ValueError(f"columns {echo(used[target])} and {echo(header)} both map to '{target}'")
            used[target] = header
        return columns

    @field_validator("separator")
    @classmethod
    def _separator(cls, separator: str) -> str:
        problem = separator_problem(separator)
        if problem:
            raise ValueError(problem)
        return separator

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, fmt: str | None) -> str | None:
        problem = None if fmt is None else date_format_problem(fmt)
        if problem:
            raise ValueError(problem)
        return fmt

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, encoding: str) -> str:
        try:
            return codecs.lookup(encoding).name
        except (LookupError, ValueError):
            raise ValueError(f"unknown text encoding {echo(encoding)}") from None

    def options(self) -> dict[str, Any]:
        """The import options and columns without the survey, as JSON (what a background job keeps)."""
        return self.model_dump(mode="json", exclude={"survey", "notes"}, exclude_defaults=True)


def parse_mapping(data: Any, *, field: str = "mapping") -> ImportMapping:
    """Validate a mapping given as JSON text, bytes or an already decoded object.

    Args:
        data: The mapping.
        field: What issues call the mapping (`mapping`, or `mapping.json` for a file).

    Raises:
        ImportValidationError: Not JSON, or not a valid mapping; issues have row "-" and name the field.
    """
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ImportValidationError([ImportIssue("-", field, f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise ImportValidationError([ImportIssue("-", field, "a mapping is a JSON object")])
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as exc:
        issues = [ImportIssue("-", ".".join([field, *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
        raise ImportValidationError(issues) from None


def read_mapping_file(path: Path) -> ImportMapping:
    """A mapping file; a `survey` given as a string is the path of a survey file, relative to the mapping.

    Raises:
        ImportValidationError: The file (or its survey file) is not valid; issues have row "-".
    """
    try:
        raw = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportValidationError([ImportIssue("-", path.name, f"not valid JSON: {exc}")]) from None
    if isinstance(raw, dict) and isinstance(raw.get("survey"), str):
        from workbench.surveys.imports import read_survey_file  # imports uses this module

        survey_path = path.parent / raw["survey"]
        if not survey_path.is_file():
            raise ImportValidationError([ImportIssue("-", f"{path.name}.survey", f"no survey file {survey_path}")])
        definition, _ = read_survey_file(survey_path)
        raw = {**raw, "survey": definition.model_dump(mode="json", exclude_none=True, by_alias=True)}
    return parse_mapping(raw, field=path.name)


@dataclass(frozen=True)
class Column:
    """One raw column read by the import: its 0-based position, the target and, for an answer, its question."""

    index: int
    target: str  # a question key or one of META_COLUMNS
    question: Question | None


def resolve_columns(
    header: list[str], definition: SurveyDefinition, mapping: ImportMapping | None, options: ImportOptions,
) -> tuple[list[Column], list[ImportIssue]]:
    """The columns a CSV import reads, and every problem with its header and the mapping (all of them, row 1).

    Without a mapping's `columns`, each header (stripped) is a question key or a meta column name. With them, a
    column is found by position (`#12`) first, then by its exact header text, then by its text stripped.

    Args:
        header: The raw header cells, as read.
        definition: The survey the import answers.
        mapping: The import's mapping, if any.
        options: The cell-parsing options (a multi-choice option containing the separator is a header issue).

    Returns:
        The columns to read (in file order) and the issues; a column with an issue is not among the columns.
    """
    if mapping is None or mapping.columns is None:
        targets: list[tuple[int, str, str]] = [(i, name.strip(), name.strip()) for i, name in enumerate(header)]
        issues: list[ImportIssue] = []
        counts: dict[str, int] = defaultdict(int)
        for _, name, _ in targets:
            counts[name] += 1
        twice = any(n > 1 for n in counts.values())
        columns, issues = _check_targets([t for t in targets if counts[t[1]] == 1], definition, options, issues,
                                         unknown="unknown question (column)")
        if twice:
            issues.append(ImportIssue(1, "header", "a column name appears twice"))
        return columns, issues

    issues = []
    by_position: dict[int, str | None] = {}
    by_text: dict[str, str | None] = {}
    for name, target in mapping.columns.items():
        match = POSITION.fullmatch(name)
        if match:
            by_position[int(match.group(1))] = target
        else:
            by_text[name] = target
    where: dict[str, list[int]] = defaultdict(list)  # header text -> 1-based positions
    for i, name in enumerate(header, start=1):
        where[name].append(i)
        if name.strip() != name:
            where[name.strip()].append(i)
    targets = []
    used_texts: set[str] = set()
    ambiguous: set[str] = set()
    unmapped: list[tuple[int, str]] = []
    for i, name in enumerate(header, start=1):
        if i in by_position:
            target = by_position[i]
        else:
            text = name if name in by_text else name.strip() if name.strip() in by_text else None
            if text is None:
                if not mapping.ignore_unmapped:
                    unmapped.append((i, name))
                continue
            used_texts.add(text)
            others = [p for p in where[text] if p not in by_position]
            if len(others) > 1:
                if text not in ambiguous:
                    ambiguous.add(text)
                    places = " and ".join(str(p) for p in others)
                    issues.append(ImportIssue(1, text or f"#{i}", (
                        f"the header appears in columns {places}: map each by position "
                        f"({', '.join(repr(f'#{p}') for p in others)})")))
                continue
            target = by_text[text]
        if target is not None:
            targets.append((i - 1, target, name.strip() or f"#{i}"))
    for i, name in unmapped:
        issues.append(ImportIssue(1, name.strip() or f"#{i}", (
            f"column {i} is not in the mapping: map it to a question key, or to null to ignore it "
            "(or set ignore_unmapped)")))
    for text in by_text:
        if text not in used_texts:
            issues.append(ImportIssue(1, text or "''", "the mapping names this column, but the CSV has no such header"))
    for position in sorted(by_position):
        if position > len(header):
            issues.append(ImportIssue(1, f"#{position}", f"the mapping names column {position}, but the CSV has "
                                                         f"{len(header)}"))
    return _check_targets(targets, definition, options, issues, unknown=None)


def _check_targets(
    targets: list[tuple[int, str, str]], definition: SurveyDefinition, options: ImportOptions,
    issues: list[ImportIssue], *, unknown: str | None,
) -> tuple[list[Column], list[ImportIssue]]:
    """Columns for targets that are meta columns or importable questions; issues for the others."""
    columns = []
    for index, target, label in targets:
        if target in META_COLUMNS:
            columns.append(Column(index, target, None))
            continue
        question = definition.question(target)
        if question is None:
            message = unknown or f"maps to '{target}', which is not a question of the survey"
            issues.append(ImportIssue(1, label, message))
            continue
        problem = kinds.get(question.type).import_problem(question, options)
        if problem:
            issues.append(ImportIssue(1, label, problem))
            continue
        columns.append(Column(index, target, question))
    return columns, issues
