"""Deals in other currencies, in the workspace's: the admins' rates table (CurrencyRate), read here.

One rule everywhere: an amount in currency C counts as amount × rate[C] in the workspace currency; a deal
in the workspace currency, or in one without a rate, counts at face value (`unconverted` says how many)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Case, DecimalField, ExpressionWrapper, F, QuerySet, Value, When

from crm.models import Deal
from forecasting.models import CurrencyRate
from tenancy.models import Workspace

T = TypeVar("T")
CENT = Decimal("0.01")


def rates_for(workspace: Workspace) -> dict[str, Decimal]:
    """Currency code → units of the workspace currency per unit (the workspace's own currency is 1)."""
    rates = dict(CurrencyRate.objects.for_workspace(workspace).values_list("currency", "rate"))
    rates[workspace.currency.upper()] = Decimal(1)
    return rates


def converted_amount(workspace: Workspace, prefix: str = "") -> Case | F:
    """SQL for a deal's amount in the workspace currency (`prefix` "deal__" from a row that points at a deal)."""
    amount = F(f"{prefix}amount")
    whens = [
        When(**{f"{prefix}currency": code}, then=ExpressionWrapper(amount * Value(rate), output_field=_MONEY))
        for code, rate in rates_for(workspace).items()
        if rate != 1
    ]
    return Case(*whens, default=amount, output_field=_MONEY) if whens else amount


_MONEY = DecimalField(max_digits=24, decimal_places=8)


def unconverted(workspace: Workspace, deals: QuerySet[Deal]) -> dict[str, int]:
    """Deals in a currency the rates table lacks: currency → count (counted at face value)."""
    known = set(rates_for(workspace))
    rows = deals.exclude(currency__in=known).values_list("currency").order_by("currency")
    out: dict[str, int] = {}
    for (code,) in rows:
        out[code] = out.get(code, 0) + 1
    return out


def convert_snapshots(workspace: Workspace, snapshots: list[T]) -> list[T]:
    """Snapshots (anything with `id` and `amount`) with their amounts in the workspace currency."""
    rates = rates_for(workspace)
    if len(rates) == 1:
        return snapshots
    foreign = dict(
        Deal.objects.for_workspace(workspace).exclude(currency=workspace.currency.upper()).values_list("id", "currency")
    )
    out = []
    for snap in snapshots:
        row: Any = snap  # a frozen dataclass with `id` and `amount`
        rate = rates.get(foreign.get(row.id, ""), None)
        if rate is not None and rate != 1:
            amount = ((row.amount or Decimal(0)) * rate).quantize(CENT)
            snap = dataclasses.replace(row, amount=amount)
        out.append(snap)
    return out
