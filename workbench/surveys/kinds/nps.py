"""`nps`: "How likely are you to recommend ...?", a whole number from 0 to 10 (the NPS computation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import ImportOptions, QuestionKind, parse_whole_number, whole_number

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

NPS_MIN, NPS_MAX = 0, 10


class Nps(QuestionKind):
    name = "nps"

    def normalize(self, question: Question, value: Any) -> Any:
        return None if value is None else whole_number(value, NPS_MIN, NPS_MAX)

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        return parse_whole_number(raw)
