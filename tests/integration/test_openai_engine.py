"""The `openai` sentiment engine against a real chat-completions server on loopback (tests/fakes), and how its
settings reach a kernel: through the environment, never as notebook parameters. Never the internet."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SAMPLE_PATH
from tests.fakes import FakeOpenAI
from tests.fakes.openai_server import sentiment_of
from workbench.components import ComponentSpec, components
from workbench.config import REPO_ROOT, Settings
from workbench.reports import steps
from workbench.reports.request import create_report_run
from workbench.statuses import ComponentStatus
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file
from workbench.text.engines import engines, score_answers
from workbench.text.llm import LLMClient, LLMError, LLMSettings
from workbench.text.llm_store import LLMCache, UsageLedger
from workbench.text.openai_engine import OpenAISentimentEngine

KEY = "sk-test-openai-engine-0002"
ANSWERS = [
    "Great service, the staff were so helpful!",
    "Terrible delivery, the box arrived broken.",
    "It is a jacket.",
    "Sarah Johnson at the desk was wonderful, mail me at sarah.j@example.com",
    "Call me on +1 (555) 123-4567, the refund is still missing. Thanks, Bartholomew",
    "Love the colour, perfect fit",
    "Dr Okonkwo was rude and slow",
]
PERSONAL = ("Sarah", "Johnson", "sarah.j@example.com", "555", "123-4567", "Bartholomew", "Okonkwo")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def engine_for(server: FakeOpenAI, **changes: Any) -> OpenAISentimentEngine:
    settings = LLMSettings(api_key=KEY, base_url=server.base_url, model="fake-model", timeout_seconds=5,
                           max_retries=1, token_budget=None, batch_size=changes.pop("batch_size", 3))
    return OpenAISentimentEngine(LLMClient(settings, **changes))


def test_score_answers_end_to_end_in_batches(server: FakeOpenAI) -> None:
    engine = engine_for(server, batch_size=3)
    scored = score_answers(engine, ANSWERS)
    assert len(server.requests) == 3  # 7 answers in batches of 3
    expected = [sentiment_of(t) for t in scored.texts]
    assert [(p.label, p.score) for p in scored.predictions if p is not None] == expected
    assert [p.label for p in scored.predictions if p is not None][:3] == ["positive", "negative", "neutral"]
    assert scored.set_aside["count"] == 0
    # each batch is a numbered JSON list under a strict schema
    batch = json.loads(server.requests[0]["messages"][1]["content"])
    assert [a["i"] for a in batch["answers"]] == [0, 1, 2]
    assert server.requests[0]["response_format"]["json_schema"]["strict"] is True
    # the report can say which engine produced what
    info = engine.info.as_dict()
    assert info["name"] == "openai" and info["model"] == f"fake-model @ 127.0.0.1:{server.port}"
    assert info["evaluation"] is None and "not measured" in info["notes"]


def test_no_personal_detail_of_the_answers_reaches_the_server(server: FakeOpenAI) -> None:
    score_answers(engine_for(server, batch_size=10), ANSWERS)
    sent = json.dumps(server.requests)
    for detail in PERSONAL:
        assert detail not in sent, detail
    assert "[name] at the desk was wonderful" in sent and "Dr [name] was rude" in sent


@pytest.mark.parametrize(("reply", "problem"), [
    ({"items": [{"i": 0, "label": "positive", "score": 0.5}]}, "1 items for 2 answers"),
    ({"items": [{"i": 0, "label": "positive", "score": 0.5}, {"i": 0, "label": "neutral", "score": 0}]},
     "index 0 is out of range 0-1 or repeated"),
    ({"items": [{"i": 0, "label": "positive", "score": 0.5}, {"i": 5, "label": "neutral", "score": 0}]},
     "index 5 is out of range"),
    ({"items": [{"i": 0, "label": "positive", "score": 0.5}, {"i": 1, "label": "neutral", "score": 3}]},
     "answer 1 has score 3, not a number in"),
    ({"items": [{"i": 0, "label": "positive", "score": 0.5}, {"i": 1, "label": "happy", "score": 0.2}]},
     "'happy' is not one of"),  # caught by the schema check in the client
    ({"answers": []}, "'items' is a required property"),
])
def test_a_reply_that_does_not_fit_the_batch_is_a_clear_error(
    server: FakeOpenAI, reply: dict[str, Any], problem: str
) -> None:
    server.script(reply)
    with pytest.raises(LLMError) as caught:
        engine_for(server).predict(["good", "bad"])
    assert problem in str(caught.value) and "fake-model" in str(caught.value)


def test_a_rerun_of_the_engine_is_free(server: FakeOpenAI, sqlite_url: str) -> None:
    first = score_answers(engine_for(server, cache=LLMCache(sqlite_url),
                                     ledger=UsageLedger(sqlite_url, report_id="a", component="sentiment")), ANSWERS)
    assert len(server.requests) == 3
    again = engine_for(server, cache=LLMCache(sqlite_url),
                       ledger=UsageLedger(sqlite_url, report_id="b", component="sentiment"))
    second = score_answers(again, ANSWERS)
    assert second.predictions == first.predictions and len(server.requests) == 3
    assert again.client.usage["cached_calls"] == 3 and again.client.usage["calls"] == 0


def test_the_registry_builds_it_from_the_environment_or_says_what_is_missing(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = engines._factories["openai"]
    for name in [k for k in list(os.environ) if k.startswith("WORKBENCH_OPENAI_")]:
        monkeypatch.delenv(name)
    engines.register("openai", factory)  # forget an instance built by another test
    try:
        with pytest.raises(LLMError, match="needs an API key: set WORKBENCH_OPENAI_API_KEY.*'minilm' or 'vader'"):
            engines.get("openai")
        monkeypatch.setenv("WORKBENCH_OPENAI_API_KEY", KEY)
        monkeypatch.setenv("WORKBENCH_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("WORKBENCH_OPENAI_MODEL", "env-model")
        engine = engines.get("openai")
        assert isinstance(engine, OpenAISentimentEngine) and engine.client.settings.model == "env-model"
        assert engine.score(["great", "awful"]) == [0.6, -0.6]
    finally:
        engines.register("openai", factory)


# --- the kernel's environment -----------------------------------------------------------------------------------

OPENAI_VARIABLES = {"WORKBENCH_OPENAI_API_KEY", "WORKBENCH_OPENAI_BASE_URL", "WORKBENCH_OPENAI_MODEL",
                    "WORKBENCH_OPENAI_TIMEOUT_SECONDS", "WORKBENCH_OPENAI_MAX_RETRIES",
                    "WORKBENCH_OPENAI_TOKEN_BUDGET", "WORKBENCH_OPENAI_BATCH_SIZE"}


class ProbeResult(BaseModel):
    env_keys: list[str]
    engine: dict[str, Any]
    labels: list[str | None]
    usage: dict[str, int]


def test_kernel_environment_carries_the_openai_settings_to_declaring_components(settings: Settings) -> None:
    spec = ComponentSpec(name="llm", title="LLM", notebook="x.ipynb", result_model=ProbeResult,
                         secrets=("openai_api_key",), queue="ai")
    keyed = settings.model_copy(update={"openai_api_key": SecretStr(KEY), "openai_base_url": "http://127.0.0.1:9/v1",
                                        "openai_model": "llama3", "openai_token_budget": None})
    env = steps.kernel_environment(keyed, spec, report_id=uuid.UUID(int=7), component="llm")
    workbench = {k: v for k, v in env.items() if k.startswith("WORKBENCH_")}
    assert set(workbench) == OPENAI_VARIABLES | {"WORKBENCH_EMBEDDING_CACHE", "WORKBENCH_DATABASE_URL",
                                                 "WORKBENCH_REPORT_ID", "WORKBENCH_COMPONENT"}
    assert workbench["WORKBENCH_OPENAI_API_KEY"] == KEY and workbench["WORKBENCH_OPENAI_MODEL"] == "llama3"
    assert workbench["WORKBENCH_OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert workbench["WORKBENCH_OPENAI_TOKEN_BUDGET"] == ""  # None: unlimited
    assert workbench["WORKBENCH_DATABASE_URL"] == keyed.effective_database_url
    assert workbench["WORKBENCH_REPORT_ID"] == str(uuid.UUID(int=7)) and workbench["WORKBENCH_COMPONENT"] == "llm"
    client = LLMSettings.from_env(env)
    assert client is not None and client.model == "llama3" and client.token_budget is None
    # an empty WORKBENCH_OPENAI_TOKEN_BUDGET means unlimited for the worker's Settings as for the kernel
    assert Settings(_env_file=None, openai_token_budget="").openai_token_budget is None  # type: ignore[call-arg]
    # no key: nothing of it, as with the local engines; a component that does not declare it: nothing either
    without_key = steps.kernel_environment(settings, spec, report_id=uuid.UUID(int=7), component="llm")
    assert sorted(k for k in without_key if k.startswith("WORKBENCH_")) == ["WORKBENCH_EMBEDDING_CACHE"]
    undeclared = ComponentSpec(name="plain", title="Plain", notebook="x.ipynb", result_model=ProbeResult)
    plain = steps.kernel_environment(keyed, undeclared, report_id=uuid.UUID(int=7), component="plain")
    assert sorted(k for k in plain if k.startswith("WORKBENCH_")) == ["WORKBENCH_EMBEDDING_CACHE"]


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def probe_settings(settings: Settings, tmp_path: Path, server: FakeOpenAI) -> Iterator[Settings]:
    """A copy of the notebooks with an `llmprobe` component (ai queue, declares the key) that scores answers with
    the `openai` engine in its kernel and echoes what the kernel saw."""
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "workbench", "display_name": "Workbench",
                                                           "language": "python"}})
    params = nbformat.v4.new_code_cell('snapshot_path: str = "data/sample_survey.json"  # the snapshot')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os\n"
        "from workbench.notebook import emit_result\n"
        "from workbench.text.engines import get, score_answers\n"
        "engine = get('openai')\n"
        f"scored = score_answers(engine, {ANSWERS!r})\n"
        "emit_result({'env_keys': sorted(k for k in os.environ if k.startswith('WORKBENCH_')),\n"
        "             'engine': engine.info.as_dict(), 'usage': engine.client.usage,\n"
        "             'labels': [p.label if p else None for p in scored.predictions]})")]
    nbformat.write(nb, folder / "llmprobe.ipynb")
    components.register(ComponentSpec(name="llmprobe", title="LLM probe", notebook="llmprobe.ipynb",
                                      result_model=ProbeResult, secrets=("openai_api_key",), queue="ai"))
    try:
        yield settings.model_copy(update={
            "notebooks_dir": folder, "openai_api_key": SecretStr(KEY), "openai_base_url": server.base_url,
            "openai_model": "fake-model", "openai_batch_size": 4, "openai_max_retries": 0,
            "openai_timeout_seconds": 10,
        })
    finally:
        components.unregister("llmprobe")


def test_a_kernel_scores_with_the_openai_engine_and_the_key_stays_out_of_the_notebook(
    probe_settings: Settings, sessions: sessionmaker[Session], server: FakeOpenAI
) -> None:
    definition, raw = read_survey_file(SAMPLE_PATH)
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id, records=parse_responses(definition, raw[:20],
                                                                                           fmt="json"))
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey.id,
                                   component_names=["llmprobe"], parameters=None,
                                   notebooks_dir=probe_settings.notebooks_dir)
        report_id = report.id
    steps.prepare_report(sessions, report_id)

    steps.execute_component(sessions, probe_settings, report_id, "llmprobe")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="llmprobe", with_documents=True)
        assert row is not None and row.status == ComponentStatus.COMPLETED, row and row.error
        result, notebook, provenance = row.result, row.notebook, row.provenance
    assert result is not None and notebook is not None
    assert len(server.requests) == 2  # 7 answers, batches of 4
    assert result["labels"] == [sentiment_of(t)[0] for t in ANSWERS]
    assert result["engine"]["model"] == f"fake-model @ 127.0.0.1:{server.port}"
    assert set(result["env_keys"]) == OPENAI_VARIABLES | {"WORKBENCH_EMBEDDING_CACHE", "WORKBENCH_DATABASE_URL",
                                                          "WORKBENCH_REPORT_ID", "WORKBENCH_COMPONENT"}
    # the key went in the Authorization header only: not in the stored notebook, its parameters or provenance
    assert all(h["authorization"] == f"Bearer {KEY}" for h in server.headers)
    assert KEY not in notebook and KEY not in str(provenance)
    assert KEY not in json.dumps(server.requests)
    for detail in PERSONAL:
        assert detail not in json.dumps(server.requests)
    # the kernel charged its calls to this report and component
    ledger = UsageLedger(probe_settings.effective_database_url, report_id=str(report_id))
    assert ledger.by_component()["llmprobe"]["calls"] == 2 and ledger.used() > 0

    # a rerun of the component costs nothing: every batch comes from the cache
    steps.execute_component(sessions, probe_settings, report_id, "llmprobe")
    with sessions() as session:
        again = report_store.get_component(session, report_id=report_id, name="llmprobe")
        assert again is not None and again.result is not None
        assert again.result["labels"] == result["labels"]
        assert again.result["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 2}
    assert len(server.requests) == 2
    assert ledger.by_component()["llmprobe"]["cached_calls"] == 2
    ledger.close()


def test_the_sentiment_result_names_the_model_and_counts_its_tokens(server: FakeOpenAI) -> None:
    from workbench.analysis.sentiment import analyze_sentiment
    from workbench.surveys.schema import Snapshot

    snapshot = Snapshot.model_validate({
        "survey": {"id": "s", "title": "T", "questions": [{"key": "why", "type": "text", "text": "Why?"}]},
        "responses": [{"respondent_id": f"r{i}", "answers": {"why": text}} for i, text in enumerate(ANSWERS)],
    })
    factory = engines._factories["openai"]
    engines.register("openai", lambda: engine_for(server))
    try:
        result = analyze_sentiment(snapshot, engine="openai")
    finally:
        engines.register("openai", factory)
    assert result["engine"] == "openai" and result["engine_info"]["model"].startswith("fake-model @ 127.0.0.1")
    assert result["engine_info"]["evaluation"] is None  # not measured: the report says so instead of a figure
    assert result["usage"]["calls"] == len(server.requests) == 3  # 7 answers in batches of 3
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] > 0
    assert result["questions"]["why"]["n"] == len(ANSWERS)
