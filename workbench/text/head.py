"""The sentiment head: an ordinal reading of MiniLM embeddings (+ VADER features) as a 1-5 rating.

A multinomial logistic regression predicts the probability of each rating 1-5 from the answer's embedding and
nine VADER features (compound, pos/neg/neu shares, and the min / max / mean / last sentence compound and the
share of negative sentences: a review that is positive overall but has one damning sentence is often a 3).
From those probabilities:

* P(negative) = P(1) + P(2), P(neutral) = P(3), P(positive) = P(4) + P(5);
* the expected rating E = sum(k * P(k)); score = (E - 3) / 2, in [-1, 1];
* label: negative below `thresholds[0]`, neutral below `thresholds[1]`, else positive. The thresholds are
  chosen on out-of-fold predictions of the training rows (never the held-out ones), see train_sentiment.

Predicting five ordered classes and cutting their expectation reads "3 stars" as the middle of a scale, which
is what it is; it measured better on the neutral class than a three-class model with the same features.

Weights are plain arrays in `models/sentiment_head.npz` (no pickle: loading runs no code), everything else in
`models/sentiment_head.json`. `python -m workbench.text.train_sentiment` writes both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.text.embeddings import MODELS_DIR

HEAD_WEIGHTS = MODELS_DIR / "sentiment_head.npz"
HEAD_METADATA = MODELS_DIR / "sentiment_head.json"
RATINGS = (1, 2, 3, 4, 5)
LABEL_ORDER = ("negative", "neutral", "positive")
VADER_FEATURES = ("vader_compound", "vader_pos", "vader_neg", "vader_neu", "vader_sentence_min",
                  "vader_sentence_max", "vader_sentence_mean", "vader_negative_sentence_share",
                  "vader_last_sentence")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def vader_features(analyzer: Any, texts: Sequence[str]) -> np.ndarray:
    """The nine VADER features of each text (see the module docstring), shape (n, 9).

    Args:
        analyzer: A `vaderSentiment` `SentimentIntensityAnalyzer`.
        texts: Cleaned answers.

    Returns:
        float64 rows in `VADER_FEATURES` order.
    """
    rows = []
    for text in texts:
        whole = analyzer.polarity_scores(text)
        sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
        scores = [analyzer.polarity_scores(s)["compound"] for s in sentences] if len(sentences) > 1 \
            else [whole["compound"]]
        rows.append([whole["compound"], whole["pos"], whole["neg"], whole["neu"], min(scores), max(scores),
                     sum(scores) / len(scores), sum(s <= -0.05 for s in scores) / len(scores), scores[-1]])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(VADER_FEATURES))


@dataclass(frozen=True)
class SentimentHead:
    """P(rating) = softmax(((x - mean) / scale) @ coef.T + intercept); labels by thresholds on E[rating]."""

    coef: np.ndarray  # (ratings, features)
    intercept: np.ndarray  # (ratings,)
    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    thresholds: tuple[float, float]
    features: tuple[str, ...]  # "minilm" (384 dims) then VADER_FEATURES
    metadata: dict[str, Any]

    def rating_probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(rating 1..5) per feature row, shape (n, 5)."""
        logits = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Labels, label probabilities (n, 3, in `LABEL_ORDER`) and scores in [-1, 1] for feature rows `x`."""
        return predict_from_ratings(self.rating_probabilities(x), self.thresholds)

    def save(self, weights: Path = HEAD_WEIGHTS, metadata: Path = HEAD_METADATA) -> None:
        """Write the weights (.npz) and the metadata (.json, stable formatting)."""
        np.savez(weights, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                 mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32))
        meta = {**self.metadata, "ratings": list(RATINGS), "labels": list(LABEL_ORDER),
                "thresholds": [round(t, 4) for t in self.thresholds], "features": list(self.features)}
        metadata.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def predict_from_ratings(
    probs: np.ndarray, thresholds: tuple[float, float]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels, label probabilities and scores from rating probabilities (n, 5).

    Args:
        probs: P(rating 1..5) per row.
        thresholds: Expected-rating cut-offs (negative below the first, neutral below the second).

    Returns:
        (labels, (n, 3) probabilities in `LABEL_ORDER`, scores = (E[rating] - 3) / 2).
    """
    expected = probs @ np.array(RATINGS, dtype=np.float64)
    grouped = np.stack([probs[:, 0] + probs[:, 1], probs[:, 2], probs[:, 3] + probs[:, 4]], axis=1)
    labels = [LABEL_ORDER[0] if e < thresholds[0] else LABEL_ORDER[1] if e < thresholds[1] else LABEL_ORDER[2]
              for e in expected]
    return labels, grouped, np.clip((expected - 3.0) / 2.0, -1.0, 1.0)


def load_head(weights: Path = HEAD_WEIGHTS, metadata: Path = HEAD_METADATA) -> SentimentHead:
    """Load the shipped head.

    Args:
        weights: The .npz arrays.
        metadata: The .json metadata.

    Returns:
        The head.
    """
    meta = json.loads(metadata.read_text())
    with np.load(weights, allow_pickle=False) as arrays:
        head = SentimentHead(
            coef=arrays["coef"].astype(np.float64), intercept=arrays["intercept"].astype(np.float64),
            mean=arrays["mean"].astype(np.float64), scale=arrays["scale"].astype(np.float64),
            thresholds=(float(meta["thresholds"][0]), float(meta["thresholds"][1])),
            features=tuple(meta["features"]), metadata=meta,
        )
    if head.coef.shape != (len(RATINGS), head.mean.shape[0]):
        raise ValueError(f"{weights}: coef {head.coef.shape} does not match {len(RATINGS)} ratings "
                         f"x {head.mean.shape[0]} features")
    return head
