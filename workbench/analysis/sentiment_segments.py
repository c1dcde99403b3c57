"""Sentiment per segment: the label mix of each text question's answers, compared across segments.

Respondents are grouped by a segment question (the report's `segment_by`, else the survey's declared segments,
as the `segments` component does). Per segment: answers scored, label counts and shares, the mean score. The
label mix is tested across segments with the chi-square test (Fisher for sparse 2x2) and Cramér's V of
`workbench.analysis.segments.categorical_test`; the component's p-values form one family adjusted with
Benjamini-Hochberg, and a comparison is a finding when its adjusted p is below `alpha` and its effect is at
least small. Set-aside answers (unreadable language, no words) are not scored, so they are in no segment.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from workbench.analysis.columns import answers_column, coerce_column
from workbench.analysis.segment_report import question_name, resolve_segment_by
from workbench.analysis.segments import ALPHA, adjust_family, categorical_test, format_p
from workbench.surveys.schema import Question, Snapshot
from workbench.text.engines import LABELS

# (response index, label, score) of one scored answer
Scored = tuple[int, str, float]


def _segment_values(snapshot: Snapshot, question: Question) -> list[Any]:
    return coerce_column(question, answers_column(snapshot, question.key))


def _labels_of(question: Question) -> list[Any]:
    """The segments in the question's own order (options or ordinal labels)."""
    return list(question.options or [])


def _figures(rows: Sequence[Scored]) -> dict[str, Any]:
    n = len(rows)
    tally = Counter(lab for _, lab, _ in rows)
    counts = {label: tally[label] for label in LABELS}
    return {
        "n": n,
        "distribution": counts,
        "shares": {k: (round(c / n, 4) if n else None) for k, c in counts.items()},
        "mean_score": round(math.fsum(s for _, _, s in rows) / n, 4) if n else None,
    }


def _finding(
    question: str, by: str, test: dict[str, Any], segments: list[dict[str, Any]]
) -> tuple[str, list[int]] | None:
    """("Negative answers to <q> are more common among Free (32%) than among Enterprise (12%) ...", [index of
    the segment with most negative answers, of the one with fewest]) or None."""
    rows = [i for i, s in enumerate(segments) if s["n"]]
    if len(rows) < 2:
        return None
    hi = max(rows, key=lambda i: (segments[i]["shares"]["negative"], str(segments[i]["segment"])))
    lo = min(rows, key=lambda i: (segments[i]["shares"]["negative"], str(segments[i]["segment"])))
    a, b = segments[hi], segments[lo]
    if a["shares"]["negative"] == b["shares"]["negative"]:
        return None
    effect = test["effect"]["label"] if test.get("effect") else "unknown"
    return (f"Negative answers to {question} are more common among {by} {a['segment']} "
            f"({100 * a['shares']['negative']:.0f}%) than among {b['segment']} "
            f"({100 * b['shares']['negative']:.0f}%): {format_p(test['p_bh'])}, {effect} effect"), [hi, lo]


def sentiment_by_segment(
    snapshot: Snapshot,
    scored: dict[str, list[Scored]],
    segment_by: Sequence[str] | None = None,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Per-segment sentiment of every text question in `scored` (question key -> scored answers).

    Returns:
        `{"segment_by", "source", "alpha", "correction": "bh", "breakdowns": [{"key", "text", "questions":
        [{"question", "segments": [{"segment", "n", "distribution", "shares", "mean_score"}], "test",
        "finding", "finding_segments" (the indices of the two segments the finding compares)}]}],
        "findings": [str]}`.

    Raises:
        SegmentError: `segment_by` names a question the survey cannot be segmented by.
    """
    survey = snapshot.survey
    keys, source = resolve_segment_by(survey, segment_by)
    breakdowns: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    for key in keys:
        by = survey.question(key)
        assert by is not None  # resolve_segment_by checked it
        values = _segment_values(snapshot, by)
        order = _labels_of(by) or sorted({v for v in values if v is not None}, key=str)
        items = []
        for qkey, rows in scored.items():
            groups: dict[Hashable, list[Scored]] = {seg: [] for seg in order}
            for row in rows:
                seg = values[row[0]]
                if seg is not None and seg in groups:
                    groups[seg].append(row)
            segments = [{"segment": seg, **_figures(g)} for seg, g in groups.items()]
            test = categorical_test({seg: [lab for _, lab, _ in g] for seg, g in groups.items()},
                                    categories=list(LABELS), name=qkey, by=key, kind="sentiment")
            test.pop("table", None)
            tests.append(test)
            items.append({"question": qkey, "segments": segments, "test": test, "finding": None})
        q = survey.question(key)
        breakdowns.append({"key": key, "text": q.text if q else key, "questions": items})
    adjusted = adjust_family(tests)
    findings: list[str] = []
    slot = 0
    for breakdown in breakdowns:
        for item in breakdown["questions"]:
            test = {**item["test"], **{k: adjusted[slot].get(k) for k in ("p_holm", "p_bh")}}
            slot += 1
            item["test"] = test
            label = test["effect"]["label"] if test.get("effect") else None
            if test.get("p_bh") is not None and test["p_bh"] < alpha and label not in (None, "negligible"):
                question = survey.question(item["question"])
                name = question_name(survey, question) if question else item["question"]
                found = _finding(f"'{name}'", breakdown["key"].replace("_", " "), test, item["segments"])
                if found:
                    item["finding"], item["finding_segments"] = found
                    findings.append(found[0])
    return {"segment_by": keys, "source": source, "alpha": alpha, "correction": "bh",
            "breakdowns": breakdowns, "findings": findings}
