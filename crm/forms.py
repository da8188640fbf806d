"""Forms for the CRM screens. Every choice is limited to the request's workspace; ids are UUIDs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone

from crm import categories
from crm.models import Activity, Company, Contact, CustomField, CustomFieldKind, Deal, Stage
from crm.selectors import DEAL_SORTS, DealFilters
from tenancy.models import Membership, Team, Workspace
from tenancy.scope import Scope
from vectoros.forms import UUIDChoiceField, limit_choices
from vectoros.periods import fiscal_quarter_bounds, fiscal_year_bounds, period_label


def _next_quarter_day(workspace: Workspace, today: date) -> date:
    return fiscal_quarter_bounds(workspace, today)[1] + timedelta(days=1)


class StageChoiceField(UUIDChoiceField):
    def label_from_instance(self, obj: Stage) -> str:
        return f"{obj.pipeline.name} · {obj.name}" if self.show_pipeline else obj.name

    show_pipeline = False


def _stage_field(workspace: Workspace, *, required: bool = True, empty_label: str = "---------") -> StageChoiceField:
    field = StageChoiceField(
        Stage.objects.for_workspace(workspace).select_related("pipeline").order_by("-pipeline__is_default", "order"),
        required=required,
        empty_label=empty_label,
    )
    stages = field.queryset  # the field's own copy: the pipeline count below fills the cache its choices reuse
    field.show_pipeline = stages is not None and len({s.pipeline_id for s in stages}) > 1
    return field


def _members(workspace: Workspace) -> Any:
    return Membership.objects.for_workspace(workspace).active()


def _money(label: str, *, required: bool = False) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, required=required, min_value=Decimal("0"), max_digits=14, decimal_places=2, localize=False
    )


class DealForm(forms.Form):
    title = forms.CharField(max_length=200)
    company = UUIDChoiceField(Company.objects.none(), required=False)
    owner = UUIDChoiceField(Membership.objects.none(), required=False)
    stage = UUIDChoiceField(Stage.objects.none())
    amount = _money("Amount", required=True)
    probability = forms.DecimalField(
        label="Probability (%)", required=False, min_value=0, max_value=100, max_digits=5, decimal_places=2
    )
    expected_close_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.CharField(max_length=100, required=False)
    lost_reason = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, scope: Scope, deal: Deal | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        workspace = scope.workspace
        limit_choices(self, "company", Company.objects.for_workspace(workspace).only("uuid", "name"))
        # A deal may be given only to someone whose deals the member sees: nobody hands a deal out of sight.
        limit_choices(self, "owner", scope.reps().active())
        self.fields["stage"] = _stage_field(workspace)
        self._add_custom_fields(workspace, deal)
        # An existing deal's forecast category, for those who may override it (crm.categories.may_set_category).
        if deal is not None and categories.may_set_category(scope.membership, deal):
            self.fields["forecast_category"] = forms.ChoiceField(
                label="Forecast category",
                required=False,
                choices=categories.category_choices(workspace, stage_default=deal.stage.forecast_category),
            )

    def _add_custom_fields(self, workspace: Workspace, deal: Deal | None) -> None:
        """The workspace's typed custom fields (crm.models.CustomField), named `cf_<key>`."""
        self.custom_keys: list[str] = []
        for definition in CustomField.objects.for_workspace(workspace):
            field: forms.Field
            if definition.kind == CustomFieldKind.NUMBER:
                field = forms.DecimalField(required=False, max_digits=18, decimal_places=4)
            elif definition.kind == CustomFieldKind.DATE:
                field = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
            elif definition.kind == CustomFieldKind.CHOICE:
                field = forms.ChoiceField(required=False, choices=[("", "—"), *((c, c) for c in definition.choices)])
            else:
                field = forms.CharField(required=False, max_length=500)
            field.label = definition.label
            name = f"cf_{definition.key}"
            self.fields[name] = field
            if deal is not None and not self.is_bound:
                self.initial[name] = (deal.attributes or {}).get(definition.key)
            self.custom_keys.append(definition.key)

    @property
    def custom_fields(self) -> list[forms.BoundField]:
        return [self[f"cf_{key}"] for key in self.custom_keys]

    def custom_values(self) -> dict[str, Any]:
        """The custom fields' values as JSON values for the deal's attributes (numbers as numbers, dates ISO)."""
        values: dict[str, Any] = {}
        for key in self.custom_keys:
            value = self.cleaned_data.get(f"cf_{key}")
            if isinstance(value, Decimal):
                value = int(value) if value == value.to_integral_value() else float(value)
            elif isinstance(value, date):
                value = value.isoformat()
            values[key] = None if value in ("", None) else value
        return values

    def custom_changed(self) -> bool:
        return any(f"cf_{key}" in self.changed_data for key in self.custom_keys)


class DealMoveForm(forms.Form):
    stage = UUIDChoiceField(Stage.objects.none())

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"] = _stage_field(workspace)


class DealCloseForm(forms.Form):
    """What closing a deal asks for (the board's dialog, or its page without JavaScript)."""

    close_date = forms.DateField(label="Close date", widget=forms.DateInput(attrs={"type": "date"}))
    amount = _money("Final amount")
    lost_reason = forms.CharField(label="Why it was lost", max_length=200, required=False)


class ActivityForm(forms.ModelForm):
    occurred_at = forms.DateTimeField(
        label="When", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    class Meta:
        model = Activity
        fields = ["kind", "direction", "occurred_at", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 3})}

    def clean_occurred_at(self) -> Any:
        return self.cleaned_data.get("occurred_at") or timezone.now()


class CompanyForm(forms.ModelForm):
    owner = UUIDChoiceField(Membership.objects.none(), required=False)
    annual_revenue = _money("Annual revenue")

    class Meta:
        model = Company
        fields = ["name", "domain", "industry", "employees", "annual_revenue", "location", "owner"]

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "owner", _members(workspace))


class ContactForm(forms.ModelForm):
    company = UUIDChoiceField(Company.objects.none(), required=False)

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "email", "phone", "title", "company"]

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "company", Company.objects.for_workspace(workspace).only("uuid", "name"))


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    page = forms.IntegerField(required=False, min_value=1)


CLOSE_PERIODS = [
    ("", "Any time"),
    ("this_quarter", "This quarter"),
    ("next_quarter", "Next quarter"),
    ("this_year", "This fiscal year"),
    ("overdue", "Overdue (open, past close date)"),
    ("custom", "Custom dates"),
]
# What the deal list shows: open deals unless asked (the closed ones outnumber them many times over).
OUTCOME_VIEWS = [("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("closed", "Won or lost"), ("all", "All deals")]
# The deal list's optional columns (the deal's title is always shown).
DEAL_COLUMNS = [
    ("company", "Company"),
    ("stage", "Stage"),
    ("owner", "Owner"),
    ("amount", "Amount"),
    ("close", "Close date"),
    ("outcome", "Outcome"),
]
_SORT_LABELS = {
    "-amount": "Amount, largest first",
    "amount": "Amount, smallest first",
    "expected_close_date": "Close date, soonest first",
    "-expected_close_date": "Close date, latest first",
    "-created_at": "Newest first",
    "title": "Title A–Z",
}
SORTS = [(value, _SORT_LABELS[value]) for value in DEAL_SORTS]


class DealFilterForm(forms.Form):
    """The deal filters of the list, the CSV export and the API list: GET parameters to `DealFilters`.

    Owners and teams are those of the member's scope: another team's id is a field error, never a leak.
    Unknown or foreign ids are field errors, never a 500.
    """

    q = forms.CharField(required=False, max_length=200, label="Search")
    owner = UUIDChoiceField(Membership.objects.none(), required=False, empty_label="Any owner")
    team = UUIDChoiceField(Team.objects.none(), required=False, empty_label="Any team")
    stage = UUIDChoiceField(Stage.objects.none(), required=False)
    # Not offered as a list (a workspace has thousands of companies): the company page links with its id.
    company = forms.UUIDField(required=False)
    outcome = forms.ChoiceField(choices=[("", "Any outcome"), *OUTCOME_VIEWS], required=False, label="Show")
    close = forms.ChoiceField(choices=CLOSE_PERIODS, required=False, label="Close period")
    cols = forms.MultipleChoiceField(
        choices=DEAL_COLUMNS, required=False, label="Columns", widget=forms.CheckboxSelectMultiple
    )
    close_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    close_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    updated_since = forms.DateTimeField(required=False)
    sort = forms.ChoiceField(choices=SORTS, required=False)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, scope: Scope, default_outcome: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.workspace = scope.workspace
        # A screen that shows open deals by default (the deal list, the board): no `outcome` parameter means open.
        if default_outcome and isinstance(self.data, QueryDict) and "outcome" not in self.data:
            data = self.data.copy()
            data["outcome"] = default_outcome
            self.data = data
        limit_choices(self, "owner", scope.reps().active())
        limit_choices(self, "team", scope.teams())
        self.fields["stage"] = _stage_field(self.workspace, required=False, empty_label="Any stage")
        today = self.workspace.today()
        labels = {
            "this_quarter": period_label(self.workspace, *fiscal_quarter_bounds(self.workspace, today)),
            "next_quarter": period_label(
                self.workspace, *fiscal_quarter_bounds(self.workspace, _next_quarter_day(self.workspace, today))
            ),
            "this_year": period_label(self.workspace, *fiscal_year_bounds(self.workspace, today)),
        }
        close_field: Any = self.fields["close"]
        close_field.choices = [
            (value, f"{text} ({labels[value]})" if value in labels else text) for value, text in CLOSE_PERIODS
        ]

    def effective_query(self) -> str:
        """The filters as applied (with the default outcome filled in), as a query string without the page:
        what the Export link and a saved view carry."""
        query = self.data.copy() if isinstance(self.data, QueryDict) else QueryDict(mutable=True)
        query.pop("page", None)
        query.pop("csrfmiddlewaretoken", None)
        return query.urlencode()

    def columns(self) -> list[str]:
        """The optional columns to show: those asked for, else all."""
        chosen = self.cleaned_data.get("cols") if self.is_bound and not self.errors else None
        return list(chosen) if chosen else [value for value, _ in DEAL_COLUMNS]

    def clean_company(self) -> Company | None:
        value = self.cleaned_data.get("company")
        if value is None:
            return None
        company = Company.objects.for_workspace(self.workspace).filter(uuid=value).first()
        if company is None:
            raise ValidationError("No such company.")
        return company

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("close_from"), data.get("close_to")
        if start and end and start > end:
            raise ValidationError({"close_to": "The end date is before the start date."})
        return data

    def close_range(self, today: date) -> tuple[date | None, date | None]:
        """The expected-close window the filters ask for (fiscal quarters of the workspace)."""
        period = self.cleaned_data.get("close")
        if period == "this_quarter":
            return self.workspace.fiscal_quarter_bounds(today)
        if period == "next_quarter":
            return fiscal_quarter_bounds(self.workspace, _next_quarter_day(self.workspace, today))
        if period == "this_year":
            return fiscal_year_bounds(self.workspace, today)
        if period == "overdue":
            return None, today - timedelta(days=1)
        if period == "custom" or self.cleaned_data.get("close_from") or self.cleaned_data.get("close_to"):
            return self.cleaned_data.get("close_from"), self.cleaned_data.get("close_to")
        return None, None

    def filters(self) -> DealFilters:
        """The validated filters (call after `is_valid()`); an unbound or invalid form filters nothing."""
        if not self.is_bound or self.errors:
            return DealFilters()
        data = self.cleaned_data
        close_from, close_to = self.close_range(self.workspace.today())
        return DealFilters(
            q=data.get("q") or "",
            owner=data.get("owner"),
            team=data.get("team"),
            stage=data.get("stage"),
            company=data.get("company"),
            outcome="" if data.get("outcome") == "all" else data.get("outcome") or "",
            close_from=close_from,
            close_to=close_to,
            open_only=data.get("close") == "overdue",
            updated_since=data.get("updated_since"),
            sort=data.get("sort") or DealFilters.sort,
        )
