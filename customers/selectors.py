"""Reads of the customers app: the facts the plain cores work on, the list and customer pages, the churn data."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import numpy as np
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth

from crm.models import Activity, Deal, Direction, Outcome
from crm.selectors import record_timeline_for_member
from customers import churn
from customers.features import (
    Events,
    Facts,
    SubFacts,
    expansion_signals,
    next_renewal,
    renewal_cases,
    subscription_features,
)
from customers.models import (
    ChurnEvent,
    ChurnModel,
    Customer,
    CustomerSettings,
    Payment,
    PaymentStatus,
    Subscription,
    SupportTicket,
    UsageRecord,
)
from customers.retention import Period, simulate
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

_URGENT = {"high", "urgent"}
PRIOR_CHURN = 0.1
PRIOR_RENEWALS = 20


def sub_facts(sub: Subscription) -> SubFacts:
    return SubFacts(
        id=sub.id,
        customer_id=sub.customer_id,
        plan=sub.plan,
        seats=sub.seats,
        arr=float(sub.arr),
        start=sub.start_date,
        end=sub.end_date,
        billing=sub.billing_period,
        auto_renew=sub.auto_renew,
        is_trial=sub.is_trial,
        churned=sub.churned,
        upgraded=sub.upgraded,
        downgraded=sub.downgraded,
    )


def _events(rows: list[tuple[Any, ...]]) -> dict[int, Events]:
    """rows: (customer id, day ordinal, value, extra, label, team), any order."""
    grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    out = {}
    for customer, items in grouped.items():
        items.sort(key=lambda r: r[1])
        out[customer] = Events(
            days=np.array([r[1] for r in items], dtype=np.int64),
            values=np.array([np.nan if r[2] is None else float(r[2]) for r in items]),
            extra=np.array([float(r[3]) for r in items]),
            labels=[r[4] for r in items],
            teams=[r[5] for r in items],
        )
    return out


def load_facts(workspace: Workspace | int, *, customer_ids: list[int] | None = None) -> Facts:
    """Everything the cores need about the workspace's customers (or some of them), in four queries and a few."""
    customers = Customer.objects.for_workspace(workspace)
    if customer_ids is not None:
        customers = customers.filter(id__in=customer_ids)
    info = list(customers.values_list("id", "since", "attributes", "company_id"))
    ids = [c[0] for c in info]
    company_customer = {c[3]: c[0] for c in info}
    subs = [sub_facts(s) for s in Subscription.objects.for_workspace(workspace).filter(customer_id__in=ids)]
    usage = UsageRecord.objects.for_workspace(workspace).filter(customer_id__in=ids)
    usage_rows = [
        (c, d.toordinal(), v, e, m, t)
        for c, d, v, e, m, t in usage.values_list("customer_id", "date", "value", "errors", "metric", "team")
    ]
    tickets = SupportTicket.objects.for_workspace(workspace).filter(customer_id__in=ids)
    ticket_rows = [
        (c, o.date().toordinal(), s, float(p in _URGENT), "", "")
        for c, o, s, p in tickets.values_list("customer_id", "opened_at", "satisfaction", "priority")
    ]
    # Counted per company and day in SQL: a demo company has hundreds of activities, and only counts matter.
    activities = (
        Activity.objects.for_workspace(workspace)
        .filter(company_id__in=list(company_customer))
        .annotate(day=TruncDate("occurred_at"))
        .values("company_id", "day")
        .annotate(n=Count("id"), inbound=Count("id", filter=Q(direction=Direction.INBOUND)))
        .order_by()
    )
    activity_rows = [
        (company_customer[a["company_id"]], a["day"].toordinal(), float(a["n"]), float(a["inbound"]), "", "")
        for a in activities
    ]
    payment_rows = [
        (c, d.toordinal(), float(status != PaymentStatus.PAID), 0.0, "", "")
        for c, d, status in Payment.objects.for_workspace(workspace)
        .filter(customer_id__in=ids)
        .values_list("customer_id", "due_date", "status")
    ]
    churns: dict[int, list[int]] = defaultdict(list)
    for c, d in (
        ChurnEvent.objects.for_workspace(workspace).filter(customer_id__in=ids).values_list("customer_id", "date")
    ):
        churns[c].append(d.toordinal())
    ends = [s.end for s in subs if s.end] + [s.start for s in subs]
    latest_usage = usage.aggregate(m=Max("date"))["m"]
    data_end = max([*ends, *([latest_usage] if latest_usage else [])], default=date.today())
    return Facts(
        subscriptions=subs,
        customer_attributes={c[0]: c[2] or {} for c in info},
        customer_since={c[0]: c[1] for c in info},
        usage=_events(usage_rows),
        tickets=_events(ticket_rows),
        churn_events={c: np.sort(np.array(v, dtype=np.int64)) for c, v in churns.items()},
        activities=_events(activity_rows),
        data_end=data_end,
        payments=_events(payment_rows),
    )


def labelled_customers(workspace: Workspace | int) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    """Customers with a churn label (a customer CSV): their mapped attributes, labels and one segment."""
    rows, y = [], []
    for attributes, churned in (
        Customer.objects.for_workspace(workspace)
        .filter(churned__isnull=False)
        .order_by("id")
        .values_list("attributes", "churned")
    ):
        rows.append(attributes or {})
        y.append(1.0 if churned else 0.0)
    return rows, np.array(y), ["all"] * len(rows)


def has_renewal_history(workspace: Workspace | int) -> bool:
    """Subscription data (terms with dates) rather than a customer list with labels."""
    return Subscription.objects.for_workspace(workspace).exists()


def churn_model_in_use(workspace: Workspace | int) -> churn.ChurnModel | None:
    """The model that scores churn risk: the active one, or else the latest segment base rates (the small-data
    fallback needs no activation: it is the base rate itself, per segment). None before any training."""
    models = ChurnModel.objects.for_workspace(workspace)
    found = models.filter(is_active=True).first() or models.filter(kind="segment_rates").first()
    return churn.ChurnModel.from_json(found.artifact) if found is not None else None


def renewal_lead_days(workspace: Workspace | int) -> int:
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    found = (
        CustomerSettings.objects.filter(workspace_id=workspace_id).values_list("renewal_lead_days", flat=True).first()
    )
    return found if found is not None else CustomerSettings._meta.get_field("renewal_lead_days").default


# --- pages -----------------------------------------------------------------------------------------

SORTS = ("arr", "renewal", "health", "risk", "name")


@dataclass(frozen=True)
class CustomerRow:
    uuid: UUID
    name: str
    arr: float
    next_renewal: date | None
    health: float | None
    churn_risk: float | None


def customers_for_list(workspace: Workspace, sort: str, *, today: date | None = None) -> list[CustomerRow]:
    """The customer list: ARR of the subscriptions live today, the next renewal (an end date or the start's next
    anniversary), health and risk; sorted in Python (two queries, whatever the number of customers)."""
    today = today or workspace.today()
    arr: dict[int, float] = defaultdict(float)
    renewal: dict[int, date] = {}
    live = Subscription.objects.for_workspace(workspace).filter(start_date__lte=today).exclude(end_date__lt=today)
    for sub in live:
        arr[sub.customer_id] += float(sub.arr)
        found = next_renewal(sub_facts(sub), today)
        if found is not None and (sub.customer_id not in renewal or found < renewal[sub.customer_id]):
            renewal[sub.customer_id] = found
    rows = [
        CustomerRow(u, name, arr.get(i, 0.0), renewal.get(i), h, r)
        for i, u, name, h, r in Customer.objects.for_workspace(workspace).values_list(
            "id", "uuid", "company__name", "health", "churn_risk"
        )
    ]
    keys = {
        "arr": lambda c: (-c.arr, c.name),
        "renewal": lambda c: (c.next_renewal is None, c.next_renewal or today, c.name),
        "health": lambda c: (c.health is None, c.health or 0.0, c.name),
        "risk": lambda c: (c.churn_risk is None, -(c.churn_risk or 0.0), c.name),
        "name": lambda c: (c.name.lower(),),
    }
    return sorted(rows, key=keys.get(sort, keys["arr"]))


def renewal_probabilities(
    workspace: Workspace, subs: list[SubFacts], today: date, *, facts: Facts | None = None
) -> list[float]:
    """Per live subscription, the probability it renews at its next renewal: 1 - the active model's churn
    probability, or 1 - the workspace's base churn rate over its decided renewals when no model is active."""
    facts = facts or load_facts(workspace)
    model = churn_model_in_use(workspace)
    if model is not None:
        rows = [subscription_features(facts, s, today, next_renewal(s, today) or today) for s in subs]
        return [float(1 - p) for p in model.predict(rows, [s.plan or "unknown" for s in subs])] if rows else []
    cases = renewal_cases(facts, until=today)
    # A few renewals say little: the observed rate is pulled toward a prior 10% by 20 pseudo-renewals.
    rate = (sum(c.churned for c in cases) + PRIOR_CHURN * PRIOR_RENEWALS) / (len(cases) + PRIOR_RENEWALS)
    return [1 - rate] * len(subs)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_quarter(day: date) -> date:
    return date(day.year + (day.month > 9), (day.month + 2) % 12 + 1, 1)


@dataclass(frozen=True)
class RenewalInputs:
    """What the renewal Monte Carlo needs, loaded once and cut by owner for each roll-up row."""

    starts: list[date]
    live: list[SubFacts]
    renewals: list[date | None]
    keep: np.ndarray  # each live subscription's probability of renewing
    account_owner: list[int | None]  # the owner of each live subscription's company
    expansion: list[tuple[float, date, float, int | None]]  # amount, expected close, probability, owner


def renewal_inputs(workspace: Workspace, *, today: date | None = None, quarters: int = 4) -> RenewalInputs:
    today = today or workspace.today()
    facts = load_facts(workspace)
    starts = [_quarter_start(today)]
    for _ in range(quarters):
        starts.append(_next_quarter(starts[-1]))
    live = [s for s in facts.subscriptions if s.start <= today and (s.end is None or s.end >= today)]
    owner_of = dict(Customer.objects.for_workspace(workspace).values_list("id", "company__owner_id"))
    expansion = (
        Deal.objects.for_workspace(workspace)
        .filter(source="expansion", outcome="open", expected_close_date__gte=today, expected_close_date__lt=starts[-1])
        .values_list("amount", "expected_close_date", "stage__default_probability", "owner_id")
    )
    return RenewalInputs(
        starts=starts,
        live=live,
        renewals=[next_renewal(s, today) for s in live],
        keep=np.array(renewal_probabilities(workspace, live, today, facts=facts)),
        account_owner=[owner_of.get(s.customer_id) for s in live],
        expansion=[(float(a), d, float(p) / 100, o) for a, d, p, o in expansion],
    )


def renewal_forecast(
    workspace: Workspace,
    *,
    today: date | None = None,
    quarters: int = 4,
    owner_ids: frozenset[int] | None = None,
    inputs: RenewalInputs | None = None,
    periods: int | None = None,
) -> list[dict[str, Any]]:
    """Per quarter from this one: ARR up for renewal, renewed ARR (P10/P50/P90), gross and net retention.

    `owner_ids` keeps the accounts (and expansion deals) owned by those members, as the dashboard's team and rep
    filters and a member's scope do for new business; None is the whole workspace."""
    inputs = inputs or renewal_inputs(workspace, today=today, quarters=quarters)

    def kept(owner: int | None) -> bool:
        return owner_ids is None or owner in owner_ids

    wanted = list(itertools.pairwise(inputs.starts))[:periods]  # `periods` first quarters only (None: all)
    built = []
    for lo, hi in wanted:
        due = [
            i for i, r in enumerate(inputs.renewals) if r is not None and lo <= r < hi and kept(inputs.account_owner[i])
        ]
        wins = [(a, p) for a, d, p, o in inputs.expansion if lo <= d < hi and kept(o)]
        built.append(
            Period(
                label=f"{lo:%b %Y}",
                arr_due=np.array([inputs.live[i].arr for i in due]),
                p_renew=inputs.keep[due] if due else np.zeros(0),
                expansion=np.array([a for a, _ in wins]),
                p_expansion=np.array([p for _, p in wins]),
            )
        )
    return simulate(built, seed=workspace.id)


def renewal_team_rollups(scope: Scope, inputs: RenewalInputs) -> list[dict[str, Any]]:
    """This quarter's renewals per team in the member's sight, beside the dashboard's "By team" new business."""
    teams = list(scope.teams())
    members: dict[int, set[int]] = defaultdict(set)  # one query for every team's members, not one per team
    for team_id, member_id in Membership.objects.filter(team__in=teams).values_list("team_id", "id"):
        members[team_id].add(member_id)
    rows = []
    for team in teams:
        owners = (
            frozenset(members[team.id]) if scope.owner_ids is None else frozenset(members[team.id]) & scope.owner_ids
        )
        this_quarter = renewal_forecast(scope.workspace, owner_ids=owners, inputs=inputs, periods=1)[0]
        rows.append({"name": team.name, **this_quarter})
    return rows


@dataclass(frozen=True)
class ExpansionCandidate:
    customer: Customer
    arr: float
    score: float
    signals: list[dict[str, Any]]


def expansion_ranked(workspace: Workspace, *, today: date | None = None, limit: int = 50) -> list[ExpansionCandidate]:
    """Customers with expansion signals, strongest first (signal points weighted by the log of their ARR)."""
    today = today or workspace.today()
    facts = load_facts(workspace)
    by_customer: dict[int, list[SubFacts]] = defaultdict(list)
    for s in facts.subscriptions:
        if s.start <= today and (s.end is None or s.end >= today):
            by_customer[s.customer_id].append(s)
    scored = []
    for customer_id, subs in by_customer.items():
        signals = expansion_signals(facts, customer_id, today, subs)
        if signals:
            arr = sum(s.arr for s in subs)
            scored.append((customer_id, arr, sum(d.points for d in signals) * math.log10(arr + 10), signals))
    scored.sort(key=lambda c: -c[2])
    customers = Customer.objects.in_bulk([c[0] for c in scored[:limit]])
    return [
        ExpansionCandidate(customers[c], arr, round(score, 1), [d.as_dict() for d in signals])
        for c, arr, score, signals in scored[:limit]
    ]


@dataclass
class CustomerPage:
    customer: Customer
    subscriptions: list[Subscription]
    tickets: list[SupportTicket]
    churn_events: list[ChurnEvent]
    open_deals: list[Deal]
    activities: list[Activity]
    usage_by_month: list[tuple[str, float]]


def customer_page(scope: Scope, customer: Customer) -> CustomerPage:
    """The customer page: its subscriptions, monthly usage, tickets, churn events, and (as far as this member
    sees them) its open deals (renewal and expansion ones among them) and activities."""
    months = (
        UsageRecord.objects.filter(customer=customer)
        .annotate(month=TruncMonth("date"))
        .values("month")
        .annotate(total=Sum("value"))
        .order_by("month")
    )
    timeline = record_timeline_for_member(scope, lookup="company", record=customer.company)
    return CustomerPage(
        customer=customer,
        subscriptions=list(Subscription.objects.filter(customer=customer).order_by("-start_date")[:50]),
        tickets=list(SupportTicket.objects.filter(customer=customer).order_by("-opened_at")[:20]),
        churn_events=list(ChurnEvent.objects.filter(customer=customer).order_by("-date")[:10]),
        open_deals=[d for d in timeline.deals if d.outcome == Outcome.OPEN],
        activities=list(timeline.activities[:20]),
        usage_by_month=[(m["month"].strftime("%Y-%m"), float(m["total"])) for m in months],
    )
