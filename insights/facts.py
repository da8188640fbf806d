"""The facts each AI brief is written from: plain JSON of what VectorOS computed, read in the asker's Scope.

Each builder returns `{"kind", "as_of", ..., "untrusted": {...}}`. Everything outside `untrusted` is our
own arithmetic (amounts, days, probabilities, counts, dates) and is what the grounding check accepts a
number from. `untrusted` holds text that people or other systems typed (titles, descriptions, activity
subjects and bodies, contact names, the next step); the prompt puts it in a delimited data block the
model is told to treat as data only, and `grounding.UNTRUSTED_PROSE` keeps its numbers from backing a
sentence. Money is rounded to the cent, probabilities are percentages to one decimal.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alerts.selectors import alerts_for_member, deal_alerts
from crm.models import Activity, Deal, Outcome
from crm.selectors import deal_history_rows
from forecasting.models import DealForecast, ForecastRun
from forecasting.selectors import latest_run
from forecasting.waterfall import FLOW_LABELS, FLOWS, changes_for_member
from scoring.selectors import deal_win_probabilities
from tenancy.scope import Scope

RECENT_ACTIVITIES = 8
ACTIVITY_WINDOW_DAYS = 30
RECENT_CHANGES = 10
TOP_FLOW_DEALS = 3
TOP_FORECAST_MOVES = 5


def _money(value: float | Decimal | int | None) -> float:
    return round(float(value or 0), 2)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * float(fraction), 1)


def _days(later: date, earlier: date | datetime | None) -> int | None:
    if earlier is None:
        return None
    earlier_day = earlier.date() if isinstance(earlier, datetime) else earlier
    return (later - earlier_day).days


def _latest_forecast(deal: Deal) -> DealForecast | None:
    run = latest_run(deal.workspace)
    if run is None:
        return None
    return DealForecast.objects.filter(run=run, deal=deal).first()


def _deal_core(deal: Deal, today: date) -> dict[str, Any]:
    probability = deal.probability if deal.probability is not None else deal.stage.default_probability
    score = deal_win_probabilities(deal.workspace_id, [deal.id]).get(deal.id)
    forecast = _latest_forecast(deal)
    return {
        "id": str(deal.uuid),
        "stage": deal.stage.name,
        "outcome": deal.outcome,
        "amount": _money(deal.amount),
        "currency": deal.currency,
        "amount_is_estimated": deal.amount_is_estimated,
        "rep_probability_pct": round(float(probability), 1),
        "model_win_probability_pct": _pct(score),
        "forecast_chance_this_period_pct": _pct(forecast.probability) if forecast else None,
        "forecast_expected_this_period": _money(forecast.expected) if forecast else None,
        "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
        "days_to_expected_close": (deal.expected_close_date - today).days if deal.expected_close_date else None,
        "days_in_stage": _days(today, deal.stage_entered_at),
        "age_days": _days(today, deal.created_at),
        "owner": deal.owner.display_name if deal.owner else None,
    }


def _history(deal: Deal) -> dict[str, Any]:
    # A deal's creation writes one row per field with no old value; the changes are the rows after it.
    changes = [row for row in deal_history_rows(deal) if row.old != "—"]
    return {
        "changes": [
            {"on": row.changed_at.date().isoformat(), "field": row.field, "from": row.old, "to": row.new}
            for row in changes[:RECENT_CHANGES]
        ],
        "close_date_changes": sum(1 for row in changes if row.field == "Expected close date"),
        "amount_changes": sum(1 for row in changes if row.field == "Amount"),
        "stage_changes": sum(1 for row in changes if row.field == "Stage"),
    }


def _activities(deal: Deal, today: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Counts and dates (facts), and the recent activities' own words (untrusted)."""
    qs = Activity.objects.filter(deal=deal, occurred_at__date__lte=today).order_by("-occurred_at")
    recent = list(qs[:RECENT_ACTIVITIES])
    since = today - timedelta(days=ACTIVITY_WINDOW_DAYS)
    counted = {
        "window_days": ACTIVITY_WINDOW_DAYS,
        "in_window": qs.filter(occurred_at__date__gt=since).count(),
        "days_since_last": _days(today, recent[0].occurred_at) if recent else None,
        "last_on": recent[0].occurred_at.date().isoformat() if recent else None,
        "last_kind": recent[0].kind if recent else None,
    }
    words = [
        {
            "on": a.occurred_at.date().isoformat(),
            "kind": a.kind,
            "direction": a.direction,
            "subject": a.subject,
            "body": a.body[:600],
        }
        for a in recent
    ]
    return counted, words


def _alerts(deal: Deal) -> list[dict[str, Any]]:
    return [
        {
            "kind": alert.get_kind_display(),
            "priority": alert.get_priority_display(),
            "revenue_at_risk": _money(alert.revenue_at_risk),
            "seen": alert.seen,
            "suggested_next_step": alert.next_step,
        }
        for alert in deal_alerts(deal)[:5]
    ]


def deal_brief_facts(scope: Scope, deal: Deal) -> dict[str, Any]:
    """What happened (history, activity), the risks (alerts, score, timing) and what to do next."""
    today = scope.workspace.today()
    counted, words = _activities(deal, today)
    return {
        "kind": "deal",
        "as_of": today.isoformat(),
        "deal": _deal_core(deal, today),
        "history": _history(deal),
        "activity": counted,
        "alerts": _alerts(deal),
        "untrusted": {
            "title": deal.title,
            "company": deal.company.name if deal.company else None,
            "description": deal.description[:2000],
            "next_step": deal.next_step,
            "lost_reason": deal.lost_reason,
            "recent_activities": words,
        },
    }


def meeting_prep_facts(scope: Scope, deal: Deal) -> dict[str, Any]:
    """For the next conversation: the deal, its company and contacts, the recent back-and-forth, the open risks."""
    today = scope.workspace.today()
    counted, words = _activities(deal, today)
    company = deal.company
    contacts = list(deal.contacts.order_by("last_name", "first_name")[:10])
    return {
        "kind": "meeting_prep",
        "as_of": today.isoformat(),
        "deal": _deal_core(deal, today),
        "company": {"employees": company.employees, "industry": company.industry} if company else None,
        "contacts_count": len(contacts),
        "activity": counted,
        "alerts": _alerts(deal),
        "untrusted": {
            "title": deal.title,
            "company": company.name if company else None,
            "contacts": [{"name": c.full_name, "title": c.title} for c in contacts],
            "description": deal.description[:2000],
            "next_step": deal.next_step,
            "recent_activities": words,
        },
    }


def _scope_name(scope: Scope) -> str:
    if scope.sees_everything:
        return "the whole workspace"
    membership = scope.membership
    assert membership is not None
    return f"{membership.display_name}'s deals" if not scope.managed_team_ids else "your teams"


def weekly_facts(scope: Scope, *, end: date | None = None) -> dict[str, Any]:
    """The week for a manager: the pipeline waterfall of the last 7 days, the forecast and the alerts, in scope."""
    workspace = scope.workspace
    end = end or workspace.today()
    start = end - timedelta(days=7)
    waterfall = changes_for_member(scope, start=start, end=end)
    flows: dict[str, Any] = {}
    names: dict[str, str] = {}
    for flow in FLOWS:
        total = waterfall.flows[flow]
        if not total.deals:
            continue
        top = [item for item in waterfall.items[flow] if item.main][:TOP_FLOW_DEALS]
        flows[flow] = {
            "label": FLOW_LABELS[flow],
            "deals": total.deals,
            "amount": _money(total.amount),
            "largest": [{"deal": item.uuid, "amount": _money(item.amount)} for item in top],
        }
        names.update({item.uuid: item.title for item in top})
    alerts = alerts_for_member(scope, today=end)
    return {
        "kind": "weekly",
        "as_of": end.isoformat(),
        "scope": _scope_name(scope),
        "currency": workspace.currency,
        "window": {"from": start.isoformat(), "to": end.isoformat(), "days": 7},
        "pipeline": {
            "start": {"deals": waterfall.start.deals, "amount": _money(waterfall.start.amount)},
            "end": {"deals": waterfall.end.deals, "amount": _money(waterfall.end.amount)},
            "change": _money(waterfall.end.amount - waterfall.start.amount),
        },
        "flows": flows,
        "forecast": forecast_in_scope(scope, latest_run(workspace)),
        "alerts_needing_attention": alerts.count(),
        "urgent_alerts": alerts.filter(priority__gte=3).count(),
        "untrusted": {"deal_titles": names},
    }


def forecast_in_scope(scope: Scope, run: ForecastRun | None) -> dict[str, Any] | None:
    """A run's numbers as the member may see them: the workspace's spread, or the sum over their own deals."""
    if run is None:
        return None
    visible = DealForecast.objects.filter(run=run, deal__in=scope.deals())
    expected = sum(float(value) for value in visible.values_list("expected", flat=True))
    facts: dict[str, Any] = {
        "run_on": run.as_of.date().isoformat(),
        "period": {"from": run.period_start.isoformat(), "to": run.period_end.isoformat()},
        "expected_open_pipeline": _money(expected),
        "open_deals_forecast": visible.count(),
    }
    if scope.sees_everything:
        facts.update(
            mean=_money(run.mean), p10=_money(run.percentiles.get("p10")), p50=_money(run.p50), p90=_money(run.p90)
        )
        facts["won_so_far"] = _money(run.realised)
    return facts


def forecast_change_facts(scope: Scope) -> dict[str, Any]:
    """Why the forecast moved between the last two runs: the totals, the deals that moved it and the waterfall."""
    workspace = scope.workspace
    runs = list(ForecastRun.objects.for_workspace(workspace).order_by("-as_of", "-id")[:2])
    facts: dict[str, Any] = {"kind": "forecast_change", "as_of": workspace.today().isoformat(), "runs": 0}
    if len(runs) < 2:
        facts.update(runs=len(runs), untrusted={"deal_titles": {}})
        return facts
    after, before = runs
    visible = set(scope.deals().values_list("id", flat=True))
    by_deal: dict[int, list[float]] = {}
    for run_index, run in enumerate((before, after)):
        for deal_id, expected in DealForecast.objects.filter(run=run, deal_id__in=visible).values_list(
            "deal_id", "expected"
        ):
            by_deal.setdefault(deal_id, [0.0, 0.0])[run_index] = float(expected)
    moves = sorted(by_deal.items(), key=lambda pair: -abs(pair[1][1] - pair[1][0]))[:TOP_FORECAST_MOVES]
    deals = {d.id: d for d in Deal.objects.filter(id__in=[deal_id for deal_id, _ in moves]).select_related("stage")}
    waterfall = changes_for_member(scope, start=before.as_of.date(), end=max(after.as_of.date(), before.as_of.date()))
    moved = []
    for deal_id, (was, now) in moves:
        if deal_id not in deals or round(now - was, 2) == 0:
            continue
        deal = deals[deal_id]
        moved.append(
            {
                "deal": str(deal.uuid),
                "expected_before": _money(was),
                "expected_after": _money(now),
                "change": _money(now - was),
                "stage_now": deal.stage.name,
                "closed": deal.outcome != Outcome.OPEN,
                "outcome": deal.outcome,
            }
        )
    total_before = sum(pair[0] for pair in by_deal.values())
    total_after = sum(pair[1] for pair in by_deal.values())
    facts.update(
        runs=2,
        currency=workspace.currency,
        before=forecast_in_scope(scope, before),
        after=forecast_in_scope(scope, after),
        expected_change=_money(total_after - total_before),
        deals_that_moved_it=moved,
        pipeline_waterfall={
            flow: {"label": FLOW_LABELS[flow], "deals": total.deals, "amount": _money(total.amount)}
            for flow, total in waterfall.flows.items()
            if total.deals
        },
        untrusted={"deal_titles": {str(d.uuid): d.title for d in deals.values()}},
    )
    return facts
