"""The demo's customers: subscriptions, usage, tickets and churn from one causal generator (plain Python, no Django).

Each customer (a demo company that won a deal) has a hidden health h ~ N(0, 1). It drives everything the app
later reads: usage level and trend, seats in use (and new teams when healthy), tickets and their
satisfaction, and at each yearly renewal the chance of churning, sigmoid(-2.3 - 1.4 h). So churn risk,
health, renewals and expansion signals on the demo have causes the models can find.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from customers.features import add_years

METRICS = ("logins", "reports")
TEAMS = ("Sales", "Marketing", "Finance", "Operations", "Support")
REASONS = ("pricing", "support", "features", "budget", "competitor")


@dataclass(frozen=True)
class WonCompany:
    company_id: int
    name: str
    first_win: date
    arr: float


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _months(start: date, stop: date) -> list[date]:
    out, day = [], date(start.year, start.month, 1)
    while day <= stop:
        out.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return out


def generate_accounts(companies: list[WonCompany], *, today: date, seed: int, tz: tzinfo) -> dict[str, dict[str, Any]]:
    """Records for `customers.services.accounts_upsert`, keyed by stable demo ids (a re-run changes nothing)."""
    rng = random.Random(seed)
    out: dict[str, dict[str, Any]] = {k: {} for k in ("customers", "subscriptions", "usage", "tickets", "churn_events")}
    for company in companies:
        h = rng.gauss(0, 1)
        key = f"demo-{company.company_id}"
        seats = max(5, int(company.arr / 1500))
        start = company.first_win
        end, churned, years = None, None, 1
        while (renewal := add_years(start, years)) <= today:
            if rng.random() < _sigmoid(-2.3 - 1.4 * h):
                end, churned = renewal, True
                break
            years += 1
        stop = end or today
        out["customers"][key] = {
            "company_id": company.company_id,
            "name": company.name,
            "since": start,
            "churned": None,
            "attributes": {},
        }
        arr = Decimal(str(round(company.arr, 2)))
        out["subscriptions"][f"{key}-sub"] = {
            "customer": key,
            "plan": "Enterprise" if company.arr > 60000 else "Pro" if company.arr > 20000 else "Basic",
            "seats": seats,
            "mrr": (arr / 12).quantize(Decimal("0.01")),
            "arr": arr,
            "start_date": start,
            "end_date": end,
            "billing_period": rng.choice(["annual", "annual", "monthly"]),
            "auto_renew": rng.random() < 0.6,
            "is_trial": False,
            "upgraded": False,
            "downgraded": h < -1.2,
            "churned": churned,
            "status": "churned" if churned else "active",
        }
        # Healthy customers buy more: an add-on (seats) a while after they start, which is what the expansion
        # signals (seats in use above the licence) should have seen coming.
        addon = start + timedelta(days=rng.randint(200, 420))
        if h > 0.5 and addon < stop:
            out["subscriptions"][f"{key}-addon"] = {
                **out["subscriptions"][f"{key}-sub"],
                "plan": "Add-on seats",
                "seats": max(2, seats // 4),
                "mrr": (arr / 48).quantize(Decimal("0.01")),
                "arr": (arr / 4).quantize(Decimal("0.01")),
                "start_date": addon,
                "upgraded": True,
            }
        months = _months(start, stop)
        teams = list(TEAMS[: 1 + int(rng.random() * 2)])
        for i, month in enumerate(months):
            left = len(months) - 1 - i
            # Usage follows health: it grows for healthy customers, fades for the others, and drops before a churn.
            level = seats * 15 * math.exp(0.35 * h + 0.04 * h * i)
            if churned and left < 4:
                level *= 0.5 + 0.12 * left
            if h > 0.6 and left < 2 and len(teams) < len(TEAMS):
                teams.append(TEAMS[len(teams)])  # a new team starts using it: an expansion signal
            day = min(month + timedelta(days=14), stop)
            for metric in METRICS:
                value = max(0.0, level * rng.uniform(0.8, 1.2) * (1.0 if metric == "logins" else 0.3))
                out["usage"][f"{key}-{month:%Y%m}-{metric}"] = {
                    "customer": key,
                    "subscription": f"{key}-sub",
                    "date": day,
                    "metric": metric,
                    "value": round(value, 1),
                    "duration_seconds": None,
                    "errors": int(rng.random() * 3 * math.exp(-h)),
                    "team": teams[i % len(teams)],
                }
            in_use = seats * min(1.4, max(0.2, 0.75 + 0.2 * h + 0.01 * i * h + rng.gauss(0, 0.05)))
            out["usage"][f"{key}-{month:%Y%m}-seats"] = {
                "customer": key,
                "subscription": f"{key}-sub",
                "date": day,
                "metric": "active_seats",
                "value": round(in_use),
                "duration_seconds": None,
                "errors": 0,
                "team": "",
            }
            if rng.random() < min(0.9, 0.35 * math.exp(-0.7 * h)):
                opened = datetime.combine(day, time(10), tzinfo=tz)
                hours = rng.uniform(2, 30) * math.exp(-0.3 * h)
                out["tickets"][f"{key}-{month:%Y%m}-t"] = {
                    "customer": key,
                    "priority": rng.choices(
                        ["low", "medium", "high", "urgent"], [3, 4, 2 - min(h, 1), 1 - min(h, 0.9)]
                    )[0],
                    "opened_at": opened,
                    "resolved_at": opened + timedelta(hours=hours) if day < today - timedelta(days=3) else None,
                    "resolution_hours": round(hours, 1),
                    "first_response_minutes": round(rng.uniform(10, 200), 0),
                    "satisfaction": float(min(5, max(1, round(3.6 + 0.8 * h + rng.gauss(0, 0.7))))),
                    "escalated": rng.random() < 0.1,
                }
        if churned and end is not None:
            out["churn_events"][f"{key}-churn"] = {
                "customer": key,
                "date": end,
                "reason": rng.choice(REASONS),
                "refund": Decimal("0"),
                "feedback": "",
                "is_reactivation": False,
            }
    return out
