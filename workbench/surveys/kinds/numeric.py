"""`numeric`: any finite number ("How many people work at your company?"), optionally bounded by `min`/`max`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import ImportOptions, QuestionKind, definition_number, finite, is_number
from workbench.surveys.limits import echo

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

_INTEGER = re.compile(r"[+-]?\d{1,18}")  # longer digit runs go through float: the value must stay finite


class Numeric(QuestionKind):
    name = "numeric"
    fields = ("min", "max")

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        if value is None:
            return None
        number = definition_number(field, value, whole=False)
        low = given.get("min")
        if field == "max" and low is not None and number <= low:
            raise ValueError(f"'max' must be greater than 'min' ({low}), got {echo(number)}")
        return number

    def normalize(self, question: Question, value: Any) -> Any:
        if value is None:
            return None
        if not is_number(value) or not finite(value):
            raise ValueError(f"must be a finite number, got {echo(value)}")
        if question.min is not None and value < question.min:
            raise ValueError(f"must be at least {echo(question.min)}, got {echo(value)}")
        if question.max is not None and value > question.max:
            raise ValueError(f"must be at most {echo(question.max)}, got {echo(value)}")
        return value

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        if _INTEGER.fullmatch(raw):
            return int(raw)
        try:
            return float(raw)  # "nan" and "inf" parse, and are refused by normalize
        except ValueError:
            raise ValueError(f"must be a number, got {echo(raw)}") from None
