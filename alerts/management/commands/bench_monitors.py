"""Benchmark a monitor pass: `manage.py bench_monitors --deals 5000 [--json] [--keep]`.

Builds a throwaway workspace with N open deals (and closed ones, stage history, close-date slips,
activities, contacts) in bulk, times a first pass (creates alerts) and a second (changes nothing),
then deletes the workspace unless --keep.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from alerts.services import monitors_run
from crm import history as deal_history
from crm.models import (
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealHistory,
    Direction,
    Outcome,
    Stage,
    StageKind,
    TrackedField,
)
from crm.services import pipeline_create_default
from tenancy.models import Membership, Role, Workspace


def build(n_open: int, seed: int = 7) -> Workspace:
    rng = np.random.default_rng(seed)
    now = timezone.now()
    ws = Workspace.objects.create(name="Monitor benchmark", slug=f"bench-monitors-{secrets.token_hex(3)}")
    pipeline_create_default(workspace=ws)
    owners = Membership.objects.bulk_create(
        Membership(workspace=ws, display_name=f"Rep {i}", role=Role.REP) for i in range(20)
    )
    stages = list(Stage.objects.filter(workspace=ws).order_by("order"))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    won = next(s for s in stages if s.kind == StageKind.WON)
    lost = next(s for s in stages if s.kind == StageKind.LOST)
    n_closed = n_open  # closed deals give the stage-duration norms something to learn from
    deals = []
    for i in range(n_open + n_closed):
        created = now - timedelta(days=float(rng.uniform(5, 400)))
        is_open = i < n_open
        stage = open_stages[rng.integers(len(open_stages))] if is_open else (won if rng.random() < 0.35 else lost)
        deals.append(
            Deal(
                workspace=ws,
                title=f"Bench deal {i}",
                pipeline=stage.pipeline,
                stage=stage,
                owner=owners[rng.integers(len(owners))],
                amount=Decimal(int(rng.lognormal(10, 1))),
                expected_close_date=(now + timedelta(days=float(rng.uniform(-30, 200)))).date(),
                created_at=created,
                stage_entered_at=created + (now - created) * float(rng.uniform(0.2, 0.9)),
                outcome=Outcome.OPEN if is_open else (Outcome.WON if stage == won else Outcome.LOST),
                closed_at=None if is_open else now - timedelta(days=float(rng.uniform(1, 30))),
            )
        )
    deals = Deal.objects.bulk_create(deals, batch_size=2000)
    history, activities, links = [], [], []
    contacts = Contact.objects.bulk_create(Contact(workspace=ws, last_name=f"C{i}") for i in range(2000))
    for deal in deals:
        prev = open_stages[0]
        history.append(
            DealHistory(
                workspace=ws,
                deal=deal,
                field=TrackedField.STAGE,
                old_value=deal_history.encode(TrackedField.STAGE, prev.id),
                new_value=deal_history.encode(TrackedField.STAGE, deal.stage_id),
                changed_at=deal.stage_entered_at,
            )
        )
        close = deal.expected_close_date
        if rng.random() < 0.3 and close is not None:
            old = close - timedelta(days=int(rng.integers(10, 60)))
            history.append(
                DealHistory(
                    workspace=ws,
                    deal=deal,
                    field=TrackedField.EXPECTED_CLOSE_DATE,
                    old_value=deal_history.encode(TrackedField.EXPECTED_CLOSE_DATE, old),
                    new_value=deal_history.encode(TrackedField.EXPECTED_CLOSE_DATE, close),
                    changed_at=deal.created_at + timedelta(days=3),
                )
            )
        span = (now - deal.created_at).total_seconds()
        for _ in range(int(rng.integers(0, 20))):
            activities.append(
                Activity(
                    workspace=ws,
                    deal=deal,
                    kind=ActivityKind.EMAIL,
                    direction=Direction.INBOUND if rng.random() < 0.4 else Direction.OUTBOUND,
                    subject="Bench",
                    occurred_at=deal.created_at + timedelta(seconds=float(rng.uniform(0, span))),
                )
            )
        for c in rng.choice(len(contacts), size=int(rng.integers(1, 4)), replace=False):
            links.append(Deal.contacts.through(deal_id=deal.id, contact_id=contacts[c].id))
    DealHistory.objects.bulk_create(history, batch_size=5000)
    Activity.objects.bulk_create(activities, batch_size=5000)
    Deal.contacts.through.objects.bulk_create(links, batch_size=5000)
    return ws


class Command(BaseCommand):
    help = "Time a monitor pass over N open deals in a throwaway workspace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deals", type=int, default=5000, help="open deals (as many closed ones are added)")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark workspace")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        with transaction.atomic():
            ws = build(int(options["deals"]))
        built = time.perf_counter() - started
        try:
            first = monitors_run(workspace=ws)
            second = monitors_run(workspace=ws)
        finally:
            if not options["keep"]:
                Deal.all_objects.filter(workspace=ws).delete()  # deals protect their pipeline from a cascade
                ws.delete()
        result = {
            "open_deals": first["deals_checked"],
            "build_seconds": round(built, 1),
            "first_pass": {"seconds": first["seconds"], "alerts": first["alerts"]},
            "second_pass": {"seconds": second["seconds"], "alerts": second["alerts"]},
            "by_kind": first["by_kind"],
        }
        self.stdout.write(json.dumps(result) if options["json"] else json.dumps(result, indent=2))
