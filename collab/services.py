"""Writes of the collab app: comments and their mentions, notifications and their delivery choices, tasks.

Only a member who can see a record can be mentioned on it or hear about it: visibility is each member's own
`Scope` (a rep sees their team's deals; companies are seen by everyone in the workspace).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from alerts.links import deal_path
from alerts.models import Alert, Priority
from collab.formatting import names_mentioned
from collab.models import (
    Comment,
    DeliveryState,
    Notification,
    NotificationKind,
    NotificationSettings,
    PushSubscription,
    Task,
    default_channels,
)
from collab.push import PushError, check_endpoint
from crm import services as crm_services
from crm.models import ChangeSource, Company, Deal, DealHistory, TrackedField
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

MAX_COMMENT_CHARS = 5000
CHANNELS = ("app", "email", "push")
# An assignment older than this when the deal-change handler first sees it is not news any more.
ASSIGNMENT_WINDOW = timedelta(days=1)


# ---- who can see what ------------------------------------------------------------------------------------------


def member_can_see(member: Membership, *, deal: Deal | None = None, company: Company | None = None) -> bool:
    if not member.is_active or member.user_id is None:
        return False
    if deal is not None:
        if deal.workspace_id != member.workspace_id or deal.deleted_at is not None:
            return False
        if member.sees_everything or deal.owner_id == member.id:
            return True  # what Scope would answer, without its queries (this runs once per candidate)
        return Scope.for_member(member).deals().filter(id=deal.id).exists()
    return company is not None and company.workspace_id == member.workspace_id


def mentionable_members(
    *, workspace: Workspace, deal: Deal | None = None, company: Company | None = None, query: str = "", limit: int = 8
) -> list[Membership]:
    """Active members with a login who can see the record, whose name or email starts with `query`."""
    members = (
        Membership.objects.for_workspace(workspace).active().filter(user__isnull=False).select_related("workspace")
    )
    if query:
        words = query.strip().lower()
        members = members.filter(display_name__icontains=words) | members.filter(email__istartswith=words)
    found = []
    for member in members.order_by("display_name", "id")[:200]:
        if member_can_see(member, deal=deal, company=company):
            found.append(member)
            if len(found) >= limit:
                break
    return found


def _record_path(comment: Comment) -> str:
    slug = comment.workspace.slug
    if comment.deal is not None:
        return deal_path(slug, comment.deal.uuid) + f"#comment-{comment.uuid}"
    assert comment.company is not None
    return reverse("crm:company_detail", args=[slug, comment.company.uuid]) + f"#comment-{comment.uuid}"


def _record_name(comment: Comment) -> str:
    if comment.deal is not None:
        return comment.deal.title
    assert comment.company is not None
    return comment.company.name


# ---- comments --------------------------------------------------------------------------------------------------


def _clean_body(body: str) -> str:
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise ValidationError({"body": "Write something first."})
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationError({"body": f"A comment has at most {MAX_COMMENT_CHARS} characters."})
    return body


def _mentions_in(comment: Comment, body: str, mention_uuids: Iterable[uuid.UUID | str]) -> list[Membership]:
    """The members picked (by id) or named (`@Name`) who can see the comment's record; the author never."""
    wanted = {str(u) for u in mention_uuids}
    candidates = list(
        Membership.objects.for_workspace(comment.workspace)
        .active()
        .filter(user__isnull=False)
        .exclude(id=comment.author_id or 0)
    )
    named = set(names_mentioned(body, [(m.id, m.display_name) for m in candidates]))
    picked = [m for m in candidates if str(m.uuid) in wanted or m.id in named]
    return [m for m in picked if member_can_see(m, deal=comment.deal, company=comment.company)]


def _require_writer(actor: Membership | None, workspace_id: int) -> None:
    """`actor` None is a workspace-wide API key (read-only keys never get this far)."""
    if actor is not None and (actor.workspace_id != workspace_id or not actor.can_write):
        raise PermissionDenied("Read-only members cannot write here.")


@transaction.atomic
def comment_create(
    *,
    author: Membership | None,
    body: str,
    deal: Deal | None = None,
    company: Company | None = None,
    mention_uuids: Iterable[uuid.UUID | str] = (),
) -> Comment:
    if (deal is None) == (company is None):
        raise ValueError("A comment is on one deal or one company.")
    record = deal if deal is not None else company
    assert record is not None
    _require_writer(author, record.workspace_id)
    comment = Comment(
        workspace_id=record.workspace_id, deal=deal, company=company, author=author, body=_clean_body(body)
    )
    comment.save()
    mentioned = _mentions_in(comment, comment.body, mention_uuids)
    comment.mentions.set(mentioned)
    _notify_mentions(comment, mentioned)
    return comment


@transaction.atomic
def comment_update(
    *, comment: Comment, actor: Membership | None, body: str, mention_uuids: Iterable[uuid.UUID | str] = ()
) -> Comment:
    """Only the author edits a comment (a workspace-wide API key, those it wrote); members newly mentioned hear of
    it (those already told do not again)."""
    _require_writer(actor, comment.workspace_id)
    if comment.author_id != (actor.id if actor is not None else None):
        raise PermissionDenied("You can edit only your own comments.")
    comment.body = _clean_body(body)
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "edited_at"])
    kept = {m.uuid for m in comment.mentions.all()}
    mentioned = _mentions_in(comment, comment.body, [*mention_uuids, *kept])
    comment.mentions.set(mentioned)
    _notify_mentions(comment, mentioned)
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, actor: Membership | None) -> None:
    """The author deletes their comment; owners and admins (and workspace-wide API keys) delete anyone's."""
    _require_writer(actor, comment.workspace_id)
    if actor is not None and comment.author_id != actor.id and not actor.can_administer:
        raise PermissionDenied("You can delete only your own comments.")
    comment.delete()


def _notify_mentions(comment: Comment, mentioned: list[Membership]) -> None:
    author = comment.author.display_name if comment.author else "Someone"
    for member in mentioned:
        notify(
            recipient=member,
            kind=NotificationKind.MENTION,
            title=f"{author} mentioned you on {_record_name(comment)}"[:200],
            body=comment.body[:500],
            url=_record_path(comment),
            key=f"mention:{comment.uuid}:{member.uuid}",
        )


# ---- notifications ---------------------------------------------------------------------------------------------


def settings_for(member: Membership) -> NotificationSettings:
    found = NotificationSettings.objects.filter(membership=member).first()
    return found if found is not None else NotificationSettings(membership=member)


def notify(
    *, recipient: Membership, kind: str, title: str, url: str, key: str, body: str = "", push: bool = True
) -> Notification | None:
    """One notification for `recipient`, delivered where they chose; None when `key` was used already.

    `push=False` keeps it off Web Push whatever the member chose (only mentions and Critical alerts push).
    Email and push go out after the transaction commits, each at most once.
    """
    if not recipient.is_active or recipient.user_id is None:
        return None  # an imported person without a login, or someone who left: nobody to tell
    prefs = settings_for(recipient)
    wants_email = prefs.wants(kind, "email") and bool(recipient.email)
    wants_push = push and prefs.wants(kind, "push") and recipient.push_subscriptions.exists()
    in_app = prefs.wants(kind, "app")
    if not (in_app or wants_email or wants_push):
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                workspace_id=recipient.workspace_id,
                recipient=recipient,
                kind=kind,
                title=title[:200],
                body=body[:500],
                url=url[:500],
                key=key[:200],
                in_app=in_app,
                email_state=DeliveryState.PENDING if wants_email else DeliveryState.NONE,
                push_state=DeliveryState.PENDING if wants_push else DeliveryState.NONE,
            )
    except IntegrityError:
        return None  # told already (a hook re-run, an edited comment)
    if wants_email or wants_push:
        transaction.on_commit(lambda: _send_later(notification.id))
    return notification


def _send_later(notification_id: int) -> None:
    # A broker outage is no failure of the write: the minutely `deliver_pending` schedule sends it then.
    with contextlib.suppress(Exception):
        async_task("collab.tasks.deliver_notification", notification_id, task_name="collab.deliver")


def notifications_mark_read(*, member: Membership, uuids: Iterable[uuid.UUID | str] | None = None) -> int:
    """Mark the member's notifications read: those named, or all of them when `uuids` is None."""
    unread = Notification.objects.filter(recipient=member, read_at__isnull=True)
    if uuids is not None:
        unread = unread.filter(uuid__in=[str(u) for u in uuids])
    return unread.update(read_at=timezone.now())


def notification_settings_save(*, member: Membership, channels: dict[str, list[str]]) -> NotificationSettings:
    cleaned = {kind: [c for c in CHANNELS if c in channels.get(kind, [])] for kind in default_channels()}
    row, _ = NotificationSettings.objects.update_or_create(membership=member, defaults={"channels": cleaned})
    return row


def push_subscription_save(*, member: Membership, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    if not endpoint or not p256dh or not auth or len(endpoint) > 1000 or len(p256dh) > 200 or len(auth) > 100:
        raise ValidationError("Not a push subscription.")
    try:
        check_endpoint(endpoint)
    except PushError as exc:
        raise ValidationError(f"This push service cannot be used: {exc}") from None
    row, _ = PushSubscription.objects.update_or_create(
        membership=member,
        endpoint=endpoint,
        defaults={"workspace_id": member.workspace_id, "p256dh": p256dh, "auth": auth, "last_error": ""},
    )
    return row


def push_subscription_delete(*, member: Membership, endpoint: str) -> int:
    deleted, _ = PushSubscription.objects.filter(membership=member, endpoint=endpoint).delete()
    return deleted


# ---- hooks from lower apps -------------------------------------------------------------------------------------


def on_alerts_changed(*, workspace: Workspace, created: list[int], escalated: list[int], **_: Any) -> int:
    """An ALERTS_CHANGED_HOOKS entry: the deal's owner hears of each High or Critical alert once per priority."""
    alerts = Alert.objects.filter(
        id__in=[*created, *escalated], priority__gte=Priority.HIGH, deal__owner__isnull=False
    ).select_related("deal__owner", "workspace")
    count = 0
    for alert in alerts:
        deal = alert.deal
        assert deal is not None and deal.owner is not None
        label = Priority(alert.priority).label
        made = notify(
            recipient=deal.owner,
            kind=NotificationKind.ALERT,
            title=f"{label} alert on {deal.title}: {alert.get_kind_display()}"[:200],
            body=alert.seen[:500],
            url=deal_path(workspace.slug, deal.uuid),
            key=f"alert:{alert.uuid}:{alert.priority}",
            push=alert.priority >= Priority.CRITICAL,
        )
        count += made is not None
    return count


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> int:
    """A DEAL_CHANGE_HANDLERS entry: whoever a person (web or API) made a deal's owner hears of it once."""
    since = timezone.now() - ASSIGNMENT_WINDOW
    rows = DealHistory.objects.filter(
        workspace_id=workspace_id,
        deal_id__in=deal_ids,
        field=TrackedField.OWNER,
        changed_at__gte=since,
        source__in=[ChangeSource.WEB, ChangeSource.API],
        new_value__isnull=False,
    ).select_related("deal", "deal__workspace", "changed_by")
    count = 0
    for row in rows:
        owner_id = row.new_value
        if not isinstance(owner_id, int) or owner_id == row.changed_by_id or row.deal.owner_id != owner_id:
            continue  # assigned to themselves, or reassigned again since
        owner = Membership.objects.filter(id=owner_id, workspace_id=workspace_id).first()
        if owner is None:
            continue
        who = row.changed_by.display_name if row.changed_by else "Someone"
        made = notify(
            recipient=owner,
            kind=NotificationKind.ASSIGNMENT,
            title=f"{who} made you the owner of {row.deal.title}"[:200],
            url=deal_path(row.deal.workspace.slug, row.deal.uuid),
            key=f"assignment:{row.id}",
            push=False,
        )
        count += made is not None
    return count


# ---- tasks and next steps --------------------------------------------------------------------------------------


def _check_assignee(deal: Deal, assignee: Membership | None) -> None:
    if assignee is not None and not member_can_see(assignee, deal=deal):
        raise ValidationError({"assignee": "Pick a member who can see this deal."})


def _clean_title(title: str) -> str:
    title = (title or "").replace("\x00", "").strip()
    if not title:
        raise ValidationError({"title": "Give the task a title."})
    if len(title) > 200:
        raise ValidationError({"title": "A task title has at most 200 characters."})
    return title


@transaction.atomic
def task_create(
    *,
    actor: Membership | None,
    deal: Deal,
    title: str,
    due_date: date | None = None,
    assignee: Membership | None = None,
) -> Task:
    _require_writer(actor, deal.workspace_id)
    assignee = assignee if assignee is not None else actor
    _check_assignee(deal, assignee)
    return Task.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        title=_clean_title(title),
        due_date=due_date,
        assignee=assignee,
        created_by=actor,
    )


@transaction.atomic
def task_update(*, task: Task, actor: Membership | None, **changes: Any) -> Task:
    """Change a task's title, due date, assignee or done flag (any writer who sees the deal)."""
    _require_writer(actor, task.workspace_id)
    unknown = set(changes) - {"title", "due_date", "assignee", "done"}
    if unknown:
        raise ValueError(f"task_update cannot change {sorted(unknown)}")
    if "title" in changes:
        task.title = _clean_title(changes["title"])
    if "due_date" in changes:
        task.due_date = changes["due_date"]
    if "assignee" in changes:
        _check_assignee(task.deal, changes["assignee"])
        task.assignee = changes["assignee"]
    if "done" in changes and bool(changes["done"]) != task.done:
        task.done = bool(changes["done"])
        task.done_at = timezone.now() if task.done else None
    task.save()
    return task


@transaction.atomic
def task_delete(*, task: Task, actor: Membership | None) -> None:
    _require_writer(actor, task.workspace_id)
    task.delete()


def deal_next_step_set(*, deal: Deal, actor: Membership, next_step: str) -> Deal:
    """The deal's next step, through crm's `deal_update` like every deal write."""
    _require_writer(actor, deal.workspace_id)
    text = (next_step or "").replace("\x00", "").strip()
    if len(text) > 255:
        raise ValidationError({"next_step": "A next step has at most 255 characters."})
    return crm_services.deal_update(deal=deal, actor=actor, changes={"next_step": text})
