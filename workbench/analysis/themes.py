"""Themes in free-text answers: TF-IDF over 1-2 word terms, factorised with NMF.

Each answer counts towards its dominant theme if that theme describes it well enough (else it is
`unassigned`); a theme is labelled by its top keywords. Everything is deterministic (nndsvd initialisation
with a fixed seed, ties broken explicitly), so a rerun on the same snapshot gives the same report.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from workbench.analysis.sentiment import distinct_texts, text_answers
from workbench.surveys.schema import QuestionType, Snapshot

ENGINE = "tfidf-nmf"
MAX_EXAMPLE_CHARS = 300
# Minimum cosine between an answer and its dominant theme for the answer to count towards that theme.
MIN_FIT = 0.2
# Weights are rounded before ranking so floating-point noise (e.g. BLAS threading) cannot reorder near-ties.
_DECIMALS = 9


def _vectorizer(n_docs: int) -> TfidfVectorizer:
    # A term must recur to describe a theme; on small corpora (tests, pilot surveys) keep every term.
    return TfidfVectorizer(
        stop_words="english",
        ngram_range=(1, 2),
        min_df=2 if n_docs >= 50 else 1,
        max_df=0.9 if n_docs >= 50 else 1.0,
        sublinear_tf=True,
    )


def _keywords(weights: np.ndarray, terms: np.ndarray, top: int) -> list[str]:
    order = sorted(
        (i for i in range(len(terms)) if weights[i] > 0),
        key=lambda i: (-round(float(weights[i]), _DECIMALS), terms[i]),
    )
    picked: list[str] = []
    for i in order:
        term = str(terms[i])
        # "easy" next to "easy use" says nothing new: skip a term already covered by a picked bigram.
        if any(term in p.split() or p in term.split() for p in picked):
            continue
        picked.append(term)
        if len(picked) == top:
            break
    return picked


def _excerpt(text: str) -> str:
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 1].rstrip() + "…"


def themes_for_texts(
    answers: list[tuple[str | None, str]], n_themes: int = 6, top_keywords: int = 6, examples: int = 3
) -> dict[str, Any]:
    """`{"n", "themes", "unassigned"}` for (respondent_id, text) answers, or `{"n", "themes": [], "note"}`."""
    n = len(answers)
    if n_themes < 1:
        raise ValueError("n_themes must be at least 1")
    if n < 2 * n_themes:
        note = f"too few answers for themes: {n} (need at least {2 * n_themes} for {n_themes} themes)"
        return {"n": n, "themes": [], "note": note}
    vectorizer = _vectorizer(n)
    try:
        matrix = vectorizer.fit_transform([t for _, t in answers])
    except ValueError:  # every word is a stop word or too rare
        return {"n": n, "themes": [], "note": "no recurring content words to build themes from"}
    terms = vectorizer.get_feature_names_out()
    k = min(n_themes, matrix.shape[0], matrix.shape[1])
    model = NMF(n_components=k, init="nndsvd", random_state=0, max_iter=1000)
    # Repetitive corpora can fit (almost) exactly: sklearn then warns about non-convergence / sqrt of a
    # tiny negative residual. Neither affects the themes, and notebook readers should not see them.
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        doc_weights = model.fit_transform(matrix)
    # NMF's scale is arbitrary per theme: make theme vectors unit length so weights compare across themes.
    norms = np.linalg.norm(model.components_, axis=1)
    norms[norms == 0] = 1.0
    term_weights = model.components_ / norms[:, None]
    doc_weights = np.round(doc_weights * norms, _DECIMALS)
    # TF-IDF rows are unit length, so this is the cosine between each answer and each theme.
    fit = np.round(np.asarray(matrix @ term_weights.T), _DECIMALS)

    # Dominant theme per answer (argmax: lowest index on ties). An answer its dominant theme barely
    # describes ("N/A", or a topic too rare for a theme of its own) stays unassigned rather than
    # inflating a catch-all theme.
    dominant = doc_weights.argmax(axis=1)
    rows = np.arange(n)
    dominant = np.where((doc_weights[rows, dominant] > 0) & (fit[rows, dominant] >= MIN_FIT), dominant, -1)
    themes: list[dict[str, Any]] = []
    for t in range(k):
        members = np.flatnonzero(dominant == t)
        if members.size == 0:
            continue
        keywords = _keywords(term_weights[t], terms, top_keywords)
        # Most representative answers first; ties by respondent id (missing last), then response order.
        best = sorted(
            members, key=lambda i: (-doc_weights[i, t], answers[i][0] is None, answers[i][0] or "", i)
        )
        themes.append({
            "label": " / ".join(keywords[:2]) or f"theme {t + 1}",
            "keywords": keywords,
            "share": round(members.size / n, 4),
            "count": int(members.size),
            "examples": [
                {"respondent_id": answers[i][0], "text": _excerpt(answers[i][1])}
                for i in distinct_texts(best, lambda i: answers[i][1])[:examples]
            ],
        })
    themes.sort(key=lambda th: (-th["count"], th["label"]))
    # Shares are of all answers, so say how many fit no theme.
    return {"n": n, "themes": themes, "unassigned": int((dominant == -1).sum())}


def extract_themes(
    snapshot: Snapshot, n_themes: int = 6, top_keywords: int = 6, examples: int = 3
) -> dict[str, Any]:
    """The `themes` component result for every text question of `snapshot` (plain JSON types)."""
    questions = {
        q.key: {
            "text": q.text,
            **themes_for_texts(text_answers(snapshot, q.key), n_themes, top_keywords, examples),
        }
        for q in snapshot.survey.questions
        if q.type == QuestionType.TEXT
    }
    return {"engine": ENGINE, "questions": questions}
