"""Stored forecast runs (with per-deal contributions), targets, and backtest results."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q, Value
from django.utils import timezone

from crm.models import Deal, WorkspaceQuerySet
from forecasting.models_calls import CallSettings, CallSubmission  # noqa: F401 - registers the call's models
from tenancy.models import Membership, Team, Workspace


class RunTrigger(models.TextChoices):
    DEAL_CHANGE = "deal_change", "Deal change"
    MANUAL = "manual", "Manual"
    SCHEDULE = "schedule", "Schedule"
    DEMO = "demo", "Demo seed"


class ForecastRun(models.Model):
    """One Monte Carlo forecast of closed-won revenue for a period, as of a moment.

    `percentiles` holds p5..p95; `rollups` the same per team and per rep from the same simulations;
    `quarters` this and the next three quarters; `inputs` what went in (counts, rates, sources).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="forecast_runs")
    created_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateTimeField()
    period_start = models.DateField()
    period_end = models.DateField()
    trigger = models.CharField(max_length=12, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    sims = models.PositiveIntegerField()
    realised = models.FloatField(default=0)
    mean = models.FloatField()
    percentiles = models.JSONField(default=dict)
    histogram = models.JSONField(default=dict)
    rollups = models.JSONField(default=dict)
    quarters = models.JSONField(default=list)
    inputs = models.JSONField(default=dict)
    duration_ms = models.FloatField(default=0)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.workspace} {self.period_start}..{self.period_end} @ {self.as_of:%Y-%m-%d %H:%M}"

    @property
    def p10(self) -> float:
        return float(self.percentiles.get("p10", 0))

    @property
    def p50(self) -> float:
        return float(self.percentiles.get("p50", 0))

    @property
    def p90(self) -> float:
        return float(self.percentiles.get("p90", 0))


class DealForecast(models.Model):
    """An open deal's part in a run: its chance of closing won inside the period and expected revenue."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="deal_forecasts")
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="+")
    probability = models.FloatField()
    expected = models.FloatField()
    confidence = models.CharField(max_length=10)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "deal"], name="dealforecast_unique")]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.probability:.2f}"


class RunSimulation(models.Model):
    """A run's simulations (forecasting.simulations): which open deal won in which one, and the totals.

    Kept for the latest runs of a workspace only (`SIMULATIONS_KEPT` in forecasting.services); insights
    reads them to tell which deals decide the period."""

    run = models.OneToOneField(ForecastRun, on_delete=models.CASCADE, related_name="simulation")
    data = models.BinaryField()
    realised_by_owner = models.JSONField(default=dict)  # membership id (0: none) -> won so far in the period

    def __str__(self) -> str:
        return f"simulations of {self.run}"


class Target(models.Model):
    """A revenue target for a period: the workspace's (no team, no rep), a team's, or a rep's."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="forecast_targets")
    period_start = models.DateField()
    period_end = models.DateField()
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["period_start", "team", "owner"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period_start", "period_end", "team", "owner"],
                nulls_distinct=False,
                name="target_unique_scope",
            ),
            models.CheckConstraint(condition=~Q(team__isnull=False, owner__isnull=False), name="target_one_scope"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="target_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.period_start}..{self.period_end}: {self.amount}"


class BacktestResult(models.Model):
    """A forecast made as of a past date (with only what was known then) against what actually landed."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="forecast_backtests")
    created_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateField()
    period_start = models.DateField()
    period_end = models.DateField()
    sims = models.PositiveIntegerField()
    forecast = models.JSONField(default=dict)
    actual = models.FloatField()
    abs_pct_error = models.FloatField(null=True)
    in_p10_p90 = models.BooleanField()
    crps = models.FloatField()
    baselines = models.JSONField(default=dict)
    # The parts of the shown forecast: the deal model's and the throughput model's P50, the weight and scale used.
    blend = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()))

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["as_of", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "as_of", "period_start", "period_end"], name="backtest_unique_window"
            )
        ]

    def __str__(self) -> str:
        return f"backtest {self.as_of} → {self.period_start}..{self.period_end}"


class RollingBacktest(models.Model):
    """The latest rolling-origin backtest of a workspace for one horizon (this or next quarter).

    `summary` holds the scores (bias, MAE, coverage, CRPS, PIT histogram, components, baselines);
    `origins` one row per month-end origin, with the blend's weight and spread scale used there.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="forecast_rolling_backtests")
    created_at = models.DateTimeField(default=timezone.now)
    horizon = models.CharField(max_length=8)
    sims = models.PositiveIntegerField()
    summary = models.JSONField(default=dict)
    origins = models.JSONField(default=list)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["horizon"]
        constraints = [models.UniqueConstraint(fields=["workspace", "horizon"], name="rolling_backtest_unique_horizon")]

    def __str__(self) -> str:
        return f"rolling backtest {self.horizon} ({len(self.origins)} origins)"


class CurrencyRate(models.Model):
    """How many units of the workspace's currency one unit of `currency` is worth; kept by the admins.

    Forecasts, the dashboard and the pipeline waterfall convert deals in other currencies with it; a deal in
    a currency without a rate counts at face value and the dashboard says how many do."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="currency_rates")
    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "currency"], name="currencyrate_unique_currency"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="currencyrate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate}"


class BacktestJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BacktestJob(models.Model):
    """A rolling backtest started from the accuracy page: its progress while it runs, its scores once done.

    Every run is kept (RollingBacktest holds only the latest per horizon, which the live blend reads), so
    the page lists coverage, CRPS and the baselines of every past run."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="backtest_jobs")
    horizon = models.CharField(max_length=8)
    requested_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=8, choices=BacktestJobStatus.choices, default=BacktestJobStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest {self.horizon} {self.status} {self.done}/{self.total}"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0
