"""`scale`: a whole number from `min` to `max` (1-5, 1-7, 0-10, 1-11 ...), some values optionally labelled.

`rating`, the old fixed 1-5 type, is an alias: a definition saying `type: rating` becomes a `scale` from 1 to 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import (
    ImportOptions,
    QuestionKind,
    definition_number,
    parse_whole_number,
    whole_number,
)
from workbench.surveys.limits import MAX_OPTION_LENGTH, MAX_SCALE_SPAN, echo, forbidden_character

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

RATING_ALIAS = {"type": "scale", "min": 1, "max": 5}


class Scale(QuestionKind):
    name = "scale"
    fields = ("min", "max", "labels")

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        if field in ("min", "max"):
            if value is None:
                raise ValueError(f"a scale question needs '{field}' (a whole number)")
            number = definition_number(field, value, whole=True)
            low = given.get("min")
            if field == "max" and low is not None:
                if number <= low:
                    raise ValueError(f"'max' must be greater than 'min' ({low}), got {number}")
                if number - low > MAX_SCALE_SPAN:
                    raise ValueError(f"a scale spans at most {MAX_SCALE_SPAN} (max - min), got {number - low}")
            return number
        return self._labels(value, given.get("min"), given.get("max"))

    @staticmethod
    def _labels(labels: dict[str, str] | None, low: int | None, high: int | None) -> dict[str, str] | None:
        if labels is None or low is None or high is None:  # no labels, or min/max invalid and reported
            return labels
        checked: dict[int, str] = {}
        for key, label in labels.items():
            try:
                value = int(key.strip())
            except ValueError:
                raise ValueError(f"labels are keyed by scale value, got {echo(key)}") from None
            if not low <= value <= high:
                raise ValueError(f"label {echo(key)} is outside the scale {low}-{high}")
            if value in checked:
                raise ValueError(f"value {value} is labelled twice")
            problem = forbidden_character(label) or (
                f"is longer than {MAX_OPTION_LENGTH} characters" if len(label) > MAX_OPTION_LENGTH else None)
            if problem or not label.strip():
                raise ValueError(f"the label of {value} {problem or 'is blank'}")
            checked[value] = label
        return {str(v): checked[v] for v in sorted(checked)}

    def normalize(self, question: Question, value: Any) -> Any:
        assert question.min is not None and question.max is not None
        return None if value is None else whole_number(value, int(question.min), int(question.max))

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        return parse_whole_number(raw)
