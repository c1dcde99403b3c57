"""A snapshot's answers read a question at a time, as whole columns, for the analyses.

`answers_column` is every response's raw answer to one question; `coerce_column` reads a column as the question's
kind reads one answer (`QuestionKind.coerce`), taking a shortcut for the answers that are already in their
stored form (which is nearly all of them: they were validated at import) and calling the kind for the rest, so
the result is exactly the kind's; `asked_column` says which responses were asked a question (`Survey.asked`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
from pydantic_core import TzInfo

from workbench.surveys import kinds
from workbench.surveys.columnar import RECORD_COLUMNS as RECORD_FIELDS
from workbench.surveys.columnar import ResponseColumns
from workbench.surveys.kinds.choice import MultiChoice, SingleChoice
from workbench.surveys.kinds.nps import NPS_MAX, NPS_MIN, Nps
from workbench.surveys.kinds.numeric import Numeric
from workbench.surveys.kinds.ordinal import Ordinal
from workbench.surveys.kinds.scale import Scale
from workbench.surveys.kinds.text import Text
from workbench.surveys.schema import Question, Snapshot, SurveyDefinition

_EXACT_FLOAT = 2**53  # ints up to this convert to float exactly, so bounds compare the same either way
_FIXED_OFFSETS = (TzInfo, timezone)  # pydantic's parsed offsets, and the standard library's


def answers_column(snapshot: Snapshot, key: str) -> list[Any]:
    """Every response's raw answer to `key`, in response order (None: not answered)."""
    responses = snapshot.responses
    if isinstance(responses, ResponseColumns):  # read from its column: no record is built
        return responses.answers(key)
    return [r.answers.get(key) for r in responses]


def record_column(snapshot: Snapshot, name: str) -> list[Any]:
    """Every response's `respondent_id`, `started_at` or `completed_at`, in response order (do not change it)."""
    responses = snapshot.responses
    if isinstance(responses, ResponseColumns):
        return responses.field(name)
    if name not in RECORD_FIELDS:
        raise KeyError(name)
    return [getattr(r, name) for r in responses]


def _whole_numbers(raw: Sequence[Any], low: int, high: int, slow: Any) -> list[Any]:
    # An int within the bounds is its own stored form (`whole_number`); anything else goes to the kind.
    return [v if type(v) is int and low <= v <= high else None if v is None else slow(v) for v in raw]


def _options(raw: Sequence[Any], options: list[str], slow: Any) -> list[Any]:
    allowed = set(options)
    return [v if type(v) is str and v in allowed else None if v is None else slow(v) for v in raw]


def _multi(raw: Sequence[Any], options: list[str], slow: Any) -> list[Any]:
    # A non-empty list of options, each exactly as defined (stripping changes none of them), is chosen as it is,
    # duplicates dropped; anything else goes to the kind.
    plain = {o for o in options if o == o.strip()}
    out: list[Any] = []
    for v in raw:
        if type(v) is list and v:
            try:
                chosen = plain.issuperset(v)  # strings only: nothing else equals one
            except TypeError:  # an unhashable item
                chosen = False
            if chosen:
                out.append(list(dict.fromkeys(v)))
                continue
        out.append(None if v is None else slow(v))
    return out


def _text(raw: Sequence[Any], slow: Any) -> list[Any]:
    return [(v.strip() or None) if type(v) is str else None if v is None else slow(v) for v in raw]


def _numeric(raw: Sequence[Any], low: float | None, high: float | None, slow: Any) -> list[Any]:
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    out: list[Any] = []
    for v in raw:
        if (type(v) is float and math.isfinite(v) and lo <= v <= hi) or (
                type(v) is int and -_EXACT_FLOAT <= v <= _EXACT_FLOAT and lo <= v <= hi):
            out.append(v)
        else:
            out.append(None if v is None else slow(v))
    return out


def coerce_column(question: Question, raw: Sequence[Any]) -> list[Any]:
    """`kind.coerce(question, value)` of every value of `raw`, as a list (None: no valid answer)."""
    kind = kinds.get(question.type)

    def slow(value: Any) -> Any:
        return kind.coerce(question, value)

    # Shortcuts for the built-in kinds only: a subclass may read answers its own way.
    kind_type = type(kind)
    if kind_type is Nps:
        return _whole_numbers(raw, NPS_MIN, NPS_MAX, slow)
    if kind_type is Scale and question.min is not None and question.max is not None:
        return _whole_numbers(raw, int(question.min), int(question.max), slow)
    if kind_type in (SingleChoice, Ordinal):
        return _options(raw, question.options or [], slow)
    if kind_type is MultiChoice:
        return _multi(raw, question.options or [], slow)
    if kind_type is Text:
        return _text(raw, slow)
    if kind_type is Numeric:
        return _numeric(raw, question.min, question.max, slow)
    return [None if v is None else slow(v) for v in raw]


def asked_column(survey: SurveyDefinition, question: Question, snapshot: Snapshot) -> list[bool] | None:
    """Whether each response was asked `question` (`SurveyDefinition.asked`); None when every response was."""
    condition = question.required_if
    if condition is None:
        return None
    trigger = survey.question(condition.question)
    if trigger is None:
        return [False] * len(snapshot.responses)
    matches = kinds.get(trigger.type).matches
    values = condition.values
    cache: dict[Any, bool] = {}
    out: list[bool] = []
    for answer in answers_column(snapshot, trigger.key):
        if type(answer) in (str, int):  # hashable and compared by value: one call per distinct answer
            hit = cache.get(answer)
            if hit is None:
                hit = cache[answer] = bool(matches(answer, values))
            out.append(hit)
        else:
            out.append(bool(matches(answer, values)))
    return out


def times_column(times: Sequence[datetime | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """(microseconds since the epoch in UTC, whether the time is there) of each time; None when a time is naive
    (naive times compare only with naive ones: callers then compare the objects themselves), or one's time zone
    is not a fixed offset (datetimes of one zone subtract by their wall clocks)."""
    present = np.fromiter((t is not None for t in times), dtype=bool, count=len(times))
    given = [t for t in times if t is not None]
    if any(type(zone) not in _FIXED_OFFSETS for zone in {t.tzinfo for t in given}):  # None: naive
        return None
    micros = np.zeros(len(times), dtype=np.int64)
    if given:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)  # one epoch for every column, so spans subtract
        micro = timedelta(microseconds=1)  # timedelta // timedelta: whole microseconds, no float rounding
        micros[present] = np.fromiter(((t - epoch) // micro for t in given), dtype=np.int64, count=len(given))
    return micros, present
