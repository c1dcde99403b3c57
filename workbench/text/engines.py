"""Text-analysis engines behind one interface, in a registry of factories.

A sentiment engine turns texts into predictions: a label (positive / neutral / negative), class probabilities
when it has them, and a continuous score in [-1, 1]. It declares an `EngineInfo`: its name, the model it runs,
the languages it reads (answers in others are set aside, not scored) and the figures measured for it on the
held-out split of the clothing reviews (`workbench eval sentiment`; shipped in `models/sentiment_head.json`),
so a report can say which engine produced a figure and how accurate it measured.

Engines are built on first use: `minilm` loads a 23 MB ONNX model, and a remote engine added later with one
`register()` call would only be built when a report asks for it.

Bundled engines:

* `minilm` (default): all-MiniLM-L6-v2 sentence embeddings (int8 ONNX, local) + VADER features + a word and
  bigram TF-IDF, into a logistic-regression head trained on the clothing reviews to predict the 1-5 rating
  (`workbench.text.head`).
  Score = (expected rating - 3) / 2.
* `vader`: VADER (rule-based, local, deterministic); score = compound, labels by the usual +-0.05 cut-offs.
* `openai`: a model behind OpenAI's chat-completions API (OpenAI or a compatible server), on redacted answers;
  needs `WORKBENCH_OPENAI_API_KEY` (`workbench.text.openai_engine`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

LABELS = ("positive", "neutral", "negative")
# Standard VADER cut-offs on the compound score; also how a score-only engine's scores are labelled.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
DEFAULT_ENGINE = "minilm"


def label_of(score: float) -> str:
    """positive / neutral / negative by the VADER thresholds (for engines that only give a score)."""
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


@dataclass(frozen=True)
class SentimentPrediction:
    """One answer's sentiment."""

    label: str
    score: float  # in [-1, 1]
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True)
class EngineInfo:
    """What a report says about the engine behind its figures."""

    name: str
    model: str | None = None
    languages: tuple[str, ...] = ("en",)
    evaluation: dict[str, Any] | None = None  # figures measured on the held-out split, with what it was
    notes: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types, for a component result."""
        return {"name": self.name, "model": self.model, "languages": list(self.languages),
                "evaluation": self.evaluation, "notes": self.notes}


@runtime_checkable
class SentimentEngine(Protocol):
    """The minimum an engine provides: one score in [-1, 1] per text, in order.

    Engines may also provide `predict(texts) -> list[SentimentPrediction]` (labels and probabilities of their
    own) and `info: EngineInfo`; `predictions()` and `engine_info()` fill in for engines that do not.
    """

    name: str

    def score(self, texts: list[str]) -> list[float]: ...


def engine_info(engine: SentimentEngine) -> EngineInfo:
    """The engine's `info`, or a minimal one (its name, English assumed) for a score-only engine."""
    info = getattr(engine, "info", None)
    return info if isinstance(info, EngineInfo) else EngineInfo(name=engine.name)


def predictions(engine: SentimentEngine, texts: list[str]) -> list[SentimentPrediction]:
    """Predictions from any engine: its own `predict`, or its scores labelled by the VADER thresholds.

    Args:
        engine: A registered engine.
        texts: Cleaned, readable answers.

    Returns:
        One prediction per text, in order.
    """
    predict = getattr(engine, "predict", None)
    if callable(predict):
        return list(predict(texts)) if texts else []
    scores = engine.score(texts) if texts else []
    return [SentimentPrediction(label_of(float(s)), float(s)) for s in scores]


def _shipped_evaluation(engine: str) -> dict[str, Any] | None:
    import json

    from workbench.text.head import HEAD_METADATA

    if not HEAD_METADATA.is_file():
        return None
    meta = json.loads(HEAD_METADATA.read_text())
    figures = meta.get("evaluation", {}).get(engine)
    if figures is None:
        return None
    return {"dataset": meta.get("dataset"), "split": meta.get("heldout"), **figures}


class VaderEngine:
    """VADER (rule-based, local, deterministic). The analyser loads its lexicon once, at construction."""

    name = "vader"

    def __init__(self) -> None:
        """Load VADER's lexicon."""
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self.info = EngineInfo(
            name=self.name, model="vaderSentiment 3.3 lexicon", languages=("en",),
            evaluation=_shipped_evaluation(self.name),
            notes="Rule-based: reads words, not intent; labels by compound >= 0.05 / <= -0.05.",
        )

    def score(self, texts: list[str]) -> list[float]:
        """VADER's compound score per text."""
        return [float(self._analyzer.polarity_scores(t)["compound"]) for t in texts]

    def predict(self, texts: list[str]) -> list[SentimentPrediction]:
        """Compound scores labelled by the standard cut-offs (VADER has no class probabilities)."""
        return [SentimentPrediction(label_of(s), s) for s in self.score(texts)]


PREDICT_CHUNK = 4096  # answers per embedding + head pass of `MiniLMEngine.predict`


class MiniLMEngine:
    """MiniLM sentence embeddings + VADER features + word / bigram TF-IDF of the text into the shipped head (an
    ordinal 1-5 rating model)."""

    name = "minilm"

    def __init__(self, embedder: Any = None, head: Any = None) -> None:
        """Load the head and the embedder (the process-wide cached one unless given).

        Args:
            embedder: A `MiniLMEmbedder`; default `default_embedder()` (on-disk cache).
            head: A `SentimentHead`; default the shipped one.
        """
        from workbench.text.embeddings import default_embedder
        from workbench.text.head import load_head

        self.head = head or load_head()
        self.embedder = embedder or default_embedder()
        self._vader = VaderEngine()
        meta = self.head.metadata
        self.info = EngineInfo(
            name=self.name, model=f"{self.embedder.model_name} + {meta.get('head', 'logistic regression')}",
            languages=("en",), evaluation=_shipped_evaluation(self.name),
            notes="Predicts a 1-5 rating distribution; score = (expected rating - 3) / 2; label by thresholds "
                  "on the expected rating.",
        )

    def features(self, texts: list[str]) -> np.ndarray:
        """The head's input rows for `texts`: the embedding, then the VADER features."""
        from workbench.text.head import vader_features

        parts = [self.embedder.embed(texts).astype(np.float64)]
        if len(self.head.features) > 1:
            parts.append(vader_features(self._vader._analyzer, texts))
        return np.hstack(parts)

    def predict(self, texts: list[str]) -> list[SentimentPrediction]:
        """Label, probabilities (negative / neutral / positive) and score per text (the head reads the embedding
        and VADER rows from `features` and the texts themselves for its TF-IDF block)."""
        from workbench.text.head import LABEL_ORDER

        predictions: list[SentimentPrediction] = []
        # In chunks: the features are float64 rows of 384+ columns, 0.6 GB (and as much again for the stacking) at
        # 200,000 answers if made at once. Each row is predicted on its own, so chunking changes no result.
        for start in range(0, len(texts), PREDICT_CHUNK):
            chunk = texts[start:start + PREDICT_CHUNK]
            labels, probs, scores = self.head.predict(self.features(chunk), chunk)
            predictions += [
                SentimentPrediction(lab, round(float(s), 6),
                                    {c: round(float(p), 6) for c, p in zip(LABEL_ORDER, row, strict=True)})
                for lab, row, s in zip(labels, probs, scores, strict=True)
            ]
        return predictions

    def score(self, texts: list[str]) -> list[float]:
        """(Expected rating - 3) / 2 per text."""
        return [p.score for p in self.predict(texts)]


class EngineRegistry:
    """Engine factories by name; each engine is built on first use and then reused."""

    def __init__(self) -> None:
        """An empty registry."""
        self._factories: dict[str, Callable[[], SentimentEngine]] = {}
        self._instances: dict[str, SentimentEngine] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: Callable[[], SentimentEngine]) -> None:
        """Register (or replace) the factory of engine `name`."""
        with self._lock:
            self._factories[name] = factory
            self._instances.pop(name, None)

    def get(self, name: str) -> SentimentEngine:
        """The engine `name`, built on first use.

        Raises:
            KeyError: No engine of that name.
        """
        with self._lock:
            if name not in self._instances:
                try:
                    factory = self._factories[name]
                except KeyError:
                    known = ", ".join(self._factories)
                    raise KeyError(f"unknown sentiment engine '{name}' (known: {known})") from None
                self._instances[name] = factory()
            return self._instances[name]

    def names(self) -> list[str]:
        """Registered engine names, in registration order."""
        return list(self._factories)


engines = EngineRegistry()
engines.register("minilm", MiniLMEngine)
engines.register("vader", VaderEngine)


def _openai_engine() -> SentimentEngine:
    from workbench.text.openai_engine import engine_from_env  # needs WORKBENCH_OPENAI_API_KEY; see that module

    return engine_from_env()


engines.register("openai", _openai_engine)


def register(name: str, factory: Callable[[], SentimentEngine]) -> None:
    """Register a sentiment engine factory under `name` (module-level shortcut)."""
    engines.register(name, factory)


def get(name: str) -> SentimentEngine:
    """Return the (cached) engine registered as `name`."""
    return engines.get(name)


@dataclass
class ScoredAnswers:
    """Answers after cleaning, language check and scoring (what analyses and the evaluation share)."""

    texts: list[str]  # cleaned text of every answer, in order
    languages: list[str]
    predictions: list[SentimentPrediction | None]  # None: set aside
    set_aside: dict[str, Any] = field(default_factory=dict)
    boilerplate: list[str] = field(default_factory=list)


def check_predictions(engine: SentimentEngine, texts: list[str], preds: Sequence[Any]) -> list[SentimentPrediction]:
    """Refuse a bad reply instead of letting it become a silently wrong report (an engine is a plug-in).

    Raises:
        ValueError: Wrong count, a label not positive/neutral/negative, or a score outside [-1, 1].
    """
    import math

    if len(preds) != len(texts):
        raise ValueError(f"engine '{engine.name}' returned {len(preds)} scores for {len(texts)} texts")
    bad = [p.score for p in preds if not math.isfinite(p.score) or not -1.0 <= p.score <= 1.0]
    if bad:
        raise ValueError(f"engine '{engine.name}' returned scores outside [-1, 1]: {bad[:3]}")
    labels = {p.label for p in preds} - set(LABELS)
    if labels:
        raise ValueError(f"engine '{engine.name}' returned unknown labels: {sorted(labels)}")
    return list(preds)


def score_answers(engine: SentimentEngine, raw_texts: Sequence[str]) -> ScoredAnswers:
    """Clean `raw_texts`, set aside what `engine` cannot read, and score the rest.

    Args:
        engine: The engine.
        raw_texts: Non-blank answers to one question (boilerplate is judged among them).

    Returns:
        Cleaned texts, languages, predictions (None for set-aside answers) and the set-aside counts:
        `{"count": n, "reasons": {"unsupported_language": k, "no_words": m}, "languages": {"es": k, ...}}`.
    """
    from workbench.text.clean import NO_WORDS, prepare_answers, readable

    prepared = prepare_answers(raw_texts)
    info = engine_info(engine)
    reasons = {"unsupported_language": 0, "no_words": 0}
    languages: dict[str, int] = {}
    keep: list[int] = []
    for i, answer in enumerate(prepared.answers):
        if answer.language == NO_WORDS or not answer.text:
            reasons["no_words"] += 1
        elif not readable(answer.language, info.languages):
            reasons["unsupported_language"] += 1
            languages[answer.language] = languages.get(answer.language, 0) + 1
        else:
            keep.append(i)
    texts = [a.text for a in prepared.answers]
    # Each distinct text is scored once: an engine scores a text on its own, and a survey repeats its short
    # answers ("Good", "Nothing") many times (a model or an API call per repeat bought nothing).
    distinct: dict[str, int] = {}
    row = [distinct.setdefault(texts[i], len(distinct)) for i in keep]
    scored = check_predictions(engine, list(distinct), predictions(engine, list(distinct)))
    preds: list[SentimentPrediction | None] = [None] * len(texts)
    for i, r in zip(keep, row, strict=True):
        preds[i] = scored[r]
    return ScoredAnswers(
        texts=texts, languages=[a.language for a in prepared.answers], predictions=preds,
        set_aside={"count": len(texts) - len(keep), "reasons": reasons, "languages": dict(sorted(languages.items()))},
        boilerplate=prepared.boilerplate,
    )
