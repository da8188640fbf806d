"""Reads of the collab app: a record's comments, a deal's tasks, a member's notifications and their day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils.safestring import SafeString

from alerts.models import Alert, Priority
from collab.formatting import render_comment
from collab.models import Comment, Notification, Task
from crm.models import Activity, ActivityKind, Company, Deal
from tenancy.models import Membership
from tenancy.scope import Scope

UPCOMING_DAYS = 7


@dataclass
class CommentView:
    comment: Comment
    html: SafeString
    can_edit: bool
    can_delete: bool


def comments_for(scope: Scope, *, deal: Deal | None = None, company: Company | None = None) -> list[CommentView]:
    """The record's comments, oldest first, each as safe HTML with what the member may do to it."""
    comments = Comment.objects.for_workspace(scope.workspace).visible_to(scope)
    comments = comments.filter(deal=deal) if deal is not None else comments.filter(company=company)
    member = scope.membership
    rows = []
    for comment in comments.select_related("author").prefetch_related("mentions"):
        mine = member is not None and comment.author_id == member.id and member.can_write
        admin = member is not None and member.can_administer
        names = [m.display_name for m in comment.mentions.all()]
        rows.append(CommentView(comment, render_comment(comment.body, names), mine, mine or admin))
    return rows


def tasks_for_deal(scope: Scope, deal: Deal) -> list[Task]:
    return list(
        Task.objects.for_workspace(scope.workspace).visible_to(scope).filter(deal=deal).select_related("assignee")
    )


def unread_count(member: Membership) -> int:
    return Notification.objects.filter(recipient=member, in_app=True, read_at__isnull=True).count()


def notifications_for(member: Membership, *, limit: int = 50, unread_only: bool = False) -> list[Notification]:
    found = Notification.objects.filter(recipient=member, in_app=True)
    if unread_only:
        found = found.filter(read_at__isnull=True)
    return list(found[:limit])


@dataclass
class DealNeed:
    deal: Deal
    reasons: list[str] = field(default_factory=list)


@dataclass
class MyDay:
    today: date
    overdue_tasks: list[Task]
    due_today: list[Task]
    upcoming_tasks: list[Task]
    deals: list[DealNeed]
    meetings_today: list[Activity]
    meetings_upcoming: list[Activity]

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.overdue_tasks,
                self.due_today,
                self.upcoming_tasks,
                self.deals,
                self.meetings_today,
                self.meetings_upcoming,
            )
        )


def _day_start(scope: Scope, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=scope.workspace.tz)


def my_day(scope: Scope, *, now: datetime | None = None) -> MyDay:
    """What a rep should do today: their tasks, their deals that need something, their meetings."""
    member = scope.membership
    assert member is not None, "my day is a member's page"
    today = scope.workspace.today() if now is None else now.astimezone(scope.workspace.tz).date()
    horizon = today + timedelta(days=UPCOMING_DAYS)
    tasks = list(
        Task.objects.for_workspace(scope.workspace)
        .visible_to(scope)
        .open()
        .filter(assignee=member, due_date__lte=horizon)
        .select_related("deal")
        .order_by("due_date", "id")
    )
    hot_alert = Alert.objects.needing_attention(today).filter(deal=OuterRef("pk"), priority__gte=Priority.HIGH)
    deals = (
        scope.deals()
        .open()
        .filter(owner=member)
        .annotate(hot=Exists(hot_alert))
        .filter(Q(hot=True) | Q(expected_close_date__lt=today) | Q(next_step=""))
        .select_related("company", "stage")
        .order_by("expected_close_date", "id")[:50]
    )
    needs = []
    for deal in deals:
        need = DealNeed(deal)
        if getattr(deal, "hot", False):
            need.reasons.append("High or Critical alert open")
        if deal.expected_close_date and deal.expected_close_date < today:
            need.reasons.append(f"Close date passed ({deal.expected_close_date:%b %-d, %Y})")
        if not deal.next_step:
            need.reasons.append("No next step")
        needs.append(need)
    start, tomorrow = _day_start(scope, today), _day_start(scope, today + timedelta(days=1))
    meetings = list(
        scope.visible(Activity.objects.for_workspace(scope.workspace), owner="owner")
        .filter(
            kind=ActivityKind.MEETING, owner=member, occurred_at__gte=start, occurred_at__lt=_day_start(scope, horizon)
        )
        .select_related("deal", "company")
        .order_by("occurred_at", "id")[:30]
    )
    return MyDay(
        today=today,
        overdue_tasks=[t for t in tasks if t.due_date is not None and t.due_date < today],
        due_today=[t for t in tasks if t.due_date == today],
        upcoming_tasks=[t for t in tasks if t.due_date is not None and t.due_date > today],
        deals=needs,
        meetings_today=[m for m in meetings if m.occurred_at < tomorrow],
        meetings_upcoming=[m for m in meetings if m.occurred_at >= tomorrow],
    )
