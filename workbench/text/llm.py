"""One client for OpenAI's chat-completions API and every server that speaks it (vLLM, llama.cpp, Ollama, ...).

What a component in a kernel uses to ask a model for JSON:

    client = client_from_env()          # None without WORKBENCH_OPENAI_API_KEY: use the local engines
    reply = client.complete_json(system="...", user="...", prompt_version="summary-v1", schema={...})

* **Settings** come from the kernel's environment (`LLMSettings.from_env`): the worker passes the `openai_*`
  settings as `WORKBENCH_OPENAI_*` variables to components that declare the key, never as notebook parameters.
* **JSON out**: `response_format` is a strict `json_schema` when a schema is given (else `json_object`); the reply
  must parse as a JSON object (and match the schema), otherwise `LLMError` says what came back.
* **Retries**: the SDK retries 408/409/429/5xx, timeouts and dropped connections `max_retries` times with
  exponential backoff (0.5 s doubling to 8 s, or the server's `Retry-After`); what still fails is an `LLMError`
  naming the status, model and server.
* **Redaction**: the `user` message goes through `workbench.text.redact.redact` (e-mails, phones, links, names)
  before it is hashed, cached or sent.
* **Cache**: with an `LLMCache`, a reply is stored under sha256(model, prompt version, system, user, schema); the
  same question again is answered from the database: no request, no tokens.
* **Budget**: before each request, tokens already spent on the report (the `UsageLedger`, across components) plus
  an estimate of this call (characters / 4 + `max_output_tokens`) must fit `token_budget`, else `BudgetExceeded`
  and nothing is sent. After each request the reply's real `usage` is recorded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from workbench.text.llm_store import LLMCache, UsageLedger

API_KEY_ENV = "WORKBENCH_OPENAI_API_KEY"
BASE_URL_ENV = "WORKBENCH_OPENAI_BASE_URL"
MODEL_ENV = "WORKBENCH_OPENAI_MODEL"
TIMEOUT_ENV = "WORKBENCH_OPENAI_TIMEOUT_SECONDS"
MAX_RETRIES_ENV = "WORKBENCH_OPENAI_MAX_RETRIES"
TOKEN_BUDGET_ENV = "WORKBENCH_OPENAI_TOKEN_BUDGET"
BATCH_SIZE_ENV = "WORKBENCH_OPENAI_BATCH_SIZE"
DATABASE_URL_ENV = "WORKBENCH_DATABASE_URL"
REPORT_ID_ENV = "WORKBENCH_REPORT_ID"
COMPONENT_ENV = "WORKBENCH_COMPONENT"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHARS_PER_TOKEN = 4  # the usual rough figure for English text; only used for the budget's estimate


class LLMError(RuntimeError):
    """A model call failed; the message says what failed, with which model and server, and what to do."""


class BudgetExceeded(LLMError):
    """The report's token budget would be exceeded by the next call: it was not sent."""


def _default(field: str) -> Any:
    from workbench.config import Settings

    return Settings.model_fields[field].default


@dataclass(frozen=True)
class LLMSettings:
    """How to reach the model; the defaults of `workbench.config.Settings` when a variable is absent."""

    api_key: str
    base_url: str | None
    model: str
    timeout_seconds: float
    max_retries: int
    token_budget: int | None
    batch_size: int
    max_output_tokens: int = 1024  # the budget's allowance for one reply (not sent: servers differ on the name)

    def __repr__(self) -> str:  # never print the key
        return (f"LLMSettings(model={self.model!r}, base_url={self.base_url!r}, timeout_seconds="
                f"{self.timeout_seconds}, max_retries={self.max_retries}, token_budget={self.token_budget}, "
                f"batch_size={self.batch_size})")

    @property
    def server(self) -> str:
        """Where requests go, for messages (the base URL, OpenAI's by default)."""
        return self.base_url or DEFAULT_BASE_URL

    @property
    def host(self) -> str:
        """The server's host (and port), for a report's engine line."""
        return urlsplit(self.server).netloc or self.server

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """Settings from `WORKBENCH_OPENAI_*` variables (default: the process environment); None without a key.

        Raises:
            LLMError: A variable is set but not valid (names the variable).
        """
        env = os.environ if environ is None else environ
        key = (env.get(API_KEY_ENV) or "").strip()
        if not key:
            return None

        def number(name: str, field: str, kind: type, minimum: float, optional: bool = False) -> Any:
            raw = env.get(name)
            if raw is None:
                return _default(field)
            raw = raw.strip()
            if optional and raw.lower() in ("", "none", "null"):
                return None
            try:
                value = kind(raw)
            except ValueError:
                raise LLMError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
            if value < minimum or (isinstance(value, float) and not math.isfinite(value)):
                raise LLMError(f"{name}={raw!r} must be at least {minimum}")
            return value

        return cls(
            api_key=key,
            base_url=(env.get(BASE_URL_ENV) or "").strip() or None,
            model=(env.get(MODEL_ENV) or "").strip() or _default("openai_model"),
            timeout_seconds=number(TIMEOUT_ENV, "openai_timeout_seconds", float, 0.001),
            max_retries=number(MAX_RETRIES_ENV, "openai_max_retries", int, 0),
            token_budget=number(TOKEN_BUDGET_ENV, "openai_token_budget", int, 1, optional=True),
            batch_size=number(BATCH_SIZE_ENV, "openai_batch_size", int, 1),
        )


def cache_key(model: str, prompt_version: str, system: str, user: str, schema: dict[str, Any] | None) -> str:
    """sha256 over what decides a reply: model, prompt version, both messages and the schema."""
    payload = json.dumps([model, prompt_version, system, user, schema], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def estimate_tokens(*texts: str) -> int:
    """A rough prompt size: characters / 4, plus a few tokens of message framing."""
    return sum(math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts) + 8


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class LLMClient:
    """Asks the configured model for JSON, with cache, budget, retries and token counts (see the module doc)."""

    def __init__(self, settings: LLMSettings, cache: LLMCache | None = None, ledger: UsageLedger | None = None):
        """A client for `settings`; `cache` and `ledger` are optional (no cache; budget counted in memory)."""
        from openai import OpenAI

        self.settings = settings
        self.cache = cache
        self.ledger = ledger
        self.usage: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 0}
        self._lock = threading.Lock()
        self._client = OpenAI(api_key=settings.api_key, base_url=settings.server, timeout=settings.timeout_seconds,
                              max_retries=settings.max_retries)

    def _where(self) -> str:
        return f"model '{self.settings.model}' at {self.settings.server}"

    def _spent(self) -> int:
        if self.ledger is not None:
            return self.ledger.used()
        with self._lock:
            return self.usage["prompt_tokens"] + self.usage["completion_tokens"]

    def _count(self, prompt_tokens: int, completion_tokens: int, cached: bool, key: str | None = None) -> None:
        with self._lock:
            self.usage["prompt_tokens"] += prompt_tokens
            self.usage["completion_tokens"] += completion_tokens
            self.usage["cached_calls" if cached else "calls"] += 1
        if self.ledger is not None:
            self.ledger.record(model=self.settings.model, prompt_tokens=prompt_tokens,
                               completion_tokens=completion_tokens, cached=cached,
                               cache_key=key if self.cache is not None else None)

    def complete_json(self, *, system: str, user: str, prompt_version: str,
                      schema: dict[str, Any] | None = None) -> dict[str, Any]:
        """The model's answer to `system` + `user`, as a JSON object.

        Args:
            system: Instructions.
            user: The material (answers); redacted here before anything else sees it.
            prompt_version: Bump it when the prompt's meaning changes: it is part of the cache key.
            schema: JSON Schema of the expected object (sent as a strict `json_schema` response format and checked
                on the reply); None: any JSON object.

        Returns:
            The parsed object.

        Raises:
            BudgetExceeded: The call could take the report past its token budget; nothing was sent.
            LLMError: The server failed after retries, timed out, or the reply was not the JSON asked for.
        """
        import openai

        from workbench.text.redact import redact

        user = redact(user)
        model = self.settings.model
        key = cache_key(model, prompt_version, system, user, schema)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count(0, 0, cached=True, key=key)
                return hit.response
        budget = self.settings.token_budget
        if budget is not None:
            spent = self._spent()
            schema_text = json.dumps(schema) if schema else ""
            estimate = estimate_tokens(system, user, schema_text) + self.settings.max_output_tokens
            if spent + estimate > budget:
                raise BudgetExceeded(
                    f"token budget exceeded: this report has used {spent} of its {budget} tokens and the next call "
                    f"to {self._where()} could take about {estimate} more; nothing was sent. Raise "
                    f"WORKBENCH_OPENAI_TOKEN_BUDGET, or run on fewer answers."
                )
        response_format: Any = (
            {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
            if schema is not None else {"type": "json_object"}
        )
        messages: Any = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        retries = self.settings.max_retries
        try:
            completion = self._client.chat.completions.create(
                model=model, temperature=0, response_format=response_format, messages=messages)
        except openai.APITimeoutError:
            raise LLMError(
                f"{self._where()} did not answer within the timeout of {self.settings.timeout_seconds:g} s "
                f"({_tries(retries)}). Raise WORKBENCH_OPENAI_TIMEOUT_SECONDS or use a faster server."
            ) from None
        except openai.APIConnectionError as exc:
            raise LLMError(f"could not reach {self._where()} ({_tries(retries)}): {exc}. Check "
                           f"WORKBENCH_OPENAI_BASE_URL and that the server is running.") from None
        except openai.AuthenticationError as exc:
            raise LLMError(f"{self._where()} refused the key (HTTP {exc.status_code}): check "
                           f"WORKBENCH_OPENAI_API_KEY.") from None
        except openai.RateLimitError as exc:
            raise LLMError(f"{self._where()} is rate-limiting (HTTP 429) and still was after {retries} retries: "
                           f"{_detail(exc)}. Try later, or raise WORKBENCH_OPENAI_MAX_RETRIES.") from None
        except openai.APIStatusError as exc:
            hint = "the server failed; try later" if exc.status_code >= 500 else \
                "the request was refused; check the model name and that the server supports JSON output"
            tried = f" after {retries} retries" if exc.status_code >= 500 or exc.status_code in (408, 409) else ""
            raise LLMError(f"{self._where()} answered HTTP {exc.status_code}{tried}: {_detail(exc)} ({hint})") \
                from None
        except openai.OpenAIError as exc:
            raise LLMError(f"{self._where()} failed: {exc}") from None

        usage = getattr(completion, "usage", None)
        choices = getattr(completion, "choices", None) or []
        content = choices[0].message.content if choices and choices[0].message is not None else None
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) if usage is not None \
            else estimate_tokens(system, user)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0) if usage is not None \
            else estimate_tokens(content or "")
        self._count(prompt_tokens, completion_tokens, cached=False, key=key)  # spent, whatever the reply is worth
        parsed = self._parse(content, choices[0].finish_reason if choices else None, schema)
        if self.cache is not None:
            self.cache.put(key, model=model, prompt_version=prompt_version, response=parsed,
                           prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return parsed

    def _parse(self, content: str | None, finish_reason: str | None, schema: dict[str, Any] | None) -> dict[str, Any]:
        if not content:
            raise LLMError(f"{self._where()} returned no content (finish_reason={finish_reason!r})")
        text = content
        fenced = _FENCE.match(text)
        if fenced:  # some local servers wrap JSON in a markdown fence despite the response format
            text = fenced.group(1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = " (the reply was cut off: finish_reason='length')" if finish_reason == "length" else ""
            raise LLMError(f"{self._where()} returned malformed JSON{cut}: {exc.msg} at position {exc.pos}; the "
                           f"reply began {content[:120]!r}. A model that ignores response_format cannot be used "
                           f"for this.") from None
        if not isinstance(value, dict):
            raise LLMError(f"{self._where()} returned JSON of the wrong shape: expected an object, got "
                           f"{type(value).__name__} ({content[:120]!r})")
        if schema is not None:
            import jsonschema

            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError as exc:
                path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
                raise LLMError(f"{self._where()} returned JSON that does not match the schema at {path}: "
                               f"{exc.message}") from None
        return value


def _tries(retries: int) -> str:
    return "tried once: no retries" if retries == 0 else f"tried {retries + 1} times"


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def client_from_env(environ: Mapping[str, str] | None = None) -> LLMClient | None:
    """A client from the kernel's environment; None without `WORKBENCH_OPENAI_API_KEY`.

    With `WORKBENCH_DATABASE_URL` set, replies are cached in the database and calls are charged to
    `WORKBENCH_REPORT_ID` / `WORKBENCH_COMPONENT` in the token ledger (the per-report budget counts them).
    """
    env = os.environ if environ is None else environ
    settings = LLMSettings.from_env(env)
    if settings is None:
        return None
    url = (env.get(DATABASE_URL_ENV) or "").strip()
    if not url:
        return LLMClient(settings)
    from workbench.text.llm_store import LLMCache, UsageLedger

    return LLMClient(settings, cache=LLMCache(url),
                     ledger=UsageLedger(url, report_id=env.get(REPORT_ID_ENV), component=env.get(COMPONENT_ENV)))
