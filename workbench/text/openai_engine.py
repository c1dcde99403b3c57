"""Sentiment engine `openai`: a model behind OpenAI's chat-completions API labels and scores the answers.

Registered in `workbench.text.engines` and built on first use from the kernel's environment (`client_from_env`):
without `WORKBENCH_OPENAI_API_KEY` asking for it is an error that says so; the local engines need no key.

Answers go in batches of `batch_size`, each answer redacted (`workbench.text.redact`), as a numbered JSON list;
the model must answer `{"items": [{"i": 0, "label": "positive|neutral|negative", "score": -1..1}, ...]}` with one
item per answer (strict JSON schema). Every batch is checked (count, indices, labels, score range) and a reply
that does not fit is an `LLMError` naming the batch and what was wrong: a report is never built on a guess.
Replies are cached by model, prompt version and text, so a rerun asks nothing. Its accuracy on the held-out
clothing reviews is not measured here (`info.evaluation` is None): it depends on the model behind the URL.
"""

from __future__ import annotations

import json
import math
from typing import Any

from workbench.text.engines import LABELS, EngineInfo, SentimentPrediction
from workbench.text.llm import LLMClient, LLMError, client_from_env
from workbench.text.redact import redact

PROMPT_VERSION = "sentiment-v1"
# Languages a general chat model reads well; answers detected as another language are still set aside.
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl")
SYSTEM_PROMPT = (
    "You label the sentiment of survey answers. The user message is JSON: {\"answers\": [{\"i\": <index>, "
    "\"text\": <answer>}, ...]}. For every answer, in the same order, return one item {\"i\": <its index>, "
    "\"label\": \"positive\" | \"neutral\" | \"negative\", \"score\": <a number from -1 (very negative) to 1 "
    "(very positive), 0 for neutral or mixed>}. Judge the writer's attitude to what the survey asks about. "
    "Placeholders such as [name], [email], [phone] and [link] stand for removed personal details. Reply with "
    "the JSON object {\"items\": [...]} only."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "i": {"type": "integer"},
                    "label": {"type": "string", "enum": list(LABELS)},
                    "score": {"type": "number"},
                },
                "required": ["i", "label", "score"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["items"],
    "additionalProperties": False,
}


def batch_message(texts: list[str]) -> str:
    """The user message for one batch: the redacted answers, numbered from 0."""
    return json.dumps({"answers": [{"i": i, "text": redact(t)} for i, t in enumerate(texts)]}, ensure_ascii=False)


class OpenAISentimentEngine:
    """Sentiment from an OpenAI-compatible model (see the module docstring)."""

    name = "openai"

    def __init__(self, client: LLMClient) -> None:
        """Ask through `client` (its settings give the model, server and batch size)."""
        self.client = client
        settings = client.settings
        self.info = EngineInfo(
            name=self.name, model=f"{settings.model} @ {settings.host}", languages=LANGUAGES, evaluation=None,
            notes=f"Labels and scores from the model {settings.model} at {settings.host}, {settings.batch_size} "
                  "redacted answers per request (names, e-mails, phones and links removed first); accuracy not "
                  "measured on the held-out reviews.",
        )

    def predict(self, texts: list[str]) -> list[SentimentPrediction]:
        """Label and score per text, in order (no class probabilities).

        Raises:
            LLMError: The server failed, or a reply does not give exactly one valid item per answer.
        """
        size = self.client.settings.batch_size
        out: list[SentimentPrediction] = []
        for start in range(0, len(texts), size):
            batch = texts[start:start + size]
            reply = self.client.complete_json(system=SYSTEM_PROMPT, user=batch_message(batch),
                                              prompt_version=PROMPT_VERSION, schema=SCHEMA)
            out.extend(self._check(reply, len(batch), start))
        return out

    def score(self, texts: list[str]) -> list[float]:
        """The score in [-1, 1] per text."""
        return [p.score for p in self.predict(texts)]

    def _check(self, reply: dict[str, Any], n: int, start: int) -> list[SentimentPrediction]:
        where = (f"sentiment engine 'openai' (model '{self.client.settings.model}' at {self.client.settings.server}), "
                 f"batch of answers {start}-{start + n - 1}")
        items = reply.get("items")
        if not isinstance(items, list):
            raise LLMError(f"{where}: the reply has no 'items' list")
        if len(items) != n:
            raise LLMError(f"{where}: {len(items)} items for {n} answers")
        by_index: dict[int, SentimentPrediction] = {}
        for item in items:
            if not isinstance(item, dict):
                raise LLMError(f"{where}: an item is not an object: {item!r}"[:300])
            i, label, score = item.get("i"), item.get("label"), item.get("score")
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n or i in by_index:
                raise LLMError(f"{where}: index {i!r} is out of range 0-{n - 1} or repeated")
            if label not in LABELS:
                raise LLMError(f"{where}: answer {i} has label {label!r}, not one of {', '.join(LABELS)}")
            if not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score) \
                    or not -1.0 <= score <= 1.0:
                raise LLMError(f"{where}: answer {i} has score {score!r}, not a number in [-1, 1]")
            by_index[i] = SentimentPrediction(str(label), float(score))
        return [by_index[i] for i in range(n)]


def engine_from_env() -> OpenAISentimentEngine:
    """The engine on the client configured by the environment.

    Raises:
        LLMError: No `WORKBENCH_OPENAI_API_KEY` (the component does not declare it, or no key is set).
    """
    client = client_from_env()
    if client is None:
        raise LLMError(
            "sentiment engine 'openai' needs an API key: set WORKBENCH_OPENAI_API_KEY for the workers (and, for "
            "a compatible server, WORKBENCH_OPENAI_BASE_URL), or choose the local engine 'minilm' or 'vader'"
        )
    return OpenAISentimentEngine(client)
