"""Keywords and short labels for themes: class-based TF-IDF over the sentences of each theme against the rest.

A term describes a theme when many of the theme's parts use it and the other themes' parts rarely do:
score = (share of the theme's parts containing it) x log(1 + that share / share among all other parts).
English stop words, the cleaning placeholders (`[link]`, `@user`, `[email]`, `[phone]`) and URL debris
("http", "www", "com") never count as words, so none can become a keyword or a label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from workbench.text.clean import PLACEHOLDERS

# sklearn's list has content words a survey answer means ("top", "back", "thin", "fit"-like words): keep those.
_CONTENT_WORDS = {"top", "bottom", "back", "front", "side", "thick", "thin", "fill", "full", "fire", "bill",
                  "call", "system", "detail", "interest", "serious", "empty", "move", "show", "find", "found",
                  "made", "name", "part", "cry", "nothing", "none"}
STOP_WORDS = frozenset(
    (set(ENGLISH_STOP_WORDS) - _CONTENT_WORDS)
    | {"http", "https", "www", "com", "org", "net", "html", "link", "user", "email", "phone", "url",
       "rt", "via", "amp",  # retweet and share debris of social-media exports
       # contraction debris of the token pattern ("don't" -> "don") and filler
       "don", "didn", "doesn", "isn", "wasn", "aren", "weren", "won", "wouldn", "couldn", "shouldn", "haven",
       "hasn", "ve", "ll", "re", "im", "ive", "id", "dont", "didnt", "doesnt", "isnt", "wasnt", "really",
       "just", "like", "got", "get", "gets", "getting", "bit", "lot", "lots", "think", "thing", "things",
       "way", "did", "does", "going", "say", "said", "know", "want", "wanted", "use", "used", "yes", "oh",
       "ok", "okay", "maybe", "probably", "definitely", "pretty", "quite", "little", "actually", "usually",
       "sure", "tell", "make", "makes", "honestly", "mostly", "literally", "simply",
       "overall", "anyway"}
)
_TOKEN = r"(?u)\b[^\W\d_]{2,}\b"
_WORDS = re.compile(r"[^\W_]+")
_DECIMALS = 9


def strip_placeholders(text: str) -> str:
    """`text` without the cleaning placeholders (they are not words anybody wrote)."""
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, " ")
    return text


def theme_keywords(parts: Sequence[str], part_theme: np.ndarray, n_themes: int, top: int) -> list[list[str]]:
    """The `top` most distinctive terms (1-2 words) of each theme, best first.

    Args:
        parts: The texts of all parts (sentences) clustered.
        part_theme: The theme of each part (0..n_themes-1), -1 for unassigned parts (they count as "rest").
        n_themes: Number of themes.
        top: Keywords per theme.

    Returns:
        One list of keywords per theme (possibly empty when a theme has no recurring content word).
    """
    texts = [strip_placeholders(p) for p in parts]
    vectorizer = CountVectorizer(token_pattern=_TOKEN, stop_words=sorted(STOP_WORDS), ngram_range=(1, 2),
                                 min_df=2 if len(texts) >= 50 else 1, binary=True, lowercase=True)
    try:
        matrix = vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # no content word at all
        return [[] for _ in range(n_themes)]
    terms = vectorizer.get_feature_names_out()
    total = np.asarray(matrix.sum(axis=0)).ravel().astype(float)
    out: list[list[str]] = []
    for t in range(n_themes):
        inside = part_theme == t
        n_in, n_out = int(inside.sum()), int((~inside).sum())
        if n_in == 0:
            out.append([])
            continue
        count_in = np.asarray(matrix[np.flatnonzero(inside)].sum(axis=0)).ravel().astype(float)
        share_in = count_in / n_in
        share_out = (total - count_in) / max(n_out, 1)
        score = share_in * np.log1p(share_in / (share_out + 1.0 / max(len(texts), 1)))
        score = np.round(score, _DECIMALS)
        min_count = 2 if n_in >= 10 else 1
        candidates = [i for i in np.flatnonzero(count_in >= min_count) if score[i] > 0]
        candidates.sort(key=lambda i: (-score[i], terms[i]))
        picked: list[str] = []
        for i in candidates:
            term = str(terms[i])
            # "fit" next to "fit perfectly" adds nothing: skip a term overlapping one already picked.
            if any(set(term.split()) & set(p.split()) for p in picked):
                continue
            picked.append(term)
            if len(picked) == top:
                break
        out.append(picked)
    return out


def label_of(keywords: Sequence[str], fallback: str) -> str:
    """A 2-4 word label from the first keywords ("fit / size", "true size / fabric"), else `fallback`."""
    words = 0
    chosen: list[str] = []
    for keyword in keywords:
        n = len(keyword.split())
        if chosen and words + n > 4:
            break
        chosen.append(keyword)
        words += n
        if words >= 2 and len(chosen) >= 2 or words >= 3:
            break
    return " / ".join(chosen) if chosen else fallback


def common_phrase(parts: Sequence[str], part_theme: np.ndarray, theme: int) -> str:
    """A label for a theme without a content word ("Keep it up!"): its most frequent part, at most 4 words,
    in quotes (placeholders removed); `theme N` when it has no words at all."""
    counts: dict[str, int] = {}
    for i in np.flatnonzero(part_theme == theme):
        words = _WORDS.findall(strip_placeholders(parts[int(i)]).casefold())
        if words:
            phrase = " ".join(words[:4])
            counts[phrase] = counts.get(phrase, 0) + 1
    if not counts:
        return f"theme {theme + 1}"
    return f'"{max(counts, key=lambda p: (counts[p], -len(p), p))}"'


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> list[float]:
    """The 95% Wilson score interval of a proportion, `[lo, hi]` rounded to 4 decimals ([0, 0] for n = 0)."""
    if n <= 0:
        return [0.0, 0.0]
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]
