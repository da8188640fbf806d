"""Writes to the CRM. Every change of a tracked deal field goes through here and leaves a history row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from crm import categories, history
from crm.models import (
    Activity,
    ChangeSource,
    Company,
    Contact,
    Deal,
    DealHistory,
    Pipeline,
    SavedView,
    SavedViewSharing,
    Stage,
    StageKind,
    TrackedField,
    default_forecast_category,
)
from tenancy.jobs import BULK_KEY_SUFFIX, enqueue_coalesced
from tenancy.models import Membership, Role, Workspace

DEFAULT_STAGES: tuple[tuple[str, int, str], ...] = (
    ("Prospecting", 10, StageKind.OPEN),
    ("Qualification", 20, StageKind.OPEN),
    ("Discovery", 35, StageKind.OPEN),
    ("Proposal", 55, StageKind.OPEN),
    ("Negotiation", 75, StageKind.OPEN),
    ("Closed Won", 100, StageKind.WON),
    ("Closed Lost", 0, StageKind.LOST),
)

# Fields that may be changed through `deal_update` without history.
_PLAIN_ATTRS = {
    "title",
    "description",
    "company",
    "company_id",
    "currency",
    "lost_reason",
    "source",
    "attributes",
    "amount_is_estimated",
    "probability_is_manual",
    "external_id",
    "next_step",
}


def pipeline_create_default(*, workspace: Workspace, name: str = "Sales") -> Pipeline:
    """A pipeline with the usual B2B stages; the workspace's default when it has none yet."""
    has_default = Pipeline.objects.filter(workspace=workspace, is_default=True).exists()
    pipeline = Pipeline.objects.create(workspace=workspace, name=name, is_default=not has_default)
    Stage.objects.bulk_create(
        Stage(
            workspace=workspace,
            pipeline=pipeline,
            name=stage_name,
            order=i,
            default_probability=prob,
            kind=kind,
            forecast_category=default_forecast_category(kind, prob),
        )
        for i, (stage_name, prob, kind) in enumerate(DEFAULT_STAGES)
    )
    return pipeline


def deals_changed(*, workspace_id: int, deal_ids: Iterable[int], bulk: bool = False) -> None:
    """After commit, hand the changed deals to every registered handler (coalesced per workspace).

    `bulk` (an import, the demo seed) puts the work on the bulk queue under its own key, so a user's save is not
    merged into, or queued behind, the rescoring of thousands of imported deals."""
    ids = list(deal_ids)
    suffix = BULK_KEY_SUFFIX if bulk else ""
    for handler in settings.DEAL_CHANGE_HANDLERS:
        enqueue_coalesced(key=f"{handler}:{workspace_id}{suffix}", func=handler, head_args=[workspace_id], ids=ids)


def deals_reassign_from_member(
    *, membership: Membership, reassign_to: Membership | None, actor: Membership | None = None
) -> int:
    """A MEMBER_REMOVED_HOOKS entry: the removed member's open deals go to `reassign_to` (None: unassigned).

    Each change goes through `deal_update`, so the deal's history shows the new owner. Closed deals keep their
    owner: who won or lost a deal stays true in the reports.
    """
    deals = Deal.objects.filter(workspace_id=membership.workspace_id, owner=membership).open().order_by("id")
    count = 0
    for deal in deals:
        source = ChangeSource.WEB if actor is not None else ChangeSource.SYSTEM
        deal_update(deal=deal, actor=actor, changes={"owner": reassign_to}, source_of_change=source)
        count += 1
    return count


def probability_is_manual(*, source_of_change: str, declared: bool | None = None) -> bool:
    """Whether a newly set probability is a person's: set on the web or through the API it is; set by the
    system or an import it is not, unless the import says so (`declared`). The one place this is decided."""
    if declared is not None:
        return declared
    return source_of_change in {ChangeSource.WEB, ChangeSource.API}


def _check_external_id(deal: Deal) -> None:
    # The unique check of full_clean reads the default manager, which hides deleted deals.
    if not deal.external_id:
        return
    taken = Deal.all_objects.filter(workspace_id=deal.workspace_id, external_id=deal.external_id).exclude(pk=deal.pk)
    if taken.filter(deleted_at__isnull=False).exists():
        raise ValidationError({"external_id": "A deleted deal has this id; an admin can restore it."})


def _check_stage(pipeline: Pipeline, stage: Stage) -> None:
    if stage.pipeline_id != pipeline.id:
        raise ValidationError({"stage": f"“{stage.name}” is not a stage of the {pipeline.name} pipeline."})


def _history_rows(
    deal: Deal, rows: list[tuple[str, Any, Any]], *, at: datetime, actor: Membership | None, source: str
) -> list[DealHistory]:
    return [
        DealHistory(
            workspace_id=deal.workspace_id,
            deal=deal,
            field=field,
            old_value=old,
            new_value=new,
            changed_at=at,
            changed_by=actor,
            source=source,
        )
        for field, old, new in rows
    ]


@transaction.atomic
def deal_create(
    *,
    workspace: Workspace,
    actor: Membership | None,
    title: str,
    stage: Stage,
    source_of_change: str = ChangeSource.WEB,
    at: datetime | None = None,
    contacts: Iterable[Contact] = (),
    **fields: Any,
) -> Deal:
    """Create a deal in `stage` (of its pipeline); its history starts with one row per tracked field set."""
    now = at or timezone.now()
    pipeline = stage.pipeline
    if stage.workspace_id != workspace.id:
        raise ValidationError({"stage": "Unknown stage."})
    if fields.get("probability") is not None:
        fields["probability_is_manual"] = probability_is_manual(
            source_of_change=source_of_change, declared=fields.get("probability_is_manual")
        )
    fields.setdefault("currency", workspace.currency)
    fields.setdefault("created_at", now)
    deal = Deal(workspace=workspace, title=title, pipeline=pipeline, stage=stage, **fields)
    initial = [
        history.Change(field, getattr(deal, attr), deal.created_at)
        for field, attr in history.TRACKED_ATTRS.items()
        if attr != "outcome"
    ]
    initial.append(history.Change(TrackedField.OUTCOME, history.outcome_of_kind(stage.kind), deal.created_at))
    state = history.fold(initial)
    for attr, value in vars(state).items():
        setattr(deal, attr, value)
    _check_external_id(deal)
    deal.full_clean(exclude=["contacts"])
    deal.save()
    if contacts:
        deal.contacts.set(contacts)
    rows = history.creation_changes(state)
    DealHistory.objects.bulk_create(_history_rows(deal, rows, at=deal.created_at, actor=actor, source=source_of_change))
    deals_changed(workspace_id=workspace.id, deal_ids=[deal.id])
    return deal


@transaction.atomic
def deal_update(
    *,
    deal: Deal,
    actor: Membership | None,
    changes: Mapping[str, Any],
    source_of_change: str = ChangeSource.WEB,
    at: datetime | None = None,
) -> Deal:
    """Apply `changes` (model attribute names) to a deal, recording each tracked change.

    The row is locked for the update, so two concurrent edits both leave their history rows and the
    second sees the first's values as its "old" values.
    """
    now = at or timezone.now()
    locked = Deal.objects.select_for_update().select_related("pipeline").get(pk=deal.pk)
    unknown = (
        set(changes)
        - _PLAIN_ATTRS
        - {"stage", "amount", "expected_close_date", "owner", "probability", "outcome", "forecast_category"}
    )
    if unknown:
        raise ValueError(f"deal_update cannot change {sorted(unknown)}")

    new_values = dict(changes)
    if "probability" in new_values:
        new_values["probability_is_manual"] = new_values["probability"] is not None and probability_is_manual(
            source_of_change=source_of_change, declared=new_values.get("probability_is_manual")
        )
    tracked: list[history.Change] = []
    if "stage" in new_values:
        stage: Stage = new_values.pop("stage")
        _check_stage(locked.pipeline, stage)
        tracked.append(history.Change(TrackedField.STAGE, stage.id, now))
        new_values.setdefault("outcome", history.outcome_of_kind(stage.kind))
    if "owner" in new_values:
        owner = new_values.pop("owner")
        if owner is not None and owner.workspace_id != locked.workspace_id:
            raise ValidationError({"owner": "Unknown member."})
        tracked.append(history.Change(TrackedField.OWNER, owner.id if owner is not None else None, now))
    for attr in ("amount", "expected_close_date", "probability", "outcome"):
        if attr in new_values:
            tracked.append(history.Change(history.FIELD_OF_ATTR[attr], new_values.pop(attr), now))

    before = history.DealState.of(locked)
    after = history.fold(tracked, before)
    diffs = history.diff(before, after)
    if "forecast_category" in new_values:
        category = new_values.pop("forecast_category") or ""
        if category != locked.forecast_category:
            categories.require_category_permission(actor, locked)
            if category and category not in categories.OVERRIDABLE:
                raise ValidationError({"forecast_category": "Pick Commit, Best Case, Pipeline or Omitted."})
        if category != locked.forecast_category:
            # Stored as null when the deal follows its stage's category.
            diffs.append((TrackedField.FORECAST_CATEGORY, locked.forecast_category or None, category or None))
            locked.forecast_category = category
    rows = _history_rows(locked, diffs, at=now, actor=actor, source=source_of_change)
    for attr, value in vars(after).items():
        setattr(locked, attr, value)
    for attr in _PLAIN_ATTRS & set(new_values):
        setattr(locked, attr, new_values[attr])

    _check_external_id(locked)
    locked.full_clean(exclude=["contacts"])
    locked.save()
    DealHistory.objects.bulk_create(rows)
    deals_changed(workspace_id=locked.workspace_id, deal_ids=[locked.id])
    return locked


def deal_move_to_stage(
    *, deal: Deal, stage: Stage, actor: Membership | None, source_of_change: str = ChangeSource.WEB
) -> Deal:
    return deal_update(deal=deal, actor=actor, changes={"stage": stage}, source_of_change=source_of_change)


def deal_close(
    *,
    deal: Deal,
    stage: Stage,
    actor: Membership | None,
    close_date: date,
    amount: Decimal | None = None,
    lost_reason: str = "",
    source_of_change: str = ChangeSource.WEB,
) -> Deal:
    """Move a deal to a won or lost stage with what closing asks for: the day it closed, and the final amount
    (won) or the reason (lost). The close date becomes the deal's close date, so no closed deal shows one ahead."""
    if stage.kind == StageKind.OPEN:
        raise ValidationError({"stage": f"“{stage.name}” is an open stage; pick a won or lost stage to close."})
    if close_date > deal.workspace.today():
        raise ValidationError({"close_date": "A deal cannot close in the future; give the day it closed."})
    changes: dict[str, Any] = {"stage": stage, "expected_close_date": close_date}
    if stage.kind == StageKind.WON:
        if amount is None:
            raise ValidationError({"amount": "Give the amount the deal was won for."})
        changes["amount"] = amount
    else:
        if not lost_reason.strip():
            raise ValidationError({"lost_reason": "Say why the deal was lost."})
        changes["lost_reason"] = lost_reason.strip()
    return deal_update(deal=deal, actor=actor, changes=changes, source_of_change=source_of_change)


@dataclass(frozen=True)
class MoveUndo:
    """What a move changed, to put back: the stage it left and the values closing it overwrote."""

    deal_uuid: str
    moved_to_stage_id: int
    stage_id: int
    amount: str
    expected_close_date: str | None
    lost_reason: str

    @classmethod
    def before_move(cls, deal: Deal, *, to_stage: Stage) -> MoveUndo:
        close = deal.expected_close_date
        return cls(
            deal_uuid=str(deal.uuid),
            moved_to_stage_id=to_stage.id,
            stage_id=deal.stage_id,
            amount=str(deal.amount),
            expected_close_date=close.isoformat() if close else None,
            lost_reason=deal.lost_reason,
        )


@transaction.atomic
def deal_move_undo(*, deal: Deal, actor: Membership | None, undo: MoveUndo) -> Deal:
    """Put a just-moved deal back where it was (stage, amount, close date, lost reason), as one more recorded
    change in its history. Refused when the deal has moved again since: the undo would overwrite that change."""
    if undo.deal_uuid != str(deal.uuid):
        raise ValidationError("This undo is for another deal.")
    if deal.stage_id != undo.moved_to_stage_id:
        raise ValidationError("The deal has changed since; nothing was undone.")
    stage = Stage.objects.filter(pipeline_id=deal.pipeline_id, id=undo.stage_id).first()
    if stage is None:
        raise ValidationError("The deal's previous stage no longer exists.")
    changes: dict[str, Any] = {
        "stage": stage,
        "amount": Decimal(undo.amount),
        "expected_close_date": date.fromisoformat(undo.expected_close_date) if undo.expected_close_date else None,
        "lost_reason": undo.lost_reason,
    }
    return deal_update(deal=deal, actor=actor, changes=changes)


@transaction.atomic
def activity_log(
    *,
    workspace: Workspace,
    actor: Membership | None,
    kind: str,
    subject: str,
    deal: Deal | None = None,
    company: Company | None = None,
    contacts: Iterable[Contact] = (),
    **fields: Any,
) -> Activity:
    for related in (deal, company, *contacts):
        if related is not None and related.workspace_id != workspace.id:
            raise ValidationError("That record belongs to another workspace.")
    if company is None and deal is not None:
        company = deal.company
    activity = Activity(
        workspace=workspace, kind=kind, subject=subject, deal=deal, company=company, owner=actor, **fields
    )
    activity.full_clean(exclude=["contacts"])
    activity.save()
    if contacts:
        activity.contacts.set(contacts)
    if deal is not None:
        deals_changed(workspace_id=workspace.id, deal_ids=[deal.id])
    return activity


@transaction.atomic
def company_save(*, workspace: Workspace, company: Company | None = None, **fields: Any) -> Company:
    """Create or change a company; a change reaches its deals' embeddings and scores (name, industry, size)."""
    existing = company is not None
    company = company or Company(workspace=workspace)
    for attr, value in fields.items():
        setattr(company, attr, value)
    company.full_clean()
    company.save()
    if existing:
        deal_ids = list(Deal.objects.filter(company=company).values_list("id", flat=True))
        if deal_ids:
            deals_changed(workspace_id=workspace.id, deal_ids=deal_ids)
    return company


@transaction.atomic
def contact_save(*, workspace: Workspace, contact: Contact | None = None, **fields: Any) -> Contact:
    contact = contact or Contact(workspace=workspace)
    for attr, value in fields.items():
        setattr(contact, attr, value)
    if contact.company is not None and contact.company.workspace_id != workspace.id:
        raise ValidationError({"company": "Unknown company."})
    contact.full_clean()
    contact.save()
    return contact


def _record_deleted(
    deal: Deal, *, deleted: bool, actor: Membership | None, source_of_change: str, at: datetime
) -> None:
    DealHistory.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        field=TrackedField.DELETED,
        old_value=not deleted,
        new_value=deleted,
        changed_at=at,
        changed_by=actor,
        source=source_of_change,
    )


@transaction.atomic
def deal_delete(*, deal: Deal, actor: Membership | None, source_of_change: str = ChangeSource.WEB) -> Deal:
    """Soft-delete a deal: hidden everywhere from now on, its history kept (plus a "deleted" row).

    Who may delete is the caller's check; handlers drop the deal from forecasts, scores, embeddings and alerts.
    """
    locked = Deal.all_objects.select_for_update().get(pk=deal.pk)
    if locked.deleted_at is not None:
        return locked
    now = timezone.now()
    locked.deleted_at, locked.deleted_by = now, actor
    locked.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _record_deleted(locked, deleted=True, actor=actor, source_of_change=source_of_change, at=now)
    deals_changed(workspace_id=locked.workspace_id, deal_ids=[locked.id])
    return locked


@transaction.atomic
def deal_restore(*, deal: Deal, actor: Membership | None, source_of_change: str = ChangeSource.WEB) -> Deal:
    """Bring a deleted deal back everywhere (admins only: the caller checks with tenancy.access.require_admin)."""
    locked = Deal.all_objects.select_for_update().get(pk=deal.pk)
    if locked.deleted_at is None:
        return locked
    locked.deleted_at, locked.deleted_by = None, None
    locked.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _record_deleted(locked, deleted=False, actor=actor, source_of_change=source_of_change, at=timezone.now())
    deals_changed(workspace_id=locked.workspace_id, deal_ids=[locked.id])
    return locked


@transaction.atomic
def activity_update(*, activity: Activity, **fields: Any) -> Activity:
    for attr, value in fields.items():
        setattr(activity, attr, value)
    activity.full_clean(exclude=["contacts"])
    activity.save()
    if activity.deal_id is not None:
        deals_changed(workspace_id=activity.workspace_id, deal_ids=[activity.deal_id])
    return activity


@transaction.atomic
def activity_delete(*, activity: Activity) -> None:
    """Delete an activity; its deal's score, alerts and embedding no longer count it."""
    deal_id, workspace_id = activity.deal_id, activity.workspace_id
    activity.delete()
    if deal_id is not None:
        deals_changed(workspace_id=workspace_id, deal_ids=[deal_id])


@transaction.atomic
def company_delete(*, company: Company) -> None:
    """Delete a company; its deals, contacts and activities stay, without a company."""
    deal_ids = list(Deal.objects.filter(company=company).values_list("id", flat=True))
    company.delete()
    if deal_ids:
        deals_changed(workspace_id=company.workspace_id, deal_ids=deal_ids)


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    """Delete a contact; the deals it was on (directly or through an activity) are re-judged without it."""
    deal_ids = set(Deal.objects.filter(contacts=contact).values_list("id", flat=True))
    deal_ids |= set(Activity.objects.filter(contacts=contact, deal__isnull=False).values_list("deal_id", flat=True))
    contact.delete()
    if deal_ids:
        deals_changed(workspace_id=contact.workspace_id, deal_ids=sorted(deal_ids))


# ---- Saved views ------------------------------------------------------------------------------------


@transaction.atomic
def saved_view_save(*, actor: Membership, screen: str, name: str, query: str, sharing: str) -> SavedView:
    """Save (or overwrite, by name) a view of the deal list or the board; shared with the actor's team or the
    whole workspace when asked. Sharing with everyone is for managers and admins."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    team = None
    if sharing == SavedViewSharing.TEAM:
        team = actor.team
        if team is None:
            raise ValidationError({"sharing": "You are in no team; keep the view to yourself or share it with all."})
    if sharing == SavedViewSharing.WORKSPACE and actor.role not in {Role.OWNER, Role.ADMIN, Role.MANAGER}:
        raise ValidationError({"sharing": "Only managers and admins share views with the whole workspace."})
    view, _ = SavedView.objects.update_or_create(
        workspace_id=actor.workspace_id,
        owner=actor,
        screen=screen,
        name=name,
        defaults={"query": query[:2000], "sharing": sharing, "team": team},
    )
    view.full_clean()
    return view


def saved_view_delete(*, view: SavedView, actor: Membership) -> None:
    """Delete a saved view: its owner may, and an admin may delete a shared one."""
    own = view.owner_id == actor.id
    if not own and not (actor.can_administer and view.sharing != SavedViewSharing.PERSONAL):
        raise PermissionDenied("Only its owner (or an admin, for a shared view) can delete this view.")
    view.delete()
