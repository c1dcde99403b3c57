"""The executive summary of a report: short statements over the other components' results, each citing the
figures it rests on.

`build_summary(results)` makes the **template** statements from the results of `basic_stats`, `sentiment`,
`themes` and `segments` (plain JSON in and out; a missing result gives no statement that would need it).
`summarize(results, engine=...)` is the component: with a model configured it asks the model to write the
summary **from the template statements' figures only** (never raw answers), then checks every number it wrote
against the figures it cites (`workbench.analysis.summary_check`); any mismatch, unknown citation, model error
or spent budget shows the template summary instead, with the reason.

A statement is `{"section", "text", "citations": [{"component", "path", "value", "display"}]}`: `path` is a
dotted path into that component's result (list items by index, e.g. `findings.0.values.1`), `value` the figure
found there and `display` how the text writes it. Every number in `text` is one of its citations' values as
displayed (with its rounding). Texts are plain text, never markup.

Sections and their rules (thresholds are the constants below):

* **headline** (`basic_stats`, `sentiment`): responses and completion; NPS with promoters, passives and
  detractors; the mean of each scale question (at most `MAX_SCALE_HEADLINES`); the share of positive, neutral
  and negative text answers.
* **segments** (`segments`): the strongest findings, largest effect first, one per compared question (at most
  `MAX_SEGMENT_FINDINGS`), in the finding's own sentence; or, when segments were compared and nothing stood
  out, that none did.
* **themes** (`themes` with theme scores): the themes "behind detractors", whose respondents score lower than
  everyone who answered the question (`score.value < score_overall.value`, same measure, over at least
  `MIN_THEME_SCORED` respondents), lowest first, at most `MAX_THEMES_PER_QUESTION` per question and
  `MAX_THEME_STATEMENTS` in all. A themes result without scores
  (an older format) gives no theme statement; `sources.themes.note` says so.
* **contradictions**, where two measures disagree:
  1. NPS below 0 (detractors outnumber promoters) while more than `POSITIVE_MAJORITY` of the scored text
     answers are positive;
  2. NPS of at least `HIGH_NPS` while more than `NEGATIVE_HEAVY` of the text answers are negative;
  3. the satisfaction question (the first scale question whose key or text mentions "satisf") in the top
     `SATISFIED` of its scale while the mean text sentiment is at most -`SENTIMENT_MARGIN`, or in the bottom
     `1 - SATISFIED` while the mean sentiment is at least `SENTIMENT_MARGIN`;
  4. a text question whose answers are mostly positive (more than `POSITIVE_MAJORITY`) while its lowest-scoring
     theme's respondents are net detractors (an NPS score below 0, or a mean below the scale's midpoint) and
     score below everyone who answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workbench.analysis.summary_check import check_numbers

__all__ = [
    "COMPONENTS",
    "PROMPT_VERSION",
    "SECTIONS",
    "SummaryError",
    "build_summary",
    "check_statements",
    "cited_value",
    "result_labels",
    "summarize",
]

COMPONENTS = ("basic_stats", "sentiment", "themes", "segments")
SECTIONS = ("headline", "segments", "themes", "contradictions")
PROMPT_VERSION = "summary-v1"

MAX_SCALE_HEADLINES = 3
MAX_SEGMENT_FINDINGS = 3
MAX_THEMES_PER_QUESTION = 2
MAX_THEME_STATEMENTS = 4
MIN_THEME_SCORED = 10  # a theme's score over fewer respondents is too noisy to state
POSITIVE_MAJORITY = 0.5
NEGATIVE_HEAVY = 0.4
HIGH_NPS = 30.0
SATISFIED = 0.6  # position on the scale, 0 (its minimum) .. 1 (its maximum)
SENTIMENT_MARGIN = 0.1

# What a model-written summary may be.
MAX_MODEL_STATEMENTS = 12
MAX_STATEMENT_CHARS = 600
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!]|&[A-Za-z#][A-Za-z0-9]*;|\]\(|\*\*|`")
_MISSING = object()


class SummaryError(ValueError):
    """A model summary that cannot be shown (the reason is the message)."""


# --- reading results ------------------------------------------------------------------------------------------

def _lookup(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                return _MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def cited_value(results: Mapping[str, Any], component: str, path: str) -> float | int:
    """The figure at `path` in `component`'s result; `SummaryError` when there is none or it is not a number."""
    result = results.get(component)
    if not isinstance(result, Mapping):
        raise SummaryError(f"a citation names {component!r}, whose result this summary does not have")
    value = _lookup(result, path) if isinstance(path, str) and path else _MISSING
    if value is _MISSING:
        raise SummaryError(f"a citation names {component}.{path}, which does not exist")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SummaryError(f"a citation names {component}.{path}, which is not a number")
    return value


def _name(key: str) -> str:
    return key.replace("_", " ")


def result_labels(results: Mapping[str, Any]) -> list[str]:
    """The names in the results (survey title, question keys and texts, options, segments, themes, engines):
    digits inside them are not figures (see `summary_check`)."""
    labels: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip():
            labels.add(value)

    basic = results.get("basic_stats") or {}
    add(basic.get("survey_title"))
    for key, question in (basic.get("questions") or {}).items():
        add(key)
        add(_name(key))
        if isinstance(question, Mapping):
            add(question.get("text"))
            for option in question.get("options") or []:
                add(option.get("option") if isinstance(option, Mapping) else option)
            for label in (question.get("labels") or {}).values():
                add(label)
    sentiment = results.get("sentiment") or {}
    add(sentiment.get("engine"))
    info = sentiment.get("engine_info") or {}
    add(info.get("name"))
    add(info.get("model"))
    for key, question in (sentiment.get("questions") or {}).items():
        add(key)
        add(_name(key))
        if isinstance(question, Mapping):
            add(question.get("text"))
    themes = results.get("themes") or {}
    add(themes.get("engine"))
    for key, question in (themes.get("questions") or {}).items():
        add(key)
        add(_name(key))
        if isinstance(question, Mapping):
            add(question.get("text"))
            for theme in question.get("themes") or []:
                if isinstance(theme, Mapping):
                    add(theme.get("label"))
                    for keyword in theme.get("keywords") or []:
                        add(keyword)
    segments = results.get("segments") or {}
    for key in segments.get("segment_by") or []:
        add(key)
        add(_name(key))
    for breakdown in segments.get("breakdowns") or []:
        if isinstance(breakdown, Mapping):
            add(breakdown.get("text"))
            for size in breakdown.get("segments") or []:
                if isinstance(size, Mapping):
                    add(size.get("segment"))
    for finding in segments.get("findings") or []:
        if isinstance(finding, Mapping):
            for field in ("name", "by", "option", "question", "segment_question"):
                add(finding.get(field))
            for segment in finding.get("segments") or []:
                add(segment)
    return sorted(labels)


# --- formatting -----------------------------------------------------------------------------------------------

def _count(value: float) -> str:
    return f"{round(value):,}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _signed(points: float) -> str:
    text = f"{points:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _mean(value: float) -> str:
    return f"{value:.1f}"


def _score(measure: str, value: float) -> str:
    return _signed(value) if measure == "nps" else _mean(value)


# --- template statements --------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, results: Mapping[str, Any]) -> None:
        self.results = results
        self.labels = result_labels(results)
        self.statements: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []

    def add(self, section: str, text: str, cites: Sequence[tuple[str, str, str]]) -> bool:
        """Add a statement citing (component, path, display) figures; one whose numbers do not all match its
        citations is dropped (kept in `dropped`), never shown."""
        citations = [{"component": c, "path": p, "value": cited_value(self.results, c, p), "display": d}
                     for c, p, d in cites]
        statement = {"section": section, "text": text, "citations": citations}
        unmatched = check_numbers(text, citations, self.labels)
        if unmatched:
            self.dropped.append({**statement, "unmatched": unmatched})
            return False
        self.statements.append(statement)
        return True


def _get(result: Any, path: str) -> Any:
    value = _lookup(result, path)
    return None if value is _MISSING else value


def _headline(b: _Builder) -> None:
    basic = b.results.get("basic_stats")
    if isinstance(basic, Mapping):
        n = _number(basic.get("response_count"))
        completed, rate = _number(basic.get("completed_count")), _number(basic.get("completion_rate"))
        if n is not None and completed is not None and rate is not None and basic.get("completion_known", True):
            b.add("headline", f"{_count(n)} responses, {_count(completed)} of them completed ({_pct(rate)}).",
                  [("basic_stats", "response_count", _count(n)),
                   ("basic_stats", "completed_count", _count(completed)),
                   ("basic_stats", "completion_rate", _pct(rate))])
        elif n is not None:
            b.add("headline", f"{_count(n)} responses (completion is not recorded).",
                  [("basic_stats", "response_count", _count(n))])
        nps = basic.get("nps")
        score = _number(_get(nps, "score"))
        if score is not None:
            parts = {k: _number(_get(nps, k)) for k in ("promoters", "passives", "detractors", "n")}
            if all(v is not None for v in parts.values()):
                p, pa, d, total = (parts[k] or 0.0 for k in ("promoters", "passives", "detractors", "n"))
                b.add("headline",
                      f"NPS is {_signed(score)}: {_count(p)} promoters, {_count(pa)} passives and {_count(d)} "
                      f"detractors among {_count(total)} answers.",
                      [("basic_stats", "nps.score", _signed(score)), ("basic_stats", "nps.promoters", _count(p)),
                       ("basic_stats", "nps.passives", _count(pa)), ("basic_stats", "nps.detractors", _count(d)),
                       ("basic_stats", "nps.n", _count(total))])
            else:
                b.add("headline", f"NPS is {_signed(score)}.", [("basic_stats", "nps.score", _signed(score))])
        scales = 0
        for key, question in (basic.get("questions") or {}).items():
            if scales >= MAX_SCALE_HEADLINES:
                break
            if not isinstance(question, Mapping) or question.get("kind") != "scale":
                continue
            mean, lo, hi = (_number(question.get(k)) for k in ("mean", "min", "max"))
            count = _number(question.get("n"))
            if mean is None or count is None:
                continue
            base = f"questions.{key}"
            cites = [("basic_stats", f"{base}.mean", _mean(mean)), ("basic_stats", f"{base}.n", _count(count))]
            if lo is not None and hi is not None:
                text = f"Mean {_name(key)} is {_mean(mean)} on a scale from {lo:g} to {hi:g} ({_count(count)} answers)."
                cites += [("basic_stats", f"{base}.min", f"{lo:g}"), ("basic_stats", f"{base}.max", f"{hi:g}")]
            else:
                text = f"Mean {_name(key)} is {_mean(mean)} ({_count(count)} answers)."
            scales += b.add("headline", text, cites)
    sentiment = b.results.get("sentiment")
    if isinstance(sentiment, Mapping):
        overall = sentiment.get("overall") or {}
        n = _number(overall.get("n"))
        shares = {k: _number(_get(overall, f"shares.{k}")) for k in ("positive", "neutral", "negative")}
        if n and all(v is not None for v in shares.values()):
            pos, neu, neg = (shares[k] or 0.0 for k in ("positive", "neutral", "negative"))
            b.add("headline",
                  f"Of {_count(n)} text answers scored for sentiment, {_pct(pos)} are positive, {_pct(neu)} neutral "
                  f"and {_pct(neg)} negative.",
                  [("sentiment", "overall.n", _count(n)), ("sentiment", "overall.shares.positive", _pct(pos)),
                   ("sentiment", "overall.shares.neutral", _pct(neu)),
                   ("sentiment", "overall.shares.negative", _pct(neg))])


def _display_value(value: float, unit: str) -> str:
    if unit == "share":
        return _pct(value)
    if unit == "nps":
        return _signed(value)
    return _mean(value)


def _segments(b: _Builder) -> None:
    segments = b.results.get("segments")
    if not isinstance(segments, Mapping):
        _sentiment_segments(b, MAX_SEGMENT_FINDINGS)
        return
    findings = [f for f in segments.get("findings") or [] if isinstance(f, Mapping)]
    shown = 0
    questions: set[Any] = set()
    for index, finding in enumerate(findings):
        if shown >= MAX_SEGMENT_FINDINGS:
            break
        if finding.get("question") in questions:
            continue  # one finding per compared question: the strongest differences, not one question's options
        values = finding.get("values") or []
        names = finding.get("segments") or []
        if len(values) != 2 or len(names) != 2 or any(_number(v) is None for v in values):
            continue
        unit = str(finding.get("unit") or "mean")
        base = f"findings.{index}"
        cites = [("segments", f"{base}.values.0", _display_value(values[0], unit)),
                 ("segments", f"{base}.values.1", _display_value(values[1], unit))]
        if _number(finding.get("p_adjusted")) is not None:
            cites.append(("segments", f"{base}.p_adjusted", str(finding.get("p_text") or "")))
        sentence = str(finding.get("finding") or "").strip()
        questions.add(finding.get("question"))
        if sentence and b.add("segments", sentence if sentence.endswith(".") else sentence + ".", cites):
            shown += 1
            continue
        # The finding's sentence in a form the check cannot read: say it in our own words.
        label = (finding.get("effect") or {}).get("label")
        effect = f", {label} effect" if isinstance(label, str) and label else ""
        subject = finding.get("name") or _name(str(finding.get("question") or "the answer"))
        if finding.get("option"):
            subject = f'"{finding["option"]}" ({subject})'
        by = _name(str(finding.get("by") or "segment"))
        text = (f"{str(subject)[:1].upper()}{str(subject)[1:]} differs by {by}: "
                f"{names[0]} {cites[0][2]} vs {names[1]} {cites[1][2]} (significant after correction{effect}).")
        if b.add("segments", text, cites[:2]):
            shown += 1
        else:
            questions.discard(finding.get("question"))
    shown += _sentiment_segments(b, MAX_SEGMENT_FINDINGS - shown)
    comparisons = _number(segments.get("comparison_count"))
    if not findings and comparisons:
        b.add("segments",
              f"No segment difference stands out: none of the {_count(comparisons)} comparisons is significant "
              f"with at least a small effect.",
              [("segments", "comparison_count", _count(comparisons))])


def _sentiment_segments(b: _Builder, room: int) -> int:
    """Sentiment differences between segments (the sentiment component's `by_segment` findings); how many
    statements were added, at most `room`."""
    sentiment = b.results.get("sentiment")
    by = sentiment.get("by_segment") if isinstance(sentiment, Mapping) else None
    if not isinstance(by, Mapping) or room <= 0:
        return 0
    added = 0
    for i, breakdown in enumerate(by.get("breakdowns") or []):
        for j, item in enumerate(breakdown.get("questions") or [] if isinstance(breakdown, Mapping) else []):
            pair = item.get("finding_segments") if isinstance(item, Mapping) else None
            if added >= room or not item.get("finding") or not isinstance(pair, list) or len(pair) != 2:
                continue
            base = f"by_segment.breakdowns.{i}.questions.{j}"
            shares = [_get(sentiment, f"{base}.segments.{k}.shares.negative") for k in pair]
            p_value = _number(_get(sentiment, f"{base}.test.p_bh"))
            if any(_number(v) is None for v in shares) or p_value is None:
                continue
            cites = [("sentiment", f"{base}.segments.{k}.shares.negative", _pct(float(v)))
                     for k, v in zip(pair, shares, strict=True)]
            cites.append(("sentiment", f"{base}.test.p_bh", str(item["test"].get("p_bh"))))
            text = str(item["finding"]).strip()
            added += b.add("segments", text if text.endswith(".") else text + ".", cites)
    return added


def _score_of(entry: Any) -> tuple[str, float, float | None, str] | None:
    """(measure, value, n, question key) of a theme's or a question's `score`, None without a usable one."""
    if not isinstance(entry, Mapping):
        return None
    value = _number(entry.get("value"))
    measure = entry.get("measure")
    if value is None or measure not in ("nps", "mean"):
        return None
    return str(measure), value, _number(entry.get("n")), str(entry.get("question") or "")


def _behind_detractors(themes: Mapping[str, Any]) -> list[tuple[str, int, Mapping[str, Any]]]:
    """(question key, theme index, theme) of themes scoring below their question's overall score, per question
    lowest first, at most MAX_THEMES_PER_QUESTION each."""
    found: list[tuple[str, int, Mapping[str, Any]]] = []
    for key, question in (themes.get("questions") or {}).items():
        if not isinstance(question, Mapping):
            continue
        overall = _score_of(question.get("score_overall"))
        if overall is None:
            continue
        low = []
        for index, theme in enumerate(question.get("themes") or []):
            score = _score_of(theme.get("score") if isinstance(theme, Mapping) else None)
            if score is not None and score[0] == overall[0] and score[1] < overall[1] \
                    and (score[2] is None or score[2] >= MIN_THEME_SCORED):
                low.append((score[1], index, theme))
        low.sort(key=lambda item: (item[0], item[1]))
        found.extend((key, index, theme) for _, index, theme in low[:MAX_THEMES_PER_QUESTION])
    return found


def _has_scores(themes: Mapping[str, Any]) -> bool:
    return any(isinstance(q, Mapping) and "score_overall" in q for q in (themes.get("questions") or {}).values())


def _measure_text(measure: str, question: str) -> str:
    return "an NPS of" if measure == "nps" else f"a mean {_name(question) or 'score'} of"


def _themes(b: _Builder) -> None:
    themes = b.results.get("themes")
    if not isinstance(themes, Mapping) or not _has_scores(themes):
        return
    shown = 0
    for key, index, theme in _behind_detractors(themes):
        if shown >= MAX_THEME_STATEMENTS:
            break
        question = themes["questions"][key]
        score, overall = _score_of(theme.get("score")), _score_of(question.get("score_overall"))
        share = _number(theme.get("share"))
        if score is None or overall is None or share is None:
            continue
        measure = score[0]
        base = f"questions.{key}.themes.{index}"
        cites = [("themes", f"{base}.share", _pct(share)),
                 ("themes", f"{base}.score.value", _score(measure, score[1])),
                 ("themes", f"questions.{key}.score_overall.value", _score(measure, overall[1]))]
        ci = theme.get("share_ci")
        interval = ""
        if isinstance(ci, list) and len(ci) == 2 and all(_number(v) is not None for v in ci):
            interval = f", interval {_pct(ci[0])} to {_pct(ci[1])}"
            cites += [("themes", f"{base}.share_ci.0", _pct(ci[0])), ("themes", f"{base}.share_ci.1", _pct(ci[1]))]
        scored = ""
        if score[2] is not None:
            scored = f" ({_count(score[2])} of them scored)"
            cites.append(("themes", f"{base}.score.n", _count(score[2])))
        label = str(theme.get("label") or ", ".join(theme.get("keywords") or []) or "one theme")
        text = (f'In {_name(key)}, respondents writing about "{label}" ({_pct(share)} of the answers{interval}) '
                f"give {_measure_text(measure, score[3])} {_score(measure, score[1])}{scored}, below the "
                f"{_score(measure, overall[1])} of everyone who answered.")
        shown += b.add("themes", text, cites)


def _satisfaction(basic: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    for key, question in (basic.get("questions") or {}).items():
        if isinstance(question, Mapping) and question.get("kind") == "scale" and \
                ("satisf" in key.lower() or "satisf" in str(question.get("text") or "").lower()):
            return key, question
    return None


def _contradictions(b: _Builder) -> None:
    basic, sentiment, themes = (b.results.get(n) for n in ("basic_stats", "sentiment", "themes"))
    overall = sentiment.get("overall") if isinstance(sentiment, Mapping) else None
    positive = _number(_get(overall, "shares.positive"))
    negative = _number(_get(overall, "shares.negative"))
    score = _number(_get(basic, "nps.score")) if isinstance(basic, Mapping) else None
    # 1 and 2: NPS against the text's sentiment.
    if score is not None and positive is not None and score < 0 and positive > POSITIVE_MAJORITY:
        b.add("contradictions",
              f"NPS is {_signed(score)} (more detractors than promoters), yet {_pct(positive)} of the text answers "
              f"are positive.",
              [("basic_stats", "nps.score", _signed(score)), ("sentiment", "overall.shares.positive", _pct(positive))])
    if score is not None and negative is not None and score >= HIGH_NPS and negative > NEGATIVE_HEAVY:
        b.add("contradictions",
              f"NPS is {_signed(score)}, yet {_pct(negative)} of the text answers are negative.",
              [("basic_stats", "nps.score", _signed(score)), ("sentiment", "overall.shares.negative", _pct(negative))])
    # 3: satisfaction against the mean sentiment.
    mean_sentiment = _number(_get(overall, "mean_compound"))
    found = _satisfaction(basic) if isinstance(basic, Mapping) else None
    if found is not None and mean_sentiment is not None:
        key, question = found
        mean, lo, hi = (_number(question.get(k)) for k in ("mean", "min", "max"))
        if mean is not None and lo is not None and hi is not None and hi > lo:
            position = (mean - lo) / (hi - lo)
            sentiment_word = None
            if position >= SATISFIED and mean_sentiment <= -SENTIMENT_MARGIN:
                sentiment_word = "negative"
            elif position <= 1 - SATISFIED and mean_sentiment >= SENTIMENT_MARGIN:
                sentiment_word = "positive"
            if sentiment_word:
                base = f"questions.{key}"
                b.add("contradictions",
                      f"Mean {_name(key)} is {_mean(mean)} on a scale from {lo:g} to {hi:g}, yet the mean sentiment of "
                      f"the text answers is {sentiment_word} ({mean_sentiment:+.2f}).",
                      [("basic_stats", f"{base}.mean", _mean(mean)), ("basic_stats", f"{base}.min", f"{lo:g}"),
                       ("basic_stats", f"{base}.max", f"{hi:g}"),
                       ("sentiment", "overall.mean_compound", f"{mean_sentiment:+.2f}")])
    # 4: a mostly positive question whose lowest-scoring theme's respondents are net detractors.
    if not isinstance(sentiment, Mapping) or not isinstance(themes, Mapping) or not _has_scores(themes):
        return
    lowest: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for key, index, theme in _behind_detractors(themes):
        lowest.setdefault(key, (index, theme))
    for key, (index, theme) in lowest.items():
        share = _number(_get(sentiment, f"questions.{key}.shares.positive"))
        theme_score = _score_of(theme.get("score"))
        question_overall = _score_of(themes["questions"][key].get("score_overall"))
        if share is None or share <= POSITIVE_MAJORITY or theme_score is None or question_overall is None:
            continue
        measure, value = theme_score[0], theme_score[1]
        if measure == "nps":
            net_detractors = value < 0
        else:
            scale = _get(basic, f"questions.{theme_score[3]}") if theme_score[3] else None
            lo, hi = (_number(_get(scale, k)) for k in ("min", "max"))
            net_detractors = lo is not None and hi is not None and value < (lo + hi) / 2
        if not net_detractors:
            continue
        label = str(theme.get("label") or ", ".join(theme.get("keywords") or []) or "one theme")
        base = f"questions.{key}.themes.{index}"
        b.add("contradictions",
              f'Answers to {_name(key)} are mostly positive ({_pct(share)}), yet respondents writing about "{label}" '
              f"give {_measure_text(measure, theme_score[3])} {_score(measure, value)}, below the "
              f"{_score(measure, question_overall[1])} of everyone who answered.",
              [("sentiment", f"questions.{key}.shares.positive", _pct(share)),
               ("themes", f"{base}.score.value", _score(measure, value)),
               ("themes", f"questions.{key}.score_overall.value", _score(measure, question_overall[1]))])


def _sources(results: Mapping[str, Any], statements: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    used: dict[str, int] = {name: 0 for name in COMPONENTS}
    for statement in statements:
        for name in {c["component"] for c in statement["citations"]}:
            used[name] = used.get(name, 0) + 1
    sources: dict[str, dict[str, Any]] = {}
    for name in COMPONENTS:
        available = isinstance(results.get(name), Mapping)
        note = None if available else "no result: no statement rests on it"
        themes = results.get(name)
        if name == "themes" and isinstance(themes, Mapping) and not _has_scores(themes):
            note = "this themes result has no theme scores (an older format): no themes behind detractors"
        sources[name] = {"available": available, "statements": used.get(name, 0), "note": note}
    return sources


def build_summary(results: Mapping[str, Any]) -> dict[str, Any]:
    """The template summary of `results` (component name -> its result; missing components are left out).

    Returns `{"statements": [...], "sources": {component: {"available", "statements", "note"}},
    "dropped": [...]}`; `dropped` lists template statements whose numbers did not match their citations (a
    bug if ever non-empty: they are not shown).
    """
    builder = _Builder(results)
    _headline(builder)
    _segments(builder)
    _themes(builder)
    _contradictions(builder)
    order = {s: i for i, s in enumerate(SECTIONS)}
    statements = sorted(builder.statements, key=lambda s: order[s["section"]])  # stable: rule order within
    return {"statements": statements, "sources": _sources(results, statements), "dropped": builder.dropped}


# --- the model's summary ----------------------------------------------------------------------------------------

SYSTEM_PROMPT = """You write the executive summary of a survey report for busy readers.
You get FACTS: statements computed from the report's results, grouped in sections (headline, segments, themes,
contradictions), each with the figures it cites (component, path, value, display).
Write 3 to 10 short statements in plain English, in the same sections, most important first.
Rules:
- Use only the facts given. Do not add causes, advice or anything the facts do not say.
- Every number you write must be a value cited by that same statement, as its display or rounded from it
  (shares may be written as percentages). Never compute new numbers: no differences, ratios, sums or averages.
  Write numbers as digits. Do not mention confidence levels.
- Each statement cites the figures it uses: {"component": ..., "path": ...} exactly as given in the facts.
- Plain text only: no Markdown, no HTML, no lists inside a statement.
Answer with JSON: {"statements": [{"section": "headline" | "segments" | "themes" | "contradictions",
"text": "...", "citations": [{"component": "...", "path": "..."}]}]}"""

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["statements"],
    "properties": {
        "statements": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["section", "text", "citations"],
                "properties": {
                    "section": {"type": "string", "enum": list(SECTIONS)},
                    "text": {"type": "string"},
                    "citations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["component", "path"],
                            "properties": {"component": {"type": "string"}, "path": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}


def _compact(value: Any) -> Any:
    # Four significant digits are plenty to word a figure, and keep every number short: the client redacts the
    # message before sending it, and a run of 9+ digits ("0.00262336") reads as a phone number there.
    return float(f"{value:.4g}") if isinstance(value, float) else value


def model_prompt(template: Sequence[Mapping[str, Any]]) -> str:
    """The user message: the template statements and their figures, nothing else from the results."""
    facts = [{"section": s["section"], "text": s["text"],
              "citations": [{"component": c["component"], "path": c["path"], "value": _compact(c["value"]),
                             "display": c["display"]} for c in s["citations"]]}
             for s in template]
    return "FACTS:\n" + json.dumps({"facts": facts}, ensure_ascii=False, indent=1)


def check_statements(answer: Any, results: Mapping[str, Any], labels: Sequence[str]) -> list[dict[str, Any]]:
    """The model's statements with their citations' values filled in from `results`; `SummaryError` with the
    reason when any statement is malformed, cites a figure that does not exist or writes a number that matches
    none of its citations."""
    raw = answer.get("statements") if isinstance(answer, Mapping) else None
    if not isinstance(raw, list) or not raw:
        raise SummaryError("the model's answer has no statements")
    if len(raw) > MAX_MODEL_STATEMENTS:
        raise SummaryError(f"the model wrote {len(raw)} statements (at most {MAX_MODEL_STATEMENTS})")
    statements: list[dict[str, Any]] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise SummaryError(f"statement {number} is not an object")
        section, text, cites = item.get("section"), item.get("text"), item.get("citations")
        if section not in SECTIONS:
            raise SummaryError(f"statement {number} has an unknown section {section!r}")
        if not isinstance(text, str) or not text.strip():
            raise SummaryError(f"statement {number} has no text")
        if len(text) > MAX_STATEMENT_CHARS:
            raise SummaryError(f"statement {number} is longer than {MAX_STATEMENT_CHARS} characters")
        if _MARKUP.search(text):
            raise SummaryError(f"statement {number} contains markup")
        if not isinstance(cites, list) or not cites:
            raise SummaryError(f"statement {number} cites no figure")
        citations = []
        for cite in cites:
            if not isinstance(cite, Mapping) or not isinstance(cite.get("component"), str) \
                    or cite.get("component") not in COMPONENTS or not isinstance(cite.get("path"), str):
                raise SummaryError(f"statement {number} has a citation that names no known component and path")
            value = cited_value(results, cite["component"], cite["path"])
            citations.append({"component": cite["component"], "path": cite["path"], "value": value,
                              "display": None})
        unmatched = check_numbers(text, citations, labels)
        if unmatched:
            raise SummaryError(f"statement {number} writes {', '.join(unmatched)}, which match no figure it cites")
        statements.append({"section": section, "text": text.strip(), "citations": citations})
    order = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(statements, key=lambda s: order[s["section"]])


_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 0}


def _usage(client: Any) -> dict[str, int]:
    usage = getattr(client, "usage", None) or {}
    return {k: int(usage.get(k) or 0) if isinstance(usage, Mapping) else 0 for k in _NO_USAGE}


def summarize(results: Mapping[str, Any], *, engine: str = "auto", client: Any = None) -> dict[str, Any]:
    """The `summary` component's result.

    Args:
        results: Component name -> its result (components whose result is missing are left out).
        engine: "template": always the template statements; "auto": the model when one is configured (a
            `client`, or `WORKBENCH_OPENAI_API_KEY` through `workbench.text.llm.client_from_env`), else templates.
        client: An `LLMClient` (for tests and callers that built one); None: from the environment.

    Returns:
        `engine` ("template" | "openai"), `engine_info` ({"name", "model"}), `statements`, `checked` (every
        number shown matched the figures it cites), `fallback_reason` (why the model's summary is not shown,
        None when it is or was not asked for), `usage` (tokens), `sources` and `dropped` (see `build_summary`).
    """
    if engine not in ("auto", "template"):
        raise ValueError(f"engine must be 'auto' or 'template', not {engine!r}")
    template = build_summary(results)
    result: dict[str, Any] = {
        "engine": "template",
        "engine_info": {"name": "template", "model": None},
        "statements": template["statements"],
        "checked": True,  # template statements that fail the check are dropped by build_summary
        "fallback_reason": None,
        "usage": dict(_NO_USAGE),
        "sources": template["sources"],
        "dropped": template["dropped"],
        "prompt_version": None,
    }
    if engine == "template" or not template["statements"]:
        return result
    if client is None:
        try:
            from workbench.text.llm import client_from_env

            client = client_from_env()
        except Exception as exc:  # the model interface is only needed here, never by the template path
            result["fallback_reason"] = f"the model is not available ({type(exc).__name__}: {exc})"
            return result
        if client is None:  # no key configured: templates by design, not a fallback
            return result
    result["prompt_version"] = PROMPT_VERSION
    llm_settings = getattr(client, "settings", None)  # LLMClient keeps model and server in its settings
    model = getattr(llm_settings, "model", None) or getattr(client, "model", None)
    try:
        answer = client.complete_json(system=SYSTEM_PROMPT, user=model_prompt(template["statements"]),
                                      prompt_version=PROMPT_VERSION, schema=OUTPUT_SCHEMA)
        statements = check_statements(answer, results, result_labels(results))
    except SummaryError as exc:
        result["fallback_reason"] = f"the model's summary failed the check: {exc}"
    except Exception as exc:  # LLMError (HTTP, timeouts, budget spent) and anything unexpected: show templates
        result["fallback_reason"] = f"the model call failed ({type(exc).__name__}: {exc})"
    else:
        info: dict[str, Any] = {"name": "openai", "model": model}
        host = getattr(llm_settings, "host", None)
        if isinstance(host, str):
            info["host"] = host
        result.update({"engine": "openai", "engine_info": info, "statements": statements})
    result["usage"] = _usage(client)
    return result
