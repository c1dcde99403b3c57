"""Sentiment of free-text answers, scored by a pluggable engine (see `workbench.text.engines`).

Before an engine reads anything, answers are cleaned (`workbench.text.clean`: entities, links, contact details,
mentions, repeated boilerplate) and those it cannot read (another language, no words left) are set aside and
counted per question instead of being scored as English. Each engine reports a label, a score in [-1, 1] and
what it is (`engine_info`: model and the accuracy measured on held-out data), so the report can say which
engine produced a figure and how far to trust it. The default engine is `minilm`; `vader` is kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from workbench.analysis.columns import answers_column, record_column
from workbench.surveys.schema import QuestionType, Snapshot, SurveyDefinition
from workbench.text.engines import (
    DEFAULT_ENGINE,
    LABELS,
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    EngineRegistry,
    SentimentEngine,
    SentimentPrediction,
    VaderEngine,
    engine_info,
    engines,
    get,
    label_of,
    register,
    score_answers,
)

# Quoted answers are cut so a 10,000-character answer cannot swamp the report.
MAX_QUOTE_CHARS = 500

T = TypeVar("T")

__all__ = [
    "DEFAULT_ENGINE", "LABELS", "MAX_QUOTE_CHARS", "NEGATIVE_THRESHOLD", "POSITIVE_THRESHOLD", "EngineRegistry",
    "SentimentEngine", "VaderEngine", "analyze_sentiment", "distinct_texts", "engines", "get", "label",
    "questions_used", "register", "text_answers",
]


def questions_used(survey: SurveyDefinition, segment_by: Sequence[str] | None = None) -> list[str]:
    """The questions whose answers `analyze_sentiment` reads with this `segment_by`: the text questions and the
    segment questions (for `load_snapshot(path, questions=...)`)."""
    from workbench.analysis.segment_report import segment_keys

    return [q.key for q in survey.questions if q.type == QuestionType.TEXT] + segment_keys(survey, segment_by)


def label(score: float) -> str:
    """positive / neutral / negative by the VADER thresholds (engines with their own labels use those)."""
    return label_of(score)


def text_answers(snapshot: Snapshot, key: str) -> list[tuple[str | None, str]]:
    """(respondent_id, text) of every non-blank string answer to `key`, in response order."""
    return [(respondent, text) for respondent, value in zip(record_column(snapshot, "respondent_id"),
                                                            answers_column(snapshot, key), strict=True)
            if isinstance(value, str) and (text := value.strip())]


def distinct_texts(items: Sequence[T], text_of: Callable[[T], str]) -> list[T]:
    """`items` in order, keeping the first of each answer text (ignoring case and punctuation): quoting
    both "Great!" and "great." adds nothing."""
    seen: set[str] = set()
    out: list[T] = []
    for item in items:
        norm = " ".join(re.findall(r"\w+", text_of(item).casefold())) or text_of(item).strip()
        if norm not in seen:
            seen.add(norm)
            out.append(item)
    return out


def _quote(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"


# (respondent_id, cleaned text, prediction with its score rounded)
Row = tuple[str | None, str, SentimentPrediction]


def _summary(rows: Sequence[Row]) -> dict[str, Any]:
    n = len(rows)
    distribution = {name: 0 for name in LABELS}
    for _, _, p in rows:
        distribution[p.label] += 1
    return {
        "n": n,
        "distribution": distribution,
        "shares": {k: (round(c / n, 4) if n else None) for k, c in distribution.items()},
        # The engine's score averaged (VADER: compound; minilm: P(positive) - P(negative)); name kept for readers.
        "mean_compound": round(math.fsum(p.score for _, _, p in rows) / n, 4) if n else None,
    }


def _top(rows: list[Row], wanted: str, top_n: int) -> list[dict[str, Any]]:
    sign = -1.0 if wanted == "positive" else 1.0
    # Strongest first; equal scores ordered by respondent id (missing ids last), then response order.
    ranked = sorted(
        (i for i, row in enumerate(rows) if row[2].label == wanted),
        key=lambda i: (sign * rows[i][2].score, rows[i][0] is None, rows[i][0] or "", i),
    )
    picked = distinct_texts(ranked, lambda i: rows[i][1])[: max(top_n, 0)]
    return [{"respondent_id": rows[i][0], "text": _quote(rows[i][1]), "score": rows[i][2].score} for i in picked]


def _add_set_aside(total: dict[str, Any], part: dict[str, Any]) -> None:
    total["count"] += part["count"]
    for key, value in part["reasons"].items():
        total["reasons"][key] = total["reasons"].get(key, 0) + value
    for key, value in part["languages"].items():
        total["languages"][key] = total["languages"].get(key, 0) + value


def analyze_sentiment(
    snapshot: Snapshot, engine: str = DEFAULT_ENGINE, top_n: int = 3, segment_by: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The `sentiment` component result for every text question of `snapshot` (plain JSON types).

    Args:
        snapshot: The survey and its responses.
        engine: A registered engine name (`minilm`, `vader`, ...).
        top_n: Answers quoted per side and question.
        segment_by: Segment question keys to compare sentiment across; empty or None: the survey's declared
            segments (`workbench.analysis.sentiment_segments`).

    Returns:
        `engine`, `engine_info`, per-question summaries (with `set_aside` counts and quotes of the cleaned
        answers, so contact details never reach the report), `overall` and `by_segment`.

    Raises:
        SegmentError: `segment_by` names a question respondents cannot be segmented by.
    """
    from workbench.analysis.segment_report import resolve_segment_by
    from workbench.analysis.sentiment_segments import sentiment_by_segment

    resolve_segment_by(snapshot.survey, segment_by)  # a bad segment_by fails before any answer is scored
    scorer = get(engine)
    info = engine_info(scorer)
    questions: dict[str, Any] = {}
    all_rows: list[Row] = []
    by_index: dict[str, list[tuple[int, str, float]]] = {}
    overall_aside: dict[str, Any] = {"count": 0, "reasons": {}, "languages": {}}
    for q in snapshot.survey.questions:
        if q.type != QuestionType.TEXT:
            continue
        answers = text_answers(snapshot, q.key)
        scored = score_answers(scorer, [t for _, t in answers])
        rows: list[Row] = [
            (rid, text, SentimentPrediction(p.label, round(p.score, 4), p.probabilities))
            for (rid, _), text, p in zip(answers, scored.texts, scored.predictions, strict=True) if p is not None
        ]
        all_rows.extend(rows)
        # response indices of the answers, in text_answers' order (same filter), for the per-segment figures
        indices = [i for i, value in enumerate(answers_column(snapshot, q.key))
                   if isinstance(value, str) and value.strip()]
        by_index[q.key] = [(i, p.label, round(p.score, 4))
                           for i, p in zip(indices, scored.predictions, strict=True) if p is not None]
        _add_set_aside(overall_aside, scored.set_aside)
        questions[q.key] = {
            "text": q.text,
            **_summary(rows),
            "set_aside": scored.set_aside,
            "boilerplate_removed": scored.boilerplate,
            "top_positive": _top(rows, "positive", top_n),
            "top_negative": _top(rows, "negative", top_n),
        }
    overall_aside["languages"] = dict(sorted(overall_aside["languages"].items()))
    # A model-backed engine counts its tokens (calls served from the reply cache cost none).
    client = getattr(scorer, "client", None)
    usage = dict(client.usage) if client is not None and isinstance(getattr(client, "usage", None), dict) else None
    return {
        "usage": usage,
        "engine": info.name,
        "engine_info": info.as_dict(),
        "questions": questions,
        "overall": {**_summary(all_rows), "set_aside": overall_aside},
        "by_segment": sentiment_by_segment(snapshot, by_index, segment_by),
    }
