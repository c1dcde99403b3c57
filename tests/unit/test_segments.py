"""Segment comparison statistics, checked against scipy/numpy computed here and against hand computations.

The last section runs them on the real women's clothing reviews (/work/shared/datasets) and checks a few figures
against pandas/scipy computed from the CSV.
"""

from __future__ import annotations

import json
import math
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from scipy.stats.contingency import association

from tests.datasets import REVIEWS, require
from workbench.analysis.segments import (
    adjust_family,
    benjamini_hochberg,
    categorical_test,
    categories_by_segment,
    comparisons,
    contingency_test,
    effect_label,
    findings,
    format_p,
    holm,
    nps_by_segment,
    nps_figures,
    nps_test,
    option_tests,
    rank_test,
    scale_by_segment,
)

Z975 = 1.959963984540054  # standard normal quantile 0.975 (tables)


def _json(value: Any) -> Any:
    """Round-trips through strict JSON: fails on NaN/inf and on numpy scalars."""
    return json.loads(json.dumps(value, allow_nan=False))


def _rank_biserial(a: list[float], b: list[float]) -> float:
    """P(a > b) − P(a < b) over every pair, by brute force (independent of U)."""
    gt = sum(1 for x, y in product(a, b) if x > y)
    lt = sum(1 for x, y in product(a, b) if x < y)
    return (gt - lt) / (len(a) * len(b))


# --- categorical: chi-square, Cramér's V, Fisher, Cochran --------------------------------------------------------


def _groups_from_table(table: list[list[int]], rows: list[str], cols: list[str]) -> dict[str, list[str]]:
    return {
        r: [c for c, k in zip(cols, row, strict=True) for _ in range(k)] for r, row in zip(rows, table, strict=True)
    }


def test_chi_square_and_cramers_v_match_scipy() -> None:
    table = [[30, 12, 8], [18, 25, 17], [10, 14, 26]]
    groups = _groups_from_table(table, ["Free", "Pro", "Enterprise"], ["yes", "no", "maybe"])
    result = categorical_test(groups, categories=["yes", "no", "maybe"], name="Q", by="plan")

    chi2, p, dof, _ = st.chi2_contingency(np.array(table), correction=False)
    n = sum(map(sum, table))
    assert result["test"] == "chi2"
    assert result["table"] == table
    assert result["statistic"] == pytest.approx(chi2, abs=1e-4)
    assert result["p"] == pytest.approx(p, rel=1e-5)
    assert result["dof"] == dof == 4
    v = math.sqrt(chi2 / n / 2)
    assert result["effect"]["value"] == pytest.approx(v, abs=1e-4)
    assert result["effect"]["value"] == pytest.approx(association(np.array(table), method="cramer"), abs=1e-4)
    # Bergsma's bias correction, by hand
    phi2 = max(0.0, chi2 / n - 4 / (n - 1))
    k_star = 3 - 4 / (n - 1)
    assert result["effect"]["value_bias_corrected"] == pytest.approx(math.sqrt(phi2 / (k_star - 1)), abs=1e-4)
    assert result["effect"]["df_star"] == 2
    assert result["effect"]["label"] == effect_label("cramers_v", v, 2)
    assert result["warnings"] == [] and result["skipped"] is None
    assert result["shares"][0] == pytest.approx([30 / 50, 12 / 50, 8 / 50], abs=1e-4)
    _json(result)


def test_empty_rows_and_columns_are_dropped() -> None:
    result = contingency_test([[10, 0, 20], [0, 0, 0], [15, 0, 5]], ["a", "b", "c"], ["x", "y", "z"])
    assert result["segments"] == ["a", "c"] and result["categories"] == ["x", "z"]
    assert result["dropped_segments"] == ["b"] and result["dropped_categories"] == ["y"]
    chi2, p, _, _ = st.chi2_contingency(np.array([[10, 20], [15, 5]]), correction=False)
    assert result["test"] == "chi2"  # 2x2 but every expected count is at least 5
    assert result["statistic"] == pytest.approx(chi2, abs=1e-4)
    assert result["p"] == pytest.approx(p, rel=1e-5)


def test_small_2x2_uses_fisher() -> None:
    table = [[8, 2], [1, 5]]
    result = contingency_test(table, ["A", "B"], ["yes", "no"])
    odds, p = st.fisher_exact(table)
    assert result["test"] == "fisher"
    assert result["p"] == pytest.approx(p, rel=1e-5)
    assert result["statistic"] == pytest.approx(odds, abs=1e-4)
    assert result["dof"] is None
    assert any("Fisher" in note for note in result["notes"])
    chi2 = st.chi2_contingency(np.array(table), correction=False)[0]
    assert result["effect"]["value"] == pytest.approx(math.sqrt(chi2 / 16), abs=1e-4)  # phi


def test_fisher_with_a_zero_cell_is_json_safe() -> None:
    result = contingency_test([[5, 0], [1, 4]], ["A", "B"], ["yes", "no"])
    assert result["test"] == "fisher"
    assert result["statistic"] is None  # infinite odds ratio
    assert result["p"] == pytest.approx(st.fisher_exact([[5, 0], [1, 4]])[1], rel=1e-5)
    _json(result)


def test_cochran_warning() -> None:
    # 3x2 with small counts: most expected counts are below 5
    small = contingency_test([[3, 1], [2, 4], [1, 2]], ["a", "b", "c"], ["x", "y"])
    expected = st.chi2_contingency(np.array([[3, 1], [2, 4], [1, 2]]))[3]
    assert small["test"] == "chi2"
    assert small["expected_below_5"] == pytest.approx(float(np.mean(expected < 5)), abs=1e-4)
    assert len(small["warnings"]) == 1 and "Cochran" in small["warnings"][0]
    # one expected count below 1 in an otherwise large table still warns
    tiny = contingency_test([[100, 1], [100, 0], [100, 0], [100, 0], [100, 0]], list("abcde"), ["x", "y"])
    assert tiny["expected_min"] < 1 and tiny["warnings"]
    large = contingency_test([[40, 30], [35, 45]], ["a", "b"], ["x", "y"])
    assert large["warnings"] == [] and large["notes"] == []


def test_categorical_tests_that_cannot_run_say_why() -> None:
    one_segment = categorical_test({"A": ["x", "y", "x"], "B": []})
    assert one_segment["test"] is None and one_segment["p"] is None
    assert one_segment["skipped"] == "fewer than two segments have answers"
    one_category = categorical_test({"A": ["x", "x"], "B": ["x", None, float("nan")]})
    assert one_category["skipped"] == "every answer is in the same category"
    _json([one_segment, one_category])


def test_option_tests_test_each_option_chosen_vs_not() -> None:
    groups = {
        "A": [["x", "y"], ["x"], ["x", "z"], ["y"], [], None] * 5,
        "B": [["y"], ["z"], ["y", "z"], ["x"]] * 5,
    }
    results = option_tests(groups, options=["x", "y", "z"], name="Tools", by="team")
    assert [r["option"] for r in results] == ["x", "y", "z"]
    # x: A chosen 15 of 20 answering, B 5 of 20
    assert results[0]["table"] == [[15, 5], [5, 15]]
    chi2, p, _, _ = st.chi2_contingency(np.array([[15, 5], [5, 15]]), correction=False)
    assert results[0]["p"] == pytest.approx(p, rel=1e-5)
    assert results[0]["shares"][0] == [0.75, 0.25]


# --- ordinal / scale: Kruskal-Wallis, Mann-Whitney -----------------------------------------------------------------


RANK_GROUPS = {
    "Free": [5, 4, 4, 5, 3, 4, 5, 5, 2, 4, 5, 4],
    "Pro": [3, 4, 3, 2, 4, 3, 5, 3, 3, 2],
    "Enterprise": [2, 3, 1, 2, 3, 4, 2, 1, 3],
}


def test_kruskal_wallis_and_epsilon_squared_match_scipy() -> None:
    result = rank_test(RANK_GROUPS, name="support", by="plan")
    h, p = st.kruskal(*RANK_GROUPS.values())
    n = sum(len(v) for v in RANK_GROUPS.values())
    assert result["test"] == "kruskal"
    assert result["statistic"] == pytest.approx(h, abs=1e-4)
    assert result["p"] == pytest.approx(p, rel=1e-5)
    assert result["dof"] == 2 and result["n"] == n
    eps2 = h / ((n**2 - 1) / (n + 1))
    assert result["effect"]["measure"] == "epsilon_squared"
    assert result["effect"]["value"] == pytest.approx(eps2, abs=1e-4)
    assert result["effect"]["label"] == ("large" if eps2 >= 0.26 else "medium" if eps2 >= 0.08 else "small")
    assert [s["mean"] for s in result["segments"]] == pytest.approx(
        [float(np.mean(v)) for v in RANK_GROUPS.values()], abs=1e-4
    )


def test_pairwise_mann_whitney_and_rank_biserial_match_scipy() -> None:
    result = rank_test(RANK_GROUPS)
    pairs = {(pr["a"], pr["b"]): pr for pr in result["pairs"]}
    assert list(pairs) == [("Free", "Pro"), ("Free", "Enterprise"), ("Pro", "Enterprise")]
    for (a, b), pair in pairs.items():
        u, p = st.mannwhitneyu(RANK_GROUPS[a], RANK_GROUPS[b], alternative="two-sided")
        assert pair["statistic"] == pytest.approx(u, abs=1e-4)
        assert pair["p"] == pytest.approx(p, rel=1e-5)
        r = _rank_biserial(RANK_GROUPS[a], RANK_GROUPS[b])
        assert pair["effect"]["value"] == pytest.approx(r, abs=1e-4)
        # the documented identity with the brief's formula, using the second sample's U
        u_b = len(RANK_GROUPS[a]) * len(RANK_GROUPS[b]) - u
        assert r == pytest.approx(1 - 2 * u_b / (len(RANK_GROUPS[a]) * len(RANK_GROUPS[b])))
    assert pairs[("Free", "Enterprise")]["effect"]["value"] > 0  # Free answers higher: positive r
    assert pairs[("Free", "Enterprise")]["effect"]["label"] == "large"


def test_ordinal_categories_are_ranked_by_order() -> None:
    order = ["Very easy", "Somewhat easy", "Neither", "Somewhat difficult", "Very difficult"]
    groups = {
        "Small": ["Very easy", "Somewhat easy", "Very easy", "Neither", "I don't know", None],
        "Large": ["Somewhat difficult", "Very difficult", "Neither", "Somewhat difficult"],
    }
    result = rank_test(groups, order=order, kind="ordinal")
    h, p = st.kruskal([1, 2, 1, 3], [4, 5, 3, 4])
    assert result["statistic"] == pytest.approx(h, abs=1e-4) and result["p"] == pytest.approx(p, rel=1e-5)
    assert result["segments"][0]["n"] == 4  # unknown label and None left out


def test_rank_test_small_samples_and_skips() -> None:
    result = rank_test({"A": [1, 2, 3], "B": [3, 4, 5, 5, 4, 3], "C": []}, min_n=5)
    assert result["dropped_segments"] == ["C"]
    assert result["warnings"] == ["fewer than 5 answers in A (3)"]
    assert result["pairs"][0]["warnings"] == ["fewer than 5 answers in A"]
    assert result["test"] == "kruskal"  # still tested
    same = rank_test({"A": [3, 3, 3], "B": [3, 3]})
    assert same["skipped"] == "every answer has the same value" and same["p"] is None and same["pairs"] == []
    alone = rank_test({"A": [1, 2], "B": [None, float("nan"), "n/a"]})
    assert alone["skipped"] == "fewer than two segments have answers"
    _json([result, same, alone])


# --- multiple comparisons -----------------------------------------------------------------------------------------


def test_holm_and_bh_on_a_known_vector() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm by hand: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> running max 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH by hand: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04, 0.04·4/4 = 0.04 (already monotone)
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # step-up minimum: 0.045·3/2 = 0.0675 is lowered to 0.05·3/3 = 0.05
    assert benjamini_hochberg([0.05, 0.045, 0.001]) == pytest.approx([0.05, 0.05, 0.003])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([None, 0.02, 0.04]) == [None, pytest.approx(0.04), pytest.approx(0.04)]  # None not counted in m
    assert benjamini_hochberg([None]) == [None]


def test_adjust_family_covers_tests_and_pairs() -> None:
    kw = rank_test(RANK_GROUPS, name="support", by="plan")
    chi = categorical_test({"A": ["x"] * 20 + ["y"] * 5, "B": ["x"] * 8 + ["y"] * 17})
    skipped = categorical_test({"A": ["x"]})
    family = adjust_family([kw, chi, skipped])
    raw = [kw["p"], *(pr["p"] for pr in kw["pairs"]), chi["p"]]
    m = len(raw)
    order = np.argsort(raw)
    holm_hand = np.minimum(1, np.maximum.accumulate([(m - i) * raw[j] for i, j in enumerate(order)]))
    expected_holm = np.empty(m)
    expected_holm[order] = holm_hand
    got = [family[0]["p_holm"], *(pr["p_holm"] for pr in family[0]["pairs"]), family[1]["p_holm"]]
    assert got == pytest.approx(list(expected_holm), rel=1e-4)
    got_bh = [family[0]["p_bh"], *(pr["p_bh"] for pr in family[0]["pairs"]), family[1]["p_bh"]]
    assert got_bh == pytest.approx(list(st.false_discovery_control(raw, method="bh")), rel=1e-4)
    assert family[2]["p_holm"] is None and family[2]["p_bh"] is None
    assert "p_holm" not in kw  # inputs are not modified
    _json(family)


# --- descriptive figures ------------------------------------------------------------------------------------------


def test_nps_figures_and_ci_formula() -> None:
    scores = [10] * 40 + [9] * 10 + [8] * 20 + [7] * 5 + [5] * 15 + [0] * 10
    fig = nps_figures(scores)
    n, pp, pd_ = 100, 0.5, 0.25
    se = 100 * math.sqrt((pp + pd_ - (pp - pd_) ** 2) / n)
    assert (fig["n"], fig["promoters"], fig["passives"], fig["detractors"]) == (100, 50, 25, 25)
    assert fig["nps"] == 25.0
    assert fig["se"] == pytest.approx(se, abs=1e-4)
    assert fig["ci_low"] == pytest.approx(25 - Z975 * se, abs=0.01)
    assert fig["ci_high"] == pytest.approx(25 + Z975 * se, abs=0.01)


def test_nps_se_matches_simulation() -> None:
    rng = np.random.default_rng(7)
    n, probs = 150, [0.45, 0.25, 0.30]  # promoters, passives, detractors
    draws = rng.multinomial(n, probs, size=20_000)
    nps = 100 * (draws[:, 0] - draws[:, 2]) / n
    fig = nps_figures([10] * 68 + [8] * 37 + [3] * 45)  # shares close to probs
    assert fig["se"] == pytest.approx(float(np.std(nps)), rel=0.05)
    # Wald interval coverage, computed with the same formula per draw
    pp, pd_ = draws[:, 0] / n, draws[:, 2] / n
    se = 100 * np.sqrt((pp + pd_ - (pp - pd_) ** 2) / n)
    covered = np.abs(nps - 100 * (probs[0] - probs[2])) <= Z975 * se
    assert 0.93 < covered.mean() < 0.97


def test_nps_by_segment_difference_to_rest_and_largest() -> None:
    groups = {"Free": [10, 9, 9, 8, 3, 2, 10, 9] * 10, "Pro": [5, 6, 7, 8, 9, 1, 2, 3] * 10, "Team": [9, 7, 0] * 5}
    result = nps_by_segment(groups)
    free = result["segments"][0]

    def nps_se(values: list[int]) -> tuple[float, float]:
        a = np.array(values)
        pp, pd_ = np.mean(a >= 9), np.mean(a <= 6)
        return 100 * (pp - pd_), 100 * math.sqrt((pp + pd_ - (pp - pd_) ** 2) / len(a))

    rest = groups["Pro"] + groups["Team"]
    (n1, s1), (n2, s2) = nps_se(groups["Free"]), nps_se(rest)
    assert free["nps"] == pytest.approx(n1, abs=0.01)
    assert free["difference"]["versus"] == "rest"
    assert free["difference"]["value"] == pytest.approx(n1 - n2, abs=0.01)
    half = Z975 * math.sqrt(s1**2 + s2**2)
    assert free["difference"]["ci_low"] == pytest.approx(n1 - n2 - half, abs=0.01)
    assert free["difference"]["ci_high"] == pytest.approx(n1 - n2 + half, abs=0.01)
    assert result["overall"]["n"] == 175

    largest = nps_by_segment(groups, versus="largest")
    assert largest["segments"][0]["difference"]["versus"] == "Free"  # first of the equal largest
    assert largest["segments"][0]["difference"]["value"] is None
    team = largest["segments"][2]
    assert team["difference"]["value"] == pytest.approx(nps_se(groups["Team"])[0] - n1, abs=0.01)
    _json([result, largest])


def test_nps_edge_cases_are_none_not_nan() -> None:
    result = nps_by_segment({"A": [], "B": [10], "C": [11, -1, "x", None, 9.5]})
    a, b, c = result["segments"]
    assert a["nps"] is None and a["difference"]["value"] is None
    assert b["nps"] == 100.0 and b["ci_low"] is None  # one score: no interval
    assert c["n"] == 0  # out of range and non-integer scores left out
    _json(result)


def test_scale_by_segment() -> None:
    groups = {"A": [1, 2, 5, 5, 4, 3, 5], "B": [2, 2, 1, 3], "C": [4]}
    result = scale_by_segment(groups, scale_min=1, scale_max=5)
    a = result["segments"][0]
    values = groups["A"]
    low, high = st.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=st.sem(values))
    assert a["mean"] == pytest.approx(np.mean(values), abs=1e-4)
    assert (a["ci_low"], a["ci_high"]) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    assert a["median"] == 4.0
    assert a["top2"] == pytest.approx(4 / 7, abs=1e-4) and a["bottom2"] == pytest.approx(2 / 7, abs=1e-4)
    c = result["segments"][2]
    assert c["ci_low"] is None and c["std"] is None  # one answer
    assert result["overall"]["n"] == 12
    no_bounds = scale_by_segment(groups)
    assert no_bounds["segments"][0]["top2"] is None
    three_point = scale_by_segment({"A": [1, 2, 3]}, scale_min=1, scale_max=3)
    assert three_point["segments"][0]["top2"] is None  # boxes would overlap
    _json([result, no_bounds])


def test_categories_by_segment_single_and_multi() -> None:
    single = categories_by_segment({"A": ["x", "y", "x", None], "B": ["y"]}, categories=["x", "y", "z"])
    assert single["segments"][0] == {
        "segment": "A",
        "n": 3,
        "counts": [
            {"category": "x", "count": 2, "share": pytest.approx(2 / 3, abs=1e-4)},
            {"category": "y", "count": 1, "share": pytest.approx(1 / 3, abs=1e-4)},
            {"category": "z", "count": 0, "share": 0.0},
        ],
    }
    multi = categories_by_segment({"A": [["x", "y"], ["x"], ["x", "x"], []], "B": [["y"]]}, multi=True)
    assert multi["categories"] == ["x", "y"]
    a = multi["segments"][0]
    assert a["n"] == 3  # the empty selection does not count
    assert [c["share"] for c in a["counts"]] == [1.0, pytest.approx(1 / 3, abs=1e-4)]  # shares of respondents
    blanks = categories_by_segment({"A": ["x", pd.NA, None, float("nan"), np.nan, "y"]})
    assert blanks["segments"][0]["n"] == 2 and blanks["categories"] == ["x", "y"]
    groups_np = categories_by_segment({np.int64(1): np.array([0, 1, 1]), "b": [1]})
    assert groups_np["segments"][0]["segment"] == 1 and groups_np["categories"] == [0, 1]
    _json([single, multi, groups_np])


# --- effect labels, p formatting ----------------------------------------------------------------------------------


def test_effect_labels_and_thresholds() -> None:
    assert [effect_label("rank_biserial", v) for v in (0.05, -0.1, 0.29, 0.3, -0.6)] == [
        "negligible", "small", "small", "medium", "large",
    ]
    assert [effect_label("epsilon_squared", v) for v in (0.009, 0.01, 0.08, 0.26)] == [
        "negligible", "small", "medium", "large",
    ]
    # Cramér's V thresholds shrink with df* = min(r, c) - 1: 0.3/√2 ≈ 0.212
    assert effect_label("cramers_v", 0.2, 1) == "small" and effect_label("cramers_v", 0.22, 2) == "medium"
    assert effect_label("cramers_v", 0.3, 4) == "large"  # 0.5/√4 = 0.25
    assert effect_label("cramers_v", None) is None


def test_format_p() -> None:
    assert [format_p(p) for p in (0.0004, 0.001, 0.0034, 0.03, 0.05, 0.2345, 1.0, None)] == [
        "p < 0.001", "p = 0.0010", "p = 0.0034", "p = 0.030", "p = 0.050", "p = 0.23", "p = 1.0", "p = n/a",
    ]


# --- findings -----------------------------------------------------------------------------------------------------


ENTERPRISE = [2] * 15 + [3] * 40 + [4] * 35 + [5] * 10  # mean 3.4
FREE = [3] * 20 + [4] * 50 + [5] * 30  # mean 4.1


def test_finding_sentence_for_a_scale_pair() -> None:
    test = rank_test({"Enterprise": ENTERPRISE, "Free": FREE}, name="support", by="plan")
    (found,) = findings([test])
    r = _rank_biserial(ENTERPRISE, FREE)
    assert 0.3 <= abs(r) < 0.5  # medium by the documented thresholds
    assert found["finding"] == "Enterprise rates support lower than Free: 3.4 vs 4.1 (p < 0.001, medium effect)"
    assert found["segments"] == ["Enterprise", "Free"] and found["values"] == [3.4, 4.1] and found["unit"] == "mean"
    assert found["p"] == pytest.approx(st.mannwhitneyu(ENTERPRISE, FREE).pvalue, rel=1e-5)
    assert found["p_adjusted"] < 0.001 and found["correction"] == "bh"
    assert found["effect"]["value"] == pytest.approx(r, abs=1e-4)


def test_finding_sentence_for_nps() -> None:
    groups = {
        "Enterprise": [10] * 160 + [8] * 128 + [3] * 112,  # NPS (160 - 112) / 400 = +12
        "Free": [9] * 120 + [7] * 128 + [6] * 152,  # (120 - 152) / 400 = -8
    }
    test = nps_test(groups, by="plan")
    chi2, p, _, _ = st.chi2_contingency(np.array([[112, 128, 160], [152, 128, 120]]), correction=False)
    assert test["p"] == pytest.approx(p, rel=1e-5)
    (found,) = findings([test])
    assert effect_label("cramers_v", math.sqrt(chi2 / 800), 1) == "small"
    assert found["finding"] == "NPS differs by plan: Enterprise +12 vs Free \u22128 (p = 0.0028, small effect)"
    assert found["values"] == [12.0, -8.0] and found["unit"] == "nps"


def test_finding_sentence_for_categories_and_options() -> None:
    groups = {"Remote": ["yes"] * 60 + ["no"] * 40, "Office": ["yes"] * 30 + ["no"] * 70}
    (found,) = findings([categorical_test(groups, name="Would discuss with a manager", by="work place")])
    v = association(np.array([[60, 40], [30, 70]]), method="cramer")
    assert 0.3 <= v < 0.5  # medium with df* = 1
    # two categories vary equally: the first is cited
    assert found["finding"] == (
        'Would discuss with a manager differs by work place: "yes" is 60% in Remote vs 30% in Office '
        "(p < 0.001, medium effect)"
    )
    assert (found["category"], found["segments"], found["values"]) == ("yes", ["Remote", "Office"], [0.6, 0.3])
    opts = option_tests({"A": [["x"]] * 30 + [["y"]] * 10, "B": [["y"]] * 30 + [["x"]] * 10}, name="Tools", by="team")
    texts = [f["finding"] for f in findings(opts)]
    assert texts[0].startswith('"x" (Tools) is chosen by 75% in A vs 25% in B (p < 0.001, ')


def test_findings_order_gates_and_non_findings() -> None:
    strong = rank_test({"Enterprise": ENTERPRISE, "Free": FREE}, name="support", by="plan")  # medium pair
    weak_groups = {"A": ["yes"] * 300 + ["no"] * 200, "B": ["yes"] * 250 + ["no"] * 250}  # small V (0.1)
    weak = categorical_test(weak_groups, name="Q2", by="team")
    large = categorical_test({"A": ["yes"] * 90 + ["no"] * 10, "B": ["yes"] * 20 + ["no"] * 80}, name="Q3")
    null = rank_test({"A": [1, 2, 3, 4, 5] * 4, "B": [1, 2, 3, 4, 5] * 4}, name="Q4")
    found = findings([weak, strong, null, large])
    assert [f["name"] for f in found] == ["Q3", "support", "Q2"]
    assert [f["effect"]["label"] for f in found] == ["large", "medium", "small"]
    everything = comparisons([weak, strong, null, large])
    not_found = [c for c in everything if not c["finding"]]
    reasons = {c["reason"] for c in not_found}
    assert "not significant after bh correction" in reasons
    assert "reported through its pairwise comparisons" in reasons  # strong's omnibus test
    _json(everything)


def test_pair_needs_a_significant_omnibus_test_and_a_non_negligible_effect() -> None:
    base = {"kind": "scale", "name": "Q", "by": "plan", "test": "kruskal", "order": None, "skipped": None,
            "segments": [{"segment": "A", "n": 50, "mean": 3.0, "median": 3.0},
                         {"segment": "B", "n": 50, "mean": 4.0, "median": 4.0}]}
    pair = {"a": "A", "b": "B", "mean_a": 3.0, "mean_b": 4.0, "test": "mannwhitney", "skipped": None,
            "p": 0.001, "effect": {"measure": "rank_biserial", "value": -0.4, "label": "medium",
                                   "thresholds": [0.1, 0.3, 0.5]}}
    gated = {**base, "p": 0.2, "effect": {"measure": "epsilon_squared", "value": 0.02, "label": "small",
                                          "thresholds": [0.01, 0.08, 0.26]}, "pairs": [pair]}
    assert findings([gated]) == []
    (pair_item,) = [c for c in comparisons([gated]) if c["test"] == "mannwhitney"]
    assert pair_item["significant"] and pair_item["reason"] == "Kruskal-Wallis test across segments not significant"
    # a significant omnibus test whose pair is negligible is reported on its own
    negligible_pair = {**pair, "effect": {**pair["effect"], "value": -0.05, "label": "negligible"}}
    alone = {**gated, "p": 0.001, "pairs": [negligible_pair]}
    (found,) = findings([alone], correction="holm")
    assert found["finding"] == "Q differs by plan: highest in B 4.0 vs lowest in A 3.0 (p = 0.0020, small effect)"
    assert found["correction"] == "holm" and found["p_adjusted"] == pytest.approx(0.002)


def test_findings_use_the_family_adjustment_when_given() -> None:
    test = rank_test({"Enterprise": ENTERPRISE, "Free": FREE}, name="support")
    other = [categorical_test({"A": ["x", "y"] * 10, "B": ["x", "y"] * 10}) for _ in range(3)]
    family = adjust_family([test, *other])
    found = findings(family[:1], correction="holm")[0]  # only the first test passed, family already adjusted
    assert found["p_adjusted"] == family[0]["pairs"][0]["p_holm"]


# --- real data: women's clothing reviews ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(require(REVIEWS))


def _by(frame: pd.DataFrame, segment: str, column: str) -> dict[str, list[Any]]:
    return {str(k): g[column].tolist() for k, g in frame.dropna(subset=[segment]).groupby(segment, sort=True)}


def test_reviews_rating_by_division(reviews: pd.DataFrame) -> None:
    groups = _by(reviews, "Division Name", "Rating")
    assert list(groups) == ["General", "General Petite", "Initmates"]
    summary = scale_by_segment(groups, scale_min=1, scale_max=5)
    means = reviews.groupby("Division Name")["Rating"].mean()
    top2 = reviews.assign(top=reviews["Rating"] >= 4).groupby("Division Name")["top"].mean()
    for row in summary["segments"]:
        assert row["mean"] == pytest.approx(means[row["segment"]], abs=1e-4)
        assert row["top2"] == pytest.approx(top2[row["segment"]], abs=1e-4)
    assert summary["overall"]["n"] == int(reviews["Division Name"].notna().sum())

    test = rank_test(groups, name="the product", by="division")
    divisions = reviews.dropna(subset=["Division Name"]).groupby("Division Name")
    h, p = st.kruskal(*[g["Rating"].to_numpy() for _, g in divisions])
    n = int(reviews["Division Name"].notna().sum())
    assert test["statistic"] == pytest.approx(h, abs=1e-3)
    assert test["p"] == pytest.approx(p, rel=1e-4)
    assert test["effect"]["value"] == pytest.approx(h / (n - 1), abs=1e-4)
    general = reviews.loc[reviews["Division Name"] == "General", "Rating"]
    petite = reviews.loc[reviews["Division Name"] == "General Petite", "Rating"]
    u, pu = st.mannwhitneyu(general, petite, alternative="two-sided")
    pair = test["pairs"][0]
    assert (pair["a"], pair["b"]) == ("General", "General Petite")
    assert pair["statistic"] == pytest.approx(u, abs=1e-3) and pair["p"] == pytest.approx(pu, rel=1e-4)
    assert pair["effect"]["value"] == pytest.approx(2 * u / (len(general) * len(petite)) - 1, abs=1e-4)
    _json([summary, test])


def test_reviews_recommended_by_department(reviews: pd.DataFrame) -> None:
    groups = _by(reviews, "Department Name", "Recommended IND")
    test = categorical_test(groups, categories=[1, 0], name="Recommended", by="department")
    crosstab = pd.crosstab(reviews["Department Name"], reviews["Recommended IND"])[[1, 0]]
    chi2, p, dof, _ = st.chi2_contingency(crosstab.to_numpy(), correction=False)
    assert test["segments"] == list(crosstab.index)
    assert test["table"] == crosstab.to_numpy().tolist()
    assert test["statistic"] == pytest.approx(chi2, abs=1e-3)
    assert test["p"] == pytest.approx(p, rel=1e-4)
    assert test["dof"] == dof == 5
    assert test["effect"]["value"] == pytest.approx(association(crosstab.to_numpy(), method="cramer"), abs=1e-4)
    shares = pd.crosstab(reviews["Department Name"], reviews["Recommended IND"], normalize="index")[1]
    assert [row[0] for row in test["shares"]] == pytest.approx(list(shares), abs=1e-4)

    cats = categories_by_segment(groups, categories=[1, 0])
    trend = next(s for s in cats["segments"] if s["segment"] == "Trend")
    assert trend["n"] == int((reviews["Department Name"] == "Trend").sum())
    assert trend["counts"][0]["share"] == pytest.approx(shares["Trend"], abs=1e-4)

    rating = rank_test(_by(reviews, "Department Name", "Rating"), name="the product", by="department")
    family = adjust_family([test, rating])
    found = findings(family)
    everything = comparisons(family)
    assert len(everything) == 2 + 15  # two omnibus tests and 6·5/2 pairs
    assert any(f["unit"] == "mean" for f in found)  # e.g. Trend is rated lower than other departments
    for f in found:  # each sentence cites the figures it carries, which match pandas
        assert f["p_adjusted"] < 0.05 and f["effect"]["label"] != "negligible"
        if f["unit"] == "mean":
            a, b = f["segments"]
            means = reviews.groupby("Department Name")["Rating"].mean()
            assert f["values"] == [pytest.approx(means[a], abs=1e-4), pytest.approx(means[b], abs=1e-4)]
            assert f"{a} rates the product" in f["finding"] and f"{means[a]:.1f} vs {means[b]:.1f}" in f["finding"]
    strengths = [(("negligible", "small", "medium", "large").index(f["effect"]["label"])) for f in found]
    assert strengths == sorted(strengths, reverse=True)
    _json([family, found, everything, cats])
