"""Where the shared survey data sets are: `../shared/datasets` beside the checkout (as CI lays it out), else the
workplace's copy. A missing file fails the test that needs it: a data test must never pass by being skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import REPO_ROOT

LOCATIONS = (REPO_ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets"))
DATASETS = next((p for p in LOCATIONS if p.is_dir()), LOCATIONS[0])
REVIEWS = DATASETS / "womens_clothing_ecommerce_reviews.csv"
OSMI = DATASETS / "osmi_mental_health_in_tech_2016.csv"


def require(path: Path) -> Path:
    """`path`, or a failure naming where the data sets were looked for."""
    if not path.is_file():
        pytest.fail(f"{path.name} is missing; looked in {', '.join(map(str, LOCATIONS))}")
    return path
