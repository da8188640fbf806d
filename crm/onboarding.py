"""First run: the onboarding checklist of a new workspace, each item ticked from the workspace's real state, and a
small set of sample deals to try the screens with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import Company, Deal, ImportJob, Stage, StageKind
from crm.services import company_save, deal_create
from tenancy.models import Invitation, Membership, Workspace

SAMPLE_SOURCE = "Sample data"
_SAMPLES = (
    ("Northwind", "Northwind platform rollout", 48000, 0, 20),
    ("Northwind", "Northwind support renewal", 12000, 3, 45),
    ("Contoso", "Contoso analytics pilot", 18000, 1, 10),
    ("Contoso", "Contoso expansion", 65000, 2, 60),
    ("Fabrikam", "Fabrikam data migration", 27000, 2, -5),
    ("Fabrikam", "Fabrikam security add-on", 9000, 4, 30),
    ("Globex", "Globex first order", 15000, 0, 75),
    ("Globex", "Globex enterprise licence", 120000, 3, 90),
)


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    title: str
    done: bool
    detail: str


def onboarding_checklist(workspace: Workspace) -> list[ChecklistItem]:
    """What a new workspace still needs, from its state: a name of its own, its currency and fiscal year, the team,
    some deals (imported or sample). Connecting a CRM or mailbox is offered beside it (those apps sit above crm)."""
    members = Membership.objects.for_workspace(workspace).active().count()
    invited = Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True).exists()
    has_deals = Deal.all_objects.for_workspace(workspace).exists()
    imported = ImportJob.objects.for_workspace(workspace).exists()
    return [
        ChecklistItem("name", "Name the workspace", not workspace.name.endswith("'s workspace"), workspace.name),
        ChecklistItem(
            "money",
            "Set the currency and the fiscal year",
            workspace.currency != "USD" or workspace.fiscal_year_start_month != 1,
            f"{workspace.currency}, fiscal year from month {workspace.fiscal_year_start_month}",
        ),
        ChecklistItem(
            "team", "Invite the team", members > 1 or invited, f"{members} member{'s' if members != 1 else ''}"
        ),
        ChecklistItem(
            "deals",
            "Import your deals or try sample data",
            has_deals,
            "Imported" if imported else ("Deals are in" if has_deals else "No deals yet"),
        ),
    ]


def onboarding_needed(workspace: Workspace) -> bool:
    """A workspace that has never had a deal still needs setting up: its board would be empty."""
    return not Deal.all_objects.for_workspace(workspace).exists()


@transaction.atomic
def sample_deals_seed(*, workspace: Workspace, actor: Membership) -> int:
    """A handful of sample deals over four companies, owned by `actor`, written through the deal service (so they
    have history and reach scores and forecasts like any deal). Refused once the workspace has deals."""
    if Deal.all_objects.for_workspace(workspace).exists():
        raise ValidationError("This workspace already has deals; sample data is only for an empty one.")
    stages = list(Stage.objects.for_workspace(workspace).filter(pipeline__is_default=True, kind=StageKind.OPEN))
    if not stages:
        raise ValidationError("The workspace has no open stages to put sample deals in.")
    today = workspace.today()
    companies: dict[str, Company] = {}
    for company_name, title, amount, stage_index, days in _SAMPLES:
        if company_name not in companies:
            companies[company_name] = company_save(workspace=workspace, name=company_name)
        deal_create(
            workspace=workspace,
            actor=actor,
            title=title,
            stage=stages[min(stage_index, len(stages) - 1)],
            amount=Decimal(amount),
            owner=actor,
            company=companies[company_name],
            expected_close_date=today + timedelta(days=days),
            source=SAMPLE_SOURCE,
            at=timezone.now(),
        )
    return len(_SAMPLES)
