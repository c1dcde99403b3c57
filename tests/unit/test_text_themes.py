"""The themes engine's pieces: splitting answers into parts, merging near-duplicate groups, fit cut-offs,
keywords and labels (no placeholders or URL debris), Wilson intervals, and `find_themes` end to end."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.text.theme_labels import STOP_WORDS, label_of, theme_keywords, wilson_interval
from workbench.text.themes import MAX_FIT, MIN_FIT, ThemeModel, find_themes, fit_cutoffs, merge_groups, split_parts


def test_split_parts_sentences_and_long_clauses() -> None:
    assert split_parts("Love it! The fabric is soft.\nRuns small... 42") == [
        "Love it!", "The fabric is soft.", "Runs small...", "42"]
    long = "The fit was fine in the shoulders and the waist was right for me " * 2
    hem = "the hem was too long for my height"
    assert split_parts(f"{long}; {hem}") == [long.strip(), hem]
    assert split_parts("short; clause") == ["short; clause"]  # short sentences are not cut at ';'
    assert split_parts("!!! ...") == []
    assert len(split_parts("A. " * 50)) == 20


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_near_duplicate_centres_are_merged() -> None:
    rng = np.random.default_rng(1)
    a, b, c = (unit(rng.normal(size=16)) for _ in range(3))
    near_a = unit(a + 0.05 * rng.normal(size=16))
    centres = np.vstack([a, b, near_a, c])
    groups = merge_groups(centres, max_groups=10)
    assert groups[0] == groups[2] and len(set(groups.tolist())) == 3  # a and its near-duplicate are one
    capped = merge_groups(centres, max_groups=2)
    assert len(set(capped.tolist())) == 2 and capped[0] == capped[2]
    assert merge_groups(centres[:1], max_groups=3).tolist() == [0]


def test_fit_cutoffs_are_calibrated_and_bounded() -> None:
    own = np.array([0] * 50 + [1] * 50)
    tight = np.linspace(0.7, 0.9, 50)  # a tight theme: everything fits (capped at MAX_FIT)
    diffuse = np.concatenate([np.linspace(0.25, 0.45, 47), [0.05, 0.06, 0.07]])  # three outliers
    cutoffs = fit_cutoffs(np.concatenate([tight, diffuse]), own, 3)
    assert cutoffs[0] == MAX_FIT
    assert MIN_FIT <= cutoffs[1] < 0.3 and (diffuse >= cutoffs[1]).sum() < 50
    assert cutoffs[2] == MIN_FIT  # a theme without parts


def test_keywords_skip_placeholders_and_url_debris() -> None:
    parts = ["RT See [link] for the sizing chart http", "@user the sizing chart runs small via",
             "Email [email] about sizing", "Call [phone] the sizing runs small",
             "Great colour, lovely bright colour", "The colour is lovely",
             "www.com colour is bright [link]", "Lovely bright colour"]
    part_theme = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    keywords = theme_keywords(parts, part_theme, 2, top=6)
    words = {w for kws in keywords for kw in kws for w in kw.split()}
    assert "sizing" in keywords[0] and "colour" in keywords[1]
    assert not words & {"link", "user", "email", "phone", "http", "www", "com", "rt", "via"}
    assert {"http", "link", "user", "email", "phone", "www", "com", "rt", "via"} <= STOP_WORDS
    assert "top" not in STOP_WORDS and "back" not in STOP_WORDS  # content words a survey means


def test_labels_are_two_to_four_words() -> None:
    assert label_of(["fit", "size", "small"], "theme 1") == "fit / size"
    assert label_of(["true size", "fabric"], "theme 1") == "true size / fabric"
    assert label_of(["fit"], "theme 2") == "fit"
    assert label_of([], "theme 3") == "theme 3"
    assert len(label_of(["runs small", "true size", "fabric"], "x").replace(" / ", " ").split()) <= 4


def test_wilson_interval() -> None:
    assert wilson_interval(5, 10) == [0.2366, 0.7634]
    assert wilson_interval(0, 20) == [0.0, 0.1611]
    assert wilson_interval(20, 20) == [0.8389, 1.0]
    assert wilson_interval(0, 0) == [0.0, 0.0]


def test_find_themes_mentions_and_determinism() -> None:
    delivery = ["The delivery was fast.", "My parcel arrived a day early.", "Quick courier, fast shipping."]
    price = ["Prices are fair.", "Good value for money.", "It is cheap compared to other shops."]
    texts = [f"{delivery[i % 3]} {price[(i + 1) % 3]}" for i in range(12)] + delivery * 2 + price * 2
    model = find_themes(texts, max_themes=2, top_keywords=4, examples=2)
    assert len(model.themes) == 2 and not model.unassigned
    both = [th for th in model.themes if set(range(12)) <= set(th.answers)]
    assert len(both) == 2  # an answer with a sentence of each topic mentions both themes
    assert sum(len(th.answers) for th in model.themes) == 12 * 2 + 12  # shares add up past 100%
    assert all(len(th.quotes) == 2 for th in model.themes)
    again = find_themes(list(texts), max_themes=2, top_keywords=4, examples=2)
    assert [(t.label, t.answers, t.quotes) for t in again.themes] == [(t.label, t.answers, t.quotes)
                                                                     for t in model.themes]


def test_a_theme_without_content_words_is_labelled_by_its_phrase() -> None:
    delivery = ["The delivery was fast.", "My parcel arrived a day early.", "Quick courier, fast shipping.",
                "Delivery took one day.", "The parcel came quickly."] * 2
    model = find_themes(delivery + ["Keep it up!", "Keep it up.", "keep it up!!", "Keep it up :)"] * 3, max_themes=2)
    labels = {t.label: t for t in model.themes}
    assert '"keep it up"' in labels and labels['"keep it up"'].keywords == []  # every word is a stop word
    assert len(labels['"keep it up"'].answers) == 12


def test_themes_work_on_slices_of_rows_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large surveys keep the vectors as float32 and widen them a slice of rows at a time; a slice of 7 rows
    finds exactly what one slice of all rows finds, and float32 vectors what their float64 widening finds."""
    from workbench.text import themes as module
    from workbench.text.embeddings import default_embedder

    delivery = ["The delivery was fast.", "My parcel arrived a day early.", "Quick courier, fast shipping."]
    price = ["Prices are fair.", "Good value for money.", "It is cheap compared to other shops."]
    staff = ["The staff were friendly.", "A helpful shop assistant.", "Kind and patient people at the desk."]
    texts = [f"{delivery[i % 3]} {price[(i + 1) % 3]}" for i in range(12)] + (delivery + price + staff) * 3

    class Wide:  # the same vectors, given as float64 (as a custom embedder may)
        def embed(self, parts: list[str]) -> np.ndarray:
            return default_embedder().embed(parts).astype(np.float64)

    def summary(model: module.ThemeModel) -> list[tuple[object, ...]]:
        return [(t.label, t.keywords, t.answers, t.quotes, t.parts, t.cutoff) for t in model.themes] + [
            (model.unassigned, model.cutoff, model.dominant)]

    whole = summary(find_themes(texts, max_themes=3))
    assert summary(find_themes(texts, max_themes=3, embedder=Wide())) == whole
    monkeypatch.setattr(module, "ROWS", 7)
    assert summary(find_themes(texts, max_themes=3)) == whole


def test_repeated_parts_are_embedded_once_with_the_per_part_result() -> None:
    """A survey repeats its short sentences: each distinct part is embedded once and weighted by its count, and
    the themes are what one vector per part gives. The reference run makes every repeat a distinct text with the
    same vector (trailing "!"s its embedder strips), so nothing there is shared."""
    from workbench.text.embeddings import default_embedder

    delivery = ["The delivery was fast.", "My parcel arrived a day early.", "Quick courier, fast shipping."]
    price = ["Prices are fair.", "Good value for money.", "It is cheap compared to other shops."]
    staff = ["The staff were friendly.", "A helpful shop assistant."]
    answers = [[delivery[i % 3], price[(i + 1) % 3]] for i in range(40)] + [[s] for s in staff * 9] + [
        [p] for p in price * 5]

    class Recording:
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def embed(self, parts: list[str]) -> np.ndarray:
            self.calls.append(list(parts))
            return default_embedder().embed([p.rstrip("!") for p in parts])

    def summary(model: ThemeModel) -> list[tuple[object, ...]]:
        return [(t.answers, t.quotes, t.parts, t.cutoff) for t in model.themes] + [
            (model.unassigned, model.cutoff, model.dominant, model.n_parts)]

    shared = Recording()
    model = find_themes([" ".join(a) for a in answers], max_themes=3, embedder=shared)
    assert len(model.themes) >= 2
    assert [sorted(c) for c in shared.calls] == [sorted(set(delivery + price + staff))]  # each text once

    seen: dict[str, int] = {}

    def marked(part: str) -> str:  # the n-th repeat of a part gets n "!"s
        seen[part] = seen.get(part, -1) + 1
        return part + "!" * seen[part]

    distinct = [" ".join(marked(p) for p in a) for a in answers]
    apart = Recording()
    reference = find_themes(distinct, max_themes=3, embedder=apart)
    assert len(apart.calls[0]) == len(set(apart.calls[0])) == sum(len(a) for a in answers)  # nothing shared
    assert summary(reference) == summary(model)


def test_a_weighted_centre_is_the_centre_of_the_repeated_rows() -> None:
    from workbench.text.themes import _centres

    rng = np.random.default_rng(3)
    vectors = np.vstack([unit(rng.normal(size=8)) for _ in range(6)]).astype(np.float32)
    labels, counts = np.array([0, 1, 0, 1, 2, 0]), np.array([1.0, 5.0, 30.0, 2.0, 1.0, 4.0])
    repeated = _centres(np.repeat(vectors, counts.astype(int), axis=0), np.repeat(labels, counts.astype(int)), 3)
    weighted = _centres(vectors, labels, 3, counts)
    np.testing.assert_allclose(weighted, repeated, rtol=0, atol=1e-12)
    assert not np.allclose(_centres(vectors, labels, 3), repeated, atol=1e-3)  # the counts matter here
