"""Measure a sentiment engine against labelled answers: the figures `workbench eval sentiment` prints and the
head's metadata ships (accuracy, macro-F1, the majority-class baseline, Spearman with a numeric label, the
confusion counts and answers per second)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.text.engines import LABELS, SentimentEngine, engine_info, score_answers

DEFAULT_LABEL_MAP = "1=negative,2=negative,3=neutral,4=positive,5=positive"


def parse_label_map(spec: str) -> dict[str, str]:
    """Parse `'1=negative,2=negative,...'` into {raw value: label}.

    Args:
        spec: Comma-separated `value=label` pairs; labels must be positive, neutral or negative.

    Returns:
        The mapping (keys as written, stripped).

    Raises:
        ValueError: A pair without `=` or a label that is not one of the three.
    """
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = pair.partition("=")
        value = value.strip().lower()
        if not sep or not key.strip():
            raise ValueError(f"label map entry {pair!r} is not value=label")
        if value not in LABELS:
            raise ValueError(f"label map entry {pair!r}: label must be one of {', '.join(LABELS)}")
        out[key.strip()] = value
    return out


def map_label(raw: Any, label_map: Mapping[str, str] | None) -> str | None:
    """The gold label of one raw cell: through the map (numbers compared as written, 4.0 as 4), else the
    cell itself when it already is a label; None when it maps to nothing."""
    if raw is None:
        return None
    text = str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    if label_map:
        return label_map.get(text)
    return text.lower() if text.lower() in LABELS else None


def _f1(gold: Sequence[str], pred: Sequence[str], label: str) -> float:
    tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
    fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
    fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def metrics(
    gold: Sequence[str], pred: Sequence[str], scores: Sequence[float], numeric: Sequence[float] | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the three classes), per-class F1, majority baseline, Spearman, confusion.

    Args:
        gold: True labels.
        pred: Predicted labels.
        scores: Continuous scores in [-1, 1].
        numeric: The raw label as a number (e.g. the 1-5 rating), for Spearman; None when not numeric.

    Returns:
        Plain JSON types, rounded to 4 decimals.
    """
    n = len(gold)
    if n == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "f1": {}, "majority_baseline": None,
                "majority_class": None, "spearman": None, "confusion": {}}
    counts = Counter(gold)
    majority, majority_n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    f1 = {label: round(_f1(gold, pred, label), 4) for label in LABELS}
    spearman = None
    if numeric is not None and len(set(numeric)) > 1 and len(set(scores)) > 1:
        from scipy.stats import spearmanr

        spearman = round(float(spearmanr(scores, numeric).statistic), 4)
    return {
        "n": n,
        "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / n, 4),
        # Over all three classes, as sklearn's f1_score(average="macro", labels=LABELS).
        "macro_f1": round(sum(_f1(gold, pred, label) for label in LABELS) / len(LABELS), 4),
        "f1": f1,
        "majority_baseline": round(majority_n / n, 4),
        "majority_class": majority,
        "spearman": spearman,
        "confusion": {g: {p: sum(1 for a, b in zip(gold, pred, strict=True) if a == g and b == p) for p in LABELS}
                      for g in LABELS},
    }


def evaluate(
    engine: SentimentEngine, texts: Sequence[str], gold: Sequence[str], numeric: Sequence[float] | None = None
) -> dict[str, Any]:
    """Clean, set aside, score and compare with the gold labels, timing the whole path.

    Args:
        engine: The engine.
        texts: Raw answers (non-blank).
        gold: Their labels.
        numeric: The raw labels as numbers, when they are (for Spearman).

    Returns:
        `metrics()` over the answers the engine read, plus `engine`, `set_aside`, `seconds`,
        `answers_per_second` (all answers, cleaning included; embeddings already cached cost nothing).
    """
    start = time.perf_counter()
    scored = score_answers(engine, list(texts))
    seconds = time.perf_counter() - start
    kept = [i for i, p in enumerate(scored.predictions) if p is not None]
    preds = [scored.predictions[i] for i in kept]
    figures = metrics(
        [gold[i] for i in kept], [p.label for p in preds if p is not None], [p.score for p in preds if p is not None],
        [numeric[i] for i in kept] if numeric is not None else None,
    )
    return {
        "engine": engine_info(engine).name,
        **figures,
        "set_aside": scored.set_aside,
        "seconds": round(seconds, 2),
        "answers_per_second": round(len(texts) / seconds, 1) if seconds > 0 else None,
    }


class EvaluationInputError(ValueError):
    """The file, its columns or the label map cannot be used (a message for the user, not a bug)."""


def load_labelled(
    path: Any, text_column: str, label_column: str, label_map: Mapping[str, str] | None
) -> tuple[list[int], list[str], list[str], list[float] | None]:
    """Rows of a CSV with a non-blank text and a label that maps to positive / neutral / negative.

    Args:
        path: The CSV file.
        text_column: Column of the answers.
        label_column: Column of the labels (raw values, mapped through `label_map`).
        label_map: raw value -> label; None: the column holds the labels themselves.

    Returns:
        Row positions in the file (0-based, data rows), texts, gold labels, and the raw labels as numbers
        when every kept one is numeric (else None).

    Raises:
        EvaluationInputError: Unreadable file, a missing column, or no usable row.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"cannot read {path}: {exc}") from None
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        known = ", ".join(repr(c) for c in frame.columns[:20])
        raise EvaluationInputError(f"{path}: no column {', '.join(map(repr, missing))} (columns: {known})")
    ids: list[int] = []
    texts: list[str] = []
    gold: list[str] = []
    raw: list[str] = []
    for i, (text, value) in enumerate(zip(frame[text_column], frame[label_column], strict=True)):
        label = map_label(value, label_map)
        if text.strip() and label is not None:
            ids.append(i)
            texts.append(text.strip())
            gold.append(label)
            raw.append(value.strip())
    if not ids:
        raise EvaluationInputError(f"{path}: no row has both a text and a label the label map knows")
    try:
        numeric: list[float] | None = [float(v) for v in raw]
    except ValueError:
        numeric = None
    return ids, texts, gold, numeric


def heldout_positions(gold: Sequence[str]) -> list[int]:
    """Positions (into the loaded rows) of the held-out split: the same seeded, stratified split the head was
    trained against, so on the clothing reviews these are exactly the rows training never saw."""
    from sklearn.model_selection import train_test_split

    from workbench.text.reviews import HELDOUT_SEED, HELDOUT_SHARE

    _, held = train_test_split(list(range(len(gold))), test_size=HELDOUT_SHARE, random_state=HELDOUT_SEED,
                               stratify=list(gold))
    return sorted(int(i) for i in held)
