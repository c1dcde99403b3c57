"""The labelled data the sentiment head is trained and evaluated on, and its fixed held-out split.

Women's E-Commerce Clothing Reviews (Kaggle, nicapotato 2018, CC0): review text and a 1-5 rating, read as
1-2 negative, 3 neutral, 4-5 positive. Rows are identified by the file's own row id (its first, unnamed
column), so the split can be written down and checked: `HELDOUT_SEED` and `HELDOUT_SHARE` with a stratified
`sklearn.model_selection.train_test_split` over the rows with a non-blank text decide it, and the head's
metadata records the held-out row ids' sha256 so a changed file or a changed method is noticed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HELDOUT_SEED = 20240501
HELDOUT_SHARE = 0.2
TEXT_COLUMN = "Review Text"
RATING_COLUMN = "Rating"
ID_COLUMN = "Unnamed: 0"
RATING_LABELS: Mapping[int, str] = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
DEFAULT_DATA = Path("/work/shared/datasets/womens_clothing_ecommerce_reviews.csv")


@dataclass(frozen=True)
class Reviews:
    """Rows with a non-blank text, in file order."""

    ids: list[int]
    texts: list[str]
    ratings: list[int]

    @property
    def labels(self) -> list[str]:
        """positive / neutral / negative from the rating."""
        return [RATING_LABELS[r] for r in self.ratings]

    def subset(self, ids: Sequence[int]) -> Reviews:
        """The rows with these ids, in the order given."""
        where = {rid: i for i, rid in enumerate(self.ids)}
        rows = [where[i] for i in ids]
        return Reviews([self.ids[i] for i in rows], [self.texts[i] for i in rows], [self.ratings[i] for i in rows])


def load_reviews(path: Path) -> Reviews:
    """Read the clothing reviews CSV, keeping rows with a text and a 1-5 rating.

    Args:
        path: The CSV file.

    Returns:
        The rows, in file order.
    """
    import pandas as pd

    frame = pd.read_csv(path)
    missing = [c for c in (TEXT_COLUMN, RATING_COLUMN) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(map(repr, missing))}")
    ids = frame[ID_COLUMN] if ID_COLUMN in frame.columns else frame.index.to_series()
    keep = frame[TEXT_COLUMN].notna() & frame[TEXT_COLUMN].astype(str).str.strip().ne("") \
        & frame[RATING_COLUMN].isin(list(RATING_LABELS))
    return Reviews(
        [int(i) for i in ids[keep]],
        [str(t).strip() for t in frame.loc[keep, TEXT_COLUMN]],
        [int(r) for r in frame.loc[keep, RATING_COLUMN]],
    )


def heldout_split(reviews: Reviews) -> tuple[list[int], list[int]]:
    """The fixed split: (training row ids, held-out row ids), each sorted.

    Args:
        reviews: All labelled rows.

    Returns:
        Row ids for training and for the held-out evaluation; training never sees the second.
    """
    from sklearn.model_selection import train_test_split

    train, heldout = train_test_split(
        reviews.ids, test_size=HELDOUT_SHARE, random_state=HELDOUT_SEED, stratify=reviews.labels
    )
    return sorted(int(i) for i in train), sorted(int(i) for i in heldout)


def training_order(train_ids: Sequence[int]) -> list[int]:
    """The training ids in a seeded random order: `--max-train N` takes the first N (a random, fixed subset)."""
    import numpy as np

    ids = sorted(train_ids)
    order = np.random.default_rng(HELDOUT_SEED).permutation(len(ids))
    return [int(ids[i]) for i in order]


def ids_digest(ids: Sequence[int]) -> str:
    """sha256 of the sorted ids, comma-separated: a short fingerprint of a split."""
    return hashlib.sha256(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()
