"""A fake Anthropic Messages API as documented (docs.anthropic.com/en/api/messages, .../messages-streaming,
.../errors, .../build-with-claude/prompt-caching), served by tests.fakecrm.server's WSGI thread:

- POST /v1/messages with `x-api-key` (required, as documented) and `anthropic-version`
  headers; a missing key → 401
  {"type": "error", "error": {"type": "authentication_error", "message"}}.
- `"stream": false` → a Message JSON: {"id", "type": "message", "role": "assistant", "model", "content":
  [{"type": "text", "text"} | {"type": "tool_use", "id", "name", "input"}], "stop_reason": "end_turn" |
  "tool_use", "stop_sequence": null, "usage": {"input_tokens", "output_tokens",
  "cache_creation_input_tokens", "cache_read_input_tokens"}}.
- `"stream": true` → text/event-stream: message_start, then per block content_block_start,
  content_block_delta (text_delta or input_json_delta, in small chunks), content_block_stop; a ping;
  message_delta (stop_reason, cumulative output_tokens); message_stop.
- errors as {"type": "error", "error": {"type", "message"}} with a `request-id` header: 529
  overloaded_error, 500 api_error, 429 rate_limit_error (with retry-after), 400 invalid_request_error.
  An `error` event in the middle of a stream is what a stream that fails after starting sends.
- prompt caching: the prefix up to the last block marked `cache_control` (tools, then system, then
  messages) is written to the cache the first time (cache_creation_input_tokens) and read after that
  (cache_read_input_tokens). Tokens are counted as one per 4 characters of JSON.

Replies are scripted (`then_text`, `then_tool`, `then_error`, `then_stream_error`) and consumed in order;
with nothing scripted the server answers 500, so a test never passes on an answer it did not write.
Every request body is recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 429: "429 Too Many Requests"}
STATUS_LINES.update({500: "500 Internal Server Error", 529: "529 Site Overloaded"})


def _tokens(value: object) -> int:
    return max(1, len(json.dumps(value, sort_keys=True)) // 4)


class FakeAnthropic:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[dict[str, Any]] = deque()
        self.cached_prefixes: set[str] = set()

    # ---- the script -------------------------------------------------------------------------------
    def then_text(self, text: str) -> FakeAnthropic:
        self.script.append({"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"})
        return self

    def then_tool(self, name: str, arguments: dict[str, Any], *, text: str = "") -> FakeAnthropic:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": arguments})
        self.script.append({"content": content, "stop_reason": "tool_use"})
        return self

    def then_error(self, status: int, *, times: int = 1) -> FakeAnthropic:
        for _ in range(times):
            self.script.append({"error": status})
        return self

    def then_stream_error(self, text_before: str = "The deal") -> FakeAnthropic:
        self.script.append({"stream_error": "overloaded_error", "content": [{"type": "text", "text": text_before}]})
        return self

    # ---- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size) if size else b""
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/v1/messages":
            return self._error(start_response, 404, "not_found_error", "No such endpoint.")
        if not environ.get("HTTP_X_API_KEY"):  # as documented; VectorOS sends it beside the SDK's bearer token
            return self._error(start_response, 401, "authentication_error", "x-api-key header is required")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(start_response, 400, "invalid_request_error", "The body is not JSON.")
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return self._error(start_response, 400, "invalid_request_error", f"{required}: Field required")
        with self.lock:
            self.requests.append(body)
            self.headers.append({k[5:].lower(): v for k, v in environ.items() if k.startswith("HTTP_")})
            step = self.script.popleft() if self.script else {"error": 500}
        if "error" in step:
            status = step["error"]
            return self._error(start_response, status, ERROR_TYPES[status], "Overloaded" if status == 529 else "Error")
        message = self._message(body, step)
        if body.get("stream"):
            return self._stream(start_response, message, step.get("stream_error"))
        return self._json(start_response, 200, message)

    # ---- answers ----------------------------------------------------------------------------------
    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        parts: list[Any] = [*body.get("tools", []), *(body.get("system") or []), *body["messages"]]
        last_marked = -1
        for index, part in enumerate(parts):
            blocks = part.get("content") if isinstance(part.get("content"), list) else [part]
            if any(isinstance(b, dict) and "cache_control" in b for b in blocks):
                last_marked = index
        total = _tokens(parts)
        prefix_tokens = _tokens(parts[: last_marked + 1]) if last_marked >= 0 else 0
        created = read = 0
        if prefix_tokens:
            key = json.dumps(parts[: last_marked + 1], sort_keys=True)
            with self.lock:
                if key in self.cached_prefixes:
                    read = prefix_tokens
                else:
                    self.cached_prefixes.add(key)
                    created = prefix_tokens
        return {
            "input_tokens": max(1, total - prefix_tokens),
            "output_tokens": _tokens(content),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
        }

    def _message(self, body: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": step["content"],
            "stop_reason": step.get("stop_reason", "end_turn"),
            "stop_sequence": None,
            "usage": self._usage(body, step["content"]),
        }

    def _stream(self, start_response: Callable[..., Any], message: dict[str, Any], fail: str | None) -> list[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        chunks = [event("message_start", {"type": "message_start", "message": start}), event("ping", {"type": "ping"})]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                opened: dict[str, Any] = {"type": "text", "text": ""}
                pieces = [block["text"][i : i + 17] for i in range(0, len(block["text"]), 17)]
                deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
            else:
                opened = {**block, "input": {}}
                encoded = json.dumps(block["input"])
                deltas = [
                    {"type": "input_json_delta", "partial_json": encoded[i : i + 11]}
                    for i in range(0, len(encoded), 11)
                ]
            chunks.append(
                event("content_block_start", {"type": "content_block_start", "index": index, "content_block": opened})
            )
            for delta in deltas:
                chunks.append(
                    event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
            if fail:
                chunks.append(event("error", {"type": "error", "error": {"type": fail, "message": "Overloaded"}}))
                break
            chunks.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        else:
            delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
            chunks.append(
                event(
                    "message_delta",
                    {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}},
                )
            )
            chunks.append(event("message_stop", {"type": "message_stop"}))
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), *self._ids()])
        return chunks

    def _ids(self) -> list[tuple[str, str]]:
        return [("request-id", f"req_{uuid.uuid4().hex[:24]}")]

    def _json(self, start_response: Callable[..., Any], status: int, data: dict[str, Any]) -> list[bytes]:
        payload = json.dumps(data).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *self._ids()]
        if status in (429, 529):
            headers.append(("retry-after", "0"))
        start_response(STATUS_LINES.get(status, f"{status} Error"), headers)
        return [payload]

    def _error(self, start_response: Callable[..., Any], status: int, kind: str, text: str) -> list[bytes]:
        return self._json(start_response, status, {"type": "error", "error": {"type": kind, "message": text}})
