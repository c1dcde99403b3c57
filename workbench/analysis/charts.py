"""Charts of the `basic_stats` summaries, as matplotlib `Figure` objects.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot): nothing is registered globally, so
nothing needs closing and any backend (the kernel sets `MPLBACKEND=agg`) works. Notebooks display them with
`workbench.notebook.show_figure`.
"""

from __future__ import annotations

import textwrap
from typing import Any

from matplotlib.figure import Figure

from workbench.analysis.stats import DETRACTOR_MAX, PROMOTER_MIN, basic_stats, top_options
from workbench.surveys.schema import CHOICE_TYPES, SCALE_BOUNDS, QuestionType, Snapshot

NPS_COLOURS = {"detractors": "#d9534f", "passives": "#b0b0b0", "promoters": "#3c9d5d"}
BAR_COLOUR = "#4c72b0"
OTHER_COLOUR = "#b0b0b0"
MEAN_COLOUR = "#c44e52"
FIGSIZE = (7.0, 3.8)
MAX_LABEL_CHARS = 40
# Option bars per choice chart; the rest is one "other" bar. One bar per option made a 1,000-option question
# take minutes and a 35 MB page (docs/api.md, "Limits").
MAX_CHOICE_BARS = 15


def _label(text: str, width: int | None = None) -> str:
    """Survey text made safe for matplotlib: `$` would start mathtext (and can raise on odd input)."""
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("$", r"\$")


def _title(text: str) -> str:
    return "\n".join(textwrap.wrap(_label(text), 70)) or " "


def _new_figure(height: float = FIGSIZE[1]) -> Figure:
    return Figure(figsize=(FIGSIZE[0], height), layout="constrained")


def scale_chart(summary: dict[str, Any]) -> Figure:
    """Bars of the count of every scale value, with a dashed line at the mean (NPS bars coloured by group)."""
    fig = _new_figure()
    ax = fig.add_subplot()
    values = [int(v) for v in summary["distribution"]]
    counts = list(summary["distribution"].values())
    if summary["type"] == QuestionType.NPS:
        colours = [
            NPS_COLOURS["promoters"] if v >= PROMOTER_MIN
            else NPS_COLOURS["detractors"] if v <= DETRACTOR_MAX else NPS_COLOURS["passives"]
            for v in values
        ]
    else:
        colours = [BAR_COLOUR] * len(values)
    ax.bar(values, counts, color=colours)
    ax.set_xticks(values)
    ax.set_xlabel("answer")
    ax.set_ylabel("responses")
    if summary["mean"] is not None:
        ax.axvline(summary["mean"], color=MEAN_COLOUR, linestyle="--", linewidth=1.5,
                   label=f"mean {summary['mean']:.2f}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_title(f"{_title(summary['text'])}\n(n = {summary['n']})", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def choice_chart(summary: dict[str, Any]) -> Figure:
    """Horizontal bars per option (in option order, top to bottom), labelled with count and share.

    With more than MAX_CHOICE_BARS options, the most chosen MAX_CHOICE_BARS are drawn by count (ties in option
    order) and the rest as one grey "other (K options)" bar of their summed count; its share is shown for single
    choice only (for multiple choice the sum counts choices, not respondents).
    """
    shown, rest = top_options(summary["options"], MAX_CHOICE_BARS)
    multi = summary["type"] == QuestionType.MULTI_CHOICE
    bars = [(_label(o["option"], MAX_LABEL_CHARS), o["count"], o["share"], BAR_COLOUR) for o in shown]
    if rest is not None:
        n = summary["n"]
        share = None if multi or not n else rest["count"] / n
        plural = "option" if rest["options"] == 1 else "options"
        bars.append((f"other ({rest['options']} {plural})", rest["count"], share, OTHER_COLOUR))
    fig = _new_figure(max(2.4, 0.45 * len(bars) + 1.4))
    ax = fig.add_subplot()
    counts = [count for _, count, _, _ in bars]
    positions = list(range(len(bars)))
    ax.barh(positions, counts, color=[colour for *_, colour in bars])
    ax.set_yticks(positions, [label for label, *_ in bars])
    ax.invert_yaxis()
    for y, (_, count, share, _) in zip(positions, bars, strict=True):
        label = "" if share is None else f" ({share:.0%})"
        ax.annotate(f"{count}{label}", (count, y), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_xlim(0, max(counts + [1]) * 1.18)  # room for the labels
    ax.set_xlabel("respondents (several answers allowed)" if multi else "respondents")
    ax.set_title(f"{_title(summary['text'])}\n(n = {summary['n']})", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def nps_chart(nps: dict[str, Any]) -> Figure:
    """One 100% bar split into detractors, passives and promoters, titled with the score."""
    fig = _new_figure(2.2)
    ax = fig.add_subplot()
    n = nps["n"]
    left = 0.0
    for group in ("detractors", "passives", "promoters"):
        share = nps[group] / n if n else 0.0
        ax.barh([0], [share], left=left, color=NPS_COLOURS[group], label=f"{group} ({nps[group]})")
        if share >= 0.06:
            ax.text(left + share / 2, 0, f"{share:.0%}", ha="center", va="center", color="white",
                    fontsize=10, fontweight="bold")
        left += share
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, frameon=False)
    score = "n/a" if nps["score"] is None else f"{nps['score']:+.1f}"
    ax.set_title(f"Net Promoter Score: {score} (n = {n})", fontsize=11)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def _plan(snapshot: Snapshot, stats: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """(spec, draw) pairs in question order; the NPS breakdown follows the NPS question."""
    plan: list[tuple[dict[str, Any], Any]] = []
    nps_done = False
    for q in snapshot.survey.questions:
        summary = stats["questions"][q.key]
        if q.type in SCALE_BOUNDS:
            plan.append(({"question": q.key, "kind": "bar", "title": q.text}, lambda s=summary: scale_chart(s)))
        elif q.type in CHOICE_TYPES:
            plan.append(({"question": q.key, "kind": "barh", "title": q.text}, lambda s=summary: choice_chart(s)))
        if q.type == QuestionType.NPS and stats["nps"] is not None and not nps_done:
            nps_done = True
            plan.append((
                {"question": q.key, "kind": "nps_breakdown", "title": "Net Promoter Score"},
                lambda n=stats["nps"]: nps_chart(n),
            ))
    return plan


def make_charts(snapshot: Snapshot, stats: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], Figure]]:
    """Every chart of the snapshot with its spec; pass `stats` (from `basic_stats`) to avoid recomputing."""
    return [(spec, draw()) for spec, draw in _plan(snapshot, stats or basic_stats(snapshot))]
