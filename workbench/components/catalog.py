"""The report components: one `register()` each, with the result model its notebook must emit.

Adding a component is adding its notebook to `notebooks/` and its spec here (see notebooks/README.md).
Result models name the fields readers and downstream components rely on; extra keys are allowed so a notebook
can grow without breaking the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workbench.components.spec import ComponentRegistry, ComponentSpec


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- basic_stats ----------------------------------------------------------------------------------------------

class NpsBreakdown(_Result):
    score: float | None = Field(description="% promoters - % detractors, -100..100; None without answers")
    promoters: int = Field(ge=0)
    passives: int = Field(ge=0)
    detractors: int = Field(ge=0)
    n: int = Field(ge=0)


class QuestionSummary(_Result):
    """The summary of one question; the kind's own figures (mean, options, ...) are extra keys."""

    kind: str = Field(description="The question kind (workbench.surveys.kinds), e.g. nps, scale, ordinal")
    text: str
    n: int = Field(ge=0, description="Respondents who answered")
    blank: int = Field(ge=0, description="Respondents asked the question who gave no valid answer")
    not_asked: int = Field(ge=0, description="Respondents a conditional question (required_if) was not asked")


class BasicStatsResult(_Result):
    survey_title: str
    response_count: int = Field(ge=0)
    completion_known: bool = Field(description="Whether any response has a completion time")
    completed_count: int | None = Field(ge=0, description="Responses with a completion time; None if unknown")
    completion_rate: float | None = Field(ge=0, le=1, description="None when completion is unknown")
    timed_count: int = Field(ge=0, description="Responses with both a start and a completion time")
    avg_completion_seconds: float | None = Field(description="Over timed responses; None without any")
    median_completion_seconds: float | None
    nps: NpsBreakdown | None = Field(description="The first nps question's breakdown; None without one")
    period: dict[str, Any] | None = Field(
        None, description="first and last response time (ISO 8601) and their basis (started_at or completed_at); "
                          "None without times")
    questions: dict[str, QuestionSummary]


# --- sentiment ------------------------------------------------------------------------------------------------

class SetAside(_Result):
    count: int = Field(ge=0, description="Answers not scored: the engine cannot read them")
    reasons: dict[str, int] = Field(description="unsupported_language / no_words -> count")
    languages: dict[str, int] = Field(default_factory=dict, description="Detected language -> answers set aside")


class SentimentSummary(_Result):
    n: int = Field(ge=0, description="Answers scored (set-aside answers excluded)")
    distribution: dict[Literal["positive", "neutral", "negative"], int]
    shares: dict[Literal["positive", "neutral", "negative"], float | None]
    mean_compound: float | None = Field(
        ge=-1, le=1, description="Mean score in [-1, 1] (vader: compound; minilm: P(positive) - P(negative))"
    )
    set_aside: SetAside | None = None


class QuotedAnswer(_Result):
    respondent_id: str | None
    text: str
    score: float | None = None


class SentimentQuestion(SentimentSummary):
    text: str
    top_positive: list[QuotedAnswer]
    top_negative: list[QuotedAnswer]


class EngineEvaluation(_Result):
    n: int = Field(ge=0, description="Held-out answers the figures were measured on")
    accuracy: float | None = Field(ge=0, le=1)
    macro_f1: float | None = Field(ge=0, le=1)
    majority_baseline: float | None = Field(ge=0, le=1)
    spearman: float | None = Field(ge=-1, le=1, description="Spearman of the score with the 1-5 rating")


class EngineInfoModel(_Result):
    name: str
    model: str | None = None
    languages: list[str] = Field(default_factory=list)
    evaluation: EngineEvaluation | None = Field(None, description="Measured on held-out labelled answers")


# A report request naming an engine that does not exist fails at validation, not after a kernel started.
_ENGINE_PATTERN = "^(minilm|vader|openai)$"


class SentimentSegment(_Result):
    segment: str
    n: int = Field(ge=0, description="Answers scored from this segment's respondents")
    shares: dict[Literal["positive", "neutral", "negative"], float | None]
    mean_score: float | None = Field(ge=-1, le=1)


class SentimentSegmentQuestion(_Result):
    question: str
    segments: list[SentimentSegment]
    test: dict[str, Any] = Field(description="Chi-square (or Fisher) of the label mix, Cramer's V, p_bh, p_holm")
    finding: str | None = Field(description="The plain-language finding, when significant and not negligible")


class SentimentSegmentBreakdown(_Result):
    key: str = Field(description="The segment question's key")
    text: str
    questions: list[SentimentSegmentQuestion]


class SentimentBySegment(_Result):
    segment_by: list[str]
    source: Literal["parameter", "declared", "none"]
    breakdowns: list[SentimentSegmentBreakdown]
    findings: list[str]


class SentimentResult(_Result):
    engine: str
    engine_info: EngineInfoModel | None = None
    questions: dict[str, SentimentQuestion]
    overall: SentimentSummary
    by_segment: SentimentBySegment | None = Field(None, description="Sentiment compared across segments")


# --- themes ---------------------------------------------------------------------------------------------------

class ThemeScore(_Result):
    """The survey's main score (first nps question, else first scale question) over some respondents."""

    question: str = Field(description="The key of the nps or scale question")
    measure: Literal["nps", "mean"]
    value: float | None = Field(description="NPS points (-100..100) or the mean; None without answers")
    n: int = Field(ge=0, description="Respondents with a valid answer to that question")


class Theme(_Result):
    label: str = Field(description="2-4 words from the theme's most distinctive keywords")
    keywords: list[str]
    share: float = Field(ge=0, le=1, description="Answers mentioning the theme / answers analysed")
    share_ci: list[float] = Field(min_length=2, max_length=2, description="95% Wilson interval of the share")
    count: int = Field(ge=0, description="Answers mentioning the theme")
    score: ThemeScore | None = Field(description="Main score of the respondents mentioning it; None without one")
    examples: list[QuotedAnswer]


class ThemesQuestion(_Result):
    text: str
    n: int = Field(ge=0, description="Answers analysed (set-aside answers excluded)")
    themes: list[Theme]
    unassigned: int | None = Field(None, ge=0, description="Answers none of whose sentences fits a theme")
    set_aside: SetAside | None = None
    score_overall: ThemeScore | None = Field(None, description="Main score over every analysed respondent")
    note: str | None = Field(None, description="Why there are no themes, when there are none")


class ThemesEngineInfo(_Result):
    name: str
    model: str | None = None
    languages: list[str] = Field(default_factory=list)
    evaluation: dict[str, Any] | None = Field(None, description="Coverage / purity measured by workbench eval themes")


class ThemesResult(_Result):
    engine: str
    engine_info: ThemesEngineInfo | None = None
    questions: dict[str, ThemesQuestion]
    by_segment: dict[str, Any] | None = Field(
        None, description="Theme shares per segment: segment_by, source, breakdowns (per question and theme the "
                          "counts, shares and test), findings")


# --- visualizations -------------------------------------------------------------------------------------------

class ChartSpec(_Result):
    question: str
    kind: str
    title: str


class VisualizationsResult(_Result):
    charts: list[ChartSpec]
    chart_count: int = Field(ge=0)


# --- segments -------------------------------------------------------------------------------------------------

class SegmentEffect(_Result):
    measure: str = Field(description="cramers_v, epsilon_squared or rank_biserial")
    value: float | None
    label: str | None = Field(description="negligible / small / medium / large")


class SegmentFinding(_Result):
    """One significant, non-negligible comparison; its sentence cites `values` of `segments`."""

    finding: str = Field(description='e.g. "Free rates satisfaction lower than Enterprise: 3.4 vs 4.0 (...)"')
    question: str = Field(description="The compared question's key")
    segment_question: str = Field(description="The key of the question respondents are segmented by")
    kind: str = Field(description="nps, categorical, option or the rank test's kind (scale, ordinal, numeric)")
    segments: list[str] = Field(min_length=2, max_length=2)
    values: list[float] = Field(min_length=2, max_length=2, description="Shares 0..1, NPS points or means")
    unit: Literal["share", "nps", "mean"]
    p: float | None = Field(ge=0, le=1, description="Unadjusted p-value")
    p_adjusted: float = Field(ge=0, le=1, description="Adjusted over every p-value of the report")
    p_text: str
    effect: SegmentEffect
    warnings: list[str] = Field(description="Small samples or expected counts the test's assumptions want")


class SegmentSize(_Result):
    segment: str
    n: int = Field(ge=0)


class SegmentQuestion(_Result):
    key: str
    text: str
    kind: str
    figures: dict[str, Any] = Field(description="Per-segment n, NPS or mean with CIs, or shares")
    tests: list[dict[str, Any]] = Field(description="The question's tests, with p_holm and p_bh")


class SegmentBreakdown(_Result):
    key: str = Field(description="The segment question's key")
    text: str
    kind: Literal["single_choice", "ordinal"]
    segments: list[SegmentSize]
    answered: int = Field(ge=0)
    unanswered: int = Field(ge=0, description="Respondents left out: no valid answer to the segment question")
    warnings: list[str]
    questions: list[SegmentQuestion]


class SegmentsResult(_Result):
    segment_by: list[str] = Field(description="The segment questions compared by")
    source: Literal["parameter", "declared", "none"] = Field(
        description="Where segment_by came from: the report's parameter, the survey's declared segments, or none")
    note: str | None = Field(description="Why nothing is compared, when nothing is")
    alpha: float = Field(gt=0, lt=1)
    correction: Literal["bh", "holm"]
    breakdowns: list[SegmentBreakdown]
    findings: list[SegmentFinding] = Field(description="Largest effect first")
    test_count: int = Field(ge=0)
    comparison_count: int = Field(ge=0)
    finding_count: int = Field(ge=0)


# --- summary --------------------------------------------------------------------------------------------------

class SummaryCitation(_Result):
    component: str = Field(description="The upstream component whose result holds the figure")
    path: str = Field(description='Dotted path into that result, list items by index, e.g. "findings.0.values.1"')
    value: float = Field(description="The figure at that path")
    display: str | None = Field(None, description="How the statement writes it (template statements)")


class SummaryStatement(_Result):
    section: Literal["headline", "segments", "themes", "contradictions"]
    text: str = Field(description="Plain text; every number in it is one of its citations' values")
    citations: list[SummaryCitation]


class SummarySource(_Result):
    available: bool = Field(description="Whether the summary had this component's result")
    statements: int = Field(ge=0, description="Statements citing it")
    note: str | None = None


class SummaryUsage(_Result):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    calls: int = Field(ge=0)
    cached_calls: int = Field(ge=0)


class SummaryEngineInfo(_Result):
    name: str
    model: str | None = None


class SummaryResult(_Result):
    engine: Literal["template", "openai"] = Field(description="Who wrote the statements shown")
    engine_info: SummaryEngineInfo
    statements: list[SummaryStatement]
    checked: bool = Field(description="Every number shown matched the figures its statement cites")
    fallback_reason: str | None = Field(description="Why the model's summary is not shown; None when it is or "
                                                    "was not asked for")
    usage: SummaryUsage
    sources: dict[str, SummarySource]


def register_all(registry: ComponentRegistry) -> ComponentRegistry:
    registry.register(ComponentSpec(
        name="basic_stats", title="Basic statistics", notebook="basic_stats.ipynb", result_model=BasicStatsResult,
        memory_base_mb=260, memory_mb_per_1000_responses=0.5,
    ))
    registry.register(ComponentSpec(
        name="sentiment", title="Sentiment", notebook="sentiment.ipynb", result_model=SentimentResult,
        parameter_rules={"top_n": {"ge": 0, "le": 50}, "engine": {"pattern": _ENGINE_PATTERN}},
        secrets=("openai_api_key",), remote_engines=frozenset({"openai"}),
        memory_base_mb=520, memory_mb_per_1000_responses=2.0,  # onnxruntime and the model
    ))
    registry.register(ComponentSpec(
        name="themes", title="Themes", notebook="themes.ipynb", result_model=ThemesResult,
        parameter_rules={"n_themes": {"ge": 2, "le": 30}, "top_keywords": {"ge": 1, "le": 30},
                         "examples": {"ge": 0, "le": 20}},
        memory_base_mb=520, memory_mb_per_1000_responses=2.5,  # every answer part's vector at once
    ))
    # Before visualizations, so registry order stays stage order (the order `workbench notebooks check` runs in).
    registry.register(ComponentSpec(
        name="segments", title="Segment comparisons", notebook="segments.ipynb", result_model=SegmentsResult,
        parameter_rules={"alpha": {"gt": 0, "lt": 0.5}, "correction": {"pattern": "^(bh|holm)$"}},
        memory_base_mb=260, memory_mb_per_1000_responses=0.75,
    ))
    registry.register(ComponentSpec(
        name="visualizations", title="Visualisations", notebook="visualizations.ipynb",
        result_model=VisualizationsResult, needs=("basic_stats",),
        memory_base_mb=260, memory_mb_per_1000_responses=0.1,  # no answers read: the record fields
    ))
    registry.register(ComponentSpec(
        name="summary", title="Summary", notebook="summary.ipynb", result_model=SummaryResult,
        needs=("basic_stats", "sentiment", "themes", "segments"), secrets=("openai_api_key",), queue="ai",
        parameter_rules={"engine": {"pattern": "^(auto|template)$"}},
        memory_base_mb=200, memory_mb_per_1000_responses=0.1,  # reads the results, not the answers
    ))
    return registry


def result_keys(model: type[BaseModel]) -> list[str]:
    """The required top-level keys of a result model (for guides and error messages)."""
    return [name for name, f in model.model_fields.items() if f.is_required()]


__all__: list[Any] = ["register_all", "result_keys"]
