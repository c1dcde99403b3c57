"""`workbench eval sentiment`: prints the figures and exits 0; bad input is a message and exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from workbench.config import REPO_ROOT

ROWS = [
    ("I love this dress, it is beautiful and fits perfectly.", 5),
    ("Absolutely wonderful, great quality, I will buy it again.", 5),
    ("Very nice top, comfortable and flattering.", 4),
    ("Pretty colour and soft fabric, happy with it.", 4),
    ("It is okay, a bit too long for me but the fabric is fine.", 3),
    ("Not sure about this one, the fit is average.", 3),
    ("Terrible quality, it ripped after one wash. Returned it.", 1),
    ("Awful fit, cheap fabric, very disappointed.", 1),
    ("Way too small and the zipper broke, poor quality.", 2),
    ("Me encanta este vestido, es muy bonito.", 5),  # Spanish: set aside, not scored as English
]


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "Review Text", "Rating"])
        writer.writerow(["0", "", "5"])  # blank text: not a labelled row
        for i, (text, rating) in enumerate(ROWS, start=1):
            writer.writerow([i, text, rating])
    return path


LABEL_MAP = "1=negative,2=negative,3=neutral,4=positive,5=positive"


@pytest.mark.parametrize("engine", ["vader", "minilm"])
def test_prints_metrics_and_exits_0(reviews_csv: Path, engine: str) -> None:
    result = CliRunner().invoke(app, [
        "eval", "sentiment", str(reviews_csv), "--text", "Review Text", "--label", "Rating",
        "--label-map", LABEL_MAP, "--engine", engine, "--split", "all",
    ])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("accuracy:", "majority baseline:", "macro-F1:", "Spearman(score, label):", "confusion",
                     "answers/s", f"engine: {engine}"):
        assert expected in out
    assert "9 scored, 1 set aside" in out and "'es': 1" in out
    assert "10 of 10 labelled rows" in out


def test_json_output_and_limit(reviews_csv: Path) -> None:
    result = CliRunner().invoke(app, [
        "eval", "sentiment", str(reviews_csv), "--text", "Review Text", "--label", "Rating",
        "--label-map", LABEL_MAP, "--engine", "vader", "--split", "all", "--limit", "4", "--json",
    ])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["n"] == 4 and figures["majority_baseline"] == 1.0 and figures["majority_class"] == "positive"
    assert sum(sum(row.values()) for row in figures["confusion"].values()) == 4
    assert figures["accuracy"] is not None and figures["answers_per_second"] > 0


def test_labels_without_a_map_and_no_spearman_for_text_labels(tmp_path: Path) -> None:
    path = tmp_path / "labelled.csv"
    path.write_text("text,sentiment\nI love it,positive\nI hate it,negative\nIt is a chair,neutral\n")
    result = CliRunner().invoke(app, ["eval", "sentiment", str(path), "--text", "text", "--label", "sentiment",
                                      "--engine", "vader", "--split", "all"])
    assert result.exit_code == 0, result.output
    assert "n/a (label not numeric)" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--text", "Review", "--label", "Rating"], "no column 'Review'"),
    (["--text", "Review Text", "--label", "Stars"], "no column 'Stars'"),
    (["--text", "Review Text", "--label", "Rating", "--label-map", "1:bad"], "not value=label"),
    (["--text", "Review Text", "--label", "Rating", "--label-map", "1=great"], "label must be one of"),
    (["--text", "Review Text", "--label", "Rating", "--engine", "gpt"], "unknown engine 'gpt'"),
    (["--text", "Review Text", "--label", "Rating", "--split", "test"], "--split must be heldout or all"),
    (["--text", "Review Text", "--label", "Rating"], "no row has both a text and a label"),  # 1-5 unmapped
])
def test_bad_input_is_a_clear_error(reviews_csv: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "sentiment", str(reviews_csv), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_missing_column_through_the_installed_command(reviews_csv: Path) -> None:
    # The real entry point: a message on stderr, exit 2, no traceback.
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "eval", "sentiment", str(reviews_csv), "--text", "Nope",
         "--label", "Rating"], capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 2
    assert "no column 'Nope'" in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr


# --- eval themes ----------------------------------------------------------------------------------------------

THEME_ROWS = [
    *[(t, "Shipping") for t in (
        "Delivery was fast and the parcel arrived early", "Fast delivery, parcel arrived a day early",
        "The courier delivered the parcel quickly", "Quick delivery, the parcel came the next day",
        "Parcel delivery was really fast", "My parcel arrived early thanks to fast delivery",
        "Courier delivery was quick and the parcel was intact", "The parcel arrived fast, great delivery")],
    *[(t, "Price") for t in (
        "Prices are cheap and good value for money", "Great value for money, low prices",
        "Cheap prices compared to other shops", "Good value, the prices are fair", "Low prices and good value",
        "The prices are cheap, excellent value for money", "Fair prices and value for money",
        "Really good value and cheap prices")],
    ("Me encanta este vestido, es muy bonito y el precio es bueno.", "Price"),  # Spanish: set aside
]


@pytest.fixture
def themes_csv(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["answer", "topic"])
        writer.writerow(["", "Price"])  # blank: not an answer
        writer.writerows(THEME_ROWS)
    return path


def test_themes_prints_coverage_purity_and_speed(themes_csv: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "themes", str(themes_csv), "--text", "answer", "--label", "topic"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for expected in ("engine: minilm-clusters", "16 analysed, 1 set aside", "'es': 1", "themes: 2", "coverage:",
                     "unassigned:", "purity: 1.0000", "purity, dominant: 1.0000", "majority baseline: 0.5000",
                     "answers/s", "[", "shares can"):
        assert expected in out, expected


def test_themes_json_and_limit(themes_csv: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "themes", str(themes_csv), "--text", "answer", "--limit", "12",
                                      "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["rows"] == 17 and figures["n"] + figures["set_aside"]["count"] == 12
    assert figures["purity"] is None and figures["majority_baseline"] is None
    assert figures["coverage"] == round(1 - figures["unassigned_share"], 4)
    assert sum(r["count"] for r in figures["per_theme"]) >= figures["n"] * figures["coverage"]
    assert figures["answers_per_second"] > 0


def test_themes_on_the_clothing_reviews_with_a_limit() -> None:
    from tests.datasets import REVIEWS, require

    result = CliRunner().invoke(app, ["eval", "themes", str(require(REVIEWS)), "--text", "Review Text",
                                      "--label", "Department Name", "--limit", "300", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["n"] >= 295 and figures["unassigned_share"] <= 0.2 and figures["themes"] >= 3
    # Themes are topics, not departments; but an answer's main theme says something about the department.
    assert 0 < figures["majority_baseline"] < figures["purity_dominant"] <= 1
    assert 0 < figures["purity"] <= 1


@pytest.mark.parametrize(("args", "message"), [
    (["--text", "Review"], "no column 'Review'"),
    (["--text", "answer", "--label", "Stars"], "no column 'Stars'"),
    (["--text", "answer", "--max-themes", "1"], "greater than or equal to 2"),
])
def test_themes_bad_input_is_a_clear_error(themes_csv: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "themes", str(themes_csv), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
