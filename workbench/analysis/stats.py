"""Descriptive statistics of a survey snapshot, as plain JSON-able values (the `basic_stats` result).

Every function returns Python `int`/`float`/`str`/`None`, lists and dicts only: no numpy scalars and no NaN
(a missing number is `None`), because results are stored as JSON. Per-question statistics use every answer
given, whether or not the respondent finished the survey.

Each question kind registers its summary here (`register_summary`) with a *family* that says how notebooks
group it: "scores" (a mean makes sense: nps, scale, numeric), "categories" (counts per option or label),
"text" and "dates". Every summary carries `kind`, `text`, `n` (valid answers), `blank` (asked but not
answered) and `not_asked` (a conditional question skipped by its condition).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from itertools import chain
from typing import Any

import numpy as np
from scipy.special import stdtrit  # the t quantile scipy.stats.t.ppf computes, without importing scipy.stats

from workbench.analysis.columns import answers_column, asked_column, coerce_column, record_column, times_column
from workbench.surveys.schema import Question, Snapshot

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CONFIDENCE = 0.95
QUANTILES = (5, 25, 50, 75, 95)
MAX_HISTOGRAM_BINS = 30
MIN_BOX_POINTS = 4  # top-2/bottom-2 boxes of a shorter scale would overlap
FAMILIES = ("scores", "categories", "text", "dates")
MAX_WEEKS = 26  # dates spanning more are counted per month, then per year past MAX_MONTHS
MAX_MONTHS = 120
NPS_KIND = "nps"  # the one kind whose first question heads the report with its NPS

Summarize = Callable[[Question, list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class KindSummary:
    """How a kind is summarised: its family and the figures computed from its valid answers."""

    family: str
    summarize: Summarize


_SUMMARIES: dict[str, KindSummary] = {}


def register_summary(kind: str, family: str, summarize: Summarize) -> None:
    """Register the summary of question kind `kind`.

    Args:
        kind: A registered question kind (`workbench.surveys.kinds.names()`).
        family: One of FAMILIES.
        summarize: Called with the question and its valid answers (as the kind's `coerce` reads them); returns
            the kind's figures, to which `kind`, `text`, `n`, `blank` and `not_asked` are added.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown summary family {family!r}")
    _SUMMARIES[kind] = KindSummary(family, summarize)


def summary_family(summary: dict[str, Any]) -> str:
    """The family of a question summary (from its `kind`)."""
    return _SUMMARIES[summary["kind"]].family


def group_by_family(summaries: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Question summaries (key -> summary) grouped by family, every family present, question order kept."""
    groups: dict[str, dict[str, dict[str, Any]]] = {family: {} for family in FAMILIES}
    for key, summary in summaries.items():
        groups[summary_family(summary)][key] = summary
    return groups


def _float(value: Any) -> float | None:
    """A finite Python float, or None (for NaN, inf and None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _share(count: int, n: int) -> float | None:
    return _float(count / n) if n else None


def _as_snapshot(snapshot: Snapshot | dict[str, Any]) -> Snapshot:
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot.model_validate(snapshot)


def answers_of(snapshot: Snapshot, question: Question) -> tuple[list[Any], int]:
    """The valid answers to `question` (read leniently by its kind) and how many responses were asked it."""
    raw = answers_column(snapshot, question.key)
    asked = asked_column(snapshot.survey, question, snapshot)
    if asked is not None:
        raw = [value for value, was_asked in zip(raw, asked, strict=True) if was_asked]
    values = [v for v in coerce_column(question, raw) if v is not None]
    return values, len(raw)


# Differences of microseconds below this convert to float seconds exactly as `timedelta.total_seconds` does.
_EXACT_MICROSECONDS = 2**53


def completion(snapshot: Snapshot) -> dict[str, Any]:
    """How many responded and finished, and how long finishing took, as far as the timestamps tell.

    Completion is known when any response has `completed_at` (a response is complete when it has one);
    otherwise `completed_count` and `completion_rate` are None and `completion_known` is False. Completion
    times use the responses with both timestamps (`timed_count`); without any they are None.
    """
    total = len(snapshot.responses)
    ends = record_column(snapshot, "completed_at")
    completed = total - ends.count(None)
    known = completed > 0
    durations: list[float] | np.ndarray | None = None
    begins = record_column(snapshot, "started_at")
    starts = times_column(begins)
    finishes = times_column(ends) if starts is not None else None
    if starts is not None and finishes is not None:
        timed = starts[1] & finishes[1]
        spans = finishes[0][timed] - starts[0][timed]
        if not spans.size or int(np.abs(spans).max()) < _EXACT_MICROSECONDS:
            durations = spans / 1e6  # = timedelta.total_seconds(): an exact int over 10**6, correctly rounded
    if durations is None:  # naive times (or centuries apart): as the objects subtract
        durations = [
            (end - begin).total_seconds()
            for begin, end in zip(begins, ends, strict=True) if end is not None and begin is not None
        ]
    return {
        "response_count": total,
        "completion_known": known,
        "completed_count": completed if known else None,
        "completion_rate": _share(completed, total) if known else None,
        "timed_count": len(durations),
        "avg_completion_seconds": _float(np.mean(durations)) if len(durations) else None,
        "median_completion_seconds": _float(np.median(durations)) if len(durations) else None,
    }


def period(snapshot: Snapshot) -> dict[str, Any] | None:
    """The period the responses cover: the first and last start time (completion times when no response has a
    start time), as ISO 8601; None when the data has no times at all."""
    for basis in ("started_at", "completed_at"):
        column = record_column(snapshot, basis)
        times = [t for t in column if t is not None]
        if not times:
            continue
        instants = times_column(times)
        if instants is None:  # naive times: compared as objects (and a naive with an aware one raises, as ever)
            first, last = min(times), max(times)
        else:  # the first of equal instants, as min() and max() pick
            first, last = times[int(np.argmin(instants[0]))], times[int(np.argmax(instants[0]))]
        return {"first": first.isoformat(), "last": last.isoformat(), "basis": basis}
    return None


def nps_breakdown(scores: Iterable[int]) -> dict[str, Any]:
    """NPS = % promoters (9-10) - % detractors (0-6), in points from -100 to 100, with the group counts."""
    values = list(scores)
    array = np.asarray(values) if values else np.zeros(0, dtype=np.int64)
    if array.dtype.kind in "iuf" and array.ndim == 1:
        promoters = int(np.count_nonzero(array >= PROMOTER_MIN))
        detractors = int(np.count_nonzero(array <= DETRACTOR_MAX))
    else:
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
    half = float(stdtrit(n - 1, (1 + confidence) / 2)) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def _moments(values: list[Any]) -> dict[str, Any]:
    """Mean, median, sample std and the 95% CI of the mean (None where undefined)."""
    data = np.asarray(values)  # once: numpy would convert the list for each figure
    ci = mean_ci(data)  # type: ignore[arg-type]
    return {
        "mean": _float(np.mean(data)) if len(values) else None,
        "median": _float(np.median(data)) if len(values) else None,
        "std": _float(np.std(data, ddof=1)) if len(values) > 1 else None,
        "ci_low": _float(ci[0]) if ci else None,
        "ci_high": _float(ci[1]) if ci else None,
    }


def _boxes(ranks: list[int] | np.ndarray, points: int) -> dict[str, Any]:
    """Top-2 and bottom-2 box shares of answers ranked 1..points (None below MIN_BOX_POINTS points)."""
    n = len(ranks)
    if points < MIN_BOX_POINTS or not n:
        return {"top2_box": None, "bottom2_box": None}
    array = np.asarray(ranks)
    return {"top2_box": _share(int(np.count_nonzero(array >= points - 1)), n),
            "bottom2_box": _share(int(np.count_nonzero(array <= 2)), n)}


# --- summaries per kind -------------------------------------------------------------------------------------

def nps_summary(question: Question, values: list[int]) -> dict[str, Any]:
    """Moments, the count of every score 0..10 (zeros included) and the question's NPS breakdown."""
    return {
        **_moments(values),
        "distribution": {str(v): values.count(v) for v in range(0, 11)},
        "nps": nps_breakdown(values),
    }


def scale_summary(question: Question, values: list[int]) -> dict[str, Any]:
    """Moments, the count of every value min..max, its labels and the top-2/bottom-2 box shares."""
    low, high = int(question.min or 0), int(question.max or 0)
    return {
        **_moments(values),
        "min": low,
        "max": high,
        "labels": dict(question.labels or {}),
        "distribution": {str(v): values.count(v) for v in range(low, high + 1)},
        **_boxes(np.asarray(values) - low + 1 if values else [], high - low + 1),
    }


def ordinal_summary(question: Question, values: list[str]) -> dict[str, Any]:
    """Count and share per label in order, the median category and the top-2/bottom-2 box shares.

    The median category is the first label at which the cumulative share reaches one half (the lower median
    of the ranks, so it is always a label).
    """
    labels = question.options or []
    position = {label: i + 1 for i, label in reversed(list(enumerate(labels)))}  # the first of equal labels
    ranks = np.sort(np.fromiter((position[v] for v in values), dtype=np.int64, count=len(values)))
    counts = np.bincount(ranks, minlength=len(labels) + 1).tolist()
    n = len(ranks)
    median_rank = int(ranks[(n - 1) // 2]) if n else None
    return {
        "options": [{"option": label, "count": counts[i + 1], "share": _share(counts[i + 1], n)}
                    for i, label in enumerate(labels)],
        "median": labels[median_rank - 1] if median_rank else None,
        "median_rank": median_rank,
        **_boxes(ranks, len(labels)),
    }


def numeric_summary(question: Question, values: list[float]) -> dict[str, Any]:
    """Moments, observed range, the 5/25/50/75/95% quantiles (linear interpolation) and histogram bins."""
    data = np.asarray(values, dtype=float)
    histogram: list[dict[str, Any]] = []
    quantiles: dict[str, float | None] = {f"p{q}": None for q in QUANTILES}
    if values:
        quantiles = {f"p{q}": _float(v) for q, v in zip(QUANTILES, np.percentile(data, QUANTILES), strict=True)}
        edges = np.histogram_bin_edges(data, bins="auto")
        if len(edges) - 1 > MAX_HISTOGRAM_BINS:
            edges = np.histogram_bin_edges(data, bins=MAX_HISTOGRAM_BINS)
        counts, edges = np.histogram(data, bins=edges)
        histogram = [{"low": _float(lo), "high": _float(hi), "count": int(c)}
                     for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)]
    return {
        **_moments(values),
        "min": _float(data.min()) if values else None,
        "max": _float(data.max()) if values else None,
        "quantiles": quantiles,
        "histogram": histogram,
    }


def choice_summary(question: Question, chosen: list[Any], *, multiple: bool = False) -> dict[str, Any]:
    """Count and share of every option, in option order; `multiple` tells multi-choice (lists) apart.

    The share is of respondents who answered the question, so multi-choice shares can add up to more
    than 1. Options are a list rather than a dict because PostgreSQL's JSONB does not keep key order.
    """
    n = len(chosen)
    counts = {option: 0 for option in question.options or []}
    if all(type(answer) is list for answer in chosen):
        tally = Counter(chain.from_iterable(chosen))
    else:
        tally = Counter(chain.from_iterable(answer if isinstance(answer, list) else [answer] for answer in chosen))
    for item, count in tally.items():
        counts[item] += count  # an answer that is no option raises KeyError, as counting one by one did
    return {
        "multiple": multiple,
        "options": [{"option": o, "count": c, "share": _share(c, n)} for o, c in counts.items()],
    }


def text_summary(question: Question, texts: list[str]) -> dict[str, Any]:
    """The mean length in words of the non-blank answers."""
    words = np.fromiter(map(len, (t.split() for t in texts)), dtype=np.int64, count=len(texts))
    return {"mean_words": _float(np.mean(words)) if texts else None}


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    return day.replace(day=1) if period == "month" else day.replace(month=1, day=1)


def _next_period(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def _label(start: date, period: str) -> str:
    return start.isoformat() if period == "week" else start.isoformat()[: 7 if period == "month" else 4]


def date_summary(question: Question, values: list[str]) -> dict[str, Any]:
    """First and last date, and the count per week (Monday start), month or year from first to last.

    Weeks while the dates span at most MAX_WEEKS weeks, months up to MAX_MONTHS months, else years, so the
    list stays short whatever the dates; periods without answers are listed with 0.
    """
    days = sorted(date.fromisoformat(v) for v in values)
    if not days:
        return {"first": None, "last": None, "period": None, "counts": []}
    first, last = days[0], days[-1]
    months = (last.year - first.year) * 12 + last.month - first.month
    period = "week" if (last - first).days < 7 * MAX_WEEKS else "month" if months < MAX_MONTHS else "year"
    counts: dict[date, int] = {}
    start = _period_start(first, period)
    while start <= last:
        counts[start] = 0
        try:
            start = _next_period(start, period)
        except (ValueError, OverflowError):  # the calendar ends at 9999
            break
    for day in days:
        counts[_period_start(day, period)] += 1
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "period": period,
        "counts": [{"period": _label(s, period), "count": c} for s, c in counts.items()],
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


def question_summary(snapshot: Snapshot, question: Question) -> dict[str, Any]:
    """The summary of one question: the common counts, then its kind's figures."""
    values, asked = answers_of(snapshot, question)
    return {
        "kind": question.type,
        "text": question.text,
        "n": len(values),
        "blank": asked - len(values),
        "not_asked": len(snapshot.responses) - asked,
        **_SUMMARIES[question.type].summarize(question, values),
    }


def nps_question(snapshot: Snapshot) -> Question | None:
    """The survey's first NPS question, if any (a 0-10 scale is not an NPS question)."""
    return next((q for q in snapshot.survey.questions if q.type == NPS_KIND), None)


def basic_stats(snapshot: Snapshot | dict[str, Any]) -> dict[str, Any]:
    """The `basic_stats` component result: completion, NPS (None without an NPS question), per question."""
    snap = _as_snapshot(snapshot)
    questions = {q.key: question_summary(snap, q) for q in snap.survey.questions}
    nps_q = nps_question(snap)
    return {
        "survey_title": snap.survey.title,
        **completion(snap),
        "period": period(snap),
        "nps": questions[nps_q.key]["nps"] if nps_q else None,
        "questions": questions,
    }


register_summary(NPS_KIND, "scores", nps_summary)
register_summary("scale", "scores", scale_summary)
register_summary("numeric", "scores", numeric_summary)
register_summary("ordinal", "categories", ordinal_summary)
register_summary("single_choice", "categories", choice_summary)
register_summary("multi_choice", "categories", partial(choice_summary, multiple=True))
register_summary("text", "text", text_summary)
register_summary("date", "dates", date_summary)
