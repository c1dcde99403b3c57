"""The sentiment head: an ordinal reading of MiniLM embeddings, VADER features and word / bigram TF-IDF as a
1-5 rating.

A multinomial logistic regression predicts the probability of each rating 1-5 from three blocks of features:

* the answer's MiniLM embedding (384 dims, standardised);
* nine VADER features (compound, pos/neg/neu shares, and the min / max / mean / last sentence compound and the
  share of negative sentences: a review that is positive overall but has one damning sentence is often a 3),
  standardised;
* TF-IDF weights of a fixed vocabulary of words and word bigrams ("not flattering", "too small", "wanted to
  love": the phrases that make a 3-star review), sublinear term frequency times the training idf, each row
  scaled to unit length (`term_matrix`). The vocabulary and idf are part of the head.

From those probabilities:

* P(negative) = P(1) + P(2), P(neutral) = P(3), P(positive) = P(4) + P(5);
* the expected rating E = sum(k * P(k)); score = (E - 3) / 2, in [-1, 1];
* label: negative below `thresholds[0]`, neutral below `thresholds[1]`, else positive. The thresholds are
  chosen on out-of-fold predictions of the training rows (never the held-out ones), see train_sentiment.

Predicting five ordered classes and cutting their expectation reads "3 stars" as the middle of a scale, which
is what it is; it measured better on the neutral class than a three-class model with the same features.

Weights, the vocabulary (a fixed-width unicode array) and its idf are plain arrays in
`models/sentiment_head.npz` (no pickle: loading runs no code), everything else in `models/sentiment_head.json`.
`python -m workbench.text.train_sentiment` writes both.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
# Words as scikit-learn's TfidfVectorizer would find them with this pattern, apostrophes kept ("don't").
_WORD = re.compile(r"\b\w[\w']*\b")


def terms_of(text: str) -> list[str]:
    """The lower-cased words of `text`, then its word bigrams ("too small"), in order, repeats kept."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def term_matrix(texts: Iterable[str], index: dict[str, int], idf: np.ndarray) -> Any:
    """TF-IDF rows of `texts` over a fixed vocabulary: (1 + log count) * idf, each row of unit length.

    Args:
        texts: Cleaned answers.
        index: term -> column.
        idf: The columns' inverse document frequencies.

    Returns:
        A `scipy.sparse.csr_matrix` of shape (len(texts), len(idf)); terms outside the vocabulary are ignored.
    """
    from scipy import sparse

    indptr, indices, data = [0], [], []
    for text in texts:
        counts = Counter(index[t] for t in terms_of(text) if t in index)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[cols]
        norm = float(np.sqrt((vals * vals).sum()))
        order = np.argsort(cols)
        indices.append(cols[order])
        data.append(vals[order] / norm if norm > 0 else vals[order])
        indptr.append(indptr[-1] + len(cols))
    return sparse.csr_matrix(
        (np.concatenate(data) if data else np.zeros(0), np.concatenate(indices) if indices else np.zeros(0, int),
         np.array(indptr)), shape=(len(indptr) - 1, len(idf)))


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
    """P(rating) = softmax(((x - mean) / scale) @ coef.T + tfidf(texts) @ term_coef.T + intercept); labels by
    thresholds on E[rating]. Without a vocabulary (`terms` empty) the TF-IDF block is absent."""

    coef: np.ndarray  # (ratings, dense features)
    intercept: np.ndarray  # (ratings,)
    mean: np.ndarray  # (dense features,)
    scale: np.ndarray  # (dense features,)
    thresholds: tuple[float, float]
    features: tuple[str, ...]  # "minilm" (384 dims) then VADER_FEATURES (the dense block)
    metadata: dict[str, Any]
    terms: tuple[str, ...] = ()  # the TF-IDF vocabulary: words and "word word" bigrams
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (terms,)
    term_coef: np.ndarray = field(default_factory=lambda: np.zeros((len(RATINGS), 0)))  # (ratings, terms)

    def __post_init__(self) -> None:
        """Index the vocabulary."""
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.terms)})

    def tfidf(self, texts: Sequence[str]) -> Any:
        """The TF-IDF rows of `texts` over the head's vocabulary (a sparse matrix)."""
        return term_matrix(texts, self._index, self.idf)  # type: ignore[attr-defined]

    def rating_probabilities(self, x: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """P(rating 1..5) per feature row (and its text, when the head has a vocabulary), shape (n, 5)."""
        logits = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        if self.terms:
            if texts is None or len(texts) != x.shape[0]:
                raise ValueError("this head reads the texts too (TF-IDF): pass one text per feature row")
            logits = logits + np.asarray(self.tfidf(texts) @ self.term_coef.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(
        self, x: np.ndarray, texts: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Labels, label probabilities (n, 3, in `LABEL_ORDER`) and scores in [-1, 1] for feature rows `x` (and
        their texts, for the TF-IDF block)."""
        return predict_from_ratings(self.rating_probabilities(x, texts), self.thresholds)

    def save(self, weights: Path = HEAD_WEIGHTS, metadata: Path = HEAD_METADATA) -> None:
        """Write the arrays (.npz, compressed, no objects) and the metadata (.json, stable formatting)."""
        np.savez_compressed(
            weights, coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
            mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
            terms=np.array(self.terms, dtype=np.str_), idf=self.idf.astype(np.float32),
            term_coef=self.term_coef.astype(np.float32))
        meta = {**self.metadata, "ratings": list(RATINGS), "labels": list(LABEL_ORDER),
                "thresholds": [round(t, 4) for t in self.thresholds], "features": list(self.features),
                "terms": len(self.terms)}
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
        terms = tuple(str(t) for t in arrays["terms"]) if "terms" in arrays.files else ()
        head = SentimentHead(
            coef=arrays["coef"].astype(np.float64), intercept=arrays["intercept"].astype(np.float64),
            mean=arrays["mean"].astype(np.float64), scale=arrays["scale"].astype(np.float64),
            thresholds=(float(meta["thresholds"][0]), float(meta["thresholds"][1])),
            features=tuple(meta["features"]), metadata=meta, terms=terms,
            idf=arrays["idf"].astype(np.float64) if terms else np.zeros(0),
            term_coef=arrays["term_coef"].astype(np.float64) if terms else np.zeros((len(RATINGS), 0)),
        )
    if head.coef.shape != (len(RATINGS), head.mean.shape[0]):
        raise ValueError(f"{weights}: coef {head.coef.shape} does not match {len(RATINGS)} ratings "
                         f"x {head.mean.shape[0]} features")
    if head.term_coef.shape != (len(RATINGS), len(terms)) or head.idf.shape != (len(terms),):
        raise ValueError(f"{weights}: term_coef {head.term_coef.shape} / idf {head.idf.shape} do not match "
                         f"{len(terms)} terms")
    return head
