"""The `summary` component: the model path against a real loopback server speaking OpenAI's API (FakeOpenAI),
in-process over the committed sample results and through the production steps (no Temporal) on a stored survey
whose upstream results are the committed sample results, stored as completed components (the summary reads those
results alone; the upstream notebooks' own runs are `workbench notebooks check` and the report-run tests).

The template path through a kernel is `workbench notebooks check` (the notebook runs there on the sample)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SAMPLE_PATH
from tests.fakes import FakeOpenAI
from tests.integration.test_component_contract import new_report
from workbench.analysis.summary import COMPONENTS, build_summary, cited_value, result_labels, summarize
from workbench.analysis.summary_check import check_numbers
from workbench.components.catalog import SummaryResult
from workbench.config import REPO_ROOT, Settings
from workbench.notebook import load_result
from workbench.reports import steps
from workbench.statuses import ComponentStatus
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file
from workbench.text.llm import client_from_env

RESULTS = REPO_ROOT / "notebooks" / "data" / "results"
RESPONSES = 300


def sample_results() -> dict[str, dict[str, Any]]:
    return {name: load_result(RESULTS / f"{name}.json") for name in COMPONENTS}


def raw_answers(responses: list[dict[str, Any]]) -> list[str]:
    """Every free-text answer of the snapshot long enough not to be a keyword by chance."""
    return [v for r in responses for v in r["answers"].values() if isinstance(v, str) and len(v.strip()) >= 20]


def facts_of(request: dict[str, Any]) -> list[dict[str, Any]] | None:
    user = next((m["content"] for m in request.get("messages", []) if m.get("role") == "user"), "")
    if not user.startswith("FACTS:"):
        return None
    return json.loads(user.removeprefix("FACTS:"))["facts"]


def rewrite(request: dict[str, Any]) -> dict[str, Any]:
    """A well-behaved model: one statement per fact, the fact's own words and figures, citing its paths."""
    facts = facts_of(request)
    assert facts is not None, "not a summary request"
    return {"statements": [
        {"section": f["section"], "text": "In short: " + f["text"],
         "citations": [{"component": c["component"], "path": c["path"]} for c in f["citations"]]}
        for f in facts[:10]]}


def fabricate(request: dict[str, Any]) -> dict[str, Any]:
    answer = rewrite(request)
    answer["statements"][1]["text"] = "NPS is +31.4, well above last year."  # cites nps.score (25.6)
    return answer


def llm_env(server: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"WORKBENCH_OPENAI_API_KEY": "test-key", "WORKBENCH_OPENAI_BASE_URL": server.base_url,
            "WORKBENCH_OPENAI_MODEL": "fake-model", "WORKBENCH_OPENAI_MAX_RETRIES": "0", **extra}


def assert_grounded(result: dict[str, Any], results: dict[str, Any]) -> None:
    labels = result_labels(results)
    for statement in result["statements"]:
        assert check_numbers(statement["text"], statement["citations"], labels) == [], statement["text"]
        for c in statement["citations"]:
            assert c["value"] == cited_value(results, c["component"], c["path"])


# --- in process, over the committed sample results ----------------------------------------------------------------

def test_the_model_summary_passes_the_check_and_is_shown() -> None:
    results = sample_results()
    with FakeOpenAI(responder=rewrite) as server:
        result = summarize(results, client=client_from_env(llm_env(server)))
        requests = list(server.requests)
    assert result["engine"] == "openai", result["fallback_reason"]
    assert result["engine_info"] == {"name": "openai", "model": "fake-model", "host": f"127.0.0.1:{server.port}"}
    assert result["checked"] and result["fallback_reason"] is None
    template = build_summary(results)["statements"]
    assert [s["text"] for s in result["statements"]] == ["In short: " + s["text"] for s in template[:10]]
    assert_grounded(result, results)
    assert result["usage"]["calls"] == 1 and result["usage"]["prompt_tokens"] > 0
    SummaryResult.model_validate(result)

    (request,) = requests
    assert request["model"] == "fake-model"
    assert request["response_format"]["type"] == "json_schema"
    body = json.dumps(request, ensure_ascii=False)
    snapshot = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
    answers = raw_answers(snapshot["responses"])
    assert answers and not [a for a in answers if a in body]  # no raw answer text, ever
    quoted = [q["text"] for q in results["sentiment"]["questions"]["improve"]["top_negative"]]
    quoted += [e["text"] for q in results["themes"]["questions"].values() for t in q["themes"] for e in t["examples"]]
    assert quoted and not [q for q in quoted if q in body]  # not even the quotes the upstream results hold


def test_a_made_up_number_falls_back_to_the_template_with_the_reason() -> None:
    results = sample_results()
    with FakeOpenAI(responder=fabricate) as server:
        result = summarize(results, client=client_from_env(llm_env(server)))
        assert len(server.requests) == 1
    assert result["engine"] == "template" and result["engine_info"] == {"name": "template", "model": None}
    assert result["fallback_reason"] == ("the model's summary failed the check: statement 2 writes +31.4, which "
                                         "match no figure it cites")
    assert result["statements"] == build_summary(results)["statements"]
    assert result["usage"]["calls"] == 1  # spent all the same, and reported
    SummaryResult.model_validate(result)


def test_a_citation_that_does_not_exist_falls_back() -> None:
    def wrong_path(request: dict[str, Any]) -> dict[str, Any]:
        answer = rewrite(request)
        answer["statements"][0]["citations"][0]["path"] = "responses_total"
        return answer

    with FakeOpenAI(responder=wrong_path) as server:
        result = summarize(sample_results(), client=client_from_env(llm_env(server)))
    assert result["engine"] == "template"
    assert "basic_stats.responses_total, which does not exist" in result["fallback_reason"]


def test_server_errors_malformed_replies_and_the_budget_fall_back() -> None:
    with FakeOpenAI(responder=rewrite) as server:
        server.script(FakeOpenAI.status(500), FakeOpenAI.malformed("The summary: NPS is great"))
        failed = summarize(sample_results(), client=client_from_env(llm_env(server)))
        malformed = summarize(sample_results(), client=client_from_env(llm_env(server)))
        budget = summarize(sample_results(), client=client_from_env(llm_env(server,
                                                                            WORKBENCH_OPENAI_TOKEN_BUDGET="50")))
        assert len(server.requests) == 2  # the budget check sent nothing
    assert failed["engine"] == "template" and "LLMError" in failed["fallback_reason"]
    assert "HTTP 500" in failed["fallback_reason"]
    assert malformed["engine"] == "template" and "malformed JSON" in malformed["fallback_reason"]
    assert budget["engine"] == "template" and "BudgetExceeded" in budget["fallback_reason"]
    assert budget["usage"]["calls"] == 0


# --- through the production steps ---------------------------------------------------------------------------------

@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_the_summary_component_asks_the_model_through_the_kernel(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    definition, raw = read_survey_file(SAMPLE_PATH)
    assert raw is not None
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id,
                                   records=parse_responses(definition, raw[:RESPONSES], fmt="json"))
        survey_id: uuid.UUID = survey.id

    with FakeOpenAI(responder=rewrite) as server:
        configured = settings.model_copy(update={"openai_api_key": SecretStr("test-key"),
                                                 "openai_base_url": server.base_url, "openai_max_retries": 0})
        report_id = new_report(sessions, configured, survey_id, ["summary"])
        with sessions() as session:
            names = list(report_store.load_report(session, report_id=report_id).component_names)  # type: ignore[union-attr]
        assert names == [*COMPONENTS, "summary"]
        seeded = sample_results()
        with transaction(sessions) as session:  # the upstream components, completed with the sample results
            for name in COMPONENTS:
                report_store.finish_component(session, report_id=report_id, name=name,
                                              status=ComponentStatus.COMPLETED, result=seeded[name], html=None,
                                              notebook=None, error=None)
        steps.execute_component(sessions, configured, report_id, "summary")
        summary_requests = [r for r in server.requests if facts_of(r) is not None]
        assert len(summary_requests) == 1

        with sessions() as session:
            row = report_store.get_component(session, report_id=report_id, name="summary")
            upstream = report_store.component_results(session, report_id=report_id, names=list(COMPONENTS))
        assert row is not None and row.status == ComponentStatus.COMPLETED
        result = SummaryResult.model_validate(row.result).model_dump()
        assert result["engine"] == "openai", result["fallback_reason"]
        assert result["statements"] and result["checked"]
        assert all(s["available"] for s in result["sources"].values())
        assert upstream == seeded  # what the kernel read: the stored upstream results
        assert_grounded(result, upstream)
        assert row.provenance is not None and row.provenance["parameters"] == {"engine": "auto"}
        assert "test-key" not in json.dumps(row.result)  # the key reaches the kernel's environment only

        body = json.dumps(summary_requests[0], ensure_ascii=False)
        answers = raw_answers(raw)  # the whole sample, whose answers the seeded results quote
        assert answers and not [a for a in answers if a in body]

        # Run again: the same question is answered from the reply cache, with no request and no tokens.
        steps.execute_component(sessions, configured, report_id, "summary")
        assert len([r for r in server.requests if facts_of(r) is not None]) == 1
    with sessions() as session:
        again = report_store.get_component(session, report_id=report_id, name="summary")
    assert again is not None and again.result is not None and again.result["engine"] == "openai"
    assert again.result["usage"]["cached_calls"] == 1 and again.result["usage"]["calls"] == 0
