"""Segment comparisons of a survey snapshot: the `segments` component's result.

Respondents are grouped by the answer to a *segment question* (a single_choice or ordinal question, e.g. `plan`);
every other comparable question is then described per segment and tested across segments with the functions of
`workbench.analysis.segments`:

* **nps**: n, NPS with its 95% CI and its difference to the rest of the respondents (`nps_by_segment`); a
  chi-square test of the promoter/passive/detractor mix with Cramér's V (`nps_test`).
* **scale, numeric**: n, mean with its 95% CI, median, sd (`scale_by_segment`); Kruskal-Wallis with ε² and
  pairwise Mann-Whitney with the rank-biserial r (`rank_test`).
* **ordinal**: counts and shares per label (`categories_by_segment`); the rank tests on the labels' ranks 1..k.
* **single_choice**: counts and shares per option; chi-square with Cramér's V (`categorical_test`).
* **multi_choice**: the share of respondents choosing each option; one chi-square per option, chosen vs not
  (`option_tests`).

Text and date questions are not compared. Respondents who did not answer the segment question are left out of
its breakdown; answers are read leniently by their kind (`QuestionKind.coerce`), so invalid ones are left out too.

Every p-value of the report (omnibus tests and pairs, across all segment questions) forms **one family**,
adjusted once with Holm and Benjamini-Hochberg (`adjust_family`); `correction` picks the one significance is
judged by. A finding is a comparison whose adjusted p is below `alpha` with an effect at least small (see
`workbench.analysis.segments.comparisons`); findings are ordered by effect size, largest first.

Two segment questions are compared once, in the breakdown of the first of them: the reverse comparison would
repeat the same association and count twice in the family.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, Literal

from workbench.analysis.columns import answers_column, coerce_column
from workbench.analysis.segments import (
    ALPHA,
    CONFIDENCE,
    EFFECT_LABELS,
    MIN_SEGMENT_N,
    Groups,
    adjust_family,
    categorical_test,
    categories_by_segment,
    comparisons,
    nps_by_segment,
    nps_test,
    option_tests,
    rank_test,
    scale_by_segment,
)
from workbench.surveys.schema import SEGMENT_KINDS, Question, Snapshot, SurveyDefinition

COMPARED_KINDS = ("nps", "scale", "numeric", "ordinal", "single_choice", "multi_choice")
CORRECTIONS = ("bh", "holm")
NO_SEGMENTS_NOTE = (
    "No segment questions: this report names no segment_by and the survey declares no segments, so respondents "
    "are not compared. Declare them in the survey definition (segments: [\"plan\"]) or pass segment_by."
)


class SegmentError(ValueError):
    """A `segment_by` the survey cannot be segmented by (unknown key, wrong kind, listed twice)."""


def resolve_segment_by(survey: SurveyDefinition, segment_by: Sequence[str] | None) -> tuple[list[str], str]:
    """The segment questions a report compares by, and where they came from.

    Args:
        survey: The survey (its declared `segments` are the default).
        segment_by: Keys asked for; empty or None means the survey's declared segments.

    Returns:
        (keys, source): source is "parameter" (keys given), "declared" (the survey's) or "none" (neither).

    Raises:
        SegmentError: A key is not a question of the survey, is not single_choice or ordinal, or is repeated.
    """
    if isinstance(segment_by, str):  # a lone key would otherwise be read letter by letter
        segment_by = [segment_by]
    if segment_by:
        keys, source = list(segment_by), "parameter"
    elif survey.segments:
        keys, source = list(survey.segments), "declared"
    else:
        return [], "none"
    seen: set[str] = set()
    for i, key in enumerate(keys):
        question = survey.question(key) if isinstance(key, str) else None
        if question is None:
            known = [q.key for q in survey.questions if q.type in SEGMENT_KINDS]
            raise SegmentError(f"segment_by[{i}]: {key!r} is not a question of this survey "
                               f"(segment questions: {', '.join(known) or 'none'})")
        if question.type not in SEGMENT_KINDS:
            raise SegmentError(f"segment_by[{i}]: '{key}' is a {question.type} question; respondents can only be "
                               f"segmented by a {' or '.join(SEGMENT_KINDS)} question")
        if key in seen:
            raise SegmentError(f"segment_by[{i}]: '{key}' is listed twice")
        seen.add(key)
    return keys, source


def segment_keys(survey: SurveyDefinition, segment_by: Sequence[str] | None) -> list[str]:
    """The segment questions `resolve_segment_by` picks, or none when it would raise (the analysis says why)."""
    try:
        return resolve_segment_by(survey, segment_by)[0]
    except SegmentError:
        return []


def questions_used(survey: SurveyDefinition) -> list[str]:
    """The questions whose answers `segment_report` reads (for `load_snapshot(path, questions=...)`)."""
    return [q.key for q in survey.questions if q.type in COMPARED_KINDS]


def question_name(survey: SurveyDefinition, question: Question) -> str:
    """How findings name a question: "NPS" for the only NPS question, else its key in words ("support rating").

    Keys are short and safe (lower snake case); question texts are long sentences that read badly inside one.
    """
    words = question.key.replace("_", " ")
    if question.type == "nps":
        several = sum(1 for q in survey.questions if q.type == "nps") > 1
        return f"NPS ({words})" if several else "NPS"
    return words


def _answers(snapshot: Snapshot, question: Question) -> list[Any]:
    """Each response's answer to `question` as its kind reads it leniently (None: no valid answer)."""
    return coerce_column(question, answers_column(snapshot, question.key))


def _groups(labels: list[str], segment: list[Any], values: list[Any]) -> dict[Hashable, list[Any]]:
    """The answers per segment label (in label order), leaving out respondents without either answer."""
    groups: dict[Hashable, list[Any]] = {label: [] for label in labels}
    for seg, value in zip(segment, values, strict=True):
        if value is not None:
            group = groups.get(seg) if seg is not None else None  # a segment answer is a label or None
            if group is not None:
                group.append(value)
    return groups


def _compare(
    survey: SurveyDefinition, question: Question, by: Question, groups: Groups, confidence: float,
    min_n: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The per-segment figures and the tests of one question by one segment question."""
    name, by_name = question_name(survey, question), by.key.replace("_", " ")
    kind = question.type
    if kind == "nps":
        return nps_by_segment(groups, confidence=confidence), [nps_test(groups, name=name, by=by_name)]
    if kind in ("scale", "numeric"):
        figures = scale_by_segment(groups, scale_min=question.min, scale_max=question.max, confidence=confidence)
        rank_kind: Literal["scale", "numeric"] = "scale" if kind == "scale" else "numeric"
        return figures, [rank_test(groups, name=name, by=by_name, kind=rank_kind, min_n=min_n)]
    if kind == "ordinal":
        figures = categories_by_segment(groups, categories=question.options)
        return figures, [rank_test(groups, order=question.options, name=name, by=by_name, kind="ordinal",
                                   min_n=min_n)]
    if kind == "single_choice":
        figures = categories_by_segment(groups, categories=question.options)
        return figures, [categorical_test(groups, categories=question.options, name=name, by=by_name)]
    if kind == "multi_choice":
        figures = categories_by_segment(groups, categories=question.options, multi=True)
        return figures, option_tests(groups, options=question.options, name=name, by=by_name)
    raise ValueError(f"{kind} questions are not compared")  # callers filter by COMPARED_KINDS


def _strength(effect: dict[str, Any] | None) -> tuple[int, float]:
    """Effects of different measures made comparable: label level, then |value| over its medium threshold."""
    if not effect or effect.get("value") is None or effect.get("label") not in EFFECT_LABELS:
        return (-1, 0.0)
    return EFFECT_LABELS.index(effect["label"]), abs(effect["value"]) / effect["thresholds"][1]


def _cited_cis(item: dict[str, Any], figures: dict[str, Any]) -> list[list[float] | None] | None:
    """The CIs of the two figures a finding cites, where the figures have them (NPS points, scale means)."""
    if item["unit"] not in ("nps", "mean") or not item.get("segments"):
        return None
    low, high = ("ci_low", "ci_high")
    rows = {row["segment"]: row for row in figures.get("segments", []) if "ci_low" in row}
    if not rows:
        return None  # ordinal means are mean ranks: no CI is computed for them
    out: list[list[float] | None] = []
    for seg in item["segments"]:
        row = rows.get(seg)
        out.append([row[low], row[high]] if row and row[low] is not None and row[high] is not None else None)
    return out


def _capitalised(text: str, name: str) -> str:
    # Names are key words ("support rating"): a sentence that starts with one gets a capital.
    return text[:1].upper() + text[1:] if name and text.startswith(name) and name[:1].islower() else text


def segment_report(
    snapshot: Snapshot,
    segment_by: Sequence[str] | None = None,
    *,
    alpha: float = ALPHA,
    correction: Literal["bh", "holm"] = "bh",
    confidence: float = CONFIDENCE,
    min_n: int = MIN_SEGMENT_N,
) -> dict[str, Any]:
    """Compare every comparable question across the segments of each segment question (the `segments` result).

    Args:
        snapshot: The survey and its responses.
        segment_by: Segment question keys (single_choice or ordinal); empty or None: the survey's declared
            `segments`. With neither, the result has no breakdowns and a `note` saying so.
        alpha: Significance level for the adjusted p-values (0 < alpha < 1).
        correction: "bh" (Benjamini-Hochberg, false discovery rate) or "holm" (family-wise error rate).
        confidence: Level of the confidence intervals.
        min_n: Segments with fewer answers get a small-sample warning (they are still tested).

    Returns:
        A JSON-able dict: ``segment_by``, ``source`` ("parameter" / "declared" / "none"), ``note``, ``alpha``,
        ``correction``, ``confidence``, ``breakdowns`` (one per segment question: its ``segments`` with their
        sizes, ``warnings``, ``questions`` each with ``figures`` and family-adjusted ``tests``, and
        ``not_compared``), ``findings`` (largest effect first; each a ``comparisons`` item plus ``question``,
        ``segment_question`` and ``ci``: the CIs of the two cited figures where they have one),
        ``test_count``, ``comparison_count`` and ``finding_count``.

    Raises:
        SegmentError: A `segment_by` key is unknown, of the wrong kind or repeated.
        ValueError: `correction` or `alpha` is invalid.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, not {correction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    survey = snapshot.survey
    keys, source = resolve_segment_by(survey, segment_by)
    result: dict[str, Any] = {
        "segment_by": keys,
        "source": source,
        "note": NO_SEGMENTS_NOTE if source == "none" else None,
        "alpha": alpha,
        "correction": correction,
        "confidence": confidence,
        "min_n": min_n,
        "breakdowns": [],
        "findings": [],
        "test_count": 0,
        "comparison_count": 0,
        "finding_count": 0,
    }
    answers = {q.key: _answers(snapshot, q) for q in survey.questions if q.type in COMPARED_KINDS}

    tests: list[dict[str, Any]] = []  # the whole report's family, in breakdown and question order
    for position, key in enumerate(keys):
        by = survey.question(key)
        assert by is not None  # resolve_segment_by checked it
        labels = list(by.options or [])
        segment = answers[key]
        tally = Counter(s for s in segment if s is not None)
        sizes = {label: tally[label] for label in labels}
        breakdown: dict[str, Any] = {
            "key": key,
            "text": by.text,
            "kind": by.type,
            "segments": [{"segment": label, "n": n} for label, n in sizes.items()],
            "answered": sum(sizes.values()),
            "unanswered": len(segment) - sum(sizes.values()),
            "warnings": [f"fewer than {min_n} respondents in {label} ({n})" for label, n in sizes.items()
                         if 0 < n < min_n],
            "questions": [],
            "not_compared": [],
        }
        earlier = set(keys[:position])
        for question in survey.questions:
            if question.key == key:
                continue
            if question.type not in COMPARED_KINDS:
                breakdown["not_compared"].append({"key": question.key, "kind": question.type,
                                                  "reason": f"{question.type} questions are not compared"})
                continue
            if question.key in earlier:
                breakdown["not_compared"].append({"key": question.key, "kind": question.type,
                                                  "reason": f"compared in the breakdown by {question.key}"})
                continue
            groups = _groups(labels, segment, answers[question.key])
            figures, question_tests = _compare(survey, question, by, groups, confidence, min_n)
            for test in question_tests:
                test["question"] = question.key
                test["segment_question"] = key
            tests.extend(question_tests)
            breakdown["questions"].append({
                "key": question.key,
                "text": question.text,
                "kind": question.type,
                "name": question_name(survey, question),
                "figures": figures,
                "tests": question_tests,
            })
        result["breakdowns"].append(breakdown)

    adjusted = iter(adjust_family(tests))
    figures_of: dict[tuple[str, str], dict[str, Any]] = {}
    every: list[dict[str, Any]] = []
    for breakdown in result["breakdowns"]:
        for entry in breakdown["questions"]:
            entry["tests"] = [next(adjusted) for _ in entry["tests"]]
            figures_of[(breakdown["key"], entry["key"])] = entry["figures"]
            for test in entry["tests"]:
                # One test at a time: it already carries its family-adjusted p, which comparisons() keeps.
                for item in comparisons([test], alpha=alpha, correction=correction):
                    item["question"] = test["question"]
                    item["segment_question"] = test["segment_question"]
                    if test.get("option") is not None:
                        item["option"] = test["option"]
                    every.append(item)

    found = [c for c in every if c["finding"]]
    found.sort(key=lambda c: (-_strength(c["effect"])[0], -_strength(c["effect"])[1], c["p_adjusted"]))
    for item in found:
        item["finding"] = _capitalised(item["finding"], item["name"])
        item["ci"] = _cited_cis(item, figures_of[(item["segment_question"], item["question"])])
    result.update({
        "findings": found,
        "test_count": len(tests),
        "comparison_count": len(every),
        "finding_count": len(found),
    })
    return result


__all__ = ["COMPARED_KINDS", "CORRECTIONS", "SegmentError", "question_name", "questions_used", "resolve_segment_by",
           "segment_keys", "segment_report"]
