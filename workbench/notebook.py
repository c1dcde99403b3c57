"""Helpers for code running inside component notebooks: load the snapshot, emit the result."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.results import emit_result
from workbench.surveys.schema import Snapshot

__all__ = ["emit_result", "load_result", "load_snapshot", "responses_frame", "show_figure"]


def load_snapshot(path: str | Path) -> Snapshot:
    """Read and validate a snapshot file (the pipeline's input, or the bundled sample)."""
    return Snapshot.model_validate_json(Path(path).read_bytes())


def load_result(path: str | Path) -> dict[str, Any]:
    """Read an upstream component's result (the pipeline passes its path as `<component>_result_path`)."""
    result = json.loads(Path(path).read_text())
    if not isinstance(result, dict):
        raise ValueError(f"{path} does not hold a component result (a JSON object)")
    return result


def responses_frame(snapshot: Snapshot) -> pd.DataFrame:
    """One row per response: `respondent_id`, `started_at`, `completed_at` (UTC, NaT if unfinished),
    `completed` (bool), then one column per question key (None where not answered; lists for multi-choice)."""
    keys = [q.key for q in snapshot.survey.questions]
    rows = [
        {
            "respondent_id": r.respondent_id,
            "started_at": r.started_at,
            "completed_at": r.completed_at,
            **{k: r.answers.get(k) for k in keys},
        }
        for r in snapshot.responses
    ]
    frame = pd.DataFrame(rows, columns=["respondent_id", "started_at", "completed_at", *keys])
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    frame.insert(3, "completed", frame["completed_at"].notna())
    return frame


def show_figure(fig: Any, alt: str) -> None:
    """Display a matplotlib figure as a PNG with alternative text, then free it.

    A PNG shows the same in JupyterLab and in the pipeline whatever the backend (the kernel uses `agg`); the
    alt text describes the chart in the report page and to screen readers."""
    from IPython.display import Image, display
    from matplotlib import pyplot

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot.close(fig)  # a no-op for figures pyplot does not manage
    display(Image(data=buffer.getvalue(), format="png"), metadata={"image/png": {"alt": alt}})
