"""`date`: a calendar date, stored as ISO `YYYY-MM-DD`.

Answers are ISO dates (an ISO timestamp counts as its date) or, when the question declares a strptime `format`
such as `%d/%m/%Y`, dates in that format (in JSON and CSV alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import QuestionKind
from workbench.surveys.limits import echo, forbidden_character

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

_PROBE = date(2026, 11, 27)  # day, month and year all differ, so a format missing one is caught


class Date(QuestionKind):
    name = "date"
    fields = ("format",)

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        if value is None:
            return None
        problem = forbidden_character(value)
        if problem:
            raise ValueError(f"'format' {problem}")
        try:
            round_trip = datetime.strptime(_PROBE.strftime(value), value).date()
        except ValueError:
            round_trip = None
        if round_trip != _PROBE:
            raise ValueError(f"'format' must name the year, month and day (like '%d/%m/%Y'), got {echo(value)}")
        return value

    def normalize(self, question: Question, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            parsed = _parse(value.strip(), question.format)
            if parsed is not None:
                return parsed.isoformat()
        accepted = "YYYY-MM-DD" + (f" or {echo(question.format)}" if question.format else "")
        raise ValueError(f"must be a date ({accepted}), got {echo(value)}")


def _parse(text: str, fmt: str | None) -> date | None:
    for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
        try:
            return parse(text)
        except ValueError:
            pass
    if fmt:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    return None
