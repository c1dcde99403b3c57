"""Statistics for comparing segments of respondents: per-segment figures, significance tests, effect sizes, findings.

Every function takes plain values grouped by segment, ``{segment label: answers}`` (a dict, in display order), and
knows nothing of the survey schema. Results are JSON-able: Python ``int``/``float``/``str``/``None``, lists and
dicts; floats are rounded (shares, means, statistics and effect sizes to 4 decimals, NPS points to 2, p-values to
6 significant digits so that tiny ones survive) and an undefined number is ``None``, never NaN or inf.
Per-segment rows are lists, not dicts keyed by segment, because PostgreSQL's JSONB does not keep key order.

Answers that are ``None`` or NaN are left out everywhere (pandas hands us NaN for blanks).

Choices
-------
* **NPS per segment** is compared with *the rest of the respondents* (everyone in the other segments) by default,
  not with the largest segment: "the rest" is defined for every segment, including the largest, and answers the
  usual question "is this segment different from everybody else?". ``versus="largest"`` is available. The CI is
  the Wald interval of a difference of proportions (formula in ``nps_figures``), clipped to the possible range;
  it is degenerate (zero width) when every answer falls in one group, as Wald intervals are.
* **Categorical tests** use Pearson's chi-square without Yates' continuity correction, so that the statistic and
  Cramér's V agree; a 2x2 table with any expected count below 5 uses Fisher's exact test instead (there is no
  need for Yates then). Cramér's V is the *uncorrected* V (as ``scipy.stats.contingency.association``), and
  its labels use Cohen's thresholds for w divided by the square root of min(rows, cols) - 1; the Bergsma (2013)
  bias-corrected V is reported alongside as ``value_bias_corrected``.
* **Ordinal/scale/numeric tests** are rank-based (Kruskal-Wallis, pairwise Mann-Whitney), so they need no
  normality and treat Likert answers as ordered, not as interval data. Segments with fewer than ``min_n``
  answers are still tested but warned about; empty segments are left out.
* **Rank-biserial r** is reported so that *positive means segment a tends to answer higher than segment b*:
  r = 2·U_a/(n_a·n_b) − 1 = 1 − 2·U_b/(n_a·n_b) = P(a > b) − P(a < b), where U_a is scipy's U of the first
  sample (reported as ``statistic``) and U_b = n_a·n_b − U_a.
* **Multiple comparisons**: ``adjust_family`` adds Holm (family-wise error) and Benjamini-Hochberg (false
  discovery rate) adjusted p-values over every p-value it is given (omnibus tests and pairs alike); the caller
  passes the whole family of one report. ``findings`` uses BH by default: a report screens many comparisons
  for things worth reading, which is what FDR control is for; pass ``correction="holm"`` to be stricter.
* **Findings** come from omnibus tests of categorical/NPS answers and from pairwise Mann-Whitney tests of
  ordered answers; a pair only counts when its Kruskal-Wallis omnibus test is significant too (the usual gate
  for post-hoc pairs), and an omnibus test whose pairs all fail is reported on its own.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import chain, combinations
from types import NoneType
from typing import Any, Literal

import numpy as np
from scipy import stats as st

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CONFIDENCE = 0.95
ALPHA = 0.05
MIN_SEGMENT_N = 5
NPS_GROUPS = ("detractor", "passive", "promoter")

# Effect-size thresholds (small, medium, large); below small is "negligible".
EPSILON_SQUARED_THRESHOLDS = (0.01, 0.08, 0.26)  # Kruskal-Wallis ε² (Rea & Parker)
RANK_BISERIAL_THRESHOLDS = (0.1, 0.3, 0.5)  # |r|, Cohen's thresholds for r
COHEN_W_THRESHOLDS = (0.1, 0.3, 0.5)  # Cramér's V with df* = 1; divided by √df* otherwise
EFFECT_LABELS = ("negligible", "small", "medium", "large")

Groups = Mapping[Hashable, Iterable[Any]]


# --- small helpers --------------------------------------------------------------------------------------------


def _round(value: Any, digits: int = 4) -> float | None:
    """A finite float rounded to `digits` decimals, or None (for NaN, inf and None)."""
    if value is None:
        return None
    number = float(value)
    return round(number, digits) if math.isfinite(number) else None


def _sig(value: Any, digits: int = 6) -> float | None:
    """A finite float rounded to `digits` significant digits (p-values: 1e-30 must not become 0), or None."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return float(f"{number:.{digits}g}")


def _label(value: Any) -> Any:
    """A JSON-able label: numpy scalars become Python ones; anything not str/int/float/bool becomes str."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)


def _missing(value: Any) -> bool:
    """None, NaN, pandas' NA/NaT (a blank answer); a list or array (a multi-choice answer) is not missing."""
    if value is None:
        return True
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return False
    try:
        return bool(value != value)  # NaN and NaT are not equal to themselves
    except TypeError:  # pd.NA has no truth value
        return True


def _numbers(values: Iterable[Any]) -> list[float]:
    """Finite numeric answers as floats; None, NaN, booleans and non-numbers are left out."""
    if isinstance(values, list):
        kinds_of = set(map(type, values))
        if kinds_of <= {int, NoneType}:  # the usual answers (nps, scale): every int converts (or overflows) as below
            return [float(v) for v in values if v is not None]
        if kinds_of <= {float, NoneType}:
            return [v for v in values if v is not None and math.isfinite(v)]
    out: list[float] = []
    for raw in values:
        if raw is None or isinstance(raw, bool | np.bool_):
            continue
        try:
            number = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out.append(number)
    return out


def _segments(groups: Groups) -> list[tuple[Any, list[Any]]]:
    return [(_label(seg), list(values)) for seg, values in groups.items()]


def effect_label(measure: str, value: float | None, df_star: int = 1) -> str | None:
    """'negligible' / 'small' / 'medium' / 'large' for an effect size.

    Thresholds (|value| at least): cramers_v 0.1/0.3/0.5 divided by √df* with df* = min(rows, cols) − 1
    (Cohen's w thresholds adjusted for the table size); epsilon_squared 0.01/0.08/0.26;
    rank_biserial 0.1/0.3/0.5.
    """
    if value is None:
        return None
    thresholds = _thresholds(measure, df_star)
    size = abs(value)
    level = sum(1 for t in thresholds if size >= t - 1e-12)  # rounding must not push 0.3 below 0.3
    return EFFECT_LABELS[level]


def _thresholds(measure: str, df_star: int = 1) -> tuple[float, float, float]:
    if measure == "cramers_v":
        scale = math.sqrt(max(df_star, 1))
        small, medium, large = COHEN_W_THRESHOLDS
        return small / scale, medium / scale, large / scale
    if measure == "epsilon_squared":
        return EPSILON_SQUARED_THRESHOLDS
    if measure == "rank_biserial":
        return RANK_BISERIAL_THRESHOLDS
    raise ValueError(f"unknown effect measure {measure!r}")


def _effect(measure: str, value: float | None, df_star: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": _round(value),
        "label": effect_label(measure, value, df_star),
        "thresholds": [round(t, 4) for t in _thresholds(measure, df_star)],
        **({"df_star": df_star} if measure == "cramers_v" else {}),
        **extra,
    }


def format_p(p: float | None) -> str:
    """Conventional p: 'p < 0.001', else two significant digits ('p = 0.034', 'p = 0.20'); 'p = n/a' for None."""
    if p is None:
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:#.2g}"
    return f"p = {text.rstrip('.')}"


# --- per-segment descriptive figures --------------------------------------------------------------------------


def nps_figures(scores: Iterable[Any], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """n, group counts, NPS in points and its Wald CI, for one set of 0-10 scores (others are left out).

    NPS = 100·(p_p − p_d) with p_p, p_d the promoter (9-10) and detractor (0-6) shares;
    Var(NPS/100) = (p_p + p_d − (p_p − p_d)²) / n (a difference of two multinomial proportions);
    CI = NPS ± z·100·√Var, clipped to [−100, 100]; None below two scores.
    """
    values = [v for v in _numbers(scores) if v.is_integer() and 0 <= v <= 10]
    n = len(values)
    promoters = sum(1 for v in values if v >= PROMOTER_MIN)
    detractors = sum(1 for v in values if v <= DETRACTOR_MAX)
    out: dict[str, Any] = {
        "n": n,
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
        "nps": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
    }
    if n == 0:
        return out
    pp, pd_ = promoters / n, detractors / n
    nps = 100.0 * (pp - pd_)
    se = 100.0 * math.sqrt(max(pp + pd_ - (pp - pd_) ** 2, 0.0) / n)
    out["nps"] = _round(nps, 2)
    out["se"] = _round(se, 4)
    if n >= 2:
        z = float(st.norm.ppf((1 + confidence) / 2))
        out["ci_low"] = _round(max(nps - z * se, -100.0), 2)
        out["ci_high"] = _round(min(nps + z * se, 100.0), 2)
    return out


def _nps_raw(scores: list[float]) -> tuple[float, float, int] | None:
    """(NPS points, its SE in points, n) unrounded, or None when empty."""
    n = len(scores)
    if n == 0:
        return None
    pp = sum(1 for v in scores if v >= PROMOTER_MIN) / n
    pd_ = sum(1 for v in scores if v <= DETRACTOR_MAX) / n
    return 100.0 * (pp - pd_), 100.0 * math.sqrt(max(pp + pd_ - (pp - pd_) ** 2, 0.0) / n), n


def nps_by_segment(
    groups: Groups,
    *,
    versus: Literal["rest", "largest"] = "rest",
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """NPS per segment with its CI, and each segment's difference to a reference with the CI of the difference.

    The reference is the rest of the respondents (``versus="rest"``: every score in the other segments) or the
    largest segment (``"largest"``; the first of equal sizes; its own difference is None). Segments are
    independent samples, so Var(NPS_a − NPS_b) = Var(NPS_a) + Var(NPS_b) and
    CI = (NPS_a − NPS_b) ± z·√(SE_a² + SE_b²), clipped to [−200, 200]; None when either side has fewer than
    two scores.

    Returns ``{"versus", "confidence", "overall": nps_figures, "segments": [{"segment", **nps_figures,
    "difference": {"versus", "value", "ci_low", "ci_high"}}]}``.
    """
    segs = [(seg, [v for v in _numbers(vals) if v.is_integer() and 0 <= v <= 10]) for seg, vals in _segments(groups)]
    everyone = [v for _, vals in segs for v in vals]
    z = float(st.norm.ppf((1 + confidence) / 2))
    largest = max(segs, key=lambda s: len(s[1]))[0] if segs else None
    rows: list[dict[str, Any]] = []
    for i, (seg, vals) in enumerate(segs):
        if versus == "rest":
            ref_label: Any = "rest"
            ref = [v for j, (_, other) in enumerate(segs) if j != i for v in other]
        elif versus == "largest":
            ref_label = largest
            ref = [] if seg == largest else next(v for s, v in segs if s == largest)
        else:
            raise ValueError(f"versus must be 'rest' or 'largest', not {versus!r}")
        diff: dict[str, Any] = {"versus": ref_label, "value": None, "ci_low": None, "ci_high": None}
        a, b = _nps_raw(vals), _nps_raw(ref)
        if a and b:
            value = a[0] - b[0]
            diff["value"] = _round(value, 2)
            if a[2] >= 2 and b[2] >= 2:
                half = z * math.sqrt(a[1] ** 2 + b[1] ** 2)
                diff["ci_low"] = _round(max(value - half, -200.0), 2)
                diff["ci_high"] = _round(min(value + half, 200.0), 2)
        rows.append({"segment": seg, **nps_figures(vals, confidence), "difference": diff})
    return {
        "versus": versus,
        "confidence": confidence,
        "overall": nps_figures(everyone, confidence),
        "segments": rows,
    }


def _mean_ci(values: list[float], confidence: float) -> tuple[float, float] | None:
    """t-interval of the mean: mean ± t((1+c)/2, n−1)·s/√n; None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = float(np.mean(values))
    half = float(st.t.ppf((1 + confidence) / 2, n - 1)) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def scale_figures(
    values: Iterable[Any],
    *,
    scale_min: float | None = None,
    scale_max: float | None = None,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """n, mean with its t-interval (mean ± t·s/√n), median, sample std, and for a bounded scale the shares of
    the top two (≥ max − 1) and bottom two (≤ min + 1) points.

    Top/bottom-2-box need both bounds and at least four scale points (with fewer they overlap); otherwise None.
    Answers outside the bounds are left out when bounds are given.
    """
    nums = _numbers(values)
    if scale_min is not None:
        nums = [v for v in nums if v >= scale_min]
    if scale_max is not None:
        nums = [v for v in nums if v <= scale_max]
    n = len(nums)
    ci = _mean_ci(nums, confidence)
    lo = scale_min if scale_min is not None else math.inf
    hi = scale_max if scale_max is not None else -math.inf
    boxes = hi - lo >= 3  # both bounds given (else -inf) and at least four points
    return {
        "n": n,
        "mean": _round(np.mean(nums)) if n else None,
        "ci_low": _round(ci[0]) if ci else None,
        "ci_high": _round(ci[1]) if ci else None,
        "median": _round(np.median(nums)) if n else None,
        "std": _round(np.std(nums, ddof=1)) if n > 1 else None,
        "top2": _round(sum(1 for v in nums if v >= hi - 1) / n) if boxes and n else None,
        "bottom2": _round(sum(1 for v in nums if v <= lo + 1) / n) if boxes and n else None,
    }


def scale_by_segment(
    groups: Groups,
    *,
    scale_min: float | None = None,
    scale_max: float | None = None,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """``scale_figures`` per segment and overall: ``{"scale_min", "scale_max", "confidence", "overall": {...},
    "segments": [{"segment", **scale_figures}]}``."""
    segs = _segments(groups)
    kw: dict[str, Any] = {"scale_min": scale_min, "scale_max": scale_max, "confidence": confidence}
    return {
        "scale_min": scale_min,
        "scale_max": scale_max,
        "confidence": confidence,
        "overall": scale_figures([v for _, vals in segs for v in vals], **kw),
        "segments": [{"segment": seg, **scale_figures(vals, **kw)} for seg, vals in segs],
    }


def _choices(raw: Any, multi: bool, allowed: set[Any] | None) -> list[Any]:
    """The distinct valid categories of one answer (a 1-list for single choice); [] for no answer."""
    if type(raw) is str:  # the usual answer, its own label
        return [raw] if allowed is None or raw in allowed else []
    if multi and type(raw) is list and all(type(item) is str for item in raw):
        return list(dict.fromkeys(raw if allowed is None else [x for x in raw if x in allowed]))
    if _missing(raw):
        return []
    items = list(raw) if multi and isinstance(raw, list | tuple | set | frozenset | np.ndarray) else [raw]
    labels = [_label(item) for item in items if not _missing(item)]
    if allowed is not None:
        labels = [x for x in labels if x in allowed]
    return list(dict.fromkeys(labels))


def _choice_lists(values: list[Any], multi: bool, allowed: set[Any] | None) -> list[list[Any]]:
    """`_choices` of every answer, leaving out those with none; the usual answers without a call each."""
    types = set(map(type, values))
    if types == {str}:  # single choice: each answer its own label
        return [[v] for v in values if allowed is None or v in allowed]
    out: list[list[Any]] = []
    if multi and types <= {list, NoneType}:  # multi-choice: few distinct lists, each worked out once
        seen: dict[tuple[Any, ...], list[Any]] = {}
        for raw in values:
            if raw is None:
                continue
            try:
                key = tuple(raw)
                chosen = seen.get(key)
            except TypeError:  # an unhashable item
                chosen = _choices(raw, multi, allowed)
            else:
                if chosen is None:
                    chosen = _choices(raw, multi, allowed)
                    if all(type(item) is str for item in key):  # only strings equal strings: True == 1
                        seen[key] = chosen
            if chosen:
                out.append(chosen)
        return out
    return [c for c in (_choices(raw, multi, allowed) for raw in values) if c]


def _category_order(segs: list[tuple[Any, list[list[Any]]]], categories: Sequence[Any] | None) -> list[Any]:
    if categories is not None:
        return [_label(c) for c in categories]
    return list(dict.fromkeys(c for _, answers in segs for items in answers for c in items))


def categories_by_segment(
    groups: Groups,
    *,
    categories: Sequence[Any] | None = None,
    multi: bool = False,
) -> dict[str, Any]:
    """Counts and shares of every category per segment and overall.

    Single choice: one category per answer, share = count / answers in the segment (shares add up to 1).
    Multi choice (``multi=True``, each answer a list): share = respondents choosing it / respondents in the
    segment who chose anything (shares can add up to more than 1). With ``categories`` given, that order is
    used and other values are ignored; otherwise categories come in order of first appearance. Ordinal
    categories and NPS groups are single choice (see ``nps_groups``).

    Returns ``{"multi", "categories", "overall": {"n", "counts": [{"category", "count", "share"}]},
    "segments": [{"segment", "n", "counts": [...]}]}``.
    """
    allowed = {_label(c) for c in categories} if categories is not None else None
    segs = [
        (seg, _choice_lists(vals, multi, allowed)) for seg, vals in _segments(groups)
    ]
    order = _category_order(segs, categories)

    def block(answers: list[list[Any]]) -> dict[str, Any]:
        n = len(answers)
        counts = dict.fromkeys(order, 0)
        for items in answers:
            for item in items:
                counts[item] += 1
        return {
            "n": n,
            "counts": [{"category": c, "count": k, "share": _round(k / n) if n else None} for c, k in counts.items()],
        }

    return {
        "multi": multi,
        "categories": order,
        "overall": block([a for _, answers in segs for a in answers]),
        "segments": [{"segment": seg, **block(answers)} for seg, answers in segs],
    }


def nps_group(score: Any) -> str | None:
    """'promoter' (9-10), 'passive' (7-8), 'detractor' (0-6), or None for anything not an integer 0-10."""
    nums = _numbers([score])
    if not nums or not nums[0].is_integer() or not 0 <= nums[0] <= 10:
        return None
    v = nums[0]
    return "promoter" if v >= PROMOTER_MIN else "detractor" if v <= DETRACTOR_MAX else "passive"


def nps_groups(groups: Groups) -> dict[Any, list[str]]:
    """Scores per segment turned into NPS groups (invalid scores dropped), for the categorical functions."""
    # nps_group of each value, in one pass over the numbers: the same filters, the same groups
    return {
        seg: ["promoter" if v >= PROMOTER_MIN else "detractor" if v <= DETRACTOR_MAX else "passive"
              for v in _numbers(vals) if v.is_integer() and 0 <= v <= 10]
        for seg, vals in _segments(groups)
    }


# --- significance tests -----------------------------------------------------------------------------------------


def _skipped(base: dict[str, Any], reason: str) -> dict[str, Any]:
    base.update({"skipped": reason})
    return base


def cramers_v(table: np.ndarray) -> tuple[float, float, float]:
    """(chi2 without continuity correction, Cramér's V, bias-corrected V) of a table with no empty row/column.

    V = √(χ²/n / (min(r, c) − 1)). Bias-corrected (Bergsma 2013): φ²* = max(0, χ²/n − (r−1)(c−1)/(n−1)),
    r* = r − (r−1)²/(n−1), c* = c − (c−1)²/(n−1), V* = √(φ²* / min(r*−1, c*−1)).
    """
    table = np.asarray(table, dtype=float)
    n = float(table.sum())
    r, c = table.shape
    chi2 = float(st.chi2_contingency(table, correction=False)[0])
    v = math.sqrt(chi2 / n / (min(r, c) - 1))
    corrected = None
    if n > 1:
        phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
        r_star = r - (r - 1) ** 2 / (n - 1)
        c_star = c - (c - 1) ** 2 / (n - 1)
        denom = min(r_star - 1, c_star - 1)
        corrected = math.sqrt(phi2 / denom) if denom > 0 else None
    return chi2, v, corrected if corrected is not None else float("nan")


def contingency_test(
    table: Sequence[Sequence[int]] | np.ndarray,
    rows: Sequence[Any],
    columns: Sequence[Any],
    *,
    name: str = "",
    by: str = "",
    kind: str = "categorical",
) -> dict[str, Any]:
    """Chi-square test of independence of a segments x categories count table, with Cramér's V.

    Empty rows and columns are dropped first (they carry no information and break the expected counts).
    Expected counts E = row total · column total / n. Cochran's rule: a warning when more than 20% of the
    cells have E < 5 or any has E < 1. A 2x2 table with any E < 5 is tested with Fisher's exact test (two-sided)
    instead, and ``statistic`` is then the sample odds ratio. Pearson's chi-square has no continuity correction.

    Returns ``{"kind", "name", "by", "test": "chi2" | "fisher" | None, "segments", "categories", "table",
    "n", "statistic", "dof", "p", "effect": {"measure": "cramers_v", "value", "label", "thresholds",
    "value_bias_corrected", "df_star"}, "expected_below_5", "expected_min", "warnings", "notes", "skipped",
    "dropped_segments", "dropped_categories"}``; ``skipped`` is a reason (and test/p None) when no test can run.
    """
    arr = np.asarray(table, dtype=float).reshape(len(rows), len(columns))
    keep_r = arr.sum(axis=1) > 0
    keep_c = arr.sum(axis=0) > 0
    arr = arr[keep_r][:, keep_c]
    segs = [r for r, k in zip(rows, keep_r, strict=True) if k]
    cats = [c for c, k in zip(columns, keep_c, strict=True) if k]
    result: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "by": by,
        "test": None,
        "segments": segs,
        "categories": cats,
        "table": [[int(x) for x in row] for row in arr],
        "n": int(arr.sum()),
        "statistic": None,
        "dof": None,
        "p": None,
        "effect": None,
        "expected_below_5": None,
        "expected_min": None,
        "warnings": [],
        "notes": [],
        "skipped": None,
        "dropped_segments": [r for r, k in zip(rows, keep_r, strict=True) if not k],
        "dropped_categories": [c for c, k in zip(columns, keep_c, strict=True) if not k],
    }
    if len(segs) < 2:
        return _skipped(result, "fewer than two segments have answers")
    if len(cats) < 2:
        return _skipped(result, "every answer is in the same category")
    chi2, p, dof, expected = st.chi2_contingency(arr, correction=False)
    below5 = float(np.mean(expected < 5))
    emin = float(expected.min())
    result["expected_below_5"] = _round(below5)
    result["expected_min"] = _round(emin)
    _, v, v_corr = cramers_v(arr)
    df_star = min(arr.shape) - 1
    result["effect"] = _effect("cramers_v", v, df_star, value_bias_corrected=_round(v_corr))
    if arr.shape == (2, 2) and emin < 5:
        odds, p_exact = st.fisher_exact(arr.astype(int))
        result.update({"test": "fisher", "statistic": _round(odds), "dof": None, "p": _sig(p_exact)})
        result["notes"].append("expected counts below 5 in a 2x2 table: Fisher's exact test used instead of chi-square")
        return result
    result.update({"test": "chi2", "statistic": _round(chi2), "dof": int(dof), "p": _sig(p)})
    if below5 > 0.2 or emin < 1:
        result["warnings"].append(
            f"chi-square may be unreliable: {below5:.0%} of expected counts are below 5 "
            f"(smallest {emin:.2g}); Cochran's rule wants at most 20% below 5 and none below 1"
        )
    return result


def categorical_test(
    groups: Groups,
    *,
    categories: Sequence[Any] | None = None,
    name: str = "",
    by: str = "",
    kind: str = "categorical",
) -> dict[str, Any]:
    """Chi-square (or Fisher) test of single-choice answers by segment: ``contingency_test`` of the counts.

    Multi-choice answers break independence (one respondent, several cells): test them with ``option_tests``.
    The result also carries ``shares``: per segment, the share of each category (rows of the table / row n).
    """
    allowed = {_label(c) for c in categories} if categories is not None else None
    segs = [(seg, _choice_lists(vals, False, allowed)) for seg, vals in _segments(groups)]
    order = _category_order(segs, categories)
    index = {c: i for i, c in enumerate(order)}
    table = np.zeros((len(segs), len(order)), dtype=int)
    for i, (_, answers) in enumerate(segs):
        for category, count in Counter(items[0] for items in answers).items():
            table[i, index[category]] += count
    result = contingency_test(table, [s for s, _ in segs], order, name=name, by=by, kind=kind)
    result["shares"] = [
        [_round(x / sum(row)) if sum(row) else None for x in row] for row in result["table"]
    ]
    return result


def nps_test(groups: Groups, *, name: str = "NPS", by: str = "") -> dict[str, Any]:
    """Whether the promoter/passive/detractor mix differs by segment: chi-square (or Fisher) of NPS groups,
    with Cramér's V; ``nps`` carries each tested segment's NPS in points (for findings)."""
    result = categorical_test(nps_groups(groups), categories=list(NPS_GROUPS), name=name, by=by, kind="nps")
    by_seg = {seg: vals for seg, vals in _segments(groups)}
    result["nps"] = [nps_figures(by_seg[seg])["nps"] for seg in result["segments"]]
    return result


def option_tests(
    groups: Groups,
    *,
    options: Sequence[Any] | None = None,
    name: str = "",
    by: str = "",
) -> list[dict[str, Any]]:
    """One ``contingency_test`` per option of a multi-choice question: chosen vs not chosen, by segment.

    Respondents who chose nothing are left out (as in ``categories_by_segment``). Each result has
    ``kind="option"``, ``option`` and ``focus="chosen"``; its p-values belong to the report's family.
    """
    allowed = {_label(o) for o in options} if options is not None else None
    segs = [(seg, _choice_lists(vals, True, allowed)) for seg, vals in _segments(groups)]
    order = _category_order(segs, options)
    chosen = [Counter(chain.from_iterable(ans)) for _, ans in segs]  # each answer lists an option once
    out = []
    for option in order:
        table = [[tally[option], len(ans) - tally[option]] for tally, (_, ans) in zip(chosen, segs, strict=True)]
        labels = [s for s, _ in segs]
        result = contingency_test(table, labels, ["chosen", "not chosen"], name=name, by=by, kind="option")
        result["option"] = option
        result["focus"] = "chosen"
        result["shares"] = [[_round(x / sum(row)) if sum(row) else None for x in row] for row in result["table"]]
        out.append(result)
    return out


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Two-sided Mann-Whitney U test of two samples (scipy's default method) with the rank-biserial correlation.

    ``statistic`` is U_a (scipy's U of `a`: pairs with a > b plus half the ties);
    r = 2·U_a/(n_a·n_b) − 1 = P(a > b) − P(a < b): positive when a tends to be higher, in [−1, 1].
    """
    u, p = st.mannwhitneyu(a, b, alternative="two-sided")
    r = 2.0 * float(u) / (len(a) * len(b)) - 1.0
    return {"statistic": _round(u), "p": _sig(p), "effect": _effect("rank_biserial", r)}


def rank_test(
    groups: Groups,
    *,
    order: Sequence[Any] | None = None,
    name: str = "",
    by: str = "",
    kind: Literal["ordinal", "scale", "numeric"] = "scale",
    min_n: int = MIN_SEGMENT_N,
) -> dict[str, Any]:
    """Kruskal-Wallis H across segments with ε², and pairwise Mann-Whitney U with rank-biserial r.

    Values are numbers, or ordered categories mapped to positions 1..k by ``order`` (others dropped).
    ε² = H / ((n² − 1)/(n + 1)) = H/(n − 1), n = all tested answers. Empty segments are left out; a segment
    with fewer than ``min_n`` answers gives a warning (on the test and on its pairs) but is still tested. With
    fewer than two segments with answers, or every answer the same value, the test is skipped with a reason.

    Returns ``{"kind", "name", "by", "test": "kruskal" | None, "order", "segments": [{"segment", "n", "mean",
    "median"}], "n", "statistic", "dof", "p", "effect": {"measure": "epsilon_squared", ...}, "warnings",
    "skipped", "dropped_segments", "pairs": [{"a", "b", "n_a", "n_b", "mean_a", "mean_b", "median_a",
    "median_b", "test": "mannwhitney", "statistic", "p", "effect": {"measure": "rank_biserial", ...},
    "warnings", "skipped"}]}``.
    """
    positions = {_label(c): i + 1 for i, c in enumerate(order)} if order is not None else None
    segs: list[tuple[Any, list[float]]] = []
    for seg, vals in _segments(groups):
        if positions is not None:
            nums = [float(positions[v]) if type(v) is str else float(positions[_label(v)])
                    for v in vals if (type(v) is str and v in positions)
                    or (type(v) is not str and not _missing(v) and _label(v) in positions)]
        else:
            nums = _numbers(vals)
        segs.append((seg, nums))
    tested = [(s, v) for s, v in segs if v]
    small = [s for s, v in tested if len(v) < min_n]
    result: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "by": by,
        "test": None,
        "order": [_label(c) for c in order] if order is not None else None,
        "segments": [
            {"segment": s, "n": len(v), "mean": _round(np.mean(v)), "median": _round(np.median(v))} for s, v in tested
        ],
        "n": sum(len(v) for _, v in tested),
        "statistic": None,
        "dof": None,
        "p": None,
        "effect": None,
        "warnings": [f"fewer than {min_n} answers in {s!s} ({len(v)})" for s, v in tested if s in small],
        "skipped": None,
        "dropped_segments": [s for s, v in segs if not v],
        "pairs": [],
    }
    if len(tested) < 2:
        return _skipped(result, "fewer than two segments have answers")
    if len({x for _, v in tested for x in v}) == 1:
        return _skipped(result, "every answer has the same value")
    h, p = st.kruskal(*[v for _, v in tested])
    n = result["n"]
    eps2 = float(h) / ((n**2 - 1) / (n + 1))
    result.update({
        "test": "kruskal",
        "statistic": _round(h),
        "dof": len(tested) - 1,
        "p": _sig(p),
        "effect": _effect("epsilon_squared", eps2),
    })
    for (sa, va), (sb, vb) in combinations(tested, 2):
        pair: dict[str, Any] = {
            "a": sa,
            "b": sb,
            "n_a": len(va),
            "n_b": len(vb),
            "mean_a": _round(np.mean(va)),
            "mean_b": _round(np.mean(vb)),
            "median_a": _round(np.median(va)),
            "median_b": _round(np.median(vb)),
            "test": "mannwhitney",
            **mann_whitney(va, vb),
            "warnings": [f"fewer than {min_n} answers in {s!s}" for s in (sa, sb) if s in small],
            "skipped": None,
        }
        result["pairs"].append(pair)
    return result


# --- multiple comparisons ---------------------------------------------------------------------------------------


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjustment: sort p ascending, p̃_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j)) (1-based),
    back in input order. None entries stay None and do not count in m."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda k: float(p_values[k]))):  # type: ignore[arg-type]
        running = max(running, (m - rank) * float(p_values[i]))  # type: ignore[arg-type]
        out[i] = min(1.0, running)
    return out


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjustment (``scipy.stats.false_discovery_control``, method 'bh'):
    p̃_(i) = min(1, min_{j ≥ i} m·p_(j)/j) (1-based, p ascending). None entries stay None and do not count in m."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        adjusted = st.false_discovery_control([float(p_values[i]) for i in idx], method="bh")  # type: ignore[arg-type]
        for i, q in zip(idx, adjusted, strict=True):
            out[i] = float(q)
    return out


def _p_slots(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every dict carrying a p-value: each test, then its pairs."""
    slots: list[dict[str, Any]] = []
    for test in tests:
        slots.append(test)
        slots.extend(test.get("pairs") or [])
    return slots


def adjust_family(tests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the test results with ``p_holm`` and ``p_bh`` added to every test and pair that has a p.

    The family is every p-value in `tests` (omnibus tests and their pairs); pass all tests of one report.
    Tests and pairs without a p (skipped) get None.
    """
    out = [copy.deepcopy(dict(t)) for t in tests]
    slots = _p_slots(out)
    raw = [s.get("p") for s in slots]
    for slot, h, b in zip(slots, holm(raw), benjamini_hochberg(raw), strict=True):
        slot["p_holm"] = _sig(h)
        slot["p_bh"] = _sig(b)
    return out


# --- findings ---------------------------------------------------------------------------------------------------


def _strength(effect: Mapping[str, Any] | None) -> tuple[int, float]:
    """Sort key for effects of different measures: label level, then |value| relative to its medium threshold."""
    if not effect or effect.get("value") is None:
        return (-1, 0.0)
    level = EFFECT_LABELS.index(effect["label"])
    return level, abs(effect["value"]) / effect["thresholds"][1]


def _num(value: float, other: float) -> str:
    """One decimal, or two when one decimal would make the two figures look equal."""
    digits = 1 if round(value, 1) != round(other, 1) else 2
    return f"{value:.{digits}f}"


def _signed(points: float) -> str:
    """NPS points as '+12', '−8' (minus sign) or '0'."""
    whole = round(points)
    if whole == 0:
        return "0"
    return f"+{whole}" if whole > 0 else f"\u2212{abs(whole)}"


def _seg(label: Any) -> str:
    return str(label)


def _categorical_sentence(test: Mapping[str, Any], p_text: str, effect_text: str) -> tuple[str, dict[str, Any]]:
    segs, cats, shares = test["segments"], test["categories"], test["shares"]
    if test.get("focus") in cats:
        col = cats.index(test["focus"])
    else:  # the category whose share varies most across segments
        col = max(range(len(cats)), key=lambda j: max(r[j] for r in shares) - min(r[j] for r in shares))
    column = [row[col] for row in shares]
    hi = max(range(len(segs)), key=lambda i: column[i])
    lo = min(range(len(segs)), key=lambda i: column[i])
    numbers = {
        "category": cats[col],
        "segments": [segs[hi], segs[lo]],
        "values": [column[hi], column[lo]],
        "unit": "share",
    }
    a, b = f"{column[hi]:.0%}", f"{column[lo]:.0%}"
    if test["kind"] == "option":
        of = f" ({test['name']})" if test["name"] else ""
        text = (
            f'"{test["option"]}"{of} is chosen by {a} in {_seg(segs[hi])} '
            f"vs {b} in {_seg(segs[lo])} ({p_text}, {effect_text})"
        )
    else:
        what = test["name"] or "The answer"
        by = f" by {test['by']}" if test["by"] else " by segment"
        text = (
            f'{what} differs{by}: "{cats[col]}" is {a} in {_seg(segs[hi])} vs {b} in {_seg(segs[lo])} '
            f"({p_text}, {effect_text})"
        )
    return text, numbers


def _nps_sentence(test: Mapping[str, Any], p_text: str, effect_text: str) -> tuple[str, dict[str, Any]]:
    segs, nps = test["segments"], test["nps"]
    hi = max(range(len(segs)), key=lambda i: nps[i])
    lo = min(range(len(segs)), key=lambda i: nps[i])
    by = f" by {test['by']}" if test["by"] else " by segment"
    text = (
        f"{test['name'] or 'NPS'} differs{by}: {_seg(segs[hi])} {_signed(nps[hi])} vs {_seg(segs[lo])} "
        f"{_signed(nps[lo])} ({p_text}, {effect_text})"
    )
    return text, {"segments": [segs[hi], segs[lo]], "values": [nps[hi], nps[lo]], "unit": "nps"}


def _pair_sentence(
    test: Mapping[str, Any], pair: Mapping[str, Any], p_text: str, effect_text: str
) -> tuple[str, dict[str, Any]]:
    higher = pair["effect"]["value"] > 0
    word = "higher" if higher else "lower"
    ma, mb = pair["mean_a"], pair["mean_b"]
    name = test["name"] or "the answer"
    if test["kind"] == "numeric":
        head = f"{_seg(pair['a'])} has {word} {name} than {_seg(pair['b'])}"
    else:
        head = f"{_seg(pair['a'])} rates {name} {word} than {_seg(pair['b'])}"
    scale = ""
    if test.get("order"):
        order = test["order"]
        scale = f" on 1 = {order[0]} … {len(order)} = {order[-1]}"
    text = f"{head}: {_num(ma, mb)} vs {_num(mb, ma)}{scale} ({p_text}, {effect_text})"
    return text, {"segments": [pair["a"], pair["b"]], "values": [ma, mb], "unit": "mean"}


def comparisons(
    tests: Sequence[Mapping[str, Any]],
    *,
    alpha: float = ALPHA,
    correction: Literal["bh", "holm"] = "bh",
) -> list[dict[str, Any]]:
    """Every comparison of the tests, flattened, each with ``significant`` and a ``finding`` sentence or None.

    A comparison is an omnibus categorical/NPS test, a Mann-Whitney pair, or a Kruskal-Wallis test none of
    whose pairs is a finding. It is a finding when its adjusted p < `alpha` and its effect is at least small;
    a pair also needs its Kruskal-Wallis test significant. Adjusted p-values are taken from the tests
    (``adjust_family``) when every p has one, else computed here with `tests` as the family.
    ``reason`` says why a comparison is not a finding.

    Each item: ``{"kind", "name", "by", "test", "segments", "values", "unit", "category", "p", "p_adjusted",
    "correction", "p_text", "effect", "significant", "finding": str | None, "reason": str | None}``; ``segments``
    and ``values`` are the two figures the sentence cites (values: share 0..1, NPS points or mean).
    """
    key = f"p_{correction}"
    if correction not in ("bh", "holm"):
        raise ValueError(f"correction must be 'bh' or 'holm', not {correction!r}")
    tests_list = [dict(t) for t in tests]
    slots = _p_slots(tests_list)
    if any(s.get("p") is not None and s.get(key) is None for s in slots):
        tests_list = adjust_family(tests_list)

    out: list[dict[str, Any]] = []

    def item(test: Mapping[str, Any], slot: Mapping[str, Any], gate: str | None, sentence: Any) -> dict[str, Any]:
        p, p_adj, effect = slot.get("p"), slot.get(key), slot.get("effect")
        significant = p_adj is not None and p_adj < alpha
        reason = slot.get("skipped") and f"skipped: {slot['skipped']}"
        if not reason:
            if not significant:
                reason = f"not significant after {correction} correction"
            elif not effect or effect["label"] in (None, "negligible"):
                reason = "negligible effect"
            elif gate:
                reason = gate
        base: dict[str, Any] = {
            "kind": test["kind"],
            "name": test.get("name", ""),
            "by": test.get("by", ""),
            "test": slot.get("test"),
            "segments": None,
            "values": None,
            "unit": None,
            "category": None,
            "p": p,
            "p_adjusted": p_adj,
            "correction": correction,
            "p_text": format_p(p_adj) if p_adj is not None else None,
            "effect": effect,
            "significant": significant,
            "finding": None,
            "reason": reason,
            "warnings": list(slot.get("warnings") or []),
        }
        if not reason and effect is not None:
            effect_text = f"{effect['label']} effect"
            text, numbers = sentence(format_p(p_adj), effect_text)
            base.update(numbers)
            base["finding"] = text
        return base

    for test in tests_list:
        if test["kind"] == "nps":
            out.append(item(test, test, None, lambda pt, et, t=test: _nps_sentence(t, pt, et)))
        elif test["kind"] in ("categorical", "option"):
            out.append(item(test, test, None, lambda pt, et, t=test: _categorical_sentence(t, pt, et)))
        else:
            omnibus_ok = test.get(key) is not None and test[key] < alpha
            gate = None if omnibus_ok else "Kruskal-Wallis test across segments not significant"
            pairs = [
                item(test, pair, gate, lambda pt, et, t=test, pr=pair: _pair_sentence(t, pr, pt, et))
                for pair in test.get("pairs") or []
            ]
            omnibus = item(test, test, None, lambda pt, et, t=test: _omnibus_rank_sentence(t, pt, et))
            if any(pr["finding"] for pr in pairs) and omnibus["finding"]:
                omnibus["finding"] = None
                omnibus["reason"] = "reported through its pairwise comparisons"
            out.append(omnibus)
            out.extend(pairs)
    return out


def _omnibus_rank_sentence(test: Mapping[str, Any], p_text: str, effect_text: str) -> tuple[str, dict[str, Any]]:
    rows = test["segments"]
    hi = max(rows, key=lambda r: r["mean"])
    lo = min(rows, key=lambda r: r["mean"])
    by = f" by {test['by']}" if test["by"] else " by segment"
    text = (
        f"{test['name'] or 'The answer'} differs{by}: highest in {_seg(hi['segment'])} "
        f"{_num(hi['mean'], lo['mean'])} vs lowest in {_seg(lo['segment'])} {_num(lo['mean'], hi['mean'])} "
        f"({p_text}, {effect_text})"
    )
    return text, {"segments": [hi["segment"], lo["segment"]], "values": [hi["mean"], lo["mean"]], "unit": "mean"}


def findings(
    tests: Sequence[Mapping[str, Any]],
    *,
    alpha: float = ALPHA,
    correction: Literal["bh", "holm"] = "bh",
) -> list[dict[str, Any]]:
    """The comparisons that are findings (see ``comparisons``), largest effect first.

    Effects of different measures are ordered by label (large > medium > small), then by |value| divided by
    the measure's medium threshold, then by adjusted p. Each item is a ``comparisons`` item whose ``finding``
    is the sentence, e.g. "Enterprise rates support lower than Free: 3.4 vs 4.1 (p < 0.001, medium effect)".
    The p in the sentence is the adjusted one (the one significance was judged by); ``p`` keeps the raw value.
    """
    found = [c for c in comparisons(tests, alpha=alpha, correction=correction) if c["finding"]]
    found.sort(key=lambda c: (-_strength(c["effect"])[0], -_strength(c["effect"])[1], c["p_adjusted"]))
    return found
