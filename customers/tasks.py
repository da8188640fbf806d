"""Background jobs of the customers app: they take ids, reload, and call a service."""

from __future__ import annotations

import logging

from django.db.models import Min, Sum

from crm.models import Deal, Outcome
from customers.demo import WonCompany, generate_accounts
from customers.models import Customer
from customers.selectors import load_facts
from customers.services import accounts_upsert, churn_train, customers_refresh, renewals_run
from tenancy.models import Workspace

logger = logging.getLogger(__name__)


def customers_daily_workspace(workspace_id: int) -> dict:
    """Health and risk refreshed, then renewal deals opened and 90/60/30-day alerts raised (each once)."""
    workspace = Workspace.objects.get(id=workspace_id)
    customers_refresh(workspace=workspace)
    return renewals_run(workspace=workspace)


def customers_daily() -> None:
    """The daily schedule: every workspace with customers."""
    for workspace_id in Customer.objects.values_list("workspace_id", flat=True).distinct():
        try:
            customers_daily_workspace(workspace_id)
        except Exception:  # one workspace's failure must not stop the others
            logger.exception("customers_daily failed for workspace %s", workspace_id)


def demo_seed_hook(workspace_id: int) -> None:
    """DEMO_SEED_HOOKS: the demo's customers (companies with won deals) with subscriptions, usage, tickets and
    churn from `customers.demo`, a first churn model (activated only if it earns it), health, risk and renewals."""
    workspace = Workspace.objects.get(id=workspace_id)
    today = workspace.today()
    won = (
        Deal.objects.for_workspace(workspace)
        .filter(outcome=Outcome.WON, company__isnull=False, closed_at__isnull=False)
        .values("company_id", "company__name")
        .annotate(first=Min("closed_at"), arr=Sum("amount"))
        .order_by("company_id")
    )
    companies = [
        WonCompany(w["company_id"], w["company__name"], w["first"].astimezone(workspace.tz).date(), float(w["arr"]))
        for w in won
    ]
    records = generate_accounts(companies, today=today, seed=workspace_id, tz=workspace.tz)
    accounts_upsert(workspace=workspace, **records)
    facts = load_facts(workspace)
    churn_train(workspace=workspace, facts=facts)
    customers_refresh(workspace=workspace, today=today, facts=facts)
    renewals_run(workspace=workspace, as_of=today, facts=facts)
