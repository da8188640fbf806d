"""Point-in-time deal features: for any (deal, T) pairs, only what was known at T.

The core (`build_features`) is plain NumPy over a `RawData` bundle of event arrays; it never looks at
an event stamped after the T of its row, because every lookup is a sorted search bounded by T. The
loader (`load_raw`) fills the bundle with a fixed handful of queries whatever the number of deals.
Times are float days since the Unix epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

_B = 1e6  # key stride: deal index * _B + day; days since 1970 stay far below it
OUTCOME_CODES = {"open": 0, "won": 1, "lost": 2}
ACTIVITY_KINDS = ("email", "call", "meeting", "note", "task")
WINDOWS = (7, 30, 90)
PRIOR_STRENGTH = 10.0  # pseudo-deals pulling a small group's win rate toward the workspace's


def to_days(value: datetime | date | None) -> float:
    if value is None:
        return math.nan
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp() / 86400.0
    return float(value.toordinal() - date(1970, 1, 1).toordinal())


@dataclass
class Changes:
    """Changes of one tracked field, sorted by (deal index, time)."""

    deal: np.ndarray  # int
    t: np.ndarray
    old: np.ndarray  # float, NaN for none
    new: np.ndarray
    manual: np.ndarray  # bool: made by a person

    @classmethod
    def empty(cls) -> Changes:
        z = np.zeros(0)
        return cls(z.astype(int), z, z, z, z.astype(bool))

    @classmethod
    def build(cls, deal: list[int], t: list[float], old: list[float], new: list[float], manual: list[bool]) -> Changes:
        if not deal:
            return cls.empty()
        d, tt = np.asarray(deal, dtype=np.int64), np.asarray(t, dtype=float)
        order = np.lexsort((tt, d))
        return cls(
            d[order],
            tt[order],
            np.asarray(old, dtype=float)[order],
            np.asarray(new, dtype=float)[order],
            np.asarray(manual, dtype=bool)[order],
        )

    @property
    def keys(self) -> np.ndarray:
        return self.deal * _B + self.t


@dataclass
class RawData:
    """Everything the feature builder needs for one workspace, as arrays indexed by deal position."""

    deal_ids: np.ndarray
    created: np.ndarray
    closed: np.ndarray  # NaN while open
    outcome: np.ndarray  # current code (OUTCOME_CODES)
    owner: np.ndarray  # index into owners, -1 when none
    company: np.ndarray  # -1 when none
    stage: np.ndarray  # current stage index
    amount: np.ndarray
    close_date: np.ndarray  # expected close, days; NaN when none
    probability: np.ndarray  # rep's probability 0-1, NaN when none
    probability_manual: np.ndarray  # bool, current flag
    initial_amount: np.ndarray
    attributes: list[dict]
    stage_order: np.ndarray  # per stage: 0 (first open stage) .. 1 (last open stage); NaN for closed stages
    stage_is_open: np.ndarray  # per stage: bool
    history: dict[str, Changes] = field(default_factory=dict)  # stage, amount, close_date, probability, outcome
    act_deal: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    act_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    act_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    act_inbound: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    contact_deal: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # first time a contact
    contact_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # took part in the deal's activities
    act_captured: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # written by capture
    # Captured engagement signals (crm.engagement) by name: (deal positions, days, values).
    signals: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # Unit-length text embeddings (float32, one row per deal; zeros where none) or None when the
    # workspace has none: then the neighbour won-ratio is NaN.
    embeddings: np.ndarray | None = None
    has_embedding: np.ndarray | None = None
    # Deal positions whose own events were loaded (load_raw's deal_ids: rescoring after a save); None for all.
    # Other deals' events are only those the features of these deals read, so only these deals can be rows.
    scope: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.index = {int(d): i for i, d in enumerate(self.deal_ids)}

    @property
    def n(self) -> int:
        return len(self.deal_ids)

    def changes(self, name: str) -> Changes:
        return self.history.get(name) or Changes.empty()


@dataclass
class Vocabulary:
    """How custom attributes become columns, fitted on training rows and reused when scoring."""

    numeric: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def fit(
        cls,
        attributes: list[dict],
        open_attributes: list[dict] | None = None,
        min_count: int = 3,
        max_categories: int = 30,
    ) -> Vocabulary:
        """Columns for the attributes of training deals.

        Attributes carry no dates, so one filled in only when a deal closes (a close value, a loss
        reason) would leak the outcome. When open deals exist, a key is kept only if open deals have
        it about as often as closed ones.
        """
        numeric, categories = [], {}
        keys = sorted({k for a in attributes for k in a})
        if open_attributes:
            n_open = len(open_attributes)

            def coverage(rows: list[dict], key: str) -> float:
                return sum(1 for a in rows if a.get(key) not in (None, "")) / max(len(rows), 1)

            keys = [k for k in keys if n_open == 0 or coverage(open_attributes, k) >= 0.5 * coverage(attributes, k)]
        for key in keys:
            values = [a.get(key) for a in attributes if a.get(key) not in (None, "")]
            if not values:
                continue
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                numeric.append(key)
                continue
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
            if kept:
                categories[key] = kept[:max_categories]
        return cls(numeric, categories)

    def columns(self) -> list[str]:
        cols = [f"attr_num:{k}" for k in self.numeric]
        for key, values in self.categories.items():
            cols += [f"attr:{key}={v}" for v in values]
        return cols

    def encode(self, attributes: list[dict]) -> np.ndarray:
        out = np.zeros((len(attributes), len(self.columns())))
        col = 0
        for key in self.numeric:
            for i, a in enumerate(attributes):
                v = a.get(key)
                out[i, col] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
            col += 1
        for key, values in self.categories.items():
            where = {v: col + j for j, v in enumerate(values)}
            for i, a in enumerate(attributes):
                j = where.get(str(a.get(key)))
                if j is not None:
                    out[i, j] = 1.0
            col += len(values)
        return out


def open_attributes(raw: RawData) -> list[dict]:
    return [raw.attributes[i] for i in np.flatnonzero(raw.outcome == 0)]


BASE_FEATURES = [
    "state_known",
    "age_days",
    "days_to_close",
    "overdue_days",
    "days_in_stage",
    "close_slips",
    "close_slip_days",
    "amount_changes",
    "amount_log",
    "amount_vs_workspace",
    "amount_vs_initial",
    "stage_order",
    "stage_win_rate",
    "rep_probability",
    "rep_probability_manual",
    "rep_past_error",
    "owner_win_rate",
    "company_win_rate",
    *[f"act_{k}_{w}d" for k in ACTIVITY_KINDS for w in WINDOWS],
    "days_since_activity",
    "inbound_share_90d",
    "engagement_trend",
    "contacts_involved",
    "neighbour_won_ratio",
]
# Captured engagement (email and calendar capture): (signal, window in days or None for all time, mean or sum).
ENGAGEMENT_FEATURES: dict[str, tuple[str, float | None, str]] = {
    "reply_hours_90d": ("reply_hours", 90, "mean"),
    "inbound_sentiment_90d": ("sentiment", 90, "mean"),
    "not_now_90d": ("not_now", 90, "sum"),
    "meetings_held_90d": ("meeting_held", 90, "sum"),
    "meetings_no_show_90d": ("meeting_no_show", 90, "sum"),
    "senior_contacts": ("senior_contact", None, "sum"),
}
BASE_FEATURES += list(ENGAGEMENT_FEATURES)
# Features that describe the deal's state; meaningless (and leaky) when the deal was already closed at T.
_STATE_FEATURES = set(BASE_FEATURES) - {"state_known", "owner_win_rate", "company_win_rate", "neighbour_won_ratio"}


# What a deal was worth when it appeared: kept for an undated import when the amount can be the one at
# creation (a win/loss export of creation-time fields), where every other state feature is masked.
_CREATION_AMOUNT_FEATURES = frozenset({"amount_log", "amount_vs_workspace"})
# Lost deals at 0 (or blank) this much more often than won ones: the export writes the outcome into
# the amount (close values), so the amount is not the one at creation and would leak the label.
_ZERO_CODED_LOSS_SHARE = 0.1


def creation_amount_known(raw: RawData) -> np.ndarray:
    """Per deal: closed the moment it appeared (an undated import), its amount never changed, and the
    import does not code losses into amounts (non-positive for over 10% of losses and 3x the wins' share)."""
    undated = ~np.isnan(raw.closed) & (raw.outcome != 0) & (np.nan_to_num(raw.closed) - raw.created < 1.0)
    if not undated.any():
        return undated
    ch = raw.changes("amount")
    changed = np.zeros(raw.n, dtype=bool)
    changed[ch.deal[~np.isnan(ch.old)]] = True
    zero = ~(raw.amount > 0)
    won = undated & (raw.outcome == 1)
    lost = undated & (raw.outcome != 1)
    zero_won = zero[won].mean() if won.any() else 0.0
    zero_lost = zero[lost].mean() if lost.any() else 0.0
    if zero_lost > _ZERO_CODED_LOSS_SHARE and zero_lost > 3 * zero_won:
        return np.zeros(raw.n, dtype=bool)
    return undated & ~changed


def _value_at(ch: Changes, current: np.ndarray, qd: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """The field's value at each (deal, T): the last change up to T, else the first later change's old value."""
    out = current[qd].astype(float).copy()
    if len(ch.deal) == 0:
        return out
    keys = ch.keys
    pos = np.searchsorted(keys, qd * _B + qt, side="right")
    nxt = np.minimum(pos, len(keys) - 1)
    has_next = (pos < len(keys)) & (ch.deal[nxt] == qd)
    out[has_next] = ch.old[nxt[has_next]]
    prv = np.maximum(pos - 1, 0)
    has_prev = (pos > 0) & (ch.deal[prv] == qd)
    out[has_prev] = ch.new[prv[has_prev]]
    return out


def _count_upto(ch_deal: np.ndarray, keys: np.ndarray, qd: np.ndarray, qt: np.ndarray, weights=None) -> np.ndarray:
    start = np.searchsorted(keys, qd * _B - 0.5 * _B, side="left")
    end = np.searchsorted(keys, qd * _B + qt, side="right")
    if weights is None:
        return (end - start).astype(float)
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    return cum[end] - cum[start]


def _last_time_upto(ch: Changes, qd: np.ndarray, qt: np.ndarray) -> np.ndarray:
    out = np.full(len(qd), math.nan)
    if len(ch.deal) == 0:
        return out
    pos = np.searchsorted(ch.keys, qd * _B + qt, side="right") - 1
    ok = (pos >= 0) & (ch.deal[np.maximum(pos, 0)] == qd)
    out[ok] = ch.t[pos[ok]]
    return out


def _rate_before(
    group: np.ndarray, t: np.ndarray, won: np.ndarray, qg: np.ndarray, qt: np.ndarray, prior: np.ndarray
) -> np.ndarray:
    """Win rate of each query's group among outcomes known strictly before its T, shrunk toward `prior`."""
    if len(group) == 0:
        return prior.copy()
    t0 = min(float(np.nanmin(t)), float(np.nanmin(qt))) - 1.0
    keys = group * _B + (t - t0)
    order = np.argsort(keys, kind="stable")
    keys, won_sorted = keys[order], won[order]
    cum = np.concatenate([[0.0], np.cumsum(won_sorted)])
    start = np.searchsorted(keys, qg * _B, side="left")
    end = np.searchsorted(keys, qg * _B + (qt - t0), side="left")
    n, w = (end - start).astype(float), cum[end] - cum[start]
    return (w + PRIOR_STRENGTH * prior) / (n + PRIOR_STRENGTH)


def _workspace_rate_before(raw: RawData, qt: np.ndarray) -> np.ndarray:
    closed = ~np.isnan(raw.closed)
    t, won = raw.closed[closed], (raw.outcome[closed] == 1).astype(float)
    order = np.argsort(t)
    t, won = t[order], won[order]
    cum = np.concatenate([[0.0], np.cumsum(won)])
    end = np.searchsorted(t, qt, side="left")
    # Beta(1, 1) keeps the rate defined before any deal has closed.
    return (cum[end] + 1.0) / (end + 2.0)


def _stage_visits(raw: RawData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stage, closed time, won) for each open stage each closed deal passed through."""
    ch = raw.changes("stage")
    closed = np.flatnonzero(~np.isnan(raw.closed))
    if len(closed) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    first_stage = _value_at(ch, raw.stage, closed, raw.created[closed])
    mask = np.isin(ch.deal, closed)
    deal = np.concatenate([closed, ch.deal[mask]]).astype(np.int64)
    stage = np.concatenate([first_stage, ch.new[mask]])
    known = ~np.isnan(stage)
    # Each (deal, stage) once, in (deal, stage) order (a Python set of pairs cost most of scoring one deal's features).
    pairs_arr = np.unique(np.column_stack([deal[known], stage[known].astype(np.int64)]), axis=0).reshape(-1, 2)
    keep = raw.stage_is_open[pairs_arr[:, 1]]
    pairs_arr = pairs_arr[keep]
    d, s = pairs_arr[:, 0], pairs_arr[:, 1]
    return s, raw.closed[d], (raw.outcome[d] == 1).astype(float)


def _rep_errors(raw: RawData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, closed time, |outcome - rep probability just before close|) for closed deals that had one."""
    closed = np.flatnonzero(~np.isnan(raw.closed) & (raw.owner >= 0))
    if len(closed) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    p = _value_at(raw.changes("probability"), raw.probability, closed, raw.closed[closed] - 1e-6)
    ok = ~np.isnan(p)
    d = closed[ok]
    err = np.abs((raw.outcome[d] == 1).astype(float) - p[ok])
    return raw.owner[d], raw.closed[d], err


NEIGHBOURS = 10
_KNN_BATCH = 512


def neighbour_won_ratio(raw: RawData, qd: np.ndarray, qt: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Won share among the k most similar deals closed strictly before each row's T (never the deal itself).

    Exact k-NN by inner product of unit vectors over the workspace's closed deals, in batches of
    rows so memory stays bounded; NaN without an embedding or without any earlier closed deal.
    """
    out = np.full(len(qd), math.nan)
    if raw.embeddings is None or raw.has_embedding is None:
        return out
    closed = np.flatnonzero(~np.isnan(raw.closed) & (raw.outcome != 0) & raw.has_embedding)
    rows = np.flatnonzero(raw.has_embedding[qd])
    if len(closed) == 0 or len(rows) == 0:
        return out
    base = raw.embeddings[closed]
    closed_t = raw.closed[closed]
    won = (raw.outcome[closed] == 1).astype(float)
    for start in range(0, len(rows), _KNN_BATCH):
        r = rows[start : start + _KNN_BATCH]
        sim = raw.embeddings[qd[r]] @ base.T
        sim[(closed_t[None, :] >= qt[r, None]) | (closed[None, :] == qd[r, None])] = -np.inf
        kk = min(k, len(closed))
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        usable = np.isfinite(np.take_along_axis(sim, top, axis=1))
        n = usable.sum(axis=1)
        wins = (won[top] * usable).sum(axis=1)
        out[r] = np.where(n > 0, wins / np.maximum(n, 1), math.nan)
    return out


def build_features(
    raw: RawData,
    qd: np.ndarray,
    qt: np.ndarray,
    vocabulary: Vocabulary,
    neighbour_ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Feature rows for deal positions `qd` as of days `qt` (one T per row). Only data stamped <= T is read."""
    qd = np.asarray(qd, dtype=np.int64)
    qt = np.asarray(qt, dtype=float)
    if raw.scope is not None and not np.isin(qd, raw.scope).all():
        raise ValueError("rows of deals outside this RawData's scope: load_raw without deal_ids loads them all")
    m = len(qd)
    f: dict[str, np.ndarray] = {}
    outcome_t = _value_at(raw.changes("outcome"), raw.outcome.astype(float), qd, qt)
    state_known = (outcome_t == 0) & (qt >= raw.created[qd])
    f["state_known"] = state_known.astype(float)
    f["age_days"] = qt - raw.created[qd]

    close_ch = raw.changes("close_date")
    close_t = _value_at(close_ch, raw.close_date, qd, qt)
    f["days_to_close"] = close_t - qt
    f["overdue_days"] = np.where(np.isnan(close_t), math.nan, np.maximum(0.0, qt - close_t))
    slip = close_ch.new - close_ch.old
    is_slip = np.nan_to_num(slip) > 0
    slip_keys = close_ch.keys[is_slip]
    f["close_slips"] = _count_upto(close_ch.deal[is_slip], slip_keys, qd, qt)
    f["close_slip_days"] = _count_upto(close_ch.deal[is_slip], slip_keys, qd, qt, weights=slip[is_slip])

    stage_ch = raw.changes("stage")
    stage_t = _value_at(stage_ch, raw.stage.astype(float), qd, qt)
    last_move = _last_time_upto(stage_ch, qd, qt)
    f["days_in_stage"] = qt - np.where(np.isnan(last_move), raw.created[qd], last_move)

    amount_ch = raw.changes("amount")
    amount_t = _value_at(amount_ch, raw.amount, qd, qt)
    f["amount_changes"] = _count_upto(amount_ch.deal, amount_ch.keys, qd, qt)
    f["amount_log"] = np.log1p(np.maximum(amount_t, 0))
    # Geometric mean of the amounts of deals created before T.
    order = np.argsort(raw.created)
    created_sorted = raw.created[order]
    logs = np.concatenate([[0.0], np.cumsum(np.log1p(np.maximum(raw.initial_amount[order], 0)))])
    k = np.searchsorted(created_sorted, qt, side="left")
    ws_log = np.where(k > 0, logs[k] / np.maximum(k, 1), math.nan)
    f["amount_vs_workspace"] = f["amount_log"] - ws_log
    initial = raw.initial_amount[qd]
    f["amount_vs_initial"] = np.where(initial > 0, amount_t / np.where(initial > 0, initial, 1), math.nan)

    stage_idx = np.nan_to_num(stage_t, nan=0).astype(np.int64)
    f["stage_order"] = np.where(np.isnan(stage_t), math.nan, raw.stage_order[stage_idx])
    ws_rate = _workspace_rate_before(raw, qt)
    vs, vt, vw = _stage_visits(raw)
    f["stage_win_rate"] = _rate_before(vs, vt, vw, stage_idx, qt, ws_rate)

    prob_ch = raw.changes("probability")
    f["rep_probability"] = _value_at(prob_ch, raw.probability, qd, qt)
    manual_keys = prob_ch.keys[prob_ch.manual]
    manual_before = _count_upto(prob_ch.deal[prob_ch.manual], manual_keys, qd, qt) > 0
    no_history = _count_upto(prob_ch.deal, prob_ch.keys, qd, np.full(m, 1e12)) == 0
    f["rep_probability_manual"] = (manual_before | (no_history & raw.probability_manual[qd])).astype(float)
    eo, et, ee = _rep_errors(raw)
    f["rep_past_error"] = _rate_before(eo, et, ee, raw.owner[qd], qt, np.full(m, 0.5))

    closed = ~np.isnan(raw.closed)
    own = closed & (raw.owner >= 0)
    f["owner_win_rate"] = _rate_before(
        raw.owner[own], raw.closed[own], (raw.outcome[own] == 1).astype(float), raw.owner[qd], qt, ws_rate
    )
    f["owner_win_rate"][raw.owner[qd] < 0] = math.nan
    com = closed & (raw.company >= 0)
    f["company_win_rate"] = _rate_before(
        raw.company[com], raw.closed[com], (raw.outcome[com] == 1).astype(float), raw.company[qd], qt, ws_rate
    )
    f["company_win_rate"][raw.company[qd] < 0] = math.nan

    total = {w: np.zeros(m) for w in WINDOWS}
    for kind_idx, kind in enumerate(ACTIVITY_KINDS):
        sel = raw.act_kind == kind_idx
        keys = np.sort(raw.act_deal[sel] * _B + raw.act_t[sel])
        end = np.searchsorted(keys, qd * _B + qt, side="right")
        for w in WINDOWS:
            start = np.searchsorted(keys, qd * _B + qt - w, side="right")
            f[f"act_{kind}_{w}d"] = (end - start).astype(float)
            total[w] += end - start
    keys_all = raw.act_deal * _B + raw.act_t
    order = np.argsort(keys_all, kind="stable")
    keys_all, inbound_sorted, t_sorted = keys_all[order], raw.act_inbound[order].astype(float), raw.act_t[order]
    end = np.searchsorted(keys_all, qd * _B + qt, side="right")
    start90 = np.searchsorted(keys_all, qd * _B + qt - 90, side="right")
    last = np.full(m, math.nan)
    if len(keys_all):
        has = (end > 0) & (np.floor(keys_all[np.maximum(end - 1, 0)] / _B) == qd)
        last[has] = qt[has] - t_sorted[end[has] - 1]
    f["days_since_activity"] = last
    cum_in = np.concatenate([[0.0], np.cumsum(inbound_sorted)])
    n90 = end - start90
    f["inbound_share_90d"] = np.where(n90 > 0, (cum_in[end] - cum_in[start90]) / np.maximum(n90, 1), math.nan)
    f["engagement_trend"] = total[30] - (total[90] - total[30]) / 2.0
    ckeys = np.sort(raw.contact_deal * _B + raw.contact_t)
    f["contacts_involved"] = (
        np.searchsorted(ckeys, qd * _B + qt, side="right") - np.searchsorted(ckeys, qd * _B - 0.5 * _B)
    ).astype(float)
    f["neighbour_won_ratio"] = (
        np.asarray(neighbour_ratio, dtype=float) if neighbour_ratio is not None else neighbour_won_ratio(raw, qd, qt)
    )

    f.update(engagement_features(raw, qd, qt))
    amount_known = creation_amount_known(raw)[qd]
    for name in _STATE_FEATURES:
        known = state_known | amount_known if name in _CREATION_AMOUNT_FEATURES else state_known
        f[name] = np.where(known, f[name], math.nan)
    base = np.column_stack([f[name] for name in BASE_FEATURES])
    attrs = vocabulary.encode([raw.attributes[i] for i in qd])
    return np.hstack([base, attrs]), BASE_FEATURES + vocabulary.columns()


def engagement_features(raw: RawData, qd: np.ndarray, qt: np.ndarray) -> dict[str, np.ndarray]:
    """Captured signals dated up to each row's T, summed or averaged over the window (a mean is NaN without any)."""
    out: dict[str, np.ndarray] = {}
    for name, (signal, window, how) in ENGAGEMENT_FEATURES.items():
        deal, t, value = raw.signals.get(signal) or (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
        keys = deal * _B + t
        order = np.argsort(keys, kind="stable")
        keys, cum = keys[order], np.concatenate([[0.0], np.cumsum(value[order])])
        end = np.searchsorted(keys, qd * _B + qt, side="right")
        low = qd * _B + (qt - window if window is not None else -0.5 * _B)
        start = np.searchsorted(keys, low, side="right")
        total, count = cum[end] - cum[start], end - start
        out[name] = total if how == "sum" else np.where(count > 0, total / np.maximum(count, 1), math.nan)
    return out


def align_columns(x: np.ndarray, names: list[str], wanted: list[str]) -> np.ndarray:
    """Columns `wanted` (a model's features) out of `x` built with `names`; NaN for one it no longer has."""
    at = {n: j for j, n in enumerate(names)}
    return np.column_stack([x[:, at[n]] if n in at else np.full(len(x), math.nan) for n in wanted])


def feature_label(name: str) -> str:
    """A feature's name in plain words, for explanations."""
    if name.startswith("attr:"):
        key, equals, value = name[5:].partition("=")
        label = key.replace("_", " ")
        if not equals:  # a whole attribute (`feature_group`'s name for its one-hot columns): "owner"
            return label
        return f"{label} is “{value}”" if value.strip() else f"{label} is (no {label})"  # a blank category
    if name.startswith("attr_num:"):
        return name[9:].replace("_", " ")
    if name.startswith("act_"):
        _, kind, window = name.split("_")
        return f"{kind}s in the last {window[:-1]} days"
    return _LABELS.get(name, name.replace("_", " "))


_LABELS = {
    "state_known": "deal history available",
    "age_days": "age of the deal",
    "days_to_close": "time left to the expected close date",
    "overdue_days": "days past the expected close date",
    "days_in_stage": "time in the current stage",
    "close_slips": "number of times the close date slipped",
    "close_slip_days": "total days the close date slipped",
    "amount_changes": "number of amount changes",
    "amount_log": "deal size",
    "amount_vs_workspace": "deal size compared with the workspace's usual deal",
    "amount_vs_initial": "amount compared with the first amount",
    "stage_order": "how far along the pipeline the deal is",
    "stage_win_rate": "historical win rate of the current stage",
    "rep_probability": "the rep's own probability",
    "rep_probability_manual": "the rep set the probability by hand",
    "rep_past_error": "how far the rep's past probabilities were from outcomes",
    "owner_win_rate": "the owner's past win rate",
    "company_win_rate": "the company's past win rate",
    "days_since_activity": "days since the last activity",
    "inbound_share_90d": "share of inbound activity (90 days)",
    "engagement_trend": "engagement trend (last 30 days vs before)",
    "contacts_involved": "contacts involved",
    "neighbour_won_ratio": "won share among the most similar closed deals",
    "reply_hours_90d": "hours the buyer takes to reply (captured mail, 90 days)",
    "inbound_sentiment_90d": "tone of the buyer's mail (90 days)",
    "not_now_90d": "“not now” replies (90 days)",
    "meetings_held_90d": "meetings held (90 days)",
    "meetings_no_show_90d": "meetings the buyer missed (90 days)",
    "senior_contacts": "senior contacts engaged",
}


def feature_group(name: str) -> str:
    """One-hot columns of one attribute share a group, so an explanation names the attribute once."""
    if name.startswith("attr:"):
        return name.partition("=")[0]
    return name


GRID_DAYS = 30.4375  # snapshots fall on a month-like grid, as open deals do when they are scored


@dataclass
class Snapshots:
    deal: np.ndarray  # deal positions
    t: np.ndarray  # snapshot days
    y: np.ndarray  # 1 won, 0 lost
    weight: np.ndarray  # 1 / snapshots of the deal: every deal counts once
    closed: np.ndarray  # the deal's close day (for time-ordered splits)


def training_snapshots(raw: RawData, *, closed_before: float | None = None, max_per_deal: int = 4) -> Snapshots:
    """Points in the lives of closed deals, each labelled with the eventual outcome.

    A deal with grid points inside its open life gets up to `max_per_deal` of them (evenly spread);
    a deal closed on the day it appeared (an undated import) gets one snapshot at creation, where the
    feature builder masks everything about its state.
    """
    closed = ~np.isnan(raw.closed) & (raw.outcome != 0)
    if closed_before is not None:
        closed &= raw.closed <= closed_before
    idx = np.flatnonzero(closed)
    first = np.ceil(raw.created[idx] / GRID_DAYS)
    last = np.ceil(raw.closed[idx] / GRID_DAYS) - 1
    count = np.maximum(last - first + 1, 0).astype(np.int64)
    deals, times, weights = [], [], []
    for i, d in enumerate(idx):
        c = int(count[i])
        if c <= 0:
            pts = np.array([raw.created[d]])
        else:
            ks = first[i] + np.unique(np.round(np.linspace(0, c - 1, min(c, max_per_deal))))
            pts = ks * GRID_DAYS
        deals.append(np.full(len(pts), d))
        times.append(pts)
        weights.append(np.full(len(pts), 1.0 / len(pts)))
    if not deals:
        z = np.zeros(0)
        return Snapshots(z.astype(np.int64), z, z, z, z)
    deal_idx = np.concatenate(deals).astype(np.int64)
    return Snapshots(
        deal_idx,
        np.concatenate(times),
        (raw.outcome[deal_idx] == 1).astype(float),
        np.concatenate(weights),
        raw.closed[deal_idx],
    )
