"""Themes per segment: how often each segment's answers mention each theme, compared across segments.

For a text question's themes and a segment question (the report's `segment_by`, else the survey's declared
segments, as for the `segments` and `sentiment` components): per segment, the answers analysed and, per theme,
how many mention it and their share. Whether mentioning a theme depends on the segment is a chi-square test
(Fisher for a sparse 2x2) of mentions vs the rest, with Cramér's V; the component's p-values are adjusted
together (Benjamini-Hochberg), and a theme is a finding when its adjusted p is below `alpha` with an effect at
least small. Set-aside answers are in no segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from workbench.analysis.columns import answers_column, coerce_column
from workbench.analysis.segment_report import resolve_segment_by
from workbench.analysis.segments import ALPHA, adjust_family, contingency_test, format_p
from workbench.surveys.schema import Snapshot


def themes_by_segment(
    snapshot: Snapshot,
    answers: dict[str, tuple[list[int], list[list[int]], list[str]]],
    segment_by: Sequence[str] | None = None,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Per text question (key -> (response index of each analysed answer, each theme's answer positions, theme
    labels)): the theme shares per segment, their tests and findings.

    Returns:
        `{"segment_by", "source", "alpha", "correction": "bh", "breakdowns": [{"key", "text", "questions":
        [{"question", "segments": [{"segment", "n"}], "themes": [{"label", "counts", "shares", "test",
        "finding"}]}]}], "findings": [str]}`.

    Raises:
        SegmentError: `segment_by` names a question respondents cannot be segmented by.
    """
    survey = snapshot.survey
    keys, source = resolve_segment_by(survey, segment_by)
    breakdowns: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    for key in keys:
        by = survey.question(key)
        assert by is not None  # resolve_segment_by checked it
        values = coerce_column(by, answers_column(snapshot, key))
        order = list(by.options or [])
        items = []
        for qkey, (response_of, theme_answers, labels) in answers.items():
            seg_of = [values[i] for i in response_of]
            tally = Counter(s for s in seg_of if s is not None)  # segment answers are options (strings) or None
            sizes = [tally[seg] for seg in order]
            entries = []
            for label, positions in zip(labels, theme_answers, strict=True):
                mentioned = Counter(seg_of[a] for a in positions if seg_of[a] is not None)
                counts = [mentioned[seg] for seg in order]
                table = [[c, n - c] for c, n in zip(counts, sizes, strict=True)]
                test = contingency_test(table, order, ["mention", "no mention"], name=label, by=key, kind="theme")
                test.pop("table", None)
                tests.append(test)
                entry = {"label": label, "counts": counts,
                         "shares": [round(c / n, 4) if n else None for c, n in zip(counts, sizes, strict=True)],
                         "test": test, "finding": None}
                slots.append({"entry": entry, "segments": order})
                entries.append(entry)
            items.append({"question": qkey, "segments": [{"segment": s, "n": n} for s, n in zip(order, sizes,
                                                                                               strict=True)],
                          "themes": entries})
        breakdowns.append({"key": key, "text": by.text, "questions": items})
    findings: list[str] = []
    for slot, adjusted in zip(slots, adjust_family(tests), strict=True):
        entry = slot["entry"]
        test = {**entry["test"], "p_holm": adjusted.get("p_holm"), "p_bh": adjusted.get("p_bh")}
        entry["test"] = test
        effect = (test.get("effect") or {}).get("label")
        if test["p_bh"] is None or test["p_bh"] >= alpha or effect in (None, "negligible"):
            continue
        shares = [(share, seg) for share, seg in zip(entry["shares"], slot["segments"], strict=True)
                  if share is not None]
        hi, lo = max(shares, key=lambda x: x[0]), min(shares, key=lambda x: x[0])
        entry["finding"] = (f"Theme '{entry['label']}' comes up more among {test['by'].replace('_', ' ')} {hi[1]} "
                            f"({100 * hi[0]:.0f}%) than {lo[1]} ({100 * lo[0]:.0f}%): {format_p(test['p_bh'])}, "
                            f"{effect} effect")
        findings.append(entry["finding"])
    return {"segment_by": keys, "source": source, "alpha": alpha, "correction": "bh", "breakdowns": breakdowns,
            "findings": findings}

