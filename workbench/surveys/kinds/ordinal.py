"""`ordinal`: one of ordered text labels ("Strongly disagree" ... "Strongly agree"), analysed by rank."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import ImportOptions, QuestionKind, check_options, match_option
from workbench.surveys.limits import describe_options, echo

if TYPE_CHECKING:
    from workbench.surveys.schema import Question


class Ordinal(QuestionKind):
    name = "ordinal"
    fields = ("options",)

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        return check_options(self.name, value, at_least=2)

    def normalize(self, question: Question, value: Any) -> Any:
        options = question.options or []
        if value is None:
            return None
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {describe_options(options)}, got {echo(value)}")
        return value

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        return match_option(question.options or [], raw)

    @staticmethod
    def rank(question: Question, answer: str) -> int:
        """The 1-based rank of a valid answer (the first label is 1)."""
        return (question.options or []).index(answer) + 1
