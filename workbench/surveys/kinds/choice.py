"""`single_choice` (one of `options`) and `multi_choice` (a list of distinct `options`).

A multi-choice CSV cell lists options separated by the import's separator (default `|`). Cells match options
ignoring case and surrounding space, and are stored as the option itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import ImportOptions, QuestionKind, check_options, match_option
from workbench.surveys.limits import MAX_LISTED_OPTIONS, MULTI_CHOICE_SEPARATOR, describe_options, echo

if TYPE_CHECKING:
    from workbench.surveys.schema import Question


class SingleChoice(QuestionKind):
    name = "single_choice"
    fields = ("options",)

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        return check_options(self.name, value)

    def normalize(self, question: Question, value: Any) -> Any:
        options = question.options or []
        if value is None:
            return None
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {describe_options(options)}, got {echo(value)}")
        return value

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        return match_option(question.options or [], raw)


class MultiChoice(QuestionKind):
    name = "multi_choice"
    fields = ("options",)

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        return check_options(self.name, value)

    def normalize(self, question: Question, value: Any) -> Any:
        options = question.options or []
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of options from {describe_options(options)}, got {echo(value)}")
        allowed = set(options)  # a set: a 1,000-option question must not make membership quadratic
        unknown = [v for v in value if v not in allowed]
        if unknown:
            count = f" ({len(unknown)} unknown)" if len(unknown) > MAX_LISTED_OPTIONS else ""
            raise ValueError(f"has unknown options {echo(unknown)}{count}; allowed: {describe_options(options)}")
        if len(set(value)) != len(value):
            raise ValueError("lists an option twice")
        return value or None

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        known = question.options or []
        return [match_option(known, part.strip()) for part in raw.split(options.separator) if part.strip()]

    def import_problem(self, question: Question, options: ImportOptions) -> str | None:
        clash = next((o for o in question.options or [] if options.separator in o), None)
        if clash is None:
            return None
        return f"option {echo(clash)} contains the separator {options.separator!r}: choose another separator"

    def coerce(self, question: Question, raw: Any) -> Any:
        # Unknown options in a stored answer are dropped, not the whole answer; a `|`-joined string is a list.
        if isinstance(raw, str):
            items = raw.split(MULTI_CHOICE_SEPARATOR)
        elif isinstance(raw, list | tuple):
            items = [str(x) for x in raw]
        else:
            return None
        known = question.options or []
        allowed = set(known)
        chosen = (match_option(known, item.strip()) for item in items if item.strip())
        return list(dict.fromkeys(c for c in chosen if c in allowed)) or None

    def condition_value(self, question: Question, value: Any) -> Any:
        if not isinstance(value, str) or value not in (question.options or []):
            raise ValueError(f"must be one of {describe_options(question.options or [])}, got {echo(value)}")
        return value

    def matches(self, answer: Any, values: Sequence[Any]) -> bool:
        # Asked when any chosen option is one of the values.
        return isinstance(answer, list) and any(a in values for a in answer)
