"""`manage.py bench_import --rows 100000 [--json]`: time a generated CSV import and report peak memory."""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from crm.importers import run_import
from crm.models import Deal, DealHistory
from tenancy.models import Workspace
from tenancy.services import user_get_or_create, workspace_create

MAPPING = {
    "external_id": "id",
    "title": "name",
    "amount": "amount",
    "stage": "stage",
    "owner": "owner",
    "company": "account",
    "created": "created",
    "closed": "closed",
    "outcome": {"column": "status", "won": ["won"], "lost": ["lost"]},
    "attributes": ["segment", "seats", "region"],
}


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    stages = ["Prospecting", "Qualification", "Proposal", "Negotiation"]
    start = date(2022, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "name", "amount", "stage", "owner", "account", "created", "closed", "status", "segment",
                      "seats", "region"])  # fmt: skip
        for i in range(rows):
            created = start + timedelta(days=rng.randrange(900))
            status = rng.choice(["open", "won", "lost"])
            closed = created + timedelta(days=rng.randrange(1, 120)) if status != "open" else None
            stage = rng.choice(stages) if status == "open" else ("Closed Won" if status == "won" else "Closed Lost")
            out.writerow([
                f"B-{i:07d}", f"Deal {i}", f"{rng.randrange(500, 250_000)}.00", stage, f"rep{rng.randrange(40)}",
                f"Account {rng.randrange(3000)}", created.isoformat(), closed.isoformat() if closed else "", status,
                rng.choice(["SMB", "Mid", "Enterprise"]), rng.randrange(1, 500), rng.choice(["EMEA", "NA", "APAC"]),
            ])  # fmt: skip


def _database_cpu_seconds() -> float | None:
    """CPU used so far by the embedded PostgreSQL: its live processes plus the children it has reaped.

    None when the database is not the embedded one on this machine (DATABASE_URL elsewhere).
    """
    try:
        postmaster = int(Path(settings.EMBEDDED_PGDATA, "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == postmaster:
                total += sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
            elif ppid == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Generate a CSV of N deals in a temporary folder, import it into a scratch workspace, print the figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--keep", action="store_true", help="keep the scratch workspace")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = options["rows"]
        slug = f"bench-import-{uuid.uuid4().hex[:8]}"
        owner = user_get_or_create(email="bench-import@localhost")
        workspace = workspace_create(name="Import benchmark", slug=slug, owner_user=owner)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "deals.csv"
            write_csv(path, rows)
            size = path.stat().st_size
            rss_before = _rss_mib()
            db_before = _database_cpu_seconds()
            cpu_before = time.process_time()
            started = time.perf_counter()
            report = run_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            db_after = _database_cpu_seconds()
        result = {
            "rows": rows,
            "file_mib": round(size / 2**20, 1),
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds) if seconds else None,
            # CPU seconds do not grow when other work shares the machine; wall-clock seconds do.
            "python_cpu_seconds": round(cpu, 2),
            "database_cpu_seconds": round(db_after - db_before, 2)
            if db_before is not None and db_after is not None
            else None,
            "load_average_1min": round(os.getloadavg()[0], 1),
            "peak_rss_mib": round(_rss_mib(), 1),
            "rss_before_import_mib": round(rss_before, 1),
            "created": report.as_dict()["created"],
            "errors": report.error_count,
            "workspace": slug if options["keep"] else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
        if not options["keep"]:
            # Deals protect their pipeline, so they go first.
            try:
                DealHistory.objects.filter(workspace=workspace)._raw_delete(using="default")
                Deal.all_objects.filter(workspace=workspace).delete()
                Workspace.objects.filter(pk=workspace.pk).delete()
            except DatabaseError as exc:
                self.stderr.write(f"could not remove the scratch workspace {slug} ({exc}); delete it by hand")
