"""The OpenAI-compatible client against a real HTTP server on loopback (tests/fakes): replies, retries, errors,
timeouts, the token budget, the database cache and ledger (SQLite and PostgreSQL), redaction. Never the internet."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.fakes import FakeOpenAI
from workbench.text.llm import (
    BudgetExceeded,
    LLMClient,
    LLMError,
    LLMSettings,
    cache_key,
    client_from_env,
)
from workbench.text.llm_store import LLMCache, UsageLedger

KEY = "sk-test-llm-client-0001"
SCHEMA = {"type": "object", "properties": {"verdict": {"type": "string"}, "n": {"type": "integer"}},
          "required": ["verdict", "n"], "additionalProperties": False}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def llm_settings(server: FakeOpenAI, **changes: object) -> LLMSettings:
    base = LLMSettings(api_key=KEY, base_url=server.base_url, model="fake-model", timeout_seconds=5, max_retries=2,
                       token_budget=None, batch_size=10)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_success_sends_a_strict_json_schema_request_and_counts_tokens(server: FakeOpenAI) -> None:
    server.script({"verdict": "fine", "n": 3})
    client = LLMClient(llm_settings(server))
    reply = client.complete_json(system="Judge it.", user="It works.", prompt_version="t-v1", schema=SCHEMA)
    assert reply == {"verdict": "fine", "n": 3}
    [request] = server.requests
    assert request["model"] == "fake-model" and request["temperature"] == 0
    assert request["messages"] == [{"role": "system", "content": "Judge it."}, {"role": "user", "content": "It works."}]
    assert request["response_format"] == {"type": "json_schema",
                                          "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the key travels in the header only
    assert KEY not in json.dumps(request)
    assert client.usage["calls"] == 1 and client.usage["cached_calls"] == 0
    assert client.usage["prompt_tokens"] > 0 and client.usage["completion_tokens"] > 0


def test_without_a_schema_it_asks_for_a_json_object(server: FakeOpenAI) -> None:
    server.script('{"ok": true}')
    assert LLMClient(llm_settings(server)).complete_json(system="s", user="u", prompt_version="v") == {"ok": True}
    assert server.requests[0]["response_format"] == {"type": "json_object"}


def test_a_429_is_retried_then_succeeds(server: FakeOpenAI) -> None:
    server.script(FakeOpenAI.status(429), {"verdict": "after retry", "n": 1})
    client = LLMClient(llm_settings(server, max_retries=2))
    assert client.complete_json(system="s", user="u", prompt_version="v", schema=SCHEMA)["verdict"] == "after retry"
    assert len(server.requests) == 2  # the rate-limited one, then the retry
    assert server.requests[0] == server.requests[1]
    assert client.usage["calls"] == 1


def test_a_500_is_retried_max_retries_times_then_reported(server: FakeOpenAI) -> None:
    server.script(*[FakeOpenAI.status(500)] * 3, {"verdict": "never reached", "n": 0})
    client = LLMClient(llm_settings(server, max_retries=2))
    with pytest.raises(LLMError) as caught:
        client.complete_json(system="s", user="u", prompt_version="v", schema=SCHEMA)
    message = str(caught.value)
    assert "HTTP 500" in message and "after 2 retries" in message
    assert "fake-model" in message and server.base_url in message
    assert len(server.requests) == 3  # the first try and two retries
    assert client.usage["calls"] == 0


def test_rate_limiting_that_never_ends_says_so(server: FakeOpenAI) -> None:
    server.script(*[FakeOpenAI.status(429)] * 2)
    with pytest.raises(LLMError, match=r"rate-limiting \(HTTP 429\).*after 1 retries"):
        LLMClient(llm_settings(server, max_retries=1)).complete_json(system="s", user="u", prompt_version="v")
    assert len(server.requests) == 2


def test_a_refused_key_is_not_retried_and_names_the_setting(server: FakeOpenAI) -> None:
    server.script(FakeOpenAI.status(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(LLMError, match="refused the key.*WORKBENCH_OPENAI_API_KEY"):
        LLMClient(llm_settings(server)).complete_json(system="s", user="u", prompt_version="v")
    assert len(server.requests) == 1


def test_malformed_json_is_an_error_that_names_it(server: FakeOpenAI) -> None:
    server.script(FakeOpenAI.malformed("Sure! Here is the JSON: {verdict: ok"))
    client = LLMClient(llm_settings(server))
    with pytest.raises(LLMError) as caught:
        client.complete_json(system="s", user="u", prompt_version="v", schema=SCHEMA)
    assert "malformed JSON" in str(caught.value) and "Sure! Here is the JSON" in str(caught.value)
    assert "fake-model" in str(caught.value)
    assert client.usage["calls"] == 1  # the tokens were spent all the same


def test_json_of_the_wrong_shape_is_an_error(server: FakeOpenAI) -> None:
    server.script("[1, 2, 3]", {"verdict": 7, "n": 1})
    client = LLMClient(llm_settings(server))
    with pytest.raises(LLMError, match="expected an object, got list"):
        client.complete_json(system="s", user="u", prompt_version="v")
    with pytest.raises(LLMError, match="does not match the schema at verdict"):
        client.complete_json(system="s", user="u2", prompt_version="v", schema=SCHEMA)


def test_a_fenced_reply_from_a_local_server_is_accepted(server: FakeOpenAI) -> None:
    server.script('```json\n{"verdict": "ok", "n": 2}\n```')
    reply = LLMClient(llm_settings(server)).complete_json(system="s", user="u", prompt_version="v", schema=SCHEMA)
    assert reply == {"verdict": "ok", "n": 2}


def test_a_reply_slower_than_the_timeout_is_an_error_in_bounded_time(server: FakeOpenAI) -> None:
    server.script(FakeOpenAI.slow(30), FakeOpenAI.slow(30))
    client = LLMClient(llm_settings(server, timeout_seconds=0.5, max_retries=1))
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        client.complete_json(system="s", user="u", prompt_version="v", schema=SCHEMA)
    elapsed = time.monotonic() - started
    assert "timeout of 0.5 s" in str(caught.value) and "tried 2 times" in str(caught.value)
    assert 1.0 <= elapsed < 5.0  # two 0.5 s attempts and a short backoff, not the server's 30 s
    assert len(server.requests) == 2


def test_an_unreachable_server_is_an_error_that_names_it() -> None:
    with FakeOpenAI() as gone:
        settings = llm_settings(gone, max_retries=0)
    with pytest.raises(LLMError, match="could not reach model 'fake-model' at http://127.0.0.1"):
        LLMClient(settings).complete_json(system="s", user="u", prompt_version="v")


def test_the_budget_refuses_a_call_before_sending_it(server: FakeOpenAI) -> None:
    client = LLMClient(llm_settings(server, token_budget=400, max_output_tokens=100))
    client.complete_json(system="s", user="a short question", prompt_version="v")
    spent = client.usage["prompt_tokens"] + client.usage["completion_tokens"]
    assert 0 < spent < 400 and len(server.requests) == 1
    with pytest.raises(BudgetExceeded) as caught:
        client.complete_json(system="s", user="x" * 1200, prompt_version="v")  # ~300 tokens + 100 allowed out
    assert f"used {spent} of its 400 tokens" in str(caught.value) and "nothing was sent" in str(caught.value)
    assert len(server.requests) == 1  # nothing past the budget reached the server
    assert isinstance(caught.value, LLMError)


def test_the_budget_is_per_report_across_components(server: FakeOpenAI, sqlite_url: str) -> None:
    settings = llm_settings(server, token_budget=300, max_output_tokens=50)
    first = LLMClient(settings, ledger=UsageLedger(sqlite_url, report_id="r1", component="sentiment"))
    first.complete_json(system="s", user="y" * 600, prompt_version="v")  # ~150 prompt tokens, recorded
    other = LLMClient(settings, ledger=UsageLedger(sqlite_url, report_id="r1", component="summary"))
    with pytest.raises(BudgetExceeded):
        other.complete_json(system="s", user="z" * 400, prompt_version="v")
    another_report = LLMClient(settings, ledger=UsageLedger(sqlite_url, report_id="r2", component="summary"))
    another_report.complete_json(system="s", user="z" * 400, prompt_version="v")
    assert len(server.requests) == 2


def test_a_rerun_is_answered_from_the_database_cache(server: FakeOpenAI, database_url: str) -> None:
    """On SQLite and PostgreSQL: the second identical run sends nothing and the ledger records cached calls."""
    settings = llm_settings(server)
    questions = [f"question {i}" for i in range(3)]

    def run(report_id: str) -> tuple[list[dict[str, object]], LLMClient]:
        client = LLMClient(settings, cache=LLMCache(database_url),
                           ledger=UsageLedger(database_url, report_id=report_id, component="summary"))
        return [client.complete_json(system="s", user=q, prompt_version="v1", schema=SCHEMA)
                for q in questions], client

    first, client1 = run("report-1")
    assert len(server.requests) == 3 and client1.usage["calls"] == 3
    second, client2 = run("report-2")
    assert second == first
    assert len(server.requests) == 3  # zero requests on the rerun
    assert client2.usage == {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 3}
    ledger1 = UsageLedger(database_url, report_id="report-1")
    ledger2 = UsageLedger(database_url, report_id="report-2")
    assert [r["cached"] for r in ledger1.rows()] == [False] * 3
    assert all(r["prompt_tokens"] > 0 for r in ledger1.rows())
    assert [(r["cached"], r["prompt_tokens"], r["completion_tokens"]) for r in ledger2.rows()] == [(True, 0, 0)] * 3
    assert ledger2.used() == 0 and ledger1.used() == client1.usage["prompt_tokens"] + client1.usage["completion_tokens"]
    assert ledger2.by_component() == {"summary": {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0,
                                                  "cached_calls": 3}}
    # another model or prompt version is another question
    LLMClient(replace(settings, model="other-model"), cache=LLMCache(database_url)).complete_json(
        system="s", user=questions[0], prompt_version="v1", schema=SCHEMA)
    LLMClient(settings, cache=LLMCache(database_url)).complete_json(
        system="s", user=questions[0], prompt_version="v2", schema=SCHEMA)
    assert len(server.requests) == 5
    for store in (ledger1, ledger2):
        store.close()


def test_the_cache_key_covers_model_prompt_version_messages_and_schema() -> None:
    base = cache_key("m", "v1", "s", "u", SCHEMA)
    assert len(base) == 64 and base == cache_key("m", "v1", "s", "u", dict(SCHEMA))
    assert len({base, cache_key("m2", "v1", "s", "u", SCHEMA), cache_key("m", "v2", "s", "u", SCHEMA),
                cache_key("m", "v1", "s2", "u", SCHEMA), cache_key("m", "v1", "s", "u2", SCHEMA),
                cache_key("m", "v1", "s", "u", None)}) == 6


def test_personal_details_never_reach_the_server(server: FakeOpenAI) -> None:
    user = ("Answers: 'Sarah Johnson was lovely, mail me at sarah.j@example.com or +44 20 7946 0958'; "
            "'my name is Zephyrine and the app crashed'; 'Dr Okonkwo fixed it. Thanks, Bartholomew'")
    LLMClient(llm_settings(server)).complete_json(system="s", user=user, prompt_version="v")
    sent = json.dumps(server.requests)
    for detail in ("Sarah", "Johnson", "sarah.j@example.com", "7946", "Zephyrine", "Okonkwo", "Bartholomew"):
        assert detail not in sent
    assert "[name] was lovely" in sent and "[email]" in sent and "[phone]" in sent


def test_settings_come_from_the_environment(server: FakeOpenAI, sqlite_url: str) -> None:
    assert LLMSettings.from_env({}) is None and client_from_env({"WORKBENCH_OPENAI_API_KEY": " "}) is None
    defaults = LLMSettings.from_env({"WORKBENCH_OPENAI_API_KEY": KEY})
    assert defaults is not None and defaults.model == "gpt-4o-mini" and defaults.base_url is None
    assert defaults.server == "https://api.openai.com/v1" and defaults.token_budget == 200_000
    env = {"WORKBENCH_OPENAI_API_KEY": KEY, "WORKBENCH_OPENAI_BASE_URL": server.base_url,
           "WORKBENCH_OPENAI_MODEL": "llama3", "WORKBENCH_OPENAI_TIMEOUT_SECONDS": "2.5",
           "WORKBENCH_OPENAI_MAX_RETRIES": "0", "WORKBENCH_OPENAI_TOKEN_BUDGET": "",
           "WORKBENCH_OPENAI_BATCH_SIZE": "7", "WORKBENCH_DATABASE_URL": sqlite_url,
           "WORKBENCH_REPORT_ID": "rep-9", "WORKBENCH_COMPONENT": "summary"}
    client = client_from_env(env)
    assert client is not None
    assert client.settings == LLMSettings(api_key=KEY, base_url=server.base_url, model="llama3", timeout_seconds=2.5,
                                          max_retries=0, token_budget=None, batch_size=7)
    assert KEY not in repr(client.settings)
    assert client.cache is not None and client.ledger is not None
    client.complete_json(system="s", user="u", prompt_version="v")
    assert [(r["report_id"], r["component"], r["model"]) for r in client.ledger.rows()] == [
        ("rep-9", "summary", "llama3")]
    no_db = client_from_env({k: v for k, v in env.items() if k != "WORKBENCH_DATABASE_URL"})
    assert no_db is not None and no_db.cache is None and no_db.ledger is None
    with pytest.raises(LLMError, match="WORKBENCH_OPENAI_MAX_RETRIES='many' is not a valid int"):
        LLMSettings.from_env({**env, "WORKBENCH_OPENAI_MAX_RETRIES": "many"})
    with pytest.raises(LLMError, match="WORKBENCH_OPENAI_BATCH_SIZE='0' must be at least 1"):
        LLMSettings.from_env({**env, "WORKBENCH_OPENAI_BATCH_SIZE": "0"})


def test_the_fake_server_answers_any_schema_by_default(server: FakeOpenAI) -> None:
    """Without a script, a request with a schema gets a small valid instance (end-to-end runs need no model)."""
    schema = {"type": "object", "additionalProperties": False, "required": ["title", "points", "tone"],
              "properties": {"title": {"type": "string"}, "tone": {"type": "string", "enum": ["calm", "urgent"]},
                             "points": {"type": "array", "items": {"type": "object", "required": ["text", "n"],
                                                                   "properties": {"text": {"type": "string"},
                                                                                  "n": {"type": "integer"}}}}}}
    reply = LLMClient(llm_settings(server)).complete_json(system="s", user="u", prompt_version="v", schema=schema)
    assert reply == {"title": "fake answer", "tone": "calm", "points": [{"text": "fake answer", "n": 0}]}
    assert server.requests[0]["model"] == "fake-model"
