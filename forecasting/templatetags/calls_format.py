"""Filters of the call pages: a chance as a percentage, an amount in the workspace's currency."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def chance(value: float | None) -> str:
    """0.372 → "37%"; nothing to say → "–"."""
    if value is None:
        return "–"
    return f"{round(float(value) * 100):d}%"


@register.filter
def money(value: float | Decimal | None, currency: str = "") -> str:
    if value is None:
        return "–"
    amount = f"{float(value):,.0f}"
    return f"{currency} {amount}".strip()


@register.filter
def ratio(value: float | None) -> str:
    if value is None:
        return "–"
    if value == float("inf"):
        return "target met"
    return f"{value:.2f}×"


@register.filter
def call_chance(call: object, attr: str) -> str:
    """The model's chance that at least a call's latest `attr` (commit, best_case) closes."""
    latest = getattr(call, "latest", None)
    if latest is None:
        return "–"
    return chance(call.chance(getattr(latest, attr)))  # type: ignore[attr-defined]


@register.filter
def blended(call_or_level: object, weight: float) -> float | None:
    """A call's or a roll-up level's model-plus-calls figure for the learnt weight."""
    return call_or_level.blended(float(weight))  # type: ignore[attr-defined,no-any-return]
