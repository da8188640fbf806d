"""A thin wrapper over Anthropic's Messages API (the `anthropic` SDK): one call in, text, tool calls and tokens out.

Every failure the caller must survive (no key, a timeout, a refused connection, 4xx/5xx, 529 overloaded,
a malformed stream) becomes `LLMUnavailable`, so the briefs fall back to their deterministic text instead of
an error page. The SDK retries a 429/5xx/529 itself once (`max_retries=1`), which keeps a page's worst case
to two timeouts. Prices are per million tokens (Anthropic's list prices; a cache write costs 1.25 times an
input token, a cache read 0.1 times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anthropic
from django.conf import settings

MAX_TOKENS = 1024
# (input, output) USD per million tokens by model family; an unknown model is priced as Sonnet.
PRICES_PER_MTOK: dict[str, tuple[Decimal, Decimal]] = {
    "haiku": (Decimal("1"), Decimal("5")),
    "sonnet": (Decimal("3"), Decimal("15")),
    "opus": (Decimal("5"), Decimal("25")),
}
CACHE_WRITE_FACTOR = Decimal("1.25")
CACHE_READ_FACTOR = Decimal("0.1")
MILLION = Decimal(1_000_000)


class LLMUnavailable(Exception):
    """No answer from the model: no key, the API failed, or it answered with something unusable."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def cost_usd(self, model: str) -> Decimal:
        family = next((name for name in PRICES_PER_MTOK if name in model), "sonnet")
        price_in, price_out = PRICES_PER_MTOK[family]
        tokens_in = (
            Decimal(self.input_tokens)
            + Decimal(self.cache_creation_input_tokens) * CACHE_WRITE_FACTOR
            + Decimal(self.cache_read_input_tokens) * CACHE_READ_FACTOR
        )
        return (tokens_in * price_in + Decimal(self.output_tokens) * price_out) / MILLION


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    stop_reason: str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)
    content: list[dict[str, Any]] = field(default_factory=list)  # the assistant turn, to send back with tool results


def configured() -> bool:
    return bool(settings.ANTHROPIC_API_KEY)


def model_name() -> str:
    return str(settings.ANTHROPIC_MODEL)


def _client() -> anthropic.Anthropic:
    if not configured():
        raise LLMUnavailable("No ANTHROPIC_API_KEY is set.")
    return anthropic.Anthropic(
        api_key=settings.ANTHROPIC_API_KEY,
        base_url=settings.ANTHROPIC_BASE_URL or None,
        timeout=float(settings.ANTHROPIC_TIMEOUT_SECONDS),
        max_retries=1,
        # The Messages API documents the key in `x-api-key`; this SDK release sends it as a bearer token. Both go,
        # so any server speaking the documented protocol (a gateway, a proxy, a local stand-in) accepts it.
        default_headers={"x-api-key": settings.ANTHROPIC_API_KEY},
    )


def _reply(message: Any) -> Reply:
    texts: list[str] = []
    calls: list[ToolCall] = []
    content: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else {}
            calls.append(ToolCall(block.id, block.name, arguments))
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": arguments})
    usage = message.usage
    return Reply(
        text="".join(texts).strip(),
        model=str(message.model),
        stop_reason=str(message.stop_reason or ""),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        tool_calls=calls,
        content=content,
    )


def complete(
    *,
    system: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    stream: bool = False,
    max_tokens: int = MAX_TOKENS,
) -> Reply:
    """One Messages API call; `stream` reads the answer as server-sent events (what Ask does, tool calls too)."""
    client = _client()
    arguments: dict[str, Any] = {
        "model": model_name(),
        "max_tokens": max_tokens,
        "system": system,
        "messages": messages,
    }
    if tools:
        arguments["tools"] = tools
    try:
        if stream:
            with client.messages.stream(**arguments) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**arguments)
        return _reply(message)
    except anthropic.AnthropicError as exc:  # APIStatusError (incl. 529 Overloaded), APIConnectionError, timeouts
        raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, KeyError, AttributeError) as exc:  # a stream or body the SDK could not assemble
        raise LLMUnavailable(f"Unreadable answer: {exc}") from exc
