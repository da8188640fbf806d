"""Time "a deal is saved" -> "a new forecast run is stored", with thousands of open deals.

Creates (once) a workspace with `--open` open deals and a year of closed history, written in bulk.
Each repetition saves one deal through `crm.services.deal_update` (history row, after-commit
enqueue of every DEAL_CHANGE_HANDLERS entry) and then runs the forecasting handler's coalesced
pending job synchronously, as the worker would: the clock stops when the ForecastRun row exists.
The queue's pick-up latency (django-q2 polls the ORM broker) is not included: it is a worker setting.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from crm import history
from crm.models import Deal, DealHistory, Outcome, Stage, StageKind
from crm.services import deal_update, pipeline_create_default
from forecasting.models import ForecastRun, RunTrigger
from forecasting.services import forecast_run
from tenancy.jobs import run_pending
from tenancy.models import Workspace

HANDLER = "forecasting.tasks.on_deals_changed"


def _seed(workspace: Workspace, n_open: int, n_closed: int) -> None:
    pipeline = pipeline_create_default(workspace=workspace)
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("order"))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    won = next(s for s in stages if s.kind == StageKind.WON)
    lost = next(s for s in stages if s.kind == StageKind.LOST)
    rng = np.random.default_rng(11)
    now = timezone.now()
    deals, fates = [], []
    for i in range(n_open + n_closed):
        created = now - timedelta(days=float(rng.uniform(1, 365)))
        is_open = i < n_open
        stage = open_stages[int(rng.integers(len(open_stages)))] if is_open else (won if rng.random() < 0.35 else lost)
        closed = None if is_open else min(created + timedelta(days=float(rng.gamma(2.0, 30.0))), now)
        deals.append(
            Deal(
                workspace=workspace,
                title=f"Bench deal {i}",
                pipeline=pipeline,
                stage=stage,
                amount=Decimal(int(rng.lognormal(9.5, 0.8))),
                created_at=created,
                stage_entered_at=created,
                closed_at=closed,
                outcome=Outcome.OPEN if is_open else (Outcome.WON if stage == won else Outcome.LOST),
            )
        )
        fates.append((created, closed, stage))
    Deal.objects.bulk_create(deals, batch_size=2000)
    rows: list[DealHistory] = []
    for deal, (created, closed, stage) in zip(deals, fates, strict=True):
        first = stage if closed is None else open_stages[0]
        start = [*history.stage_changes(first.id, first.kind, created), history.Change("amount", deal.amount, created)]
        state = history.fold(start)
        changes = [(created, *row) for row in history.creation_changes(state)]
        if closed is not None:
            after = history.fold(history.stage_changes(stage.id, stage.kind, closed), state)
            changes += [(closed, *row) for row in history.diff(state, after)]
        rows.extend(
            DealHistory(workspace=workspace, deal=deal, field=f, old_value=old, new_value=new, changed_at=at)
            for at, f, old, new in changes
        )
    DealHistory.objects.bulk_create(rows, batch_size=5000)


class Command(BaseCommand):
    help = "Benchmark save -> stored forecast run, with N open deals (default 5,000)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", default="bench-reforecast", help="slug; created and filled if absent")
        parser.add_argument("--open", type=int, default=5000, dest="n_open")
        parser.add_argument("--closed", type=int, default=3000, dest="n_closed")
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = str(options["workspace"])
        n_open, n_closed, repeat = (int(options[k]) for k in ("n_open", "n_closed", "repeat"))
        if n_open < 1 or n_closed < 0 or repeat < 1:
            raise CommandError("--open and --repeat must be positive, --closed not negative")
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            with transaction.atomic():
                workspace = Workspace.objects.create(slug=slug, name="Forecast benchmark")
                _seed(workspace, n_open, n_closed)
        if not ForecastRun.objects.for_workspace(workspace).exclude(trigger=RunTrigger.DEAL_CHANGE).exists():
            # What the nightly run leaves: a full run whose later quarters a deal-change run carries over.
            forecast_run(workspace=workspace, trigger=RunTrigger.SCHEDULE)
        open_deals = Deal.objects.for_workspace(workspace).open()
        count = open_deals.count()
        key = f"{HANDLER}:{workspace.id}"
        timings = []
        for i in range(repeat):
            deal = open_deals.order_by("id")[i % max(count, 1)]
            before = ForecastRun.objects.for_workspace(workspace).count()
            started = time.perf_counter()
            deal_update(deal=deal, actor=None, changes={"amount": deal.amount + 1})  # commits: enqueue after commit
            run_pending(key)
            stored = ForecastRun.objects.for_workspace(workspace).count() > before
            timings.append((time.perf_counter() - started) * 1000)
            if not stored:
                raise CommandError("The handler ran but no forecast run was stored.")
        # Other handlers' pending rows (embeddings, scoring, alerts) are left for the real worker.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tenancy_pendingjob WHERE key LIKE %s", [f"%:{workspace.id}"])
            left = cursor.fetchone()[0]
        payload = {
            "open_deals": count,
            "save_to_stored_run_ms": [round(t, 1) for t in timings],
            "best_ms": round(min(timings), 1),
            "median_ms": round(float(np.median(timings)), 1),
            "other_handlers_pending": left,
            "clock": "wall time, deal_update + the forecasting handler's coalesced job run in this process",
        }
        if options["json"]:
            self.stdout.write(json.dumps(payload))
        else:
            for k, v in payload.items():
                self.stdout.write(f"{k}: {v}")
