"""`manage.py seed_demo`: the synthetic demo workspace; a second run changes nothing and says so."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from crm.demo.services import DEMO_PASSWORD, demo_workspace_delete, demo_workspace_seed
from crm.demo.stats import demo_statistics
from crm.models import Deal
from crm.services import deals_changed
from tenancy.models import Workspace


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of must be a date like 2026-03-31, not {value!r}.") from None


class Command(BaseCommand):
    help = "Create the demo workspace (Demo Co) with about 3,000 synthetic deals; does nothing when it exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", default="demo", help="slug of the demo workspace (default: demo)")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
        parser.add_argument("--as-of", default=None, help="last day of the history, YYYY-MM-DD (default: today)")
        parser.add_argument("--scale", type=float, default=1.0, help="deal volume relative to the full demo")
        parser.add_argument("--reset", action="store_true", help="delete the demo workspace first and seed afresh")
        parser.add_argument(
            "--rerun-hooks",
            action="store_true",
            help="run DEMO_SEED_HOOKS and the deal-change handlers again on an existing demo (e.g. after a new hook)",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even with DEBUG off: only for a throwaway drill host (`make drill`), since the demo's "
            "logins have a published password",
        )

    def handle(self, *args: object, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            # The demo's logins have a published password: never on a host that is not the local demo.
            raise CommandError(
                "The demo is only seeded with DEBUG=true (the local demo, as `make run` sets it); "
                "this is a production configuration (a throwaway drill host may pass --allow-production)."
            )
        as_of = _as_of(options["as_of"]) if options["as_of"] else timezone.localdate()
        scale = options["scale"]
        if not 0.01 <= scale <= 5:
            raise CommandError("--scale must be between 0.01 and 5.")
        slug = options["workspace"]
        self._rerun_hooks = options["rerun_hooks"]
        started = time.perf_counter()
        try:
            # One transaction: a reset whose re-seeding fails keeps the old demo.
            with transaction.atomic():
                deleted = demo_workspace_delete(slug=slug) if options["reset"] else False
                result = demo_workspace_seed(slug=slug, seed=options["seed"], as_of=as_of, scale=scale)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

        hook_errors: list[str] = []
        if not result.deal_ids and options["rerun_hooks"]:
            result.deal_ids = list(Deal.objects.for_workspace(result.workspace_id).values_list("id", flat=True))
        if result.created or options["rerun_hooks"]:
            # The CRM data is committed; now the other apps add what they build on it (targets, a first model).
            for path in settings.DEMO_SEED_HOOKS:
                hook_started = time.perf_counter()
                try:
                    import_string(path)(result.workspace_id)
                except Exception as exc:  # a broken hook must not hide the others or the seeded data
                    hook_errors.append(f"{path}: {type(exc).__name__}: {exc}")
                result.seconds[f"hook {path}"] = round(time.perf_counter() - hook_started, 2)
            deals_changed(workspace_id=result.workspace_id, deal_ids=result.deal_ids, bulk=True)
        result.seconds["total"] = round(time.perf_counter() - started, 2)
        stats = demo_statistics(Workspace.objects.get(pk=result.workspace_id))

        if options["json"]:
            payload = {
                "workspace": slug,
                "workspace_id": result.workspace_id,
                "created": result.created,
                "reset": deleted,
                "hooks_run": bool(result.created or options["rerun_hooks"]),
                "seed": options["seed"],
                "as_of": as_of.isoformat(),
                "counts": result.counts,
                "statistics": stats,
                "logins": result.logins,
                "seconds": result.seconds,
                "hook_errors": hook_errors,
            }
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            self._print(result, stats, slug=slug, as_of=as_of, seed=options["seed"], deleted=deleted)
        if hook_errors:
            raise CommandError("Demo data was seeded, but some hooks failed:\n" + "\n".join(hook_errors))

    def _print(self, result: Any, stats: dict[str, Any], *, slug: str, as_of: date, seed: int, deleted: bool) -> None:
        c = result.counts
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{'Re-seeded' if deleted else 'Seeded'} demo workspace {slug!r} (seed {seed}, as of {as_of}) "
                    f"in {result.seconds['total']} s."
                )
            )
        elif self._rerun_hooks:
            self.stdout.write(f"Demo workspace {slug!r} already has its data; ran the seeding hooks again.")
        else:
            self.stdout.write(f"Demo workspace {slug!r} already has its data; nothing changed.")
        self.stdout.write(
            f"  {c['teams']} teams, {c['reps']} reps, {c['companies']} companies, {c['contacts']} contacts, "
            f"{c['deals']} deals ({c['deals_open']} open, {c['deals_won']} won, {c['deals_lost']} lost), "
            f"{c['history_rows']} history rows, {c['activities']} activities"
        )
        if stats:
            self.stdout.write(
                f"  win rate {stats['win_rate']:.0%}, median won cycle {stats['median_cycle_days_won']} days; "
                f"open: {stats['open']} ({stats['open_stale']} stale, {stats['open_zombies']} zombies)"
            )
        self.stdout.write("  Sign in (password " + DEMO_PASSWORD + "):")
        for login in result.logins:
            self.stdout.write(f"    {login['email']:<22} {login['role']}")
