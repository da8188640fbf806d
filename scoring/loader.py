"""Loads one workspace's deals, history, activities and deal embeddings into `features.RawData` with six queries.

Rescoring a few changed deals (`load_raw(..., deal_ids=...)`) reads only what scoring those deals needs: see
`load_raw`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import psycopg
from django.apps import apps
from django.db import connection

from crm import engagement
from crm import history as deal_history
from crm.models import Stage, StageKind, TrackedField
from scoring.features import ACTIVITY_KINDS, OUTCOME_CODES, Changes, RawData, to_days

_FIELDS = ("stage", "amount", "expected_close_date", "probability", "outcome")


def _num(field: str, value: object, stage_index: dict[int, int]) -> float:
    """A stored history value as the number the features use; NaN when empty or unreadable."""
    try:
        decoded = deal_history.decode(field, value)
    except (TypeError, ValueError, ArithmeticError):
        return math.nan
    if decoded is None:
        return math.nan
    if field == TrackedField.STAGE:
        return float(stage_index.get(decoded, -1))
    if field == TrackedField.EXPECTED_CLOSE_DATE:
        return to_days(decoded)
    if field == TrackedField.PROBABILITY:
        return float(decoded) / 100.0
    if field == TrackedField.OUTCOME:
        return float(OUTCOME_CODES.get(decoded, 0))
    return float(decoded)


# Moments come out of SQL already as days since 1970-01-01 (what features.to_days gives): parsing tens of
# thousands of timestamps in Python was most of the time it takes to score a workspace.
_DAYS = "EXTRACT(EPOCH FROM {})::float8 / 86400.0"
_DATE_DAYS = "({} - DATE '1970-01-01')::float8"


def _numbers(stage_index: dict[int, int]) -> Callable[[str, object], float]:
    """`_num` of a stored history value as the cursor gives it, remembered per field and value: a workspace's
    history repeats a few hundred stages, probabilities and amounts tens of thousands of times."""
    memo: dict[tuple[str, type, object], float] = {}

    def number(field: str, stored: object) -> float:
        key = (field, type(stored), stored)
        try:
            return memo[key]
        except KeyError:
            memo[key] = value = _num(field, _json(stored), stage_index)
            return value
        except TypeError:  # a driver that hands JSON back decoded: a dict or list is no key
            return _num(field, _json(stored), stage_index)

    return number


def _days(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _json(value: object) -> object:
    # A raw cursor may hand JSONB back as text, depending on the driver's adapters. History values are mostly plain
    # strings, whole numbers and nulls: read those directly (tens of thousands of json.loads per rescoring).
    if not isinstance(value, str):
        return value
    if value == "null":
        return None
    if len(value) > 1 and value[0] == '"' and value[-1] == '"' and "\\" not in value:
        return value[1:-1]
    if value.isascii() and value.isdigit():
        return int(value)
    return json.loads(value)


def load_raw(workspace_id: int, deal_ids: Iterable[int] | None = None) -> RawData:
    """Every deal of the workspace with its full history and activities (filtering by T is the core's job).

    With `deal_ids` (rescoring after a save), what `build_features` reads to score those deals, and no more: every
    deal's own row (outcomes, owners, companies, creation times and amounts feed the workspace's, owners',
    companies' and stages' rates), but other deals' events only where a feature of these deals reads them: amount
    changes (each deal's first amount: the workspace's usual deal size), and the stage and probability changes and
    embeddings of closed deals (stage win rates, the rep's past error, the similar closed deals' outcomes).
    Activities, contacts, signals, attributes and the other changes are those deals' only. Their features come out
    the same as from the full load; the bundle's `scope` marks it, and `build_features` refuses other deals' rows.
    """
    ids = None if deal_ids is None else sorted({int(d) for d in deal_ids})
    stages = list(
        Stage.objects.filter(workspace_id=workspace_id)
        .order_by("pipeline_id", "order")
        .values_list("id", "pipeline_id", "kind")
    )
    stage_index = {sid: i for i, (sid, _, _) in enumerate(stages)}
    stage_order = np.full(len(stages) + 1, math.nan)
    stage_open = np.zeros(len(stages) + 1, dtype=bool)
    by_pipeline: dict[int, list[int]] = {}
    for i, (_, pipeline_id, kind) in enumerate(stages):
        if kind == StageKind.OPEN:
            by_pipeline.setdefault(pipeline_id, []).append(i)
            stage_open[i] = True
    for members in by_pipeline.values():
        for rank, i in enumerate(members):
            stage_order[i] = rank / max(len(members) - 1, 1)

    # With deal ids: "AND <their rows>" for the per-deal queries, and which history rows other deals keep.
    only = "" if ids is None else " AND deal_id = ANY(%s)"
    only_args = [] if ids is None else [ids]
    attributes_sql = "d.attributes" if ids is None else "CASE WHEN d.id = ANY(%s) THEN d.attributes END"
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT d.id, {_DAYS.format("d.created_at")}, {_DAYS.format("d.closed_at")}, d.outcome, d.owner_id,
                      d.company_id, d.stage_id, d.amount, {_DATE_DAYS.format("d.expected_close_date")}, d.probability,
                      d.probability_is_manual, {attributes_sql}, m.display_name
               FROM crm_deal d LEFT JOIN tenancy_membership m ON m.id = d.owner_id
               WHERE d.workspace_id = %s AND d.deleted_at IS NULL ORDER BY d.id""",
            [*only_args, workspace_id],
        )
        deals = cur.fetchall()
        history_where = "h.workspace_id = %s AND h.field = ANY(%s)"  # not the owner's changes: no feature reads them
        history_args: list[Any] = [workspace_id, list(_FIELDS)]
        if ids is not None:
            history_where += f""" AND (h.deal_id = ANY(%s) OR h.field = '{TrackedField.AMOUNT}'
                OR (h.field IN ('{TrackedField.STAGE}', '{TrackedField.PROBABILITY}') AND h.deal_id IN (
                    SELECT id FROM crm_deal WHERE workspace_id = %s AND outcome <> 'open')))"""
            history_args += [ids, workspace_id]
        cur.execute(
            f"""SELECT h.deal_id, h.field, h.old_value, h.new_value, {_DAYS.format("h.changed_at")}, h.changed_by_id
               FROM crm_dealhistory h WHERE {history_where}
               ORDER BY h.deal_id, {deal_history.ORDER_SQL.format("h.")}""",
            history_args,
        )
        history = cur.fetchall()
        cur.execute(
            f"""SELECT deal_id, {_DAYS.format("occurred_at")}, kind, direction, external_id LIKE %s FROM crm_activity
               WHERE workspace_id = %s AND deal_id IS NOT NULL{only}""",
            [engagement.CAPTURED_PREFIX + "%", workspace_id, *only_args],
        )
        activities = cur.fetchall()
        cur.execute(
            f"""SELECT a.deal_id, {_DAYS.format("MIN(a.occurred_at)")} FROM crm_activity_contacts ac
               JOIN crm_activity a ON a.id = ac.activity_id
               WHERE a.workspace_id = %s AND a.deal_id IS NOT NULL{only.replace("deal_id", "a.deal_id")}
               GROUP BY a.deal_id, ac.contact_id""",
            [workspace_id, *only_args],
        )
        contacts = cur.fetchall()

    index = {row[0]: i for i, row in enumerate(deals)}
    owners: dict[int, int] = {}
    companies: dict[int, int] = {}
    n = len(deals)
    arr = {k: np.full(n, math.nan) for k in ("created", "closed", "amount", "close_date", "probability")}
    outcome = np.zeros(n, dtype=np.int64)
    owner = np.full(n, -1, dtype=np.int64)
    company = np.full(n, -1, dtype=np.int64)
    stage = np.zeros(n, dtype=np.int64)
    manual = np.zeros(n, dtype=bool)
    attributes: list[dict] = []
    for i, (_, created, closed, out, own, comp, st, amount, ecd, prob, is_manual, attrs, owner_name) in enumerate(
        deals
    ):
        arr["created"][i] = _days(created)
        arr["closed"][i] = _days(closed) if out != "open" else math.nan
        arr["amount"][i] = float(amount or 0)
        arr["close_date"][i] = _days(ecd)
        arr["probability"][i] = float(prob) / 100.0 if prob is not None else math.nan
        outcome[i] = OUTCOME_CODES.get(out, 0)
        if own is not None:
            owner[i] = owners.setdefault(own, len(owners))
        if comp is not None:
            company[i] = companies.setdefault(comp, len(companies))
        stage[i] = stage_index.get(st, len(stages))
        manual[i] = bool(is_manual)
        attrs = _json(attrs)
        attrs = dict(attrs) if isinstance(attrs, dict) else {}
        # The owner is a category like any other: some reps win more, whatever their other numbers.
        if owner_name:
            attrs.setdefault("owner", owner_name)
        attributes.append(attrs)
    # A closed deal without a close time is treated as closed when it was created (an undated import).
    undated = (outcome != 0) & np.isnan(arr["closed"])
    arr["closed"][undated] = arr["created"][undated]

    initial_amount = arr["amount"].copy()
    seen_initial: set[int] = set()
    cols: dict[str, tuple[list, list, list, list, list]] = {f: ([], [], [], [], []) for f in _FIELDS}
    created = arr["created"].tolist()
    number = _numbers(stage_index)
    for deal_id, fld, old, new, changed_at, changed_by in history:
        if fld not in cols or (found := index.get(deal_id)) is None:
            continue
        i = found
        if deal_history.is_creation_row(None if old is None or old == "null" else old, changed_at, created[i]):
            # The deal's initial values, not a change: they only give the amount it started with.
            if fld == TrackedField.AMOUNT:
                initial_amount[i] = number(fld, new)
                seen_initial.add(i)
            continue
        if fld == "amount" and i not in seen_initial:
            initial_amount[i] = number("amount", old)
            seen_initial.add(i)
        d, t, o, nw, m = cols[fld]
        d.append(i)
        t.append(_days(changed_at))
        o.append(number(fld, old))
        nw.append(number(fld, new))
        m.append(changed_by is not None)
    hist = {("close_date" if f == "expected_close_date" else f): Changes.build(*cols[f]) for f in _FIELDS}
    initial_amount = np.where(np.isnan(initial_amount), arr["amount"], initial_amount)

    embeddings, has_embedding = _embeddings(workspace_id, index, ids)
    kinds = {k: j for j, k in enumerate(ACTIVITY_KINDS)}
    act = [
        (index[d], _days(t), kinds.get(k, -1), direction == "inbound", bool(captured))
        for d, t, k, direction, captured in activities
        if d in index
    ]
    con = [(index[d], _days(t)) for d, t in contacts if d in index]
    return RawData(
        deal_ids=np.array([row[0] for row in deals], dtype=np.int64),
        created=arr["created"],
        closed=arr["closed"],
        outcome=outcome,
        owner=owner,
        company=company,
        stage=stage,
        amount=arr["amount"],
        close_date=arr["close_date"],
        probability=arr["probability"],
        probability_manual=manual,
        initial_amount=initial_amount,
        attributes=attributes,
        stage_order=stage_order,
        stage_is_open=stage_open,
        history=hist,
        act_deal=np.array([a[0] for a in act], dtype=np.int64),
        act_t=np.array([a[1] for a in act], dtype=float),
        act_kind=np.array([a[2] for a in act], dtype=np.int64),
        act_inbound=np.array([a[3] for a in act], dtype=bool),
        act_captured=np.array([a[4] for a in act], dtype=bool),
        signals=_signals(workspace_id, index, ids),
        contact_deal=np.array([c[0] for c in con], dtype=np.int64),
        contact_t=np.array([c[1] for c in con], dtype=float),
        embeddings=embeddings,
        has_embedding=has_embedding,
        scope=None if ids is None else np.array(sorted(index[d] for d in ids if d in index), dtype=np.int64),
    )


def _embeddings(
    workspace_id: int, index: dict[int, int], ids: list[int] | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The similarity app's deal embeddings as one float32 matrix (one query); (None, None) without any.

    With `ids`: those deals' and the closed deals' (the only ones a neighbour can be).
    """
    if not apps.is_installed("similarity"):
        return None, None
    connection.ensure_connection()
    # In binary: pgvector's own form, read straight into NumPy. As text, formatting and parsing every deal's 384
    # numbers was most of what rescoring one changed deal cost.
    with psycopg.Cursor(connection.connection) as cur:  # Django's own cursors bind client-side: text only
        sql = "SELECT deal_id, embedding FROM similarity_dealembedding WHERE workspace_id = %s"
        args: list[object] = [workspace_id]
        if ids is not None:  # the deal's own outcome (the embedding's copy of it is refreshed later, in bulk)
            sql += """ AND (deal_id = ANY(%s) OR deal_id IN (
                SELECT id FROM crm_deal WHERE workspace_id = %s AND outcome <> 'open'))"""
            args += [ids, workspace_id]
        cur.execute(sql, args, binary=True)
        rows = cur.fetchall()
    kept = [(index[d], v) for d, v in rows if d in index]
    if not kept:
        return None, None
    positions = np.array([i for i, _ in kept], dtype=np.int64)
    values = [v for _, v in kept]
    sizes = {len(v) for v in values if isinstance(v, bytes | memoryview)}
    if len(sizes) == 1 and all(isinstance(v, bytes | memoryview) for v in values):
        # vector_send's bytes of every row in one buffer: each row's 4-byte header is one float4 column to drop
        # (per-row conversion was most of the time to read a workspace's embeddings).
        width = sizes.pop() // 4
        block = np.frombuffer(b"".join(values), dtype=">f4").reshape(len(values), width)[:, 1:].astype(np.float32)
    else:
        block = np.stack([_vector(v) for v in values])
    matrix = np.zeros((len(index), block.shape[1]), dtype=np.float32)
    has = np.zeros(len(index), dtype=bool)
    matrix[positions] = block
    has[positions] = True
    return matrix, has


def _vector(value: object) -> np.ndarray:
    # Binary without pgvector's psycopg adapter: vector_send's bytes (dimensions and an unused int16, then big-endian
    # float4s); with the adapter a NumPy array; as text '[x,y,...]'.
    if isinstance(value, bytes | memoryview):
        return np.frombuffer(value, dtype=">f4", offset=4).astype(np.float32)
    if isinstance(value, str):
        return np.array(json.loads(value), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def _signals(
    workspace_id: int, index: dict[int, int], ids: list[int] | None
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Captured engagement signals (crm.engagement) grouped by name, as deal positions, days and values."""
    grouped: dict[str, list[tuple[int, float, float]]] = {}
    for deal_id, at, name, value in engagement.signal_rows(workspace_id, deal_ids=ids):
        if deal_id in index:
            grouped.setdefault(name, []).append((index[deal_id], to_days(at), float(value)))
    return {
        name: (
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=float),
            np.array([r[2] for r in rows], dtype=float),
        )
        for name, rows in grouped.items()
    }
