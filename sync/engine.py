"""One sync of one connection: pull what changed since the high-water marks, apply deletions, push the outbox.

Resumable: opportunities are written page by page, each page in one transaction together with the new
high-water mark, so a worker killed mid-run leaves a consistent workspace and the next run carries on after
the last page it committed (records are upserted by CRM id, so a page pulled twice duplicates nothing).
A run that is killed stays "running"; the next one takes over its counts. Two runs of one connection never
overlap (a session advisory lock, released by the database when a killed worker's connection drops).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from typing import Any

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from crm.history import FIELD_OF_ATTR
from crm.importers.records import Change, Context, DealRecord, PipelineSpec
from crm.importers.report import ImportReport
from crm.importers.salesforce import stage_chance
from crm.importers.writer import Writer
from crm.models import (
    ChangeSource,
    Company,
    Contact,
    Deal,
    DealHistory,
    Stage,
    TrackedField,
    default_forecast_category,
)
from crm.services import deal_delete, deals_changed
from sync import salesforce as sf
from sync.clients import AuthBroken, CrmError, RateLimited
from sync.clients.salesforce import SalesforceClient
from sync.models import (
    PUSHED_FIELDS,
    ConflictPolicy,
    CrmConnection,
    Provider,
    PushOutbox,
    PushStatus,
    RunStatus,
    SyncConflict,
    SyncedDeal,
    SyncRun,
)

logger = logging.getLogger(__name__)
STAGE_VOTES = "stage_votes"  # in CrmConnection.state during a Salesforce backfill: probabilities seen per stage
LOCK_CLASS = 0x53594E  # "SYN": first half of the two-int advisory lock of a running sync


class Busy(Exception):
    """Another worker is syncing this connection right now."""


def empty_counts() -> dict[str, Any]:
    return {
        "pulled": dict.fromkeys(("deals", "companies", "contacts", "members", "history"), 0),
        "pushed": {"deals": 0},
        "deleted": {"deals": 0},
        "conflicts": 0,
        "errors": 0,
        "seconds": 0.0,
    }


def local_values(deal: Deal) -> dict[str, Any]:
    """The pushed fields of a deal in the form SyncedDeal.values keeps."""
    return {
        "stage": deal.stage.name,
        "amount": f"{deal.amount:.2f}" if deal.amount is not None else None,
        "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
        "next_step": deal.next_step or "",
        "forecast_category": deal.forecast_category or "",
    }


class Run:
    def __init__(self, conn: CrmConnection, run: SyncRun) -> None:
        self.conn = conn
        self.run = run
        self.counts: dict[str, Any] = run.counts or empty_counts()
        self.errors: list[str] = list(run.errors)
        self.ws = conn.workspace
        # A backfill (full, the first sync, or one taking over a killed backfill) tallies stage probabilities.
        self.backfill = run.full or "Opportunity" not in conn.high_water or STAGE_VOTES in conn.state
        # CRM ids of the page's deals whose forecast-category changes came from the CRM's field history.
        self.category_from_history: set[str] = set()

    # --- bookkeeping -------------------------------------------------------------------------------------
    def add(self, group: str, key: str, n: int) -> None:
        self.counts[group][key] += n

    def error(self, message: str) -> None:
        self.errors.append(message[:500])
        self.counts["errors"] += 1

    def save_progress(self, progress: str) -> None:
        """Inside the page's transaction: the counts and the connection's marks commit with the writes."""
        self.run.counts, self.run.errors, self.run.progress = self.counts, self.errors[-200:], progress[:200]
        self.run.cursor = self.conn.high_water  # where a run taking over from this one starts
        self.run.save(update_fields=["counts", "errors", "progress", "cursor"])
        CrmConnection.objects.filter(pk=self.conn.pk).update(high_water=self.conn.high_water, state=self.conn.state)

    def context(self) -> Context:
        return Context(
            report=ImportReport(fmt=self.conn.provider), tz=self.ws.tz, now=timezone.now(), currency=self.ws.currency
        )

    def writer(self, ctx: Context, spec: PipelineSpec) -> Writer:
        """The importers' writer, marking its history rows as the sync's."""
        return Writer(workspace=self.ws, ctx=ctx, spec=spec, actor=None, source=ChangeSource.SYNC)

    def know_records(self, writer: Writer) -> None:
        """Let a deal page's writer link companies, contacts and owners pulled by earlier pages or runs."""
        in_ws = {"workspace": self.ws}
        writer.companies = dict(
            Company.objects.filter(**in_ws).exclude(external_id="").values_list("external_id", "id")
        )
        writer.contacts = dict(Contact.objects.filter(**in_ws).exclude(external_id="").values_list("external_id", "id"))
        writer.members.update(self.ws.memberships.exclude(external_id="").values_list("external_id", "id"))

    def absorb(self, report: ImportReport) -> None:
        for key in ("deals", "companies", "contacts", "members", "history"):
            n = report.created[key] + (report.updated[key] if key != "history" else 0)
            self.add("pulled", key, n)
        for problem in report.errors:
            self.error(f"{problem.file} row {problem.row} {problem.column}: {problem.message}")

    # --- Salesforce ----------------------------------------------------------------------------------------
    def salesforce(self, client: SalesforceClient) -> None:
        hw = self.conn.high_water
        if "stages" not in self.conn.state:
            try:
                self.conn.state["stages"] = sf.stage_definitions(client)
            except CrmError as exc:  # then stages come from the opportunities alone, as in an import
                logger.warning("OpportunityStage unreadable for connection %s: %s", self.conn.pk, exc)

        users = [r for page in sf.changed_since(client, "User", sf.USER_FIELDS, hw.get("User")) for r in page]
        companies = [
            r for page in sf.changed_since(client, "Account", sf.ACCOUNT_FIELDS, hw.get("Account")) for r in page
        ]
        contacts = [
            r for page in sf.changed_since(client, "Contact", sf.CONTACT_FIELDS, hw.get("Contact")) for r in page
        ]
        with transaction.atomic():
            ctx = self.context()
            writer = self.writer(ctx, PipelineSpec(name=sf.PIPELINE))
            writer.write_teams_and_members([], sf.member_records(users))
            tables = {
                "Account.csv": sf.RowsTable("Account", companies, list(sf.ACCOUNT_FIELDS)),
                "Contact.csv": sf.RowsTable("Contact", contacts, list(sf.CONTACT_FIELDS)),
            }
            reader = sf.PulledSalesforce(
                tables={"Opportunity.csv": sf.RowsTable("Opportunity"), **tables}, known_accounts=set(), ctx=ctx
            )
            accounts = reader._read_accounts(None)  # type: ignore[arg-type]  # reads self.tables
            writer.write_companies(accounts.values())
            reader.accounts = {**dict.fromkeys(self._known_accounts()), **accounts}  # type: ignore[dict-item]  # known ids: only membership is read
            writer.write_contacts(reader._read_contacts(None))  # type: ignore[arg-type]  # reads self.tables
            for name, rows in (("User", users), ("Account", companies), ("Contact", contacts)):
                if rows:
                    hw[name] = {"at": rows[-1]["SystemModstamp"], "id": rows[-1]["Id"]}
            self.absorb(ctx.report)
            self.save_progress(f"{len(users)} users, {len(companies)} accounts, {len(contacts)} contacts")

        retry = list(self.conn.state.get("retry", []))
        if retry:
            found = sf.by_ids(client, "Opportunity", self.opportunity_fields(), "Id", retry)
            self.conn.state["retry"] = []
            self.salesforce_page(client, found, advance=False)
        for page in sf.changed_since(client, "Opportunity", self.opportunity_fields(), hw.get("Opportunity")):
            self.salesforce_page(client, page, advance=True)
        if self.backfill:
            with transaction.atomic():
                self.salesforce_stage_probabilities()
                self.save_progress("stage probabilities from every opportunity")

        try:
            deleted = sf.deleted_since(client, hw.get("OpportunityDeleted"))
        except RateLimited:
            raise
        except CrmError as exc:  # what was pulled stays; deletions are looked for again next run
            self.error(f"deleted opportunities could not be listed (queryAll): {exc}")
            deleted = []
        for row in deleted:
            with transaction.atomic():
                deal = Deal.objects.filter(workspace=self.ws, external_id=row["Id"]).first()
                if deal is not None:
                    deal_delete(deal=deal, actor=None, source_of_change=ChangeSource.SYNC)
                    self.add("deleted", "deals", 1)
                hw["OpportunityDeleted"] = {"at": row["SystemModstamp"], "id": row["Id"]}
                self.save_progress(f"deleted {row['Id']}")

    def opportunity_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*sf.OPPORTUNITY_FIELDS, *self.custom_fields())))

    def _known_accounts(self) -> list[str]:
        return list(
            Company.objects.filter(workspace=self.ws).exclude(external_id="").values_list("external_id", flat=True)
        )

    def salesforce_page(self, client: SalesforceClient, page: list[dict[str, Any]], *, advance: bool) -> None:
        if not page:
            return
        ids = [r["Id"] for r in page]
        history = sf.by_ids(client, "OpportunityHistory", sf.HISTORY_FIELDS, "OpportunityId", ids)
        try:
            field_history = sf.field_history(client, ids)
        except (AuthBroken, RateLimited):
            raise
        except CrmError as exc:  # no field history (not an object this org lets us read): current values only
            logger.warning("OpportunityFieldHistory unreadable for connection %s: %s", self.conn.pk, exc)
            field_history = []
        custom = self.custom_fields()
        with transaction.atomic():
            ctx = self.context()
            tables = {
                "Opportunity.csv": sf.RowsTable("Opportunity", page, list(sf.OPPORTUNITY_FIELDS)),
                "OpportunityHistory.csv": sf.RowsTable("OpportunityHistory", history, list(sf.HISTORY_FIELDS)),
            }
            reader = sf.PulledSalesforce(tables=tables, known_accounts=set(self._known_accounts()), ctx=ctx)
            extra = [
                s
                for s in self.conn.state.get("stages", [])
                if s[0].lower() not in {n.lower() for n, _p, _k in reader.stage_spec}
            ]
            spec = PipelineSpec(name=sf.PIPELINE, stages=(*reader.stage_spec, *map(tuple, extra)))
            writer = self.writer(ctx, spec)
            self.know_records(writer)
            records = [r for r in reader.deals() if r is not None]
            by_id = {r["Id"]: r for r in page}
            for record in records:
                self.map_attributes(record, by_id[record.external_id], custom)
            writer.write_teams_and_members([], reader.members())  # the owners met while reading the page
            failed = sorted(set(ids) - {r.external_id for r in records})
            if failed:
                # Reported now and pulled again by the next run, never skipped for good.
                self.conn.state["retry"] = sorted({*self.conn.state.get("retry", []), *failed})
            by_id = {r["Id"]: r for r in page}
            defaults = {s.name.lower(): s.forecast_category for s in Stage.objects.filter(pipeline=writer.pipeline)}
            upstream = {
                r.external_id: sf.crm_values(
                    by_id[r.external_id], defaults.get(str(by_id[r.external_id].get("StageName") or "").lower())
                )
                for r in records
            }
            kept = self.reconcile(records, upstream)
            writer.write_deals(records)
            self.absorb(ctx.report)
            self.category_from_history = self.salesforce_field_history(field_history)
            self.after_write(records, upstream, kept, ctx.report.deal_ids)
            self.category_from_history = set()
            if advance and self.backfill:
                self.count_stage_votes(reader)
            if advance:
                last = page[-1]
                self.conn.high_water["Opportunity"] = {"at": last["SystemModstamp"], "id": last["Id"]}
            self.save_progress(f"opportunities up to {page[-1]['SystemModstamp']}")

    def count_stage_votes(self, reader: sf.PulledSalesforce) -> None:
        """Add a backfill page's probabilities per stage to the run's tally (saved with the page, so a killed
        run's successor goes on counting), opportunities and history apart, as an import counts them."""
        tally = self.conn.state.setdefault(STAGE_VOTES, {"opportunities": {}, "history": {}})
        for part, votes in (
            ("opportunities", reader.opportunity_probability_votes()),
            ("history", reader.history_probability_votes()),
        ):
            for key, counts in votes.items():
                known = dict(map(tuple, tally[part].get(key, [])))  # [[probability, count]]: keeps the order met
                for probability, n in counts.items():
                    known[probability] = known.get(probability, 0) + n
                tally[part][key] = [[p, n] for p, n in known.items()]

    def salesforce_stage_probabilities(self) -> None:
        """At the end of a backfill: each stage's default probability by the importer's rule over every
        opportunity and history row, not just the first page the stage was met on (and its category with it,
        unless an admin chose one)."""
        tally = self.conn.state.pop(STAGE_VOTES, None)
        if not tally:
            return
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for part in ("opportunities", "history"):
            for key, pairs in tally[part].items():
                for probability, n in pairs:
                    votes[key][int(probability)] += int(n)
        for stage in Stage.objects.filter(workspace=self.ws, pipeline__name__iexact=sf.PIPELINE):
            key = stage.name.lower()
            if key not in votes:
                continue
            chance = stage_chance(key, stage.kind, votes[key])
            if chance == stage.default_probability:
                continue
            fields = ["default_probability"]
            if stage.forecast_category == default_forecast_category(stage.kind, float(stage.default_probability)):
                stage.forecast_category = default_forecast_category(stage.kind, float(chance))
                fields.append("forecast_category")
            stage.default_probability = chance
            stage.save(update_fields=fields)

    def salesforce_field_history(self, rows: list[dict[str, Any]]) -> set[str]:
        """Next-step and forecast-category changes from OpportunityFieldHistory into deal history, at the CRM's own
        times. A row is written once: only rows after the deal's latest history row of that field count, and not
        one that only repeats the value that row reached, nor (next step, which VectorOS edits do not record) a first
        new row bringing the value both sides last agreed on: both are a change of ours coming back after its push.
        Returns the CRM ids of deals whose category history came from here."""
        if not rows:
            return set()
        deals = dict(
            Deal.all_objects.filter(workspace=self.ws, external_id__in={r["OpportunityId"] for r in rows}).values_list(
                "external_id", "id"
            )
        )
        latest: dict[tuple[int, str], tuple[Any, Any]] = {}
        for known_deal, known_field, known_at, known_value in (
            DealHistory.objects.filter(deal_id__in=list(deals.values()), field__in=list(sf.FIELD_HISTORY_OF.values()))
            .order_by("changed_at", "id")
            .values_list("deal_id", "field", "changed_at", "new_value")
        ):
            latest[(known_deal, known_field)] = (known_at, known_value)
        agreed = dict(
            SyncedDeal.objects.filter(connection=self.conn, external_id__in=list(deals)).values_list(
                "external_id", "values__next_step"
            )
        )
        considered: set[tuple[int, str]] = set()
        written: list[DealHistory] = []
        covered: set[str] = set()
        for row in rows:
            deal_id = deals.get(row["OpportunityId"])
            field = sf.FIELD_HISTORY_OF.get(str(row.get("Field")))
            if deal_id is None or field is None:
                continue  # a deal not written (it is retried with its history) or a field OpportunityHistory has
            if field == TrackedField.FORECAST_CATEGORY:
                covered.add(row["OpportunityId"])
            at = sf.stamp(row["CreatedDate"])
            old = sf.field_history_value(row["Field"], row.get("OldValue"))
            new = sf.field_history_value(row["Field"], row.get("NewValue"))
            seen = latest.get((deal_id, field))
            if seen is not None and at <= seen[0]:
                continue
            first, key = (deal_id, field) not in considered, (deal_id, field)
            considered.add(key)
            echo = first and field == TrackedField.NEXT_STEP and row["OpportunityId"] in agreed
            if (
                old == new
                or (seen is not None and new == seen[1])
                or (echo and new == (agreed[row["OpportunityId"]] or None))
            ):
                latest[key] = (at, new)
                continue
            written.append(
                DealHistory(
                    workspace_id=self.ws.id,
                    deal_id=deal_id,
                    field=field,
                    old_value=old,
                    new_value=new,
                    changed_at=at,
                    source=ChangeSource.SYNC,
                )
            )
            latest[key] = (at, new)
        DealHistory.objects.bulk_create(written)
        self.add("pulled", "history", len(written))
        return covered

    # --- both CRMs: conflicts, plain fields, the mapping ---------------------------------------------------
    def custom_fields(self) -> dict[str, str]:
        """{CRM field: deal attribute} from the connection's mapping."""
        return dict(self.conn.field_mapping.get("attributes") or {})

    def map_attributes(self, record: DealRecord, row: dict[str, Any], custom: dict[str, str]) -> None:
        values = row.get("properties", row)
        for crm_field, attribute in custom.items():
            value = values.get(crm_field)
            if value not in (None, ""):
                record.attributes[attribute] = value
            else:
                record.attributes.pop(attribute, None)

    def reconcile(self, records: list[DealRecord], upstream: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Compare each pulled deal with ours and the values last agreed. Returns, per CRM id, the fields where
        our value stays (a VectorOS change not yet pushed, or a conflict VectorOS wins)."""
        synced = {
            s.external_id: s
            for s in SyncedDeal.objects.filter(connection=self.conn, external_id__in=list(upstream)).select_related(
                "deal__stage"
            )
        }
        kept: dict[str, dict[str, Any]] = {}
        now = timezone.now()
        for record in records:
            link = synced.get(record.external_id)
            if link is None:
                continue
            base, theirs, ours = link.values, upstream[record.external_id], local_values(link.deal)
            for field in PUSHED_FIELDS:
                they_changed, we_changed = theirs[field] != base.get(field), ours[field] != base.get(field)
                if not we_changed:
                    continue
                if they_changed and theirs[field] != ours[field]:
                    winner = self.conn.conflict_policy
                    SyncConflict.objects.create(
                        connection=self.conn,
                        deal=link.deal,
                        field=field,
                        crm_value=theirs[field],
                        local_value=ours[field],
                        winner=winner,
                    )
                    self.counts["conflicts"] += 1
                    if winner == ConflictPolicy.CRM_WINS:
                        self._drop_push(link, field)
                        continue
                elif they_changed:
                    continue  # both sides made the same change
                kept.setdefault(record.external_id, {})[field] = ours[field]
                if field in ("stage", "amount", "expected_close_date"):
                    value: Any = ours[field]
                    record.changes.append(Change(at=now, field=FIELD_OF_ATTR.get(field, field), value=value))
        return kept

    def _drop_push(self, link: SyncedDeal, field: str) -> None:
        for push in PushOutbox.objects.filter(synced=link, status=PushStatus.PENDING):
            push.fields.pop(field, None)
            if push.fields:
                push.save(update_fields=["fields"])
            else:
                push.status = PushStatus.DROPPED
                push.save(update_fields=["status"])

    def after_write(
        self,
        records: list[DealRecord],
        upstream: dict[str, dict[str, Any]],
        kept: dict[str, dict[str, Any]],
        written: list[int],
    ) -> None:
        """Next step and forecast category (not part of an import), the values both sides now agree on, and the
        handlers told about every deal that changed (the ones the writer wrote and the ones changed here)."""
        deals = {d.external_id: d for d in Deal.all_objects.filter(workspace=self.ws, external_id__in=list(upstream))}
        links = {
            s.external_id: s for s in SyncedDeal.objects.filter(connection=self.conn, external_id__in=list(upstream))
        }
        history: list[DealHistory] = []
        changed: list[Deal] = []
        new_links: list[SyncedDeal] = []
        moved_links: list[SyncedDeal] = []
        now = timezone.now()
        for external_id, theirs in upstream.items():
            deal = deals.get(external_id)
            if deal is None:
                continue
            ours = kept.get(external_id, {})
            next_step = ours.get("next_step", theirs["next_step"])
            category = ours.get("forecast_category", theirs["forecast_category"])
            if deal.next_step != next_step or deal.forecast_category != category:
                if deal.forecast_category != category and external_id not in self.category_from_history:
                    history.append(
                        DealHistory(
                            workspace_id=self.ws.id,
                            deal=deal,
                            field=TrackedField.FORECAST_CATEGORY,
                            old_value=deal.forecast_category or None,
                            new_value=category or None,
                            changed_at=now,
                            source=ChangeSource.SYNC,
                        )
                    )
                deal.next_step, deal.forecast_category = next_step, category
                changed.append(deal)
            link = links.get(external_id)
            if link is None:
                new_links.append(
                    SyncedDeal(
                        connection=self.conn, deal=deal, external_id=external_id, values=dict(theirs), synced_at=now
                    )
                )
                continue
            # A field we keep (a change of ours on its way out) stays at the old agreed value, so it is still pushed.
            agreed = {f: (link.values.get(f) if f in ours else theirs[f]) for f in PUSHED_FIELDS}
            if agreed != link.values:
                link.values, link.synced_at = agreed, now
                moved_links.append(link)
        _set_next_step_and_category(changed)
        DealHistory.objects.bulk_create(history)
        SyncedDeal.objects.bulk_create(new_links, batch_size=1000)
        SyncedDeal.objects.bulk_update(moved_links, ["values", "synced_at"], batch_size=1000)
        extra = {d.id for d in changed} - set(written)
        self.add("pulled", "deals", len(extra))
        if written or extra:
            deals_changed(workspace_id=self.ws.id, deal_ids=sorted({*written, *extra}))


def _set_next_step_and_category(deals: list[Deal]) -> None:
    """One UPDATE from arrays: bulk_update's CASE per row took seconds for a backfill's thousands of deals."""
    if not deals:
        return
    with db.cursor() as cursor:
        cursor.execute(  # the only interpolation is our own table name
            f"UPDATE {Deal._meta.db_table} AS d SET next_step = v.next_step, forecast_category = v.category, "
            "updated_at = now() FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, next_step, category) "
            "WHERE d.id = v.id",
            [[d.id for d in deals], [d.next_step for d in deals], [d.forecast_category for d in deals]],
        )


def _lock(conn_id: int) -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, conn_id])
        return bool(cursor.fetchone()[0])


def _unlock(conn_id: int) -> None:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, conn_id])


def run_sync(*, connection: CrmConnection, full: bool = False) -> tuple[SyncRun, dict[str, Any]]:
    """Sync now. Raises Busy when another worker holds this connection; never raises for CRM trouble (it is in
    the run's errors, and a refused token marks the connection broken)."""
    from sync.services import client_for, push_pending  # the services build clients and own the outbox

    if not _lock(connection.pk):
        raise Busy(f"a sync of {connection} is already running")
    started = time.perf_counter()
    try:
        run = SyncRun.objects.filter(connection=connection, status=RunStatus.RUNNING).first()
        if run is not None and full and not run.full:
            run.status, run.finished_at = RunStatus.FAILED, timezone.now()
            run.save(update_fields=["status", "finished_at"])
            run = None
        if run is None:
            run = SyncRun.objects.create(connection=connection, full=full, counts=empty_counts())
            if full:
                connection.high_water = {}
                connection.state.pop(STAGE_VOTES, None)
                CrmConnection.objects.filter(pk=connection.pk).update(high_water={}, state=connection.state)
        work = Run(connection, run)
        ok = False
        client = client_for(connection)
        try:
            if connection.provider == Provider.SALESFORCE:
                work.salesforce(client)  # type: ignore[arg-type]  # the salesforce client for this provider
            else:
                from sync.hubspot import pull_hubspot

                pull_hubspot(work, client)  # type: ignore[arg-type]  # the hubspot client for this provider
            pushed = push_pending(connection=connection, client=client)
            work.add("pushed", "deals", pushed.sent)
            for problem in pushed.errors:
                work.error(problem)
            ok = True
        except AuthBroken as exc:
            work.error(str(exc))
            from sync.services import connection_broken

            connection_broken(connection=connection, message=str(exc))
        except (CrmError, RateLimited) as exc:
            work.error(f"stopped, to go on next run from the last page written: {exc}")
        except Exception as exc:  # a bug or a shape we did not expect: recorded on the run, the next run retries
            logger.exception("sync of connection %s failed", connection.pk)
            work.error(f"stopped by an unexpected error, to go on next run: {exc!r}")
        finally:
            client.close()
        elapsed = time.perf_counter() - started
        work.counts["seconds"] = round(float(run.seconds or 0) + elapsed, 3)
        run.counts, run.errors = work.counts, work.errors[-200:]
        run.seconds = work.counts["seconds"]
        run.status = RunStatus.DONE if ok else RunStatus.FAILED
        run.finished_at = timezone.now()
        run.progress = "done" if ok else run.progress
        run.save()
        from sync.services import record_outcome

        record_outcome(connection=connection, run=run, ok=ok)
        return run, work.counts
    finally:
        _unlock(connection.pk)
