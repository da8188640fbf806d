"""Prometheus metrics: django-prometheus' request metrics plus figures read from the database at scrape time.

The web role runs gunicorn with PROMETHEUS_MULTIPROC_DIR set (`manage.py run`), so a scrape sees every gunicorn
worker of that process; scrape each web process (its own port) and each host's figures are complete. The
database figures (queues, failures, run times, deliveries) are the same from every process.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest
from django_q.brokers import get_broker
from django_q.models import Failure, Task
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from alerts.models import Delivery, DeliveryStatus
from forecasting.models import ForecastRun
from tenancy.jobs import RUNNING
from tenancy.models import PendingJob


def allowed(request: HttpRequest) -> bool:
    """A bearer METRICS_TOKEN, or a client address inside METRICS_ALLOWED_NETWORKS."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def _handler_name(task_name: str) -> str:
    """`scoring.tasks.on_deals_changed:12` (a coalesced job's task name) → `scoring.tasks.on_deals_changed`."""
    return task_name.split(":")[0][:100]


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("vectoros_queue_depth", "Tasks waiting in the broker", labels=["queue"])
        for queue, cluster in (("interactive", None), ("bulk", settings.Q_BULK_CLUSTER)):
            depth.add_metric([queue], get_broker(cluster).queue_size() or 0)
        yield depth

        pending = GaugeMetricFamily("vectoros_jobs_pending", "Coalesced jobs by state", labels=["state"])
        running = PendingJob.objects.filter(key__contains=RUNNING).count()
        pending.add_metric(["running"], running)
        pending.add_metric(["waiting"], PendingJob.objects.count() - running)
        yield pending

        failures = GaugeMetricFamily("vectoros_task_failures", "Failed tasks on record", labels=["task"])
        by_name: dict[str, int] = {}
        for name, n in Failure.objects.values_list("name").annotate(n=Count("id")):
            by_name[_handler_name(name)] = by_name.get(_handler_name(name), 0) + n
        for name, n in sorted(by_name.items()):
            failures.add_metric([name], n)
        yield failures

        runs = ForecastRun.objects.aggregate(n=Count("id"), ms=Sum("duration_ms"))
        yield SummaryMetricFamily(
            "vectoros_forecast_run_seconds",
            "Monte Carlo forecast runs",
            count_value=runs["n"] or 0,
            sum_value=(runs["ms"] or 0) / 1000,
        )

        durations = SummaryMetricFamily(
            "vectoros_task_seconds", "Run time of the tasks on record (successes)", labels=["task"]
        )
        counts: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for name, started, stopped in Task.objects.filter(success=True).values_list("name", "started", "stopped"):
            handler = _handler_name(name)
            counts[handler] = counts.get(handler, 0) + 1
            seconds[handler] = seconds.get(handler, 0.0) + (stopped - started).total_seconds()
        for name in sorted(counts):
            durations.add_metric([name], count_value=counts[name], sum_value=seconds[name])
        yield durations

        deliveries = GaugeMetricFamily(
            "vectoros_delivery_failures", "Alert deliveries failed or of unknown outcome", labels=["channel", "status"]
        )
        failed = (
            Delivery.objects.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN])
            .values_list("channel", "status")
            .annotate(n=Count("id"))
        )
        for channel, status, n in failed:
            deliveries.add_metric([channel, status], n)
        yield deliveries


_database_registry = CollectorRegistry(auto_describe=False)
_database_registry.register(DatabaseCollector())


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_database_registry)
