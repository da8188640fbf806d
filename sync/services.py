"""Writes of the sync app: connecting a CRM, queueing and sending pushes, recording how runs went."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from alerts.delivery.outbox import enqueue as outbox_enqueue
from alerts.models import Channel, Delivery
from alerts.services import webhook_endpoint_create, webhook_endpoint_delete
from forecasting.models import ForecastRun
from sync import salesforce as sf
from sync.clients import AuthBroken, Backoff, CrmError, RateLimited
from sync.clients import hubspot as hs_client
from sync.clients.hubspot import HubSpotClient
from sync.clients.salesforce import SalesforceClient, exchange_code
from sync.engine import local_values
from sync.models import (
    DEFAULT_BASE_URL,
    PUSHED_FIELDS,
    ConnectionStatus,
    CrmConnection,
    HookEvent,
    HookSubscription,
    Provider,
    PushOutbox,
    PushStatus,
    SyncedDeal,
    SyncRun,
)
from tenancy.jobs import queue_for
from tenancy.models import Workspace

MAX_PUSH_ATTEMPTS = 6
LEASE = timedelta(minutes=10)
FAILING_AFTER = 3  # failed runs in a row before the settings page calls the sync failing
# A key in CrmConnection.state: when a HubSpot OAuth access token runs out (epoch seconds).
TOKEN_EXPIRES = "token_expires_at"  # noqa: S105  # a key name, not a secret


def connection_save(
    *,
    workspace: Workspace,
    provider: str,
    base_url: str = "",
    client_id: str = "",
    client_secret: str = "",
    refresh_token: str = "",
    access_token: str = "",
    check: bool = True,
) -> CrmConnection:
    """Create or replace the workspace's connection to `provider`; with `check`, prove the credentials first
    (Salesforce: a refresh-token grant, which also gives the instance URL; HubSpot: one owners call)."""
    if provider not in Provider.values:
        raise ValidationError({"provider": f"Choose one of {', '.join(Provider.values)}."})
    base_url = (base_url or DEFAULT_BASE_URL[Provider(provider)]).rstrip("/")
    if provider == Provider.SALESFORCE and not (client_id and client_secret and refresh_token):
        raise ValidationError("Salesforce needs a client id, a client secret and a refresh token.")
    hubspot_oauth = bool(client_id and client_secret and refresh_token)
    if provider == Provider.HUBSPOT and not (access_token or hubspot_oauth):
        raise ValidationError(
            "HubSpot needs an access token (a private-app token), or an OAuth app's client id, client secret and "
            "refresh token."
        )
    conn = CrmConnection.objects.filter(workspace=workspace, provider=provider).first() or CrmConnection(
        workspace=workspace, provider=provider
    )
    conn.base_url, conn.client_id, conn.client_secret = base_url, client_id, client_secret
    conn.refresh_token, conn.access_token, conn.instance_url = refresh_token, access_token, ""
    conn.status, conn.last_error, conn.consecutive_failures = ConnectionStatus.OK, "", 0
    conn.state.pop(TOKEN_EXPIRES, None)
    conn.full_clean(exclude=["instance_url"])
    if check:
        client = client_for(conn, save_tokens=False, interactive=True)
        try:
            if isinstance(client, SalesforceClient):
                client.refresh()
                conn.access_token, conn.instance_url = client.access_token, client.instance_url
            else:
                client.request("GET", "/crm/v3/owners", params={"limit": 1}).raise_for_status()
                if client.refreshable:  # an OAuth app: keep the fresh access token and when it expires
                    conn.access_token, conn.refresh_token = client.access_token, client.refresh_token
                    conn.state[TOKEN_EXPIRES] = client.expires_at
        except (CrmError, Exception) as exc:
            raise ValidationError(f"The CRM refused the connection: {exc}") from exc
        finally:
            client.close()
    conn.save()
    return conn


def oauth_connect(
    *,
    workspace: Workspace,
    provider: str,
    base_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
) -> CrmConnection:
    """The end of an OAuth web flow (Salesforce connected app or HubSpot app): trade the code for a refresh token
    and save the connection."""
    exchange = hs_client.exchange_code if provider == Provider.HUBSPOT else exchange_code
    try:
        tokens = exchange(
            base_url=base_url, client_id=client_id, client_secret=client_secret, code=code, redirect_uri=redirect_uri
        )
    except CrmError as exc:
        raise ValidationError(str(exc)) from exc
    return connection_save(
        workspace=workspace,
        provider=provider,
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=tokens["refresh_token"],
    )


# A check made while someone waits on the settings page: one try and a short timeout (a sync run backs off for
# about 30 s before it gives up on an unreachable CRM, which would hold the page and a web thread that long).
CHECK_BACKOFF = Backoff(attempts=0)
CHECK_TIMEOUT = 15.0


def client_for(
    conn: CrmConnection, *, save_tokens: bool = True, interactive: bool = False
) -> SalesforceClient | HubSpotClient:
    """`interactive`: one try and a short timeout, for a check someone is waiting for."""
    limits: dict[str, Any] = {"backoff": CHECK_BACKOFF, "timeout": CHECK_TIMEOUT} if interactive else {}
    if conn.provider == Provider.HUBSPOT:

        def hs_saved(access_token: str, refresh_token: str, expires_at: float) -> None:
            if save_tokens and conn.pk:
                conn.access_token, conn.refresh_token = access_token, refresh_token
                conn.state[TOKEN_EXPIRES] = expires_at  # the run's own state saves keep it too
                CrmConnection.objects.filter(pk=conn.pk).update(
                    access_token=access_token, refresh_token=refresh_token, state=conn.state
                )

        return HubSpotClient(
            base_url=conn.base_url,
            access_token=conn.access_token,
            client_id=conn.client_id,
            client_secret=conn.client_secret,
            refresh_token=conn.refresh_token,
            expires_at=float(conn.state.get(TOKEN_EXPIRES) or 0),
            on_token=hs_saved,
            **limits,
        )

    def saved(access_token: str, instance_url: str) -> None:
        if save_tokens and conn.pk:
            conn.access_token, conn.instance_url = access_token, instance_url
            CrmConnection.objects.filter(pk=conn.pk).update(access_token=access_token, instance_url=instance_url)

    return SalesforceClient(
        base_url=conn.base_url,
        client_id=conn.client_id,
        client_secret=conn.client_secret,
        refresh_token=conn.refresh_token,
        access_token=conn.access_token,
        instance_url=conn.instance_url,
        on_token=saved,
        **limits,
    )


def connection_broken(*, connection: CrmConnection, message: str) -> None:
    """The CRM refused our credentials for good: no more runs or pushes until an admin reconnects; the settings
    page shows why."""
    connection.status, connection.last_error = ConnectionStatus.BROKEN, message[:2000]
    CrmConnection.objects.filter(pk=connection.pk).update(status=connection.status, last_error=connection.last_error)


def record_outcome(*, connection: CrmConnection, run: SyncRun, ok: bool) -> None:
    now = timezone.now()
    if ok:
        CrmConnection.objects.filter(pk=connection.pk).update(last_success_at=now, consecutive_failures=0)
        if connection.status == ConnectionStatus.OK:
            CrmConnection.objects.filter(pk=connection.pk).update(last_error="")
    else:
        last = run.errors[-1] if run.errors else "the sync failed"
        CrmConnection.objects.filter(pk=connection.pk).update(
            consecutive_failures=F("consecutive_failures") + 1, last_error=last[:2000]
        )


def connection_settings_save(
    *, connection: CrmConnection, interval_minutes: int, conflict_policy: str, field_mapping: dict[str, Any]
) -> CrmConnection:
    connection.interval_minutes, connection.conflict_policy = interval_minutes, conflict_policy
    connection.field_mapping = field_mapping
    connection.full_clean()
    connection.save(update_fields=["interval_minutes", "conflict_policy", "field_mapping"])
    return connection


def sync_soon(*, connection: CrmConnection, full: bool = False) -> None:
    """ "Sync now": queue one run on the bulk queue (after commit)."""
    transaction.on_commit(
        lambda: async_task(
            "sync.tasks.sync_connection",
            connection.pk,
            full,
            task_name=f"sync:{connection.pk}",
            cluster=queue_for("sync.tasks.sync_connection"),
        )
    )


# --- push --------------------------------------------------------------------------------------------------
def pushes_queue(*, workspace_id: int, deal_ids: list[int]) -> list[int]:
    """Queue what VectorOS users changed on synced deals: each pushed field whose value differs from the one both
    sides last agreed on. A change made by the sync itself agrees by construction, so it never goes back."""
    queued: list[int] = []
    links = SyncedDeal.objects.filter(
        deal_id__in=deal_ids, deal__workspace_id=workspace_id, connection__status=ConnectionStatus.OK
    ).select_related("deal__stage")
    for link in links:
        if link.deal.deleted_at is not None:
            continue
        ours = local_values(link.deal)
        fields = {f: ours[f] for f in PUSHED_FIELDS if ours[f] != link.values.get(f)}
        if not fields:
            continue
        with transaction.atomic():
            pending = PushOutbox.objects.select_for_update().filter(synced=link, status=PushStatus.PENDING).first()
            if pending is None:
                PushOutbox.objects.create(connection_id=link.connection_id, synced=link, fields=fields)
            elif pending.fields != {**pending.fields, **fields}:
                pending.fields = {**pending.fields, **fields}
                pending.save(update_fields=["fields"])
        queued.append(link.deal_id)
    return queued


@dataclass
class PushResult:
    sent: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(connection: CrmConnection) -> PushOutbox | None:
    """The oldest due push of a deal with no push in flight, marked "sending" in a committed UPDATE."""
    now = timezone.now()
    PushOutbox.objects.filter(connection=connection, status=PushStatus.SENDING, claimed_at__lt=now - LEASE).update(
        status=PushStatus.PENDING
    )  # a worker died mid-PATCH: the same values again are harmless
    with transaction.atomic():
        busy = PushOutbox.objects.filter(connection=connection, status=PushStatus.SENDING).values("synced_id")
        row = (
            PushOutbox.objects.select_for_update(skip_locked=True)
            .filter(connection=connection, status=PushStatus.PENDING, next_attempt_at__lte=now)
            .exclude(synced_id__in=busy)
            .order_by("id")
            .first()
        )
        if row is None:
            return None
        row.status, row.claimed_at = PushStatus.SENDING, now
        row.save(update_fields=["status", "claimed_at"])
        return row


def push_pending(*, connection: CrmConnection, client: SalesforceClient | HubSpotClient | None = None) -> PushResult:
    """Send due pushes, oldest first; a deal's pushes one at a time and in order."""
    result = PushResult()
    if connection.status != ConnectionStatus.OK:
        return result
    own = client is None
    client = client or client_for(connection)
    try:
        while (row := _claim(connection)) is not None:
            link = row.synced
            try:
                _send(connection, client, link, row.fields)
            except AuthBroken as exc:
                PushOutbox.objects.filter(pk=row.pk).update(status=PushStatus.PENDING, last_error=str(exc)[:500])
                connection_broken(connection=connection, message=str(exc))
                result.errors.append(str(exc))
                break
            except RateLimited as exc:
                PushOutbox.objects.filter(pk=row.pk).update(
                    status=PushStatus.PENDING,
                    next_attempt_at=timezone.now() + timedelta(minutes=1),
                    last_error=str(exc)[:500],
                )
                result.errors.append(f"push of {link.external_id} waits for the rate limit: {exc}")
                break
            except CrmError as exc:
                attempts = row.attempts + 1
                status = PushStatus.FAILED if attempts >= MAX_PUSH_ATTEMPTS else PushStatus.PENDING
                PushOutbox.objects.filter(pk=row.pk).update(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=timezone.now() + timedelta(seconds=30 * 4 ** (attempts - 1)),
                    last_error=str(exc)[:500],
                )
                result.errors.append(f"push of {link.external_id} failed (try {attempts}): {exc}")
                continue
            with transaction.atomic():
                PushOutbox.objects.filter(pk=row.pk, status=PushStatus.SENDING).update(
                    status=PushStatus.SENT, sent_at=timezone.now(), attempts=row.attempts + 1
                )
                fresh = SyncedDeal.objects.select_for_update().get(pk=link.pk)
                fresh.values = {**fresh.values, **row.fields}
                fresh.save(update_fields=["values"])
            result.sent += 1
    finally:
        if own:
            client.close()
    return result


def _send(connection: CrmConnection, client: SalesforceClient | HubSpotClient, link: SyncedDeal, fields: dict) -> None:
    if isinstance(client, SalesforceClient):
        client.update("Opportunity", link.external_id, sf.push_body(fields))
    else:
        from sync.hubspot import push_properties

        client.update("deals", link.external_id, push_properties(connection, fields))


# --- Zapier-style REST hooks ----------------------------------------------------------------------------------
def hook_subscribe(*, workspace: Workspace, target_url: str, event: str) -> HookSubscription:
    """A subscription is a signed webhook endpoint of the alerts outbox, limited to the events asked for."""
    if event not in HookEvent.values:
        raise ValueError(f"unknown event {event!r}; choose one of {', '.join(HookEvent.values)}")
    with transaction.atomic():
        try:
            endpoint = webhook_endpoint_create(
                workspace=workspace,
                url=target_url,
                send_deal_events=event == HookEvent.DEAL_UPDATED,
                send_alert_events=event == HookEvent.ALERT_RAISED,
            )
        except ValidationError as exc:
            raise ValueError("target_url must be an http(s) URL") from exc
        return HookSubscription.objects.create(workspace=workspace, endpoint=endpoint, event=event)


def hook_unsubscribe(*, workspace: Workspace, hook_id: Any) -> None:
    """Idempotent (Zapier may unsubscribe twice); another workspace's hook is left alone. The endpoint stays, inactive,
    so its delivery log remains."""
    hook = HookSubscription.objects.filter(workspace=workspace, uuid=hook_id).select_related("endpoint").first()
    if hook is not None:
        webhook_endpoint_delete(endpoint=hook.endpoint)
        hook.delete()


def forecast_payload(run: ForecastRun) -> dict[str, Any]:
    p = run.percentiles or {}
    return {
        "type": HookEvent.FORECAST_COMPLETED.value,
        "timestamp": run.created_at.isoformat(),
        "data": {
            "id": str(run.uuid),
            "period_start": run.period_start.isoformat(),
            "period_end": run.period_end.isoformat(),
            "mean": run.mean,
            "p10": p.get("p10"),
            "p50": p.get("p50"),
            "p90": p.get("p90"),
        },
    }


def hooks_forecasts_enqueue() -> int:
    """Deliveries of "forecast.completed" for runs made since each subscription began (the forecasting app knows
    nothing of hooks, so the sync schedule looks for new runs). Idempotency keys make a second pass a no-op."""
    rows: list[Delivery] = []
    subscriptions = HookSubscription.objects.filter(
        event=HookEvent.FORECAST_COMPLETED, endpoint__is_active=True
    ).select_related("endpoint")
    for hook in subscriptions:
        since = max(hook.created_at, timezone.now() - timedelta(days=1))
        for run in ForecastRun.objects.filter(workspace_id=hook.workspace_id, created_at__gte=since):
            rows.append(
                Delivery(
                    workspace_id=hook.workspace_id,
                    channel=Channel.WEBHOOK,
                    endpoint=hook.endpoint,
                    event_type=HookEvent.FORECAST_COMPLETED.value,
                    idempotency_key=f"webhook:{hook.endpoint.uuid}:forecast.completed:{run.uuid}",
                    payload=forecast_payload(run),
                )
            )
    return outbox_enqueue(rows)
