"""Server time of the drill's pages (board, deal list, a deal, the forecast dashboard) against the real database, as
the workspace owner."""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenancy.commands import workspace_named
from tenancy.models import Membership, Role


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Render the board, the deal list, a deal and the forecast dashboard N times each (test client, real DB)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", default="demo")
        parser.add_argument("--runs", type=int, default=20)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        owner = Membership.objects.filter(workspace=workspace, role=Role.OWNER, user__isnull=False).first()
        if owner is None or owner.user is None:
            raise CommandError("The workspace has no owner who can sign in.")
        runs = int(options["runs"])
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        client = Client()
        client.force_login(owner.user)
        pages = {
            "board": reverse("crm:board", args=[workspace.slug]),
            "deal_list": reverse("crm:deal_list", args=[workspace.slug]),
            "deal_list_filtered": reverse("crm:deal_list", args=[workspace.slug])
            + "?outcome=open&close=this_quarter&sort=expected_close_date",
        }
        deal = workspace.deals.open().order_by("id").first()
        if deal is not None:
            pages["deal_page"] = reverse("crm:deal_detail", args=[workspace.slug, deal.uuid])
        pages["forecast_dashboard"] = reverse("forecasting:dashboard", args=[workspace.slug])
        results: dict[str, dict[str, Any]] = {}
        for name, path in pages.items():
            client.get(path)  # warm: templates compiled, session written, connection open
            timings, cpu, queries = [], [], 0
            for _ in range(runs):
                with CaptureQueriesContext(connection) as ctx:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - start) * 1000
                    cpu.append((time.process_time() - start_cpu) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{path} answered {response.status_code}")
                timings.append(elapsed)
                queries = len(ctx.captured_queries)
            results[name] = {
                "path": path,
                "runs": runs,
                "median_ms": round(statistics.median(timings), 1),
                "p95_ms": round(_p95(timings), 1),
                "max_ms": round(max(timings), 1),
                # Python CPU time of this process only: less sensitive than wall time to other load on the machine.
                "median_cpu_ms": round(statistics.median(cpu), 1),
                "db_ms_last_run": round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1),
                "queries": queries,
                "bytes": len(response.content),
            }
        deals = workspace.deals.count()
        load = os.getloadavg()[0]
        if options["json"]:
            self.stdout.write(
                json.dumps({"workspace": workspace.slug, "deals": deals, "load_1min": load, "pages": results}, indent=2)
            )
            return
        self.stdout.write(
            f"{workspace.slug}: {deals} deals, {runs} runs per page, as {owner.display_name} (owner); "
            f"machine load {load:.1f} on {os.cpu_count()} cores"
        )
        for name, r in results.items():
            self.stdout.write(
                f"  {name:<20} median {r['median_ms']:>7.1f} ms   p95 {r['p95_ms']:>7.1f} ms   "
                f"(python cpu {r['median_cpu_ms']:.1f} ms, db {r['db_ms_last_run']:.1f} ms)   "
                f"{r['queries']} queries   {r['bytes'] // 1024} KiB"
            )
