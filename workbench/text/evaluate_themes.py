"""Measure the themes engine on a file of answers: the figures `workbench eval themes` prints and the themes
component ships (`workbench/text/models/themes_evaluation.json`).

* coverage: share of the analysed answers that mention at least one theme (1 - unassigned share);
* purity (with a label column): for each theme, the share of the answers mentioning it that carry the theme's
  most common label, weighted by the theme's answers; compared with the majority baseline (the most common
  label's share among analysed answers), the purity a theme that ignores the label would get. Long answers
  mention several themes, which pulls this towards the baseline, so `purity_dominant` also counts each answer
  once, in the theme most of its sentences belong to;
* answers/s over the whole path (cleaning, splitting, embedding unless cached, clustering, labelling).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.text.clean import NO_WORDS, prepare_answers, readable
from workbench.text.evaluate import EvaluationInputError
from workbench.text.theme_labels import wilson_interval
from workbench.text.themes import ENGINE, find_themes


def load_answers(path: Path | str, text_column: str, label_column: str | None = None
                 ) -> tuple[list[str], list[str] | None]:
    """Non-blank answers of `text_column` (and their labels, rows without one dropped) from a CSV.

    Raises:
        EvaluationInputError: Unreadable file, a missing column, or no answer.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"cannot read {path}: {exc}") from None
    wanted = [text_column] + ([label_column] if label_column else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        known = ", ".join(repr(c) for c in frame.columns[:20])
        raise EvaluationInputError(f"{path}: no column {', '.join(map(repr, missing))} (columns: {known})")
    texts: list[str] = []
    labels: list[str] = []
    for i, text in enumerate(frame[text_column]):
        label = frame[label_column].iloc[i].strip() if label_column else ""
        if text.strip() and (label or not label_column):
            texts.append(text.strip())
            labels.append(label)
    if not texts:
        raise EvaluationInputError(f"{path}: no row has a non-blank {text_column!r}"
                                   + (f" and {label_column!r}" if label_column else ""))
    return texts, (labels if label_column else None)


def evaluate_themes(texts: Sequence[str], labels: Sequence[str] | None = None, max_themes: int = 6,
                    embedder: Any = None) -> dict[str, Any]:
    """Clean, set aside, find themes and measure them.

    Args:
        texts: Raw answers.
        labels: A label per answer for purity, or None.
        max_themes: At most this many themes.
        embedder: Embedder override; default the cached MiniLM embedder.

    Returns:
        Plain JSON figures: `n`, `set_aside`, `themes`, `coverage`, `unassigned_share`, `purity`,
        `majority_baseline`, `seconds`, `answers_per_second` and per-theme rows.
    """
    start = time.perf_counter()
    prepared = prepare_answers(list(texts))
    reasons = {"unsupported_language": 0, "no_words": 0}
    languages: Counter[str] = Counter()
    kept: list[int] = []
    for i, answer in enumerate(prepared.answers):
        if answer.language == NO_WORDS or not answer.text:
            reasons["no_words"] += 1
        elif not readable(answer.language, ("en",)):
            reasons["unsupported_language"] += 1
            languages[answer.language] += 1
        else:
            kept.append(i)
    analysed = [prepared.answers[i].text for i in kept]
    model = find_themes(analysed, max_themes, embedder=embedder)
    seconds = time.perf_counter() - start
    n = len(analysed)
    rows: list[dict[str, Any]] = []
    majority_hits = 0
    mentions = 0
    for theme in model.themes:
        row: dict[str, Any] = {"label": theme.label, "count": len(theme.answers),
                               "share": round(len(theme.answers) / n, 4),
                               "share_ci": wilson_interval(len(theme.answers), n), "keywords": theme.keywords}
        if labels is not None:
            counts = Counter(labels[kept[a]] for a in theme.answers)
            top, top_n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
            row.update(majority_label=top, purity=round(top_n / len(theme.answers), 4))
            majority_hits += top_n
            mentions += len(theme.answers)
        rows.append(row)
    baseline = dominant_purity = None
    if labels is not None and n:
        overall = Counter(labels[i] for i in kept)
        baseline = round(max(overall.values()) / n, 4)
        by_theme: dict[int, Counter[str]] = {}
        for a, t in enumerate(model.dominant):
            if t >= 0:
                by_theme.setdefault(t, Counter())[labels[kept[a]]] += 1
        assigned = sum(sum(c.values()) for c in by_theme.values())
        dominant_purity = round(sum(max(c.values()) for c in by_theme.values()) / assigned, 4) if assigned else None
    unassigned = len(model.unassigned)
    return {
        "engine": ENGINE,
        "n": n,
        "set_aside": {"count": len(texts) - n, "reasons": reasons, "languages": dict(sorted(languages.items()))},
        "themes": len(model.themes),
        "parts": model.n_parts,
        "fit_cutoff": model.cutoff,
        "coverage": round(1 - unassigned / n, 4) if n else None,
        "unassigned_share": round(unassigned / n, 4) if n else None,
        "purity": round(majority_hits / mentions, 4) if mentions else None,
        "purity_dominant": dominant_purity,
        "majority_baseline": baseline,
        "seconds": round(seconds, 2),
        "answers_per_second": round(len(texts) / seconds, 1) if seconds > 0 else None,
        "note": model.note,
        "per_theme": rows,
    }
