"""Themes in free-text answers from MiniLM sentence embeddings.

1. Each (cleaned, readable) answer is split into parts: its sentences, long ones also at ";" (`split_parts`).
2. The parts are embedded (`workbench.text.embeddings`, cached per text; each distinct part once, weighted by its
   repeats) and over-clustered with k-means
   (fitted on a seeded subsample of at most `FIT_SAMPLE` parts, then every part goes to its nearest centre).
3. The centres are merged bottom-up (average linkage, cosine) while two groups are near-duplicates (cosine of
   `MERGE_COSINE` or more on average), then (k-means over the groups, weighted by their parts) down to at most
   `max_themes`: the number of themes is what the data supports, capped by the caller.
4. A part belongs to its nearest theme when its cosine to that centre is not an outlier among the cosines of
   that theme's parts (`fit_cutoffs`: median - 2 robust SDs, within [`MIN_FIT`, `MAX_FIT`]); an answer
   *mentions* a theme when any of its parts belongs to it, and is unassigned when none does. Themes fewer than
   `MIN_THEME_SHARE` of the answers mention are dropped (their parts go to the next nearest theme).
5. Labels and keywords come from class-based TF-IDF over the parts (`workbench.text.theme_labels`); themes
   whose labels coincide, or whose centres are near-duplicates, are merged. Quotes are the answers whose part
   is closest to the centre, preferring answers of 8-60 words over very short or very long ones.

Everything is seeded and ties are broken by position, so the same answers always give the same themes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.text.theme_labels import common_phrase, label_of, theme_keywords

ENGINE = "minilm-clusters"
MIN_ANSWERS = 10  # fewer answers: a note instead of themes
MAX_PARTS = 20  # parts per answer (an essay is clustered by its first 20 sentences)
FIT_SAMPLE = 6000  # parts k-means is fitted on (seeded subsample); all parts are then assigned
OVER_CLUSTERS = 4  # k-means finds this many times `max_themes` groups before merging (at most 40)
MERGE_COSINE = 0.65  # groups of k-means centres at least this similar (average cosine) are one theme
# Final themes are averages of many sentences, and averages of one question's sentences are all alike (cosines of
# 0.6-0.8 between distinct themes of the clothing reviews): only this close are two themes one.
DUPLICATE_COSINE = 0.9
FIT_SPREAD = 2.0  # a part fits its theme unless its cosine is an outlier: 2 robust SDs under the median
MIN_FIT = 0.2  # ...and never below this cosine,
MAX_FIT = 0.45  # ...while a cosine this high to a theme's centre always fits (tight themes have a tiny MAD)
MIN_THEME_SHARE = 0.02  # themes fewer answers mention are dropped
QUOTE_WORDS = (8, 60)  # quotes prefer answers of this many words
MAX_QUOTE_CHARS = 300
SEED = 0
_DECIMALS = 6

_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
_CLAUSE = re.compile(r"\s*;\s+")
_WORDS = re.compile(r"[^\W_]+")


def split_parts(text: str, max_parts: int = MAX_PARTS) -> list[str]:
    """The sentences of an answer (long sentences also split at ";"), without wordless bits.

    Args:
        text: A cleaned answer.
        max_parts: Keep at most this many parts.

    Returns:
        Parts in order.
    """
    parts: list[str] = []
    for sentence in _SENTENCE.split(text):
        pieces = _CLAUSE.split(sentence) if len(sentence.split()) > 25 else [sentence]
        parts.extend(p.strip() for p in pieces if _WORDS.search(p))
    return parts[:max_parts]


def _excerpt(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"


@dataclass
class FoundTheme:
    """One theme: answers are indices into the texts given to `find_themes`."""

    label: str
    keywords: list[str]
    answers: list[int]  # answers mentioning it, ascending
    quotes: list[int]  # answers quoted, best first
    parts: int = 0  # parts belonging to it
    cutoff: float = MIN_FIT  # cosine to the centre a part needs to belong to it


@dataclass
class ThemeModel:
    """What `find_themes` found."""

    themes: list[FoundTheme] = field(default_factory=list)
    unassigned: list[int] = field(default_factory=list)
    n_parts: int = 0
    cutoff: float | None = None  # the lowest of the themes' cut-offs
    dominant: list[int] = field(default_factory=list)  # per answer: index into `themes` most of its parts are in
    note: str | None = None


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.clip(norms, 1e-12, None)


# The parts' vectors stay as the embedder gives them (float32 from MiniLM: half the memory of float64, which a
# survey of 200,000 answers could not afford) and are widened to float64 a slice of rows at a time where they are
# used. Widening float32 is exact, so every cosine is what it was with the whole array widened up front.
ROWS = 4_096  # 12 MB of float64 a slice: wider slices were the peak of a large survey (200 MB each)


def _wide(vectors: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(vectors), ROWS):
        yield start, np.asarray(vectors[start:start + ROWS], dtype=np.float64)


def _centres(vectors: np.ndarray, labels: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Unit-length mean of the rows of each label; a row counts `weights[row]` times (default once)."""
    sums = np.zeros((k, vectors.shape[1]))
    for start, rows in _wide(vectors):  # in row order, as one np.add.at over all rows adds them
        if weights is not None:
            rows = rows * weights[start:start + len(rows), None]
        np.add.at(sums, labels[start:start + len(rows)], rows)
    return _normalise(sums)


def _nearest(vectors: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    own = np.zeros(len(vectors), dtype=np.intp)
    best = np.zeros(len(vectors))
    for start, rows in _wide(vectors):
        cos = np.round(rows @ centres.T, _DECIMALS)
        own[start:start + len(rows)] = cos.argmax(axis=1)  # lowest index on ties
        best[start:start + len(rows)] = cos[np.arange(len(rows)), own[start:start + len(rows)]]
    return own, best


def merge_groups(
    centres: np.ndarray, max_groups: int, weights: np.ndarray | None = None, merge_cosine: float = MERGE_COSINE
) -> np.ndarray:
    """Group centres: near-duplicates always (average linkage on cosine), then down to `max_groups` by k-means
    over the groups weighted by their parts, so a theme stands for a comparable mass of sentences (linkage
    alone ignores sizes and chains many small centres into one catch-all theme).

    Args:
        centres: Unit-length centres, one per row.
        max_groups: At most this many groups.
        weights: Parts per centre (default 1 each).
        merge_cosine: Centres at least this similar (average cosine) end in the same group.

    Returns:
        The group (0..g-1, numbered by first appearance) of each centre.
    """
    from sklearn.cluster import AgglomerativeClustering, KMeans

    if len(centres) < 2:
        return np.zeros(len(centres), dtype=int)
    weights = np.ones(len(centres)) if weights is None else np.asarray(weights, dtype=float)
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=1 - merge_cosine).fit(centres).labels_
    g = int(labels.max()) + 1
    if g > max_groups:
        group_centres = _centres(centres * weights[:, None], labels, g)
        group_weights = np.bincount(labels, weights=weights, minlength=g)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = KMeans(n_clusters=max_groups, n_init=10, random_state=SEED)
            labels = model.fit(group_centres, sample_weight=group_weights).labels_[labels]
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(x), len(first)) for x in labels])


@dataclass
class _Parts:
    """The distinct texts among the parts, embedded once each: a large survey repeats its short sentences
    ("Great app.", "Nothing.") thousands of times, and one vector per part was most of its memory (float32, 1.5 KB
    a part: 300 MB at 200,000 parts). Equal texts have equal vectors (the embedder computes each text once), so
    every cosine is what it was per part, and a sum over parts is a sum over texts times their counts."""

    vectors: np.ndarray  # one row per distinct text, in order of first appearance
    row: np.ndarray  # per part: its text's row
    first: np.ndarray  # per distinct text: its first part
    count: np.ndarray  # per distinct text: how many parts have it (float64, as a weight)

    @classmethod
    def of(cls, parts: Sequence[str], embedder: Any) -> _Parts:
        index: dict[str, int] = {}
        row = np.fromiter((index.setdefault(p, len(index)) for p in parts), dtype=np.intp, count=len(parts))
        _, first = np.unique(row, return_index=True)  # rows are numbered by first appearance
        vectors = np.asarray(embedder.embed(list(index)))
        if vectors.dtype not in (np.float32, np.float64):
            vectors = vectors.astype(np.float64)
        return cls(vectors, row, first, np.bincount(row).astype(np.float64))


def _over_cluster(parts: _Parts, max_themes: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(SEED)
    n = len(parts.row)  # the subsample is drawn from the parts, repeats included, as k-means sees the answers
    chosen = parts.row if n <= FIT_SAMPLE else parts.row[np.sort(rng.choice(n, FIT_SAMPLE, replace=False))]
    vectors = parts.vectors
    sample = np.asarray(vectors[chosen], dtype=np.float64)  # k-means and the rounding below work in float64
    distinct = len(np.unique(np.round(sample, 4), axis=0))
    k = max(1, min(OVER_CLUSTERS * max_themes, 40, distinct))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny or repetitive inputs
        model = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit(sample)
    centres = _normalise(model.cluster_centers_)
    own, _ = _nearest(vectors, centres)
    used = np.unique(own)
    sizes = np.bincount(own, weights=parts.count).astype(np.intp)[used]
    return _centres(vectors, np.searchsorted(used, own), len(used), parts.count), sizes


def fit_cutoffs(best: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Per theme, the cosine under which a part does not fit it: a robust outlier rule on the cosines of the
    parts nearest to it (median - `FIT_SPREAD` x 1.4826 x MAD), kept within [`MIN_FIT`, `MAX_FIT`].

    Args:
        best: Each part's cosine to its nearest centre.
        own: Each part's nearest centre.
        k: Number of centres.

    Returns:
        k cut-offs, rounded to 4 decimals.
    """
    out = np.full(k, MIN_FIT)
    for t in range(k):
        fits = best[own == t]
        if fits.size:
            median = float(np.median(fits))
            spread = 1.4826 * float(np.median(np.abs(fits - median)))
            out[t] = min(MAX_FIT, max(MIN_FIT, median - FIT_SPREAD * spread))
    return np.round(out, 4)


def _mentions(part_answer: np.ndarray, part_theme: np.ndarray, k: int) -> list[np.ndarray]:
    return [np.unique(part_answer[part_theme == t]) for t in range(k)]


def find_themes(
    texts: Sequence[str], max_themes: int = 6, top_keywords: int = 6, examples: int = 3, embedder: Any = None
) -> ThemeModel:
    """Themes of `texts` (cleaned answers the English model can read).

    Args:
        texts: The answers.
        max_themes: At most this many themes.
        top_keywords: Keywords per theme.
        examples: Answers quoted per theme.
        embedder: Something with `embed(texts) -> unit rows`; default the cached MiniLM embedder.

    Returns:
        Themes (most mentioned first), unassigned answers, the cut-off used, or a note when there are none.
    """
    n = len(texts)
    if max_themes < 1:
        raise ValueError("max_themes must be at least 1")
    if n < MIN_ANSWERS:
        return ThemeModel(unassigned=list(range(n)),
                          note=f"too few answers for themes: {n} (need at least {MIN_ANSWERS})")
    split = [split_parts(t) for t in texts]
    parts = [p for ps in split for p in ps]
    part_answer = np.array([i for i, ps in enumerate(split) for _ in ps], dtype=int)
    if len({" ".join(p.casefold().split()) for p in parts}) < 2:
        return ThemeModel(unassigned=list(range(n)), n_parts=len(parts),
                          note="the answers are (nearly) all the same text: nothing to tell themes apart")
    if embedder is None:
        from workbench.text.embeddings import default_embedder

        embedder = default_embedder()
    distinct = _Parts.of(parts, embedder)
    vectors, weights = distinct.vectors, distinct.count

    def nearest(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # per part
        own, best = _nearest(vectors, centres)
        return own[distinct.row], best[distinct.row]

    def centres_of(part_labels: np.ndarray, k: int) -> np.ndarray:  # a part's label is its text's
        return _centres(vectors, part_labels[distinct.first], k, weights)

    centres, sizes = _over_cluster(distinct, max_themes)
    groups = merge_groups(centres, max_themes, sizes)
    own, best = nearest(centres)
    centres = centres_of(groups[own], int(groups.max()) + 1)
    own, best = nearest(centres)
    min_mentions = max(3, int(np.ceil(MIN_THEME_SHARE * n)))
    keywords: list[list[str]] = []
    labels: list[str] = []
    while True:
        k = len(centres)
        cutoffs = fit_cutoffs(best, own, k)
        part_theme = np.where(best >= cutoffs[own], own, -1)
        mentioned_by = [len(m) for m in _mentions(part_answer, part_theme, k)]
        if k > 1 and min(mentioned_by) < min_mentions:  # drop the least mentioned theme; its parts move on
            centres = np.delete(centres, int(np.argmin(mentioned_by)), axis=0)
            own, best = nearest(centres)
            continue
        keywords = theme_keywords(parts, part_theme, k, top_keywords)
        labels = [label_of(kw, common_phrase(parts, part_theme, t)) for t, kw in enumerate(keywords)]
        similar = np.round(centres @ centres.T, _DECIMALS)
        duplicate = next(((a, b) for a in range(k) for b in range(a + 1, k)
                          if labels[a] == labels[b] or similar[a, b] >= DUPLICATE_COSINE), None)
        if duplicate is None:
            break
        merged = np.where(own == duplicate[1], duplicate[0], own)  # same label or near-duplicate: one theme
        keep = np.array([t for t in range(k) if t != duplicate[1]])
        centres = centres_of(np.searchsorted(keep, merged), k - 1)
        own, best = nearest(centres)

    words = np.array([len(_WORDS.findall(t)) for t in texts])
    tier = np.where((words >= QUOTE_WORDS[0]) & (words <= QUOTE_WORDS[1]), 0, np.where(words > QUOTE_WORDS[1], 1, 2))
    themes: list[FoundTheme] = []
    for t in range(len(centres)):
        members = part_theme == t
        centrality: dict[int, float] = {}
        for a, c in zip(part_answer[members], best[members], strict=True):
            centrality[int(a)] = max(centrality.get(int(a), -1.0), float(c))
        ranked = sorted(centrality, key=lambda a: (int(tier[a]), -centrality[a], a))
        quotes: list[int] = []
        seen: set[str] = set()
        for a in ranked:
            if len(quotes) >= examples:
                break
            norm = " ".join(_WORDS.findall(texts[a].casefold()))
            if norm not in seen:
                seen.add(norm)
                quotes.append(a)
        themes.append(FoundTheme(labels[t], keywords[t], sorted(centrality), quotes, int(members.sum()),
                                 float(cutoffs[t])))
    order = sorted(range(len(themes)), key=lambda t: (-len(themes[t].answers), themes[t].label))
    rank = np.argsort(order)  # old theme index -> position in the sorted list
    counts = np.zeros((n, len(themes)), dtype=int)
    assigned = part_theme >= 0
    np.add.at(counts, (part_answer[assigned], rank[part_theme[assigned]]), 1)
    dominant = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1), -1)  # ties: the more mentioned theme
    themes = [themes[t] for t in order]
    cutoff = min((th.cutoff for th in themes), default=None)
    return ThemeModel(themes, [int(i) for i in np.flatnonzero(dominant < 0)], len(parts), cutoff,
                      dominant.tolist())


def excerpt(text: str) -> str:
    """A quote of an answer: the whole answer, cut at 300 characters."""
    return _excerpt(text)
