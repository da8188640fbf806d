"""Time what a deal save costs the scorer: `scores_refresh(deal_ids=[one id])` on a workspace from the database."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from crm.models import Deal
from scoring.services import scores_refresh
from tenancy.models import Workspace


class Command(BaseCommand):
    help = "Milliseconds (wall and CPU) per rescoring of one changed open deal, as after a deal save."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", default="demo", help="workspace slug (default: demo)")
        parser.add_argument("--deals", type=int, default=20, help="how many open deals to rescore one by one")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        ids = list(Deal.objects.for_workspace(workspace).open().order_by("id").values_list("id", flat=True))
        if not ids:
            raise CommandError("The workspace has no open deal.")
        step = max(len(ids) // max(options["deals"], 1), 1)
        chosen = ids[::step][: options["deals"]]
        scores_refresh(workspace_id=workspace.id, deal_ids=chosen[:1])  # warm: the scorer's file, imports
        wall, cpu = [], []
        db0 = _backend_cpu_ms()
        for deal_id in chosen:
            w0, c0 = time.perf_counter(), time.process_time()
            if scores_refresh(workspace_id=workspace.id, deal_ids=[deal_id]) != 1:
                raise CommandError("No active scoring model: run train_scorer first.")
            wall.append((time.perf_counter() - w0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        db1 = _backend_cpu_ms()
        wall.sort()
        result = {
            "workspace": workspace.slug,
            "deals": Deal.objects.for_workspace(workspace).count(),
            "rescored_one_by_one": len(chosen),
            "median_ms": round(wall[len(wall) // 2], 1),
            "max_ms": round(wall[-1], 1),
            "mean_cpu_ms": round(sum(cpu) / len(cpu), 1),
            # The database server's own CPU for this connection, when it runs on this host (the embedded one does).
            "mean_db_cpu_ms": None if db0 is None or db1 is None else round((db1 - db0) / len(chosen), 1),
            "note": "cpu: this process (Python, NumPy); db_cpu: its PostgreSQL backend (null when not on this host)",
        }
        self.stdout.write(json.dumps(result, indent=2) if options["json"] else str(result))


def _backend_cpu_ms() -> float | None:
    """CPU time (user + system) of this connection's PostgreSQL backend so far, read from /proc; None elsewhere."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
