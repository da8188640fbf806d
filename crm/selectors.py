"""Reads of CRM data, including the state of deals as of any past moment (rebuilt from DealHistory)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils.dateformat import format as date_format

from crm import history
from crm.categories import category_labels
from crm.models import (
    Activity,
    Company,
    Contact,
    CustomField,
    Deal,
    DealHistory,
    DealQuerySet,
    ForecastCategory,
    Outcome,
    Pipeline,
    SavedView,
    SavedViewSharing,
    Stage,
    StageKind,
    TrackedField,
)
from tenancy.access import parse_uuid
from tenancy.models import Membership, Team, Workspace
from tenancy.scope import Scope


@dataclass(frozen=True)
class DealSnapshot:
    """A deal as it stood at `as_of`."""

    id: int
    uuid: str
    title: str
    owner_id: int | None
    company_id: int | None
    pipeline_id: int
    stage_id: int
    amount: Decimal
    expected_close_date: date | None
    probability: Decimal | None
    outcome: str
    created_at: datetime
    closed_at: datetime | None
    stage_entered_at: datetime
    as_of: datetime

    @property
    def is_open(self) -> bool:
        return self.outcome == Outcome.OPEN


_SNAPSHOT_COLUMNS = (
    "id",
    "uuid",
    "title",
    "owner_id",
    "company_id",
    "pipeline_id",
    "stage_id",
    "amount",
    "expected_close_date",
    "probability",
    "outcome",
    "created_at",
    "closed_at",
    "stage_entered_at",
)


def pipeline_as_of(
    workspace: Workspace | int, as_of: datetime, *, deal_ids: list[int] | None = None
) -> list[DealSnapshot]:
    """Every deal that existed at `as_of`, with its stage, amount, dates, owner and outcome as of then.

    The state at `as_of` is the fold of `crm.history.apply` over the deal's rows up to then. Only the
    last row of each field matters to that fold (a later row of a field overwrites it, and the derived
    moments come from the last stage and outcome rows), so three queries do whatever the number of
    deals: the deals, the last row per field up to `as_of`, and, for a field with no row by then (a
    value set after creation, a deal written without history), the old value of its first later row.
    """
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    deals = Deal.objects.for_workspace(workspace_id).filter(created_at__lte=as_of)
    if deal_ids is not None:
        deals = deals.filter(id__in=deal_ids)
    rows = {row["id"]: row for row in deals.values(*_SNAPSHOT_COLUMNS).order_by()}
    if not rows:
        return []
    ids = list(rows) if deal_ids is not None else None

    tracked = DealHistory.objects.for_workspace(workspace_id).filter(field__in=list(history.TRACKED_ATTRS))
    upto, later = tracked.filter(changed_at__lte=as_of), tracked.filter(changed_at__gt=as_of)
    if ids is not None:
        upto, later = upto.filter(deal_id__in=ids), later.filter(deal_id__in=ids)
    last_rows = (
        upto.order_by("deal_id", "field", *history.LATEST_FIRST)
        .distinct("deal_id", "field")
        .values_list("deal_id", "field", "new_value", "changed_at")
    )
    first_later = (
        later.order_by("deal_id", "field", *history.EARLIEST_FIRST)
        .distinct("deal_id", "field")
        .values_list("deal_id", "field", "old_value")
    )
    changes: dict[int, list[history.Change]] = {}
    for deal_id, field, new_value, changed_at in last_rows:
        if deal_id in rows:
            changes.setdefault(deal_id, []).append(history.Change(field, new_value, changed_at))
    before_later: dict[int, dict[str, Any]] = {}
    for deal_id, field, old_value in first_later:
        before_later.setdefault(deal_id, {})[field] = old_value

    snapshots = []
    for deal_id, row in rows.items():
        folded = {c.field for c in changes.get(deal_id, ())}
        start: dict[str, Any] = {}
        for field, attr in history.TRACKED_ATTRS.items():
            if field in folded:
                start[attr] = None
            elif field in before_later.get(deal_id, {}):
                start[attr] = history.decode(field, before_later[deal_id][field])
            else:
                start[attr] = row[attr]
        entered = row["stage_entered_at"]
        state = history.DealState(
            **start,
            stage_entered_at=entered if entered is not None and entered <= as_of else row["created_at"],
            closed_at=None if start["outcome"] == Outcome.OPEN else row["closed_at"],
        )
        state = history.fold(sorted(changes.get(deal_id, ()), key=lambda c: c.at), state)
        snapshots.append(DealSnapshot(**{**row, **vars(state), "uuid": str(row["uuid"])}, as_of=as_of))
    snapshots.sort(key=lambda s: s.id)
    return snapshots


def deal_state_as_of(deal: Deal, as_of: datetime) -> DealSnapshot | None:
    """The deal as it stood at `as_of`, or None when it did not exist yet."""
    found = pipeline_as_of(deal.workspace_id, as_of, deal_ids=[deal.id])
    return found[0] if found else None


# ---- Screens ---------------------------------------------------------------------------------------

BOARD_CARDS_PER_COLUMN = 30


@dataclass
class BoardColumn:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal("0")
    cards: list[Deal] = dataclass_field(default_factory=list)

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[BoardColumn]
    closed: list[BoardColumn]  # won and lost stages: counts and totals this fiscal quarter, no cards
    quarter: tuple[date, date]
    stages: list[Stage]

    @property
    def open_count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def open_total(self) -> Decimal:
        return sum((c.total for c in self.columns), Decimal("0"))


def deal_get_for_member(scope: Scope, deal_uuid: object) -> Deal:
    """A deal the member may see, or 404 (the same for another workspace's and a missing deal)."""
    found = (
        scope.deals().select_related("company", "owner", "stage", "pipeline").filter(uuid=parse_uuid(deal_uuid)).first()
    )
    if found is None:
        raise Http404("No such deal")
    return found


def board_for_member(
    scope: Scope,
    *,
    today: date,
    filters: DealFilters | None = None,
    pipeline: Pipeline | None = None,
    cards_per_column: int = BOARD_CARDS_PER_COLUMN,
) -> Board:
    """A pipeline (the default one unless given) as columns: counts and totals per open stage with its largest
    deals, narrowed by the deal list's `filters` (owner, team, close period) when given.

    A fixed number of queries whatever the number of deals: the stages, one aggregate, one windowed
    query for the top cards of every column, and one aggregate for this quarter's closed deals.
    """
    workspace = scope.workspace
    if pipeline is None:
        pipeline = Pipeline.objects.for_workspace(workspace).filter(is_default=True).first()
    if pipeline is None:
        raise Http404("This workspace has no pipeline")
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("order"))
    visible = (deals_filtered(scope, filters) if filters is not None else scope.deals()).filter(pipeline=pipeline)
    open_deals = visible.filter(outcome=Outcome.OPEN)
    columns = {s.id: BoardColumn(stage=s) for s in stages if s.kind == StageKind.OPEN}
    for row in open_deals.order_by().values("stage_id").annotate(n=Count("id"), total=Sum("amount")):
        column = columns.get(row["stage_id"])
        if column is not None:
            column.count, column.total = row["n"], row["total"] or Decimal("0")

    ranked = (
        open_deals.select_related("company", "owner")
        .only(
            "uuid", "title", "amount", "currency", "expected_close_date", "stage_id", "forecast_category", "outcome",
            "company__name", "owner__display_name",
        )
        .annotate(rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=[F("amount").desc(), F("id")]))
        .filter(rank__lte=cards_per_column)
        .order_by("stage_id", "rank")
    )  # fmt: skip
    for deal in ranked:
        column = columns.get(deal.stage_id)
        if column is not None:
            column.cards.append(deal)

    quarter = workspace.fiscal_quarter_bounds(today)
    tz = workspace.tz
    start = datetime.combine(quarter[0], time.min, tzinfo=tz)
    end = datetime.combine(quarter[1] + timedelta(days=1), time.min, tzinfo=tz)
    closed = {s.id: BoardColumn(stage=s) for s in stages if s.kind != StageKind.OPEN}
    closed_rows = (
        visible.exclude(outcome=Outcome.OPEN)
        .filter(closed_at__gte=start, closed_at__lt=end)
        .order_by()
        .values("stage_id")
        .annotate(n=Count("id"), total=Sum("amount"))
    )
    for row in closed_rows:
        column = closed.get(row["stage_id"])
        if column is not None:
            column.count, column.total = row["n"], row["total"] or Decimal("0")
    return Board(pipeline, list(columns.values()), list(closed.values()), quarter, stages)


DEAL_SORTS = ("-amount", "amount", "expected_close_date", "-expected_close_date", "-created_at", "title")


@dataclass(frozen=True)
class DealFilters:
    """How the deal list, the CSV export and the API list narrow and order deals: one meaning everywhere.

    Built by `crm.forms.DealFilterForm`, which only offers owners, teams, stages and companies in scope.
    """

    q: str = ""
    owner: Membership | None = None
    team: Team | None = None
    stage: Stage | None = None
    company: Company | None = None
    outcome: str = ""
    close_from: date | None = None
    close_to: date | None = None
    open_only: bool = False  # "overdue": still open past the close date
    updated_since: datetime | None = None
    sort: str = DEAL_SORTS[0]


def deals_filtered(scope: Scope, filters: DealFilters) -> DealQuerySet:
    """The deals in scope, narrowed by `filters` and sorted (ties broken by id, so pages are stable)."""
    deals = scope.deals().select_related("company", "owner", "stage")
    if q := filters.q.strip():
        deals = deals.filter(
            Q(title__icontains=q)
            | Q(company__name__icontains=q)
            | Q(owner__display_name__icontains=q)
            | Q(owner__email__icontains=q)
        )
    if filters.owner is not None:
        deals = deals.filter(owner=filters.owner)
    if filters.team is not None:
        deals = deals.filter(owner__team=filters.team)
    if filters.stage is not None:
        deals = deals.filter(stage=filters.stage)
    if filters.company is not None:
        deals = deals.filter(company=filters.company)
    if filters.outcome == "closed":
        deals = deals.exclude(outcome=Outcome.OPEN)
    elif filters.outcome:
        deals = deals.filter(outcome=filters.outcome)
    if filters.open_only:
        deals = deals.filter(outcome=Outcome.OPEN)
    if filters.close_from:
        deals = deals.filter(expected_close_date__gte=filters.close_from)
    if filters.close_to:
        deals = deals.filter(expected_close_date__lte=filters.close_to)
    if filters.updated_since:
        deals = deals.filter(updated_at__gte=filters.updated_since)
    sort = filters.sort if filters.sort in DEAL_SORTS else DEAL_SORTS[0]
    nulls = {"expected_close_date": F("expected_close_date").asc(nulls_last=True)}
    nulls["-expected_close_date"] = F("expected_close_date").desc(nulls_last=True)
    return deals.order_by(nulls.get(sort, sort), "id")


@dataclass(frozen=True)
class HistoryRow:
    changed_at: datetime
    who: str
    field: str
    old: str
    new: str
    source: str


def _readable(  # value: a JSON value
    field_name: str,
    value: Any,
    stages: dict[int, str],
    members: dict[int, str],
    labels: dict[str, str] | None = None,
    currency: str = "",
) -> str:
    if value is None or value == "":
        return "—"
    if field_name == TrackedField.AMOUNT:  # as the deal page writes amounts: "USD 423,000"
        amount = history.decode(field_name, value)
        return f"{currency} {amount:,.0f}".strip() if amount == amount.to_integral() else f"{currency} {amount:,.2f}"
    if field_name == TrackedField.EXPECTED_CLOSE_DATE:
        return date_format(history.decode(field_name, value), "M j, Y")
    if field_name == TrackedField.STAGE:
        return stages.get(int(value), "(deleted stage)")
    if field_name == TrackedField.OWNER:
        return members.get(int(value), "(former member)")
    if field_name == TrackedField.OUTCOME:
        return Outcome(value).label if value in Outcome.values else str(value)
    if field_name == TrackedField.DELETED:
        return "yes" if value else "no"
    if field_name == TrackedField.FORECAST_CATEGORY:
        return (labels or {}).get(value) or (
            ForecastCategory(value).label if value in ForecastCategory.values else str(value)
        )
    if field_name == TrackedField.PROBABILITY:
        return f"{format(history.decode(field_name, value).normalize(), 'f')}%"
    return str(value)


def deal_history_rows(deal: Deal) -> list[HistoryRow]:
    """The deal's history, newest first, with stage and owner names instead of ids."""
    rows = list(deal.history.select_related("changed_by").order_by("-changed_at", "-id"))
    stages = dict(Stage.objects.for_workspace(deal.workspace_id).values_list("id", "name"))
    members = dict(Membership.objects.filter(workspace_id=deal.workspace_id).values_list("id", "display_name"))
    # The workspace's own category names, read only when the history has a category change.
    labels = (
        category_labels(deal.workspace_id) if any(r.field == TrackedField.FORECAST_CATEGORY for r in rows) else None
    )
    return [
        HistoryRow(
            changed_at=r.changed_at,
            who=r.changed_by.display_name if r.changed_by else "System",
            field=r.get_field_display(),
            old=_readable(r.field, r.old_value, stages, members, labels, deal.currency),
            new=_readable(r.field, r.new_value, stages, members, labels, deal.currency),
            source=r.get_source_display(),
        )
        for r in rows
    ]


def activities_visible_to(scope: Scope) -> QuerySet[Activity]:
    """The workspace's activities this member may see: those on no deal and those on deals they see.

    Companies and contacts are shared by the whole workspace, but their timelines must not reveal
    the calls and emails of another team's deals.
    """
    activities = Activity.objects.for_workspace(scope.workspace.id).exclude(deal__deleted_at__isnull=False)
    owners = scope.owner_ids
    if owners is None:
        return activities
    return activities.filter(Q(deal__isnull=True) | Q(deal__owner_id__in=owners))


@dataclass(frozen=True)
class RecordTimeline:
    deals: QuerySet[Deal]
    activities: QuerySet[Activity]


def record_timeline_for_member(scope: Scope, *, lookup: str, record: Company | Contact) -> RecordTimeline:
    """A company's or contact's deals and activities, as far as this member may see them.

    `lookup` is the relation both deals and activities have to the record: "company" or "contacts".
    """
    return RecordTimeline(
        deals=scope.deals().filter(**{lookup: record}).select_related("stage", "owner").order_by("-created_at")[:100],
        activities=activities_visible_to(scope)
        .filter(**{lookup: record})
        .select_related("owner", "deal")
        .order_by("-occurred_at")[:50],
    )


def company_list_for_member(scope: Scope, *, q: str = "") -> QuerySet[Company]:
    """The workspace's companies (shared by everyone), each with the number of its deals in the member's sight."""
    companies = Company.objects.for_workspace(scope.workspace).select_related("owner")
    if q := q.strip():
        companies = companies.filter(Q(name__icontains=q) | Q(domain__icontains=q) | Q(industry__icontains=q))
    in_sight = scope.deals().filter(company=OuterRef("pk")).order_by().values("company").annotate(n=Count("id"))
    return companies.annotate(deal_count=Coalesce(Subquery(in_sight.values("n")), 0)).order_by("name", "id")


def contact_list_for_workspace(workspace: Workspace, *, q: str = "") -> QuerySet[Contact]:
    contacts = Contact.objects.for_workspace(workspace).select_related("company")
    if q := q.strip():
        contacts = contacts.filter(
            Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(email__icontains=q)
            | Q(company__name__icontains=q)
        )
    return contacts.order_by("last_name", "first_name", "id")


def deal_external_ids_out_of_sight(scope: Scope) -> frozenset[str]:
    """External ids of the workspace's deals outside `scope`: an import by this member must not match them."""
    if scope.owner_ids is None:
        return frozenset()
    hidden = (
        Deal.objects.for_workspace(scope.workspace).exclude(external_id="").exclude(id__in=scope.deals().values("id"))
    )
    return frozenset(hidden.values_list("external_id", flat=True))


def deleted_deals_for_admin(workspace: Workspace) -> QuerySet[Deal]:
    """The workspace's deleted deals, latest deletion first: what an admin may restore."""
    deals = Deal.all_objects.for_workspace(workspace).deleted()
    return deals.select_related("company", "owner", "stage", "deleted_by").order_by("-deleted_at", "-id")


def deleted_deal_get(workspace: Workspace, deal_uuid: object) -> Deal:
    """A deleted deal of this workspace; 404 for anything else (a live deal, another tenant's, a bad id)."""
    found = deleted_deals_for_admin(workspace).filter(uuid=parse_uuid(deal_uuid)).first()
    if found is None:
        raise Http404("No such deleted deal")
    return found


def saved_views_for_member(membership: Membership, screen: str) -> QuerySet[SavedView]:
    """The saved views of a screen this member may apply: their own, their team's and the workspace's."""
    shared = Q(sharing=SavedViewSharing.WORKSPACE)
    if membership.team_id is not None:
        shared |= Q(sharing=SavedViewSharing.TEAM, team_id=membership.team_id)
    views = SavedView.objects.for_workspace(membership.workspace_id).filter(screen=screen)
    return views.filter(Q(owner=membership) | shared).select_related("owner").order_by("name", "id")


def deal_custom_values(deal: Deal) -> list[tuple[str, Any]]:
    """(label, value) of each of the workspace's custom fields for this deal, in the fields' order."""
    attributes = deal.attributes or {}
    return [
        (field.label, attributes.get(field.key))
        for field in CustomField.objects.for_workspace(deal.workspace_id).only("label", "key")
    ]
