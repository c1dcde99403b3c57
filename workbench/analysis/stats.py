"""Descriptive statistics of a survey snapshot, as plain JSON-able values (the `basic_stats` result).

Every function returns Python `int`/`float`/`str`/`None`, lists and dicts only: no numpy scalars and no NaN
(a missing number is `None`), because results are stored as JSON. Per-question statistics use every answer
given, whether or not the respondent finished the survey.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats as st

from workbench.surveys.schema import (
    MULTI_CHOICE_SEPARATOR,
    SCALE_BOUNDS,
    Question,
    QuestionType,
    Snapshot,
)

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CONFIDENCE = 0.95


def _float(value: Any) -> float | None:
    """A finite Python float, or None (for NaN, inf and None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _as_snapshot(snapshot: Snapshot | dict[str, Any]) -> Snapshot:
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot.model_validate(snapshot)


def _answers(snapshot: Snapshot, key: str) -> list[Any]:
    """The answers given to question `key` (None and missing left out), in response order."""
    return [r.answers[key] for r in snapshot.responses if r.answers.get(key) is not None]


def scale_values(snapshot: Snapshot, question: Question) -> list[int]:
    """Valid integer answers of an nps/rating question; out-of-range or non-integer answers are ignored."""
    lo, hi = SCALE_BOUNDS[question.type]
    values: list[int] = []
    for raw in _answers(snapshot, question.key):
        if isinstance(raw, bool):
            continue
        try:
            number = float(raw)  # importers may hand us "9" or 9.0
        except (TypeError, ValueError):
            continue
        if number.is_integer() and lo <= number <= hi:
            values.append(int(number))
    return values


def choice_values(snapshot: Snapshot, question: Question) -> list[list[str]]:
    """Per answering respondent, the distinct valid options chosen (a single-choice answer is a 1-list).

    Multi-choice answers may be lists or `|`-joined strings (CSV imports); unknown options are ignored and a
    respondent with no valid option left counts as not answering.
    """
    options = set(question.options or [])
    chosen: list[list[str]] = []
    for raw in _answers(snapshot, question.key):
        if isinstance(raw, str):
            items = raw.split(MULTI_CHOICE_SEPARATOR) if question.type == QuestionType.MULTI_CHOICE else [raw]
        elif isinstance(raw, list | tuple):
            items = [str(x) for x in raw]
        else:
            items = [str(raw)]
        valid = list(dict.fromkeys(item.strip() for item in items if item.strip() in options))
        if valid:
            chosen.append(valid)
    return chosen


def text_values(snapshot: Snapshot, question: Question) -> list[str]:
    """Non-blank text answers, stripped."""
    texts = (str(raw).strip() for raw in _answers(snapshot, question.key))
    return [t for t in texts if t]


def completion(snapshot: Snapshot) -> dict[str, Any]:
    """Counts of responses and finished responses, the completion rate (0..1) and completion durations."""
    total = len(snapshot.responses)
    durations = [
        (r.completed_at - r.started_at).total_seconds() for r in snapshot.responses if r.completed_at is not None
    ]
    return {
        "response_count": total,
        "completed_count": len(durations),
        "completion_rate": _float(len(durations) / total) if total else None,
        "avg_completion_seconds": _float(np.mean(durations)) if durations else None,
        "median_completion_seconds": _float(np.median(durations)) if durations else None,
    }


def nps_breakdown(scores: Iterable[int]) -> dict[str, Any]:
    """NPS = % promoters (9-10) - % detractors (0-6), in points from -100 to 100, with the group counts."""
    values = list(scores)
    promoters = sum(1 for v in values if v >= PROMOTER_MIN)
    detractors = sum(1 for v in values if v <= DETRACTOR_MAX)
    n = len(values)
    return {
        "score": _float(100.0 * (promoters - detractors) / n) if n else None,
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
        "n": n,
    }


def mean_ci(values: list[int] | list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """t-interval of the mean: mean ± t((1+c)/2, n-1) · s / √n; None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = float(np.mean(values))
    half = float(st.t.ppf((1 + confidence) / 2, n - 1)) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def scale_summary(question: Question, values: list[int]) -> dict[str, Any]:
    """n, mean, median, sample std, 95% CI of the mean and the count of every scale value (zeros included)."""
    lo, hi = SCALE_BOUNDS[question.type]
    ci = mean_ci(values)
    return {
        "type": str(question.type),
        "text": question.text,
        "n": len(values),
        "mean": _float(np.mean(values)) if values else None,
        "median": _float(np.median(values)) if values else None,
        "std": _float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "ci_low": _float(ci[0]) if ci else None,
        "ci_high": _float(ci[1]) if ci else None,
        "distribution": {str(v): values.count(v) for v in range(lo, hi + 1)},
    }


def choice_summary(question: Question, chosen: list[list[str]]) -> dict[str, Any]:
    """Count and share of every option, in option order.

    The share is of respondents who answered the question, so multi-choice shares can add up to more
    than 1. Options are a list rather than a dict because PostgreSQL's JSONB does not keep key order.
    """
    n = len(chosen)
    counts = {option: 0 for option in question.options or []}
    for items in chosen:
        for item in items:
            counts[item] += 1
    return {
        "type": str(question.type),
        "text": question.text,
        "n": n,
        "options": [
            {"option": option, "count": count, "share": _float(count / n) if n else None}
            for option, count in counts.items()
        ],
    }


def top_options(
    options: list[dict[str, Any]], limit: int
) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """For display: at most `limit` options of a choice summary, and what the rest add up to.

    Up to `limit` options come back unchanged, in survey order, with no rest. Beyond that, the `limit` most
    chosen come first (ties in survey order) and the rest is `{"options": how many, "count": their summed
    count}`; a multi-choice rest counts choices, not respondents. The summary itself always keeps every option.
    """
    if len(options) <= limit:
        return options, None
    ranked = sorted(options, key=lambda o: -o["count"])  # stable: ties keep the survey's order
    rest = ranked[limit:]
    return ranked[:limit], {"options": len(rest), "count": sum(o["count"] for o in rest)}


def text_summary(question: Question, texts: list[str], response_count: int) -> dict[str, Any]:
    """Answered (non-blank) count, blank count (every other response) and mean length in words."""
    return {
        "type": str(question.type),
        "text": question.text,
        "n": len(texts),
        "blank": response_count - len(texts),
        "mean_words": _float(np.mean([len(t.split()) for t in texts])) if texts else None,
    }


def question_summary(snapshot: Snapshot, question: Question) -> dict[str, Any]:
    """The summary of one question, by its type."""
    if question.type in SCALE_BOUNDS:
        return scale_summary(question, scale_values(snapshot, question))
    if question.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE):
        return choice_summary(question, choice_values(snapshot, question))
    return text_summary(question, text_values(snapshot, question), len(snapshot.responses))


def nps_question(snapshot: Snapshot) -> Question | None:
    """The survey's (first) NPS question, if any."""
    return next((q for q in snapshot.survey.questions if q.type == QuestionType.NPS), None)


def basic_stats(snapshot: Snapshot | dict[str, Any]) -> dict[str, Any]:
    """The `basic_stats` component result: completion, NPS (None without an NPS question), per question."""
    snap = _as_snapshot(snapshot)
    nps_q = nps_question(snap)
    return {
        "survey_title": snap.survey.title,
        **completion(snap),
        "nps": nps_breakdown(scale_values(snap, nps_q)) if nps_q else None,
        "questions": {q.key: question_summary(snap, q) for q in snap.survey.questions},
    }
