"""`text`: free text up to MAX_TEXT_LENGTH characters; a blank answer counts as not answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.surveys.kinds.base import QuestionKind
from workbench.surveys.limits import MAX_TEXT_LENGTH, forbidden_character

if TYPE_CHECKING:
    from workbench.surveys.schema import Question


class Text(QuestionKind):
    name = "text"

    def normalize(self, question: Question, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {type(value).__name__}")
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError(f"is longer than {MAX_TEXT_LENGTH} characters")
        problem = forbidden_character(value)
        if problem:
            raise ValueError(problem)
        return value if value.strip() else None

    def coerce(self, question: Question, raw: Any) -> Any:
        # Analysis reads text stripped; anything stored is read as its text.
        text = str(raw).strip() if raw is not None else ""
        return text or None
