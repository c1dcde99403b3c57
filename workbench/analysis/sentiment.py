"""Sentiment of free-text answers, scored by a pluggable engine.

An engine turns texts into compound scores in [-1, 1]. Engines live in a registry of factories so a remote
engine (e.g. an OpenAI-compatible one needing a key and a base URL) can be added later with one `register()`
call and is only built when a report asks for it. The bundled engine is `vader` (local, deterministic).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from workbench.surveys.schema import QuestionType, Snapshot

# Standard VADER cut-offs on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
LABELS = ("positive", "neutral", "negative")
# Quoted answers are cut so a 10,000-character answer cannot swamp the report.
MAX_QUOTE_CHARS = 500
DEFAULT_ENGINE = "vader"

T = TypeVar("T")


@runtime_checkable
class SentimentEngine(Protocol):
    """Scores texts; one compound score in [-1, 1] per text, in order."""

    name: str

    def score(self, texts: list[str]) -> list[float]: ...


class VaderEngine:
    """VADER (rule-based, local, deterministic). The analyser loads its lexicon once, at construction."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: list[str]) -> list[float]:
        return [float(self._analyzer.polarity_scores(t)["compound"]) for t in texts]


class EngineRegistry:
    """Engine factories by name; each engine is built on first use and then reused."""

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], SentimentEngine]] = {}
        self._instances: dict[str, SentimentEngine] = {}

    def register(self, name: str, factory: Callable[[], SentimentEngine]) -> None:
        self._factories[name] = factory
        self._instances.pop(name, None)

    def get(self, name: str) -> SentimentEngine:
        if name not in self._instances:
            try:
                factory = self._factories[name]
            except KeyError:
                known = ", ".join(self.names())
                raise KeyError(f"unknown sentiment engine '{name}' (known: {known})") from None
            self._instances[name] = factory()
        return self._instances[name]

    def names(self) -> list[str]:
        return list(self._factories)


engines = EngineRegistry()
engines.register("vader", VaderEngine)


def register(name: str, factory: Callable[[], SentimentEngine]) -> None:
    """Register a sentiment engine factory under `name` (module-level shortcut)."""
    engines.register(name, factory)


def get(name: str) -> SentimentEngine:
    """Return the (cached) engine registered as `name`."""
    return engines.get(name)


def label(score: float) -> str:
    """positive / neutral / negative by the VADER thresholds."""
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def text_answers(snapshot: Snapshot, key: str) -> list[tuple[str | None, str]]:
    """(respondent_id, text) of every non-blank string answer to `key`, in response order."""
    return [
        (r.respondent_id, value.strip())
        for r in snapshot.responses
        if isinstance(value := r.answers.get(key), str) and value.strip()
    ]


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


def _checked_scores(engine: SentimentEngine, texts: list[str]) -> list[float]:
    # An engine is a plug-in (possibly remote): do not let a bad reply turn into a silently wrong report.
    scores = engine.score(texts) if texts else []
    if len(scores) != len(texts):
        raise ValueError(f"engine '{engine.name}' returned {len(scores)} scores for {len(texts)} texts")
    out = [float(s) for s in scores]
    bad = [s for s in out if not math.isfinite(s) or not -1.0 <= s <= 1.0]
    if bad:
        raise ValueError(f"engine '{engine.name}' returned scores outside [-1, 1]: {bad[:3]}")
    return out


def _summary(scores: Sequence[float]) -> dict[str, Any]:
    n = len(scores)
    distribution = {name: 0 for name in LABELS}
    for s in scores:
        distribution[label(s)] += 1
    return {
        "n": n,
        "distribution": distribution,
        "shares": {k: (round(c / n, 4) if n else None) for k, c in distribution.items()},
        "mean_compound": round(math.fsum(scores) / n, 4) if n else None,
    }


def _top(rows: list[tuple[str | None, str, float]], wanted: str, top_n: int) -> list[dict[str, Any]]:
    sign = -1.0 if wanted == "positive" else 1.0
    # Strongest first; equal scores ordered by respondent id (missing ids last), then response order.
    ranked = sorted(
        (i for i, row in enumerate(rows) if label(row[2]) == wanted),
        key=lambda i: (sign * rows[i][2], rows[i][0] is None, rows[i][0] or "", i),
    )
    picked = distinct_texts(ranked, lambda i: rows[i][1])[: max(top_n, 0)]
    return [{"respondent_id": rows[i][0], "text": _quote(rows[i][1]), "score": rows[i][2]} for i in picked]


def analyze_sentiment(snapshot: Snapshot, engine: str = DEFAULT_ENGINE, top_n: int = 3) -> dict[str, Any]:
    """The `sentiment` component result for every text question of `snapshot` (plain JSON types)."""
    scorer = get(engine)
    questions: dict[str, Any] = {}
    all_scores: list[float] = []
    for q in snapshot.survey.questions:
        if q.type != QuestionType.TEXT:
            continue
        answers = text_answers(snapshot, q.key)
        scores = _checked_scores(scorer, [t for _, t in answers])
        rows = [(rid, text, round(s, 4)) for (rid, text), s in zip(answers, scores, strict=True)]
        all_scores.extend(s for _, _, s in rows)
        questions[q.key] = {
            "text": q.text,
            **_summary([s for _, _, s in rows]),
            "top_positive": _top(rows, "positive", top_n),
            "top_negative": _top(rows, "negative", top_n),
        }
    return {"engine": scorer.name, "questions": questions, "overall": _summary(all_scores)}
