"""Writing the generated demo workspace to the database, in bulk and in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from crm import history
from crm.demo.generator import STAGE_NAMES, DemoData, generate
from crm.models import (
    Activity,
    ChangeSource,
    Company,
    Contact,
    Deal,
    DealHistory,
    Pipeline,
    Stage,
)
from crm.services import probability_is_manual
from tenancy.models import Membership, Role, Team, Workspace
from tenancy.services import membership_add, user_get_or_create, workspace_create
from vectoros.bulk import copy_rows

DEMO_NAME = "Demo Co"
DEMO_PASSWORD = "vectoros-demo"  # noqa: S105 (the published demo sign-in, shown in the README)
_BATCH = 2000
_ROLES = {"owner": Role.OWNER, "manager": Role.MANAGER, "rep": Role.REP}


@dataclass
class DemoSeedResult:
    workspace_id: int
    slug: str
    created: bool
    counts: dict[str, int]
    logins: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    deal_ids: list[int] = field(default_factory=list)


def demo_counts(workspace: Workspace) -> dict[str, int]:
    deals = Deal.objects.for_workspace(workspace)
    return {
        "teams": Team.objects.filter(workspace=workspace).count(),
        "members": Membership.objects.filter(workspace=workspace).count(),
        "reps": Membership.objects.filter(workspace=workspace, role=Role.REP).count(),
        "companies": Company.objects.for_workspace(workspace).count(),
        "contacts": Contact.objects.for_workspace(workspace).count(),
        "deals": deals.count(),
        "deals_open": deals.filter(outcome="open").count(),
        "deals_won": deals.filter(outcome="won").count(),
        "deals_lost": deals.filter(outcome="lost").count(),
        "history_rows": DealHistory.objects.for_workspace(workspace).count(),
        "activities": Activity.objects.for_workspace(workspace).count(),
    }


def demo_logins() -> list[dict[str, str]]:
    """The three sign-ins of the demo (owner, manager, rep), all with the demo password."""
    return [
        {"email": "demo@example.com", "password": DEMO_PASSWORD, "role": "owner"},
        {"email": "manager@example.com", "password": DEMO_PASSWORD, "role": "manager (Mid-Market, SMB Velocity)"},
        {"email": "rep@example.com", "password": DEMO_PASSWORD, "role": "rep (Mid-Market)"},
    ]


def demo_workspace_seed(*, slug: str = "demo", seed: int = 42, as_of: date, scale: float = 1.0) -> DemoSeedResult:
    """The demo workspace with its CRM data; nothing is written when it already has deals.

    Everything is written in one transaction, so a failure leaves no half-seeded workspace.
    """
    existing = Workspace.objects.filter(slug=slug).first()
    if existing is not None:
        if not existing.is_demo:
            raise ValidationError(f"The workspace {slug!r} exists and is not a demo workspace; it was left alone.")
        if Deal.objects.for_workspace(existing).exists():
            return DemoSeedResult(existing.id, slug, False, demo_counts(existing), demo_logins())
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = generate(seed=seed, as_of=as_of, scale=scale)
    timings["generate"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    with transaction.atomic():
        workspace, deal_ids = _write(data, slug=slug, existing=existing, timings=timings)
    timings["write"] = round(time.perf_counter() - started, 2)
    return DemoSeedResult(workspace.id, slug, True, demo_counts(workspace), demo_logins(), timings, deal_ids)


def demo_workspace_delete(*, slug: str) -> bool:
    """Delete a demo workspace (refused for real ones); True when there was one."""
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        return False
    if not workspace.is_demo:
        raise ValidationError(f"The workspace {slug!r} is not a demo workspace; it was left alone.")
    with transaction.atomic():
        # The bulky rows go straight to SQL (Django's cascade would load them all); deals protect
        # their stages and pipelines, so they go before the workspace.
        activities = Activity.objects.filter(workspace=workspace)
        with connection.cursor() as cursor:
            # Tables filled in this same transaction (a re-seed, a test) have no statistics yet: the planner
            # then takes them for empty and joins tens of thousands of link rows in a nested loop (minutes).
            cursor.execute("ANALYZE crm_activity, crm_activity_contacts, crm_dealhistory")
        Activity.contacts.through.objects.filter(activity__workspace=workspace)._raw_delete(connection.alias)
        activities._raw_delete(connection.alias)
        DealHistory.objects.filter(workspace=workspace)._raw_delete(connection.alias)
        Deal.all_objects.filter(workspace=workspace).delete()
        workspace.delete()
    return True


def _write(
    data: DemoData, *, slug: str, existing: Workspace | None, timings: dict[str, float]
) -> tuple[Workspace, list[int]]:
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"write {step}"] = round(now - clock, 2)
        clock = now

    # One hash for the three published demo sign-ins: hashing is deliberately slow and they share the password.
    password_hash = make_password(DEMO_PASSWORD)
    users = {m.key: user_get_or_create(email=m.email) for m in data.members if m.login}
    for user in users.values():
        user.password = password_hash
        user.save(update_fields=["password"])
    workspace = existing or workspace_create(name=DEMO_NAME, slug=slug, owner_user=users["owner"], is_demo=True)
    members = _write_people(data, workspace, users)
    lap("people")

    pipeline = Pipeline.objects.filter(workspace=workspace, is_default=True).first()
    stages_by_name = {s.name: s for s in Stage.objects.filter(pipeline=pipeline)} if pipeline else {}
    missing = [name for name in STAGE_NAMES if name not in stages_by_name]
    if missing:
        raise ValidationError(f"The demo needs the default pipeline's stages; missing: {', '.join(missing)}.")
    stage_ids = [stages_by_name[name].id for name in STAGE_NAMES]

    companies = Company.objects.bulk_create(
        [
            Company(
                workspace=workspace,
                name=c.name,
                domain=c.domain,
                industry=c.industry,
                employees=c.employees,
                annual_revenue=Decimal(c.annual_revenue),
                location=c.location,
                owner_id=members[c.owner],
                attributes={"segment": c.segment, "region": c.region},
                created_at=c.created_at,
            )
            for c in data.companies
        ],
        batch_size=_BATCH,
    )
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                workspace=workspace,
                first_name=c.first_name,
                last_name=c.last_name,
                email=c.email,
                phone=c.phone,
                title=c.title,
                company_id=companies[c.company].id,
                created_at=c.created_at,
            )
            for c in data.contacts
        ],
        batch_size=_BATCH,
    )
    deals = Deal.objects.bulk_create(
        [
            Deal(
                workspace=workspace,
                title=d.title,
                description=d.description,
                company_id=companies[d.company].id,
                owner_id=members[d.owner],
                pipeline=pipeline,
                stage_id=stage_ids[d.stage],
                amount=Decimal(d.amount),
                currency=workspace.currency,
                probability=None if d.probability is None else Decimal(d.probability),
                # The demo's reps set their probabilities on the web (its history rows say so too).
                probability_is_manual=d.probability is not None
                and probability_is_manual(source_of_change=ChangeSource.WEB),
                expected_close_date=d.expected_close_date,
                created_at=d.created_at,
                closed_at=d.closed_at,
                stage_entered_at=d.stage_entered_at,
                outcome=d.outcome,
                lost_reason=d.lost_reason,
                source=d.source,
                attributes=d.attributes,
            )
            for d in data.deals
        ],
        batch_size=_BATCH,
    )
    lap("companies, contacts, deals")
    DealContact = Deal.contacts.through
    DealContact.objects.bulk_create(
        [
            DealContact(deal_id=deal.id, contact_id=contacts[c].id)
            for deal, spec in zip(deals, data.deals, strict=True)
            for c in spec.contacts
        ],
        batch_size=_BATCH,
    )

    def value(name: str, raw: object) -> object:
        """A generated value (stage index, member key, whole amount...) in its stored JSON form."""
        if raw is None:
            return None
        if name == "stage":
            raw = stage_ids[int(raw)]  # type: ignore[call-overload]
        elif name == "owner":
            raw = members[str(raw)]
        return history.encode(name, raw)

    lap("deal contacts")
    # COPY rather than INSERT for the big tables: several times faster on a busy machine.
    copy_rows(
        DealHistory,
        ("workspace_id", "deal_id", "field", "old_value", "new_value", "changed_at", "changed_by_id", "source"),
        (
            (
                workspace.id,
                deal.id,
                h.field,
                value(h.field, h.old),
                value(h.field, h.new),
                h.at,
                members[h.by],
                ChangeSource.WEB,
            )
            for deal, spec in zip(deals, data.deals, strict=True)
            for h in spec.history
        ),
    )
    lap("history")
    activity_ids = copy_rows(
        Activity,
        ("workspace_id", "kind", "occurred_at", "direction", "subject", "body", "deal_id", "company_id", "owner_id"),
        [
            (
                workspace.id,
                a.kind,
                a.at,
                a.direction,
                a.subject,
                a.body,
                deals[a.deal].id,
                deals[a.deal].company_id,
                members[a.owner],
            )
            for a in data.activities
        ],
        with_ids=True,
    )
    copy_rows(
        Activity.contacts.through,
        ("activity_id", "contact_id"),
        (
            (activity_id, contacts[c].id)
            for activity_id, a in zip(activity_ids, data.activities, strict=True)
            for c in a.contacts
        ),
    )
    lap("activities")
    return workspace, [d.id for d in deals]


def _write_people(data: DemoData, workspace: Workspace, users: dict[str, object]) -> dict[str, int]:
    """Teams and memberships; returns membership ids by member key."""
    teams = {t.key: Team.objects.create(workspace=workspace, name=t.name) for t in data.teams}
    members: dict[str, int] = {}
    for m in data.members:
        team = teams[m.team] if m.team else None
        if m.key in users:
            membership = membership_add(workspace=workspace, user=users[m.key], role=_ROLES[m.role], team=team)
            changed = membership.display_name != m.name or membership.team_id != (team.id if team else None)
            if changed:
                membership.display_name, membership.team = m.name, team
                membership.save(update_fields=["display_name", "team"])
        else:
            membership = Membership.objects.create(
                workspace=workspace, display_name=m.name, email=m.email, role=_ROLES[m.role], team=team
            )
        members[m.key] = membership.id
    for t in data.teams:
        team = teams[t.key]
        team.manager_id = members[t.manager]
        team.parent = teams[t.parent] if t.parent else None
        team.save(update_fields=["manager", "parent"])
    return members
