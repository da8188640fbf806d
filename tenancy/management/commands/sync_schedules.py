"""Make django-q2's schedules match the ones declared in code (`<app>/schedules.py: SCHEDULES`). Idempotent."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django_q.models import Schedule

from tenancy.jobs import queue_for

PREFIX = "vectoros:"


def declared_schedules() -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        found.extend(module.SCHEDULES)
    return found


class Command(BaseCommand):
    help = "Create, update and remove django-q2 schedules so they match those declared in code."

    def handle(self, *args: object, **options: object) -> None:
        wanted = {PREFIX + str(item["name"]): item for item in declared_schedules()}
        created = updated = 0
        for name, item in wanted.items():
            fields = {
                "func": item["func"],
                "schedule_type": item.get("schedule_type", Schedule.MINUTES),
                "minutes": item.get("minutes"),
                "cron": item.get("cron"),
                "repeats": -1,
                "cluster": queue_for(str(item["func"])),  # long jobs on the bulk queue
            }
            schedule = Schedule.objects.filter(name=name).first()
            if schedule is None:
                Schedule.objects.create(name=name, **fields)
                created += 1
            elif any(getattr(schedule, k) != v for k, v in fields.items()):
                Schedule.objects.filter(pk=schedule.pk).update(**fields)
                updated += 1
        removed, _ = Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=list(wanted)).delete()
        self.stdout.write(f"schedules: {created} created, {updated} updated, {removed} removed, {len(wanted)} declared")
