"""A real HTTP server on loopback that speaks OpenAI's chat-completions API, for tests (never the internet).

    with FakeOpenAI() as server:                       # 127.0.0.1 on a free port, in a background thread
        server.script(FakeOpenAI.status(429), {"items": []})   # one-shot behaviours, used in order first
        ... LLMSettings(api_key="test", base_url=server.base_url, ...) ...
        server.requests                                # every parsed request body, in order

`POST /v1/chat/completions` answers like OpenAI: `id`, `object`, `created`, `model`, `choices[0].message.content`,
`finish_reason`, `usage` (tokens estimated as characters / 4). What the assistant says comes from the next
scripted step if any, else from `responder(request_body)`: a dict (JSON-encoded) or a str (sent as is).

Scripted steps:

* `FakeOpenAI.status(429 | 500 | ..., body=None)`: that HTTP status with an OpenAI-style error body and
  `retry-after-ms: 10` (so the SDK's retry does not sleep for long);
* `FakeOpenAI.malformed("not json")`: a 200 whose message content is that text;
* `FakeOpenAI.slow(seconds, then=None)`: wait, then answer `then` (a dict/str) or the responder's answer;
* a dict or str: that content.

The default responder answers the sentiment engine's batch prompt deterministically by keyword rules
(`sentiment_reply`), and any other request that carries a JSON schema with a minimal object of that schema
(`schema_example`), so end-to-end runs work without a model.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NEGATIVE_WORDS = ("bad", "poor", "terrible", "awful", "hate", "worst", "broken", "rude", "slow", "disappoint",
                  "refund", "never again", "useless", "cheap", "not good", "wrong")
POSITIVE_WORDS = ("good", "great", "love", "excellent", "perfect", "amazing", "happy", "best", "nice", "helpful",
                  "fast", "recommend", "beautiful", "comfortable", "wonderful")


def sentiment_of(text: str) -> tuple[str, float]:
    """Keyword rules: (label, score) for one answer."""
    low = text.lower()
    neg = sum(low.count(w) for w in NEGATIVE_WORDS)
    pos = sum(low.count(w) for w in POSITIVE_WORDS) - low.count("not good")
    if pos > neg:
        return "positive", round(min(1.0, 0.4 + 0.2 * (pos - neg)), 3)
    if neg > pos:
        return "negative", round(max(-1.0, -0.4 - 0.2 * (neg - pos)), 3)
    return "neutral", 0.0


def sentiment_reply(request: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to the sentiment engine's batch prompt, or None when the request is not one."""
    try:
        user = next(m["content"] for m in request.get("messages", []) if m.get("role") == "user")
        answers = json.loads(user)["answers"]
    except (StopIteration, KeyError, TypeError, ValueError):
        return None
    items = []
    for answer in answers:
        label, score = sentiment_of(str(answer.get("text", "")))
        items.append({"i": answer["i"], "label": label, "score": score})
    return {"items": items}


def schema_example(schema: dict[str, Any]) -> Any:
    """A small value that satisfies the common JSON Schema keywords (type, enum, properties, required, items)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "anyOf" in schema:
        return schema_example(schema["anyOf"][0])
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: schema_example(v) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [schema_example(schema.get("items", {"type": "string"})) for _ in range(count)]
    if kind == "string":
        return "fake answer"
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    return None


def default_responder(request: dict[str, Any]) -> Any:
    """Sentiment batches by keyword rules; otherwise a minimal instance of the requested schema, or `{}`."""
    reply = sentiment_reply(request)
    if reply is not None:
        return reply
    fmt = request.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
    return schema_example(schema) if isinstance(schema, dict) else {}


@dataclass(frozen=True)
class _Status:
    code: int
    body: Any = None


@dataclass(frozen=True)
class _Malformed:
    text: str


@dataclass(frozen=True)
class _Slow:
    seconds: float
    then: Any = None


class FakeOpenAI:
    """The server (a context manager); see the module docstring."""

    def __init__(self, responder: Callable[[dict[str, Any]], Any] | None = None) -> None:
        """Bind 127.0.0.1 on a free port (serving starts on `__enter__` / `start()`)."""
        self.responder = responder or default_responder
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # every request's headers, in order
        self._steps: deque[Any] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread: threading.Thread | None = None

    # --- scripted behaviours ---------------------------------------------------------------------------------
    @staticmethod
    def status(code: int, body: Any = None) -> _Status:
        """Answer with HTTP `code` (and an OpenAI-style error body unless `body` is given)."""
        return _Status(code, body)

    @staticmethod
    def malformed(text: str = "not json") -> _Malformed:
        """A 200 reply whose message content is `text` (not the JSON asked for)."""
        return _Malformed(text)

    @staticmethod
    def slow(seconds: float, then: Any = None) -> _Slow:
        """Wait `seconds` before answering (`then`, or the responder's answer)."""
        return _Slow(seconds, then)

    def script(self, *steps: Any) -> None:
        """Queue one-shot behaviours; each request takes the next one before falling back to the responder."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def chat_requests(self) -> int:
        """How many chat-completion requests arrived."""
        return len(self.requests)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fake-openai-{self.port}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # slow replies stop waiting
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ------------------------------------------------------------------------------------------------
    def _next_step(self) -> Any:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    def _completion(self, request: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
        prompt_tokens, completion_tokens = max(1, prompt_chars // 4), max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "fake-model"), "system_fingerprint": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def _content(self, request: dict[str, Any], value: Any) -> str:
        if value is None:
            value = self.responder(request)
        return value if isinstance(value, str) else json.dumps(value)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                    return
                try:
                    request = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                with fake._lock:
                    fake.requests.append(request)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = fake._next_step()
                if isinstance(step, _Status):
                    body = step.body if step.body is not None else {"error": {
                        "message": f"fake error {step.code}", "code": step.code,
                        "type": "rate_limit_exceeded" if step.code == 429 else "server_error"}}
                    self._send(step.code, body, {"retry-after-ms": "10"})
                    return
                if isinstance(step, _Malformed):
                    self._send(200, fake._completion(request, step.text))
                    return
                if isinstance(step, _Slow):
                    fake._closing.wait(step.seconds)
                    step = step.then
                try:
                    content = fake._content(request, step)
                except Exception as exc:  # a responder bug: a 500 the test will see
                    self._send(500, {"error": {"message": f"responder failed: {exc!r}", "type": "server_error"}})
                    return
                self._send(200, fake._completion(request, content))

        return Handler
