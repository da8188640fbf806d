"""Shared by the AI brief and Ask tests: the local Messages API server and the settings that point the SDK at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakeanthropic.server import FakeAnthropic
from tests.fakecrm.server import Running


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    running = Running(fake)
    yield fake, running.url
    running.stop()


@pytest.fixture
def fake_api(anthropic_server: tuple[FakeAnthropic, str], settings: Any) -> FakeAnthropic:
    """The real `anthropic` client, configured only through settings, talking to the local server."""
    fake, url = anthropic_server
    fake.requests.clear()
    fake.script.clear()
    fake.cached_prefixes.clear()
    settings.ANTHROPIC_API_KEY = "sk-ant-test-local"
    settings.ANTHROPIC_BASE_URL = url
    settings.ANTHROPIC_MODEL = "claude-sonnet-4-6"
    settings.ANTHROPIC_TIMEOUT_SECONDS = 5
    settings.ANTHROPIC_MONTHLY_BUDGET_USD = 50
    return fake


def context_text(request: dict[str, Any]) -> str:
    """The first user turn's first block: the facts and the untrusted data."""
    first = request["messages"][0]["content"]
    return first[0]["text"] if isinstance(first, list) else first


def facts_part(request: dict[str, Any]) -> dict[str, Any]:
    text = context_text(request)
    return json.loads(text.split("<facts>\n", 1)[1].split("\n</facts>", 1)[0])


def data_part(request: dict[str, Any]) -> str:
    text = context_text(request)
    return text.split("<untrusted_data>\n", 1)[1].split("\n</untrusted_data>", 1)[0]
