"""Engagement signals of captured activities, for the apps below capture (alerts, scoring) to read without
importing it: capture registers a source of signal rows when it loads; alerts and scoring ask for them.

A signal row is (deal id, when, name, value), dated when it happened, so point-in-time readers keep the rows up to
their as-of. Names: `inbound` (value 1 when the buyer's message was cooling: negative or "not now", else 0),
`sentiment` (VADER compound of an inbound message), `not_now`, `reply_hours` (how long the buyer took to answer),
`meeting_held`, `meeting_no_show`, `senior_contact` (first captured touch of a senior contact on the deal).

`without_capture()` turns every capture-derived input off (the rows, and activities whose external id starts with
CAPTURED_PREFIX), so the alerts backtest and the scorer's evaluation can measure what the signals add.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

CAPTURED_PREFIX = "capture:"  # the external id of every activity capture wrote
SignalRow = tuple[int, datetime, str, float]
# (workspace id, deal ids or None for every deal) -> rows
SignalSource = Callable[[int, Collection[int] | None], Iterable[SignalRow]]

_SOURCES: list[SignalSource] = []
_ENABLED: ContextVar[bool] = ContextVar("capture_signals_enabled", default=True)


def register(source: SignalSource) -> None:
    if source not in _SOURCES:
        _SOURCES.append(source)


def enabled() -> bool:
    return _ENABLED.get()


@contextmanager
def without_capture() -> Iterator[None]:
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def signal_rows(workspace_id: int, deal_ids: Collection[int] | None = None) -> list[SignalRow]:
    """Every registered source's rows for the workspace, or for those of its deals (none while `without_capture`)."""
    if not enabled():
        return []
    return [row for source in _SOURCES for row in source(workspace_id, deal_ids)]
