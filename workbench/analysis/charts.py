"""Charts of the `basic_stats` summaries, as matplotlib `Figure` objects.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot): nothing is registered globally, so
nothing needs closing and any backend (the kernel sets `MPLBACKEND=agg`) works. Notebooks display them with
`workbench.notebook.show_figure`. Which charts a question gets depends on its kind (`register_chart`): bars per
value for nps and scale (plus the NPS breakdown), horizontal bars per label or option for ordinal and choice
questions, a histogram for numeric ones and counts over time for dates; text questions get none.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import partial
from typing import Any

from matplotlib.figure import Figure

from workbench.analysis.stats import DETRACTOR_MAX, PROMOTER_MIN, basic_stats, top_options
from workbench.rendering.markdown import mpl_text
from workbench.surveys.schema import Question, Snapshot

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
    return mpl_text(text)


def _title(text: str) -> str:
    return "\n".join(textwrap.wrap(_label(text), 70)) or " "


def _new_figure(height: float = FIGSIZE[1]) -> Figure:
    return Figure(figsize=(FIGSIZE[0], height), layout="constrained")


def _tick_labels(values: list[int], labels: dict[str, str]) -> list[str]:
    """Value ticks, labelled values with their label below; every k-th value only on a long scale."""
    step = max(1, len(values) // 20)
    ticks = []
    for i, v in enumerate(values):
        label = labels.get(str(v))
        text = str(v) if i % step == 0 or label else ""
        ticks.append(f"{text}\n{textwrap.fill(_label(label, 24), 12)}" if label else text)
    return ticks


def scale_chart(summary: dict[str, Any], *, nps_colours: bool = False) -> Figure:
    """Bars of the count of every scale value (labelled values named), with a dashed line at the mean.

    With `nps_colours` (NPS questions) the bars are coloured by group: detractors, passives, promoters.
    """
    fig = _new_figure()
    ax = fig.add_subplot()
    values = [int(v) for v in summary["distribution"]]
    counts = list(summary["distribution"].values())
    if nps_colours:
        colours = [
            NPS_COLOURS["promoters"] if v >= PROMOTER_MIN
            else NPS_COLOURS["detractors"] if v <= DETRACTOR_MAX else NPS_COLOURS["passives"]
            for v in values
        ]
    else:
        colours = [BAR_COLOUR] * len(values)
    ax.bar(values, counts, color=colours)
    ax.set_xticks(values, _tick_labels(values, summary.get("labels") or {}))
    ax.set_xlabel("answer")
    ax.set_ylabel("responses")
    if summary["mean"] is not None:
        ax.axvline(summary["mean"], color=MEAN_COLOUR, linestyle="--", linewidth=1.5,
                   label=f"mean {summary['mean']:.2f}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_title(f"{_title(summary['text'])}\n(n = {summary['n']})", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def histogram_chart(summary: dict[str, Any]) -> Figure:
    """The histogram bins of a numeric question, with a dashed line at the mean."""
    fig = _new_figure()
    ax = fig.add_subplot()
    bins = summary["histogram"]
    if bins:
        ax.bar([b["low"] for b in bins], [b["count"] for b in bins], width=[b["high"] - b["low"] for b in bins],
               align="edge", color=BAR_COLOUR, edgecolor="white")
    if summary["mean"] is not None:
        ax.axvline(summary["mean"], color=MEAN_COLOUR, linestyle="--", linewidth=1.5,
                   label=f"mean {summary['mean']:.4g}")
        ax.legend(loc="upper right", frameon=False)
    ax.set_xlabel("answer")
    ax.set_ylabel("responses")
    ax.set_title(f"{_title(summary['text'])}\n(n = {summary['n']})", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def date_chart(summary: dict[str, Any]) -> Figure:
    """Bars of the answers per week, month or year, oldest first."""
    fig = _new_figure()
    ax = fig.add_subplot()
    counts = summary["counts"]
    positions = list(range(len(counts)))
    ax.bar(positions, [c["count"] for c in counts], color=BAR_COLOUR)
    step = max(1, len(counts) // 12)
    ax.set_xticks(positions[::step], [c["period"] for c in counts][::step], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel(summary["period"] or "period")
    ax.set_ylabel("answers")
    ax.set_title(f"{_title(summary['text'])}\n(n = {summary['n']})", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def choice_chart(summary: dict[str, Any]) -> Figure:
    """Horizontal bars per option or ordinal label (in order, top to bottom), labelled with count and share.

    With more than MAX_CHOICE_BARS options, the most chosen MAX_CHOICE_BARS are drawn by count (ties in option
    order) and the rest as one grey "other (K options)" bar of their summed count; its share is shown for single
    choice only (for multiple choice the sum counts choices, not respondents).
    """
    shown, rest = top_options(summary["options"], MAX_CHOICE_BARS)
    multi = bool(summary.get("multiple"))
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


ChartDraw = Callable[[dict[str, Any]], Figure]
# Per question kind, the charts of its summary: (spec kind, draw). A kind without an entry has no chart (text).
_CHARTS: dict[str, list[tuple[str, ChartDraw]]] = {}


def register_chart(kind: str, chart_kind: str, draw: ChartDraw) -> None:
    """Add a chart of question kind `kind`'s summaries; `chart_kind` goes into the chart's spec."""
    _CHARTS.setdefault(kind, []).append((chart_kind, draw))


def _titled(chart_kind: str, question: Question) -> str:
    return "Net Promoter Score" if chart_kind == "nps_breakdown" else question.text


def _plan(snapshot: Snapshot, stats: dict[str, Any]) -> list[tuple[dict[str, Any], Callable[[], Figure]]]:
    """(spec, draw) pairs in question order, each question's charts in registration order."""
    plan: list[tuple[dict[str, Any], Callable[[], Figure]]] = []
    for q in snapshot.survey.questions:
        summary = stats["questions"][q.key]
        for chart_kind, draw in _CHARTS.get(q.type, []):
            spec = {"question": q.key, "kind": chart_kind, "title": _titled(chart_kind, q)}
            plan.append((spec, partial(draw, summary)))
    return plan


def make_charts(snapshot: Snapshot, stats: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], Figure]]:
    """Every chart of the snapshot with its spec; pass `stats` (from `basic_stats`) to avoid recomputing."""
    return [(spec, draw()) for spec, draw in _plan(snapshot, stats or basic_stats(snapshot))]


register_chart("nps", "bar", partial(scale_chart, nps_colours=True))
register_chart("nps", "nps_breakdown", lambda summary: nps_chart(summary["nps"]))  # each NPS question's groups
register_chart("scale", "bar", scale_chart)
register_chart("ordinal", "barh", choice_chart)
register_chart("numeric", "histogram", histogram_chart)
register_chart("single_choice", "barh", choice_chart)
register_chart("multi_choice", "barh", choice_chart)
register_chart("date", "timeline", date_chart)
