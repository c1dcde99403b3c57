"""Themes in free-text answers, from MiniLM sentence embeddings (the `themes` component; method in
`workbench.text.themes`).

Per text question: answers are cleaned (`workbench.text.clean`: entities, links, contacts, mentions,
boilerplate); those the English model cannot read are set aside and counted, never themed. The rest are split
into sentences, embedded and clustered; an answer *mentions* a theme when any of its sentences belongs to it, so
shares (answers mentioning / answers analysed, with a 95% Wilson interval) may sum past 100%. Each theme also
carries the survey's main score (the first NPS question, else the first scale question) over the respondents
whose answer mentions it, next to `score_overall` over every analysed respondent: which themes drive detractors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.analysis.columns import answers_column, record_column
from workbench.surveys.schema import QuestionType, Snapshot, SurveyDefinition
from workbench.text.clean import NO_WORDS, prepare_answers, readable
from workbench.text.theme_labels import wilson_interval
from workbench.text.themes import ENGINE, excerpt, find_themes

LANGUAGES = ("en",)
# Figures measured by `workbench eval themes` (see docs/text-analysis.md), shipped with the code.
EVALUATION_FILE = Path(__file__).resolve().parents[1] / "text" / "models" / "themes_evaluation.json"


def engine_info() -> dict[str, Any]:
    """What produced the themes: the model, the languages it reads and the figures measured for it."""
    from workbench.text.embeddings import MODEL_NAME

    evaluation = json.loads(EVALUATION_FILE.read_text()) if EVALUATION_FILE.is_file() else None
    return {
        "name": ENGINE, "model": f"{MODEL_NAME} sentence embeddings, k-means + agglomerative merge",
        "languages": list(LANGUAGES), "evaluation": evaluation,
        "notes": "Answers are split into sentences; an answer mentions a theme when one of its sentences "
                 "belongs to it, so shares can sum past 100%. Labels are distinctive keywords, not summaries.",
    }


def main_scale(snapshot: Snapshot | SurveyDefinition) -> tuple[str, str] | None:
    """(key, "nps" | "mean") of the survey's first NPS question, else its first scale question, else None."""
    survey = snapshot.survey if isinstance(snapshot, Snapshot) else snapshot
    for qtype, measure in ((QuestionType.NPS, "nps"), (QuestionType.SCALE, "mean")):
        for q in survey.questions:
            if q.type == qtype:
                return q.key, measure
    return None


def questions_used(survey: SurveyDefinition, segment_by: Sequence[str] | None = None) -> list[str]:
    """The questions whose answers `extract_themes` reads with this `segment_by`: the text questions, the main
    score (`main_scale`) and the segment questions (for `load_snapshot(path, questions=...)`)."""
    from workbench.analysis.segment_report import segment_keys

    scale = main_scale(survey)
    return ([q.key for q in survey.questions if q.type == QuestionType.TEXT] + ([scale[0]] if scale else [])
            + segment_keys(survey, segment_by))


def score_of(values: list[float], question: str, measure: str) -> dict[str, Any]:
    """`{"question", "measure", "value", "n"}`: NPS (% 9-10 minus % 0-6) or the mean of `values`."""
    n = len(values)
    if not n:
        value = None
    elif measure == "nps":
        value = round(100 * (sum(v >= 9 for v in values) - sum(v <= 6 for v in values)) / n, 2)
    else:
        value = round(sum(values) / n, 2)
    return {"question": question, "measure": measure, "value": value, "n": n}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def themes_for_question(
    snapshot: Snapshot, key: str, n_themes: int = 6, top_keywords: int = 6, examples: int = 3, embedder: Any = None,
    *, mentions: bool = False,
) -> dict[str, Any]:
    """The themes of one text question (plain JSON types).

    Args:
        snapshot: The survey and its responses.
        key: A text question's key.
        n_themes: At most this many themes.
        top_keywords: Keywords per theme.
        examples: Answers quoted per theme.
        embedder: Embedder override (tests); default the cached MiniLM embedder.
        mentions: Also return `_mentions`: (response index of each analysed answer, each theme's answer
            positions, theme labels), for the per-segment figures.

    Returns:
        `n` (answers analysed), `themes`, `unassigned`, `unassigned_share`, `set_aside`, `boilerplate_removed`,
        `score_overall`, and `note` when there are no themes.
    """
    scale = main_scale(snapshot)
    respondents = record_column(snapshot, "respondent_id")
    scores = answers_column(snapshot, scale[0]) if scale else [None] * len(respondents)
    rows = [(respondent, value.strip(), _number(score) if scale else None, index)
            for index, (respondent, value, score) in enumerate(zip(
                respondents, answers_column(snapshot, key), scores, strict=True))
            if isinstance(value, str) and value.strip()]
    prepared = prepare_answers([text for _, text, _, _ in rows])
    reasons = {"unsupported_language": 0, "no_words": 0}
    languages: dict[str, int] = {}
    kept: list[int] = []
    for i, answer in enumerate(prepared.answers):
        if answer.language == NO_WORDS or not answer.text:
            reasons["no_words"] += 1
        elif not readable(answer.language, LANGUAGES):
            reasons["unsupported_language"] += 1
            languages[answer.language] = languages.get(answer.language, 0) + 1
        else:
            kept.append(i)
    texts = [prepared.answers[i].text for i in kept]
    model = find_themes(texts, n_themes, top_keywords, examples, embedder=embedder)
    n = len(texts)

    def score(answers: list[int]) -> dict[str, Any] | None:
        if scale is None:
            return None
        values = [v for a in answers if (v := rows[kept[a]][2]) is not None]
        return score_of(values, *scale)

    themes = [
        {
            "label": t.label,
            "keywords": t.keywords,
            "share": round(len(t.answers) / n, 4),
            "share_ci": wilson_interval(len(t.answers), n),
            "count": len(t.answers),
            "score": score(t.answers),
            "examples": [{"respondent_id": rows[kept[a]][0], "text": excerpt(texts[a])} for a in t.quotes],
        }
        for t in model.themes
    ]
    out: dict[str, Any] = {
        "n": n,
        "themes": themes,
        "unassigned": len(model.unassigned),
        "unassigned_share": round(len(model.unassigned) / n, 4) if n else None,
        "fit_cutoff": model.cutoff,
        "set_aside": {"count": len(rows) - n, "reasons": reasons, "languages": dict(sorted(languages.items()))},
        "boilerplate_removed": prepared.boilerplate,
        "score_overall": score(list(range(n))),
    }
    if model.note:
        out["note"] = model.note
    if mentions:
        out["_mentions"] = ([rows[i][3] for i in kept], [list(t.answers) for t in model.themes],
                            [t.label for t in model.themes])
    return out


def extract_themes(
    snapshot: Snapshot, n_themes: int = 6, top_keywords: int = 6, examples: int = 3, embedder: Any = None,
    segment_by: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The `themes` component result for every text question of `snapshot` (plain JSON types).

    Args:
        snapshot: The survey and its responses.
        n_themes: At most this many themes per question (fewer when the answers support fewer).
        top_keywords: Keywords per theme.
        examples: Answers quoted per theme.
        embedder: Embedder override (tests); default the cached MiniLM embedder.
        segment_by: Segment questions to compare theme shares across; empty or None: the survey's declared
            segments (`workbench.analysis.themes_segments`).

    Returns:
        `engine`, `engine_info`, per-question themes (see `themes_for_question`) and `by_segment`.

    Raises:
        SegmentError: `segment_by` names a question respondents cannot be segmented by.
    """
    from workbench.analysis.segment_report import resolve_segment_by
    from workbench.analysis.themes_segments import themes_by_segment

    resolve_segment_by(snapshot.survey, segment_by)  # a bad segment_by fails before any answer is embedded
    questions = {
        q.key: {"text": q.text, **themes_for_question(snapshot, q.key, n_themes, top_keywords, examples, embedder,
                                                      mentions=True)}
        for q in snapshot.survey.questions
        if q.type == QuestionType.TEXT
    }
    mentions = {key: q.pop("_mentions") for key, q in questions.items()}
    return {"engine": ENGINE, "engine_info": engine_info(), "questions": questions,
            "by_segment": themes_by_segment(snapshot, mentions, segment_by)}
