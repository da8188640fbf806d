"""A synthetic B2B SaaS sales team, generated from a causal model. Plain Python and NumPy, no Django.

Time runs in days from `start` (as_of - 730 days) to `end` (as_of at midnight UTC). Each deal's whole
fate is simulated, also beyond `end`, and then cut at `end`: an open deal that will be lost next month
already shows the signs today (ghosting, neglect, slips), which is what alert and forecast backtests need.

The model, in short:
- Arrivals: a Poisson process per rep (mild growth, seasonality, one rep hired during the period).
- Each deal has a latent quality `q` (rep skill, source, noise; single-threaded large deals pay a penalty).
  Every stage has a lognormal duration (longer for weak deals) and a conversion chance (logistic in `q`),
  shifted by a shared per-quarter shock so that outcomes within a quarter are correlated.
- Losses mostly linger (time in stage grows) and are preceded by ghosting (inbound replies stop while the
  rep keeps writing) or neglect (all activity stops); some die suddenly. Some winners have a quiet spell.
- Reps re-estimate the close date when it comes near (diligent reps promptly, others leave it past due);
  losing deals get extra pushes. Reps set a probability on about half the deals, some optimistically.
- A few early deals become zombies: worked for a while, then abandoned and never closed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from crm.demo import words
from crm.demo.activities import ActivitySpec, DealLife, activities_for_deal
from crm.demo.fastrand import ScalarRng
from crm.demo.people import (
    SEGMENT_CONTACTS,
    TEAM_SEGMENT,
    CompanySpec,
    ContactSpec,
    MemberSpec,
    TeamSpec,
    companies_and_contacts,
    people,
)

HISTORY_DAYS = 730
# Deals opened this long before the history starts and still open then are kept, so the first quarters
# already have a full pipeline (the CRM was in use; only what closed before the window is gone).
LEAD_IN_DAYS = 150
# No deal that ever closed is older than this; zombies are much older (ZOMBIE_MIN_AGE).
MAX_CYCLE_DAYS = 300
ZOMBIE_MIN_AGE = 420

STAGE_NAMES = ("Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
WON, LOST = 5, 6
STAGE_DEFAULT_PROB = (10, 20, 35, 55, 75)
STAGE_MEDIAN_DAYS = (36.0, 26.0, 26.0, 28.0, 22.0)
STAGE_ADVANCE_P = (0.70, 0.74, 0.74, 0.72, 0.78)
SEGMENT_DURATION = {"SMB": 0.55, "Mid-Market": 1.0, "Enterprise": 1.35}
SEGMENT_ACTIVITY = {"SMB": 0.7, "Mid-Market": 1.0, "Enterprise": 1.3}
# Deals a rep opens per month (before growth and seasonality).
SEGMENT_MONTHLY_DEALS = {"SMB": 13.0, "Mid-Market": 8.6, "Enterprise": 5.1}
PRODUCTS = {
    "SMB": (("Starter", 6000, 0.5), ("Growth", 12000, 0.5)),
    "Mid-Market": (("Growth", 22000, 0.35), ("Professional", 38000, 0.45), ("Analytics Add-on", 15000, 0.2)),
    "Enterprise": (("Professional", 70000, 0.3), ("Enterprise Suite", 120000, 0.5), ("Data Platform", 180000, 0.2)),
}
# source: (share, quality bonus, chance the deal starts already qualified)
SOURCES = {
    "Inbound": (0.30, 0.2, 0.5),
    "Outbound": (0.33, -0.3, 0.1),
    "Referral": (0.10, 0.5, 0.5),
    "Partner": (0.08, 0.2, 0.3),
    "Event": (0.09, -0.1, 0.2),
    "Expansion": (0.10, 0.6, 0.6),
}
MONTH_SEASONALITY = (0.9, 1.0, 1.1, 1.05, 1.0, 0.95, 0.85, 0.8, 1.1, 1.1, 1.0, 0.75)
QUARTER_SHOCK_SD = 0.18


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One tracked change. Stages are indexes into STAGE_NAMES, owners member keys, amounts whole dollars."""

    at: datetime
    field: str
    old: object
    new: object
    by: str


@dataclass(slots=True)
class DealSpec:
    title: str
    description: str
    company: int
    contacts: list[int]
    owner: str
    stage: int
    amount: int
    expected_close_date: date
    probability: int | None
    created_at: datetime
    closed_at: datetime | None
    stage_entered_at: datetime
    outcome: str
    lost_reason: str
    source: str
    attributes: dict[str, str]
    history: list[HistoryEvent]
    is_zombie: bool
    # The simulated truth, also beyond `end`: "won", "lost" or "zombie", and when it happens.
    fate: str
    fate_at: datetime | None


@dataclass(frozen=True, slots=True)
class _FinalState:
    """A deal's tracked fields as they stand at the end of the history."""

    owner: str
    stage: int
    amount: int
    expected_close_date: date
    probability: int | None
    outcome: str
    created_at: datetime
    closed_at: datetime | None
    stage_entered_at: datetime


@dataclass
class DemoData:
    seed: int
    as_of: date
    start: datetime
    end: datetime
    teams: list[TeamSpec]
    members: list[MemberSpec]
    companies: list[CompanySpec]
    contacts: list[ContactSpec]
    deals: list[DealSpec]
    activities: list[ActivitySpec]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class _Clock:
    """Day offsets to timestamps; fractions of a day land in working hours, preserving order."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def at(self, t: float) -> datetime:
        day = math.floor(t)
        minutes = round((8.5 + 9.5 * (t - day)) * 60)
        return self.start + timedelta(days=day, minutes=minutes)

    def day(self, t: float) -> date:
        return (self.start + timedelta(days=math.floor(t))).date()


def generate(*, seed: int, as_of: date, scale: float = 1.0) -> DemoData:
    """The whole demo workspace as plain data; the same seed and as_of give the same data."""
    if not 0.01 <= scale <= 5:
        raise ValueError("scale must be between 0.01 and 5")
    rng = np.random.default_rng(seed)
    end = datetime.combine(as_of, time(0), tzinfo=UTC)
    start = end - timedelta(days=HISTORY_DAYS)
    clock = _Clock(start)
    teams, members = people(rng)
    companies, contacts = companies_and_contacts(rng, members, scale, start)
    deals, activities = _deals(rng, members, companies, contacts, scale, clock)
    return DemoData(seed, as_of, start, end, teams, members, companies, contacts, deals, activities)


def _arrivals(rng: np.random.Generator, rep: MemberSpec, segment: str, scale: float, clock: _Clock) -> list[float]:
    """Creation times (day offsets) of one rep's deals: Poisson per working day."""
    days = np.arange(-LEAD_IN_DAYS, HISTORY_DAYS, dtype=float)
    dates = [clock.day(d) for d in range(-LEAD_IN_DAYS, HISTORY_DAYS)]
    weekday = np.array([d.weekday() < 5 for d in dates], dtype=float)
    season = np.array([MONTH_SEASONALITY[d.month - 1] for d in dates])
    growth = 1.0 + 0.2 * days / 365.0
    ramp = np.clip((days - rep.start_day) / 60.0, 0.0, 1.0) if rep.start_day > 0 else 1.0
    rate = SEGMENT_MONTHLY_DEALS[segment] * scale * 12 / 260 * weekday * season * growth * ramp
    counts = rng.poisson(rate)
    times = [d + float(rng.uniform(0, 1)) for d, c in zip(days, counts, strict=True) for _ in range(int(c))]
    return times


def _deals(
    rng: np.random.Generator,
    members: list[MemberSpec],
    companies: list[CompanySpec],
    contacts: list[ContactSpec],
    scale: float,
    clock: _Clock,
) -> tuple[list[DealSpec], list[ActivitySpec]]:
    reps = [m for m in members if m.role == "rep"]
    by_key = {m.key: m for m in members}
    teammates = {m.key: [r.key for r in reps if r.team == m.team and r.key != m.key] for m in reps}
    companies_by_owner: dict[str, list[int]] = {}
    for i, c in enumerate(companies):
        companies_by_owner.setdefault(c.owner, []).append(i)
    companies_by_segment: dict[str, list[int]] = {}
    for i, c in enumerate(companies):
        companies_by_segment.setdefault(c.segment, []).append(i)

    quarters = {}
    for q in range(-4, 20):  # quarters from a year before `start` onward
        quarters[q] = float(rng.normal(0, QUARTER_SHOCK_SD))
    start_quarter = clock.start.year * 4 + (clock.start.month - 1) // 3

    def shock(t: float) -> float:
        d = clock.day(t)
        return quarters.get(d.year * 4 + (d.month - 1) // 3 - start_quarter, 0.0)

    # First pass: who, what and how big; the single-threading penalty needs the median amount.
    drafts = []
    for rep in reps:
        segment = TEAM_SEGMENT[rep.team or ""]
        for t in _arrivals(rng, rep, segment, scale, clock):
            own = companies_by_owner.get(rep.key) or companies_by_segment[segment]
            if rng.random() < 0.85:
                company = int(own[min(int(rng.zipf(1.6)) - 1, len(own) - 1)])
            else:
                pool = companies_by_segment[segment]
                company = int(pool[int(rng.integers(len(pool)))])
            products = PRODUCTS[segment]
            p_index = int(rng.choice(len(products), p=[p[2] for p in products]))
            product, list_price, _ = products[p_index]
            step = 100 if segment == "SMB" else 500
            amount = max(step, round(float(list_price * rng.lognormal(0, 0.45)) / step) * step)
            source = str(rng.choice(list(SOURCES), p=[s[0] for s in SOURCES.values()]))
            drafts.append((t, rep, segment, company, product, amount, source))
    drafts.sort(key=lambda d: d[0])
    median_amount = float(np.median([d[5] for d in drafts])) if drafts else 0.0

    eligible_zombies = [i for i, d in enumerate(drafts) if 0 <= d[0] < HISTORY_DAYS - ZOMBIE_MIN_AGE - 10]
    n_zombies = max(1, round(0.027 * len(eligible_zombies))) if eligible_zombies else 0
    zombies = set(rng.choice(eligible_zombies, size=n_zombies, replace=False).tolist()) if n_zombies else set()

    deals: list[DealSpec] = []
    activities: list[ActivitySpec] = []
    for i, (t0, rep, segment, company_index, product, amount, source) in enumerate(drafts):
        company_spec = companies[company_index]
        ctx = _DealContext(rng, clock, shock, by_key, teammates, contacts)
        deal, life = ctx.simulate(
            t0=t0,
            rep=rep,
            segment=segment,
            company_index=company_index,
            company=company_spec,
            product=product,
            amount=amount,
            source=source,
            median_amount=median_amount,
            zombie=i in zombies,
        )
        if life.fate != "zombie" and life.life_end < 0:
            continue  # closed before the history starts
        deal_index = len(deals)
        deals.append(deal)
        activities.extend(activities_for_deal(rng, clock.start, HISTORY_DAYS, life, deal_index))
    return deals, activities


class _DealContext:
    def __init__(
        self,
        rng: np.random.Generator,
        clock: _Clock,
        shock: Callable[[float], float],
        by_key: dict[str, MemberSpec],
        teammates: dict[str, list[str]],
        contacts: list[ContactSpec],
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.shock = shock
        self.by_key = by_key
        self.teammates = teammates
        self.contacts = contacts

    def simulate(
        self,
        *,
        t0: float,
        rep: MemberSpec,
        segment: str,
        company_index: int,
        company: CompanySpec,
        product: str,
        amount: int,
        source: str,
        median_amount: float,
        zombie: bool,
    ) -> tuple[DealSpec, DealLife]:
        rng, clock = ScalarRng(self.rng), self.clock
        _, source_bonus, qualified_share = SOURCES[source]
        q = float(rng.normal(0, 1)) + rep.skill + source_bonus
        # Better deals reach more people; bigger companies have more people to reach.
        want = SEGMENT_CONTACTS[segment] * 0.6 + 0.5 * q + float(rng.normal(0, 0.8))
        n_contacts = min(5, max(1, round(want)))
        available = company.contacts
        n_contacts = min(n_contacts, len(available))
        picked = rng.sample(len(available), n_contacts) if available else []
        deal_contacts = [available[int(k)] for k in picked]
        single_threaded_big = n_contacts == 1 and amount > median_amount
        if single_threaded_big:
            q -= 0.8
        dur_mult = SEGMENT_DURATION[segment]

        # Stage path; the fate is decided step by step.
        stage = 1 if rng.random() < qualified_share else 0
        stage_events: list[tuple[float, int]] = [(t0, stage)]
        t = t0
        fate, t_end, loss_mode = "won", 0.0, ""
        while True:
            dur = float(rng.lognormal(math.log(STAGE_MEDIAN_DAYS[stage] * dur_mult) - 0.2 * q, 0.55))
            advance = rng.random() < _sigmoid(_logit(STAGE_ADVANCE_P[stage]) + 0.9 * q + self.shock(t + dur))
            if advance:
                t += dur
                stage += 1
                if stage == 5:
                    fate, t_end = "won", t
                    stage_events.append((t, WON))
                    break
                stage_events.append((t, stage))
            else:
                sudden = rng.random() < 0.25
                t_end = t + dur * (float(rng.uniform(0.4, 1.0)) if sudden else float(rng.uniform(1.5, 2.8)))
                fate = "lost"
                loss_mode = "sudden" if sudden else ("ghost" if rng.random() < 0.5 else "neglect")
                stage_events.append((t_end, LOST))
                break
        if t_end - t0 > MAX_CYCLE_DAYS:
            # Pipeline clean-up: whatever is still open after ~9-10 months is closed as lost.
            t_end = t0 + float(rng.uniform(MAX_CYCLE_DAYS - 40, MAX_CYCLE_DAYS))
            stage_events = [e for e in stage_events if e[0] < t_end] + [(t_end, LOST)]
            fate, loss_mode = "lost", "cleanup"
        abandon_at = None
        if zombie:
            abandon_at = t0 + float(rng.uniform(25, 90))
            stage_events = [e for e in stage_events if e[0] < abandon_at and e[1] < WON]
            fate, t_end, loss_mode = "zombie", abandon_at, "zombie"
        life_end = t_end

        def stage_at(t: float) -> int:
            current = stage_events[0][1]
            for when, s in stage_events:
                if when <= t:
                    current = s
            return current

        owner = rep.key
        events: list[tuple[float, str, object]] = []  # (time, field, new value)
        for when, s in stage_events[1:]:
            events.append((when, "stage", s))
            if s in (WON, LOST):
                events.append((when, "outcome", "won" if s == WON else "lost"))

        # Amount revisions at proposal and negotiation.
        current_amount = amount
        step = 100 if segment == "SMB" else 500
        for when, s in stage_events[1:]:
            if s == 3 and rng.random() < 0.35:
                current_amount = max(step, round(current_amount * rng.lognormal(0.05, 0.2) / step) * step)
                events.append((when + float(rng.uniform(0, 2)), "amount", current_amount))
            elif s == 4 and rng.random() < 0.3:
                current_amount = max(step, round(current_amount * rng.uniform(0.85, 0.97) / step) * step)
                events.append((when + float(rng.uniform(0, 3)), "amount", current_amount))

        # Occasional hand-over to a teammate.
        owners_over_time = [(t0, owner)]
        if rng.random() < 0.03 and self.teammates.get(rep.key):
            when = t0 + (life_end - t0) * float(rng.uniform(0.2, 0.8))
            mates = self.teammates[rep.key]
            new_owner = mates[int(rng.integers(len(mates)))]
            events.append((when, "owner", new_owner))
            owners_over_time.append((when, new_owner))

        def owner_at(t: float) -> str:
            current = owners_over_time[0][1]
            for when, o in owners_over_time:
                if when <= t:
                    current = o
            return current

        # The rep's probability, typed in at some stage entries.
        if rng.random() < rep.prob_propensity:
            for when, s in stage_events:
                if s < WON and rng.random() < 0.75:
                    belief = _logit(STAGE_DEFAULT_PROB[s] / 100) + rep.optimism + rep.accuracy * 0.6 * q
                    value = _sigmoid(belief + float(rng.normal(0, 0.35))) * 100
                    value = min(95, max(5, round(value / 5) * 5))
                    events.append((when + rng.uniform(0, 3), "probability", value))

        # Close dates: estimated at creation, re-estimated when they come near.
        diligence = self.by_key[owner].diligence

        def estimate(t: float) -> float:
            remaining = sum(STAGE_MEDIAN_DAYS[stage_at(t) :]) * dur_mult
            optimism = 0.75 if rep.optimism > 0.35 else 1.0
            return t + max(7.0, remaining * optimism * float(rng.lognormal(0, 0.25)))

        ecd_events: list[tuple[float, float]] = []
        ecd = estimate(t0)
        initial_ecd = ecd
        t = t0
        while True:
            check = max(t + 1.0, ecd - float(rng.uniform(0, 5)))
            if check >= life_end or (abandon_at is not None and check >= abandon_at):
                break
            if rng.random() < diligence:
                ecd = max(estimate(check), ecd + 7.0)
                ecd_events.append((check, ecd))
                t = check
            else:
                t = max(check, ecd) + float(rng.uniform(5, 15))
        if fate == "lost" and loss_mode in ("ghost", "neglect") and rng.random() < 0.6:
            # A losing deal gets pushed out once more shortly before it dies.
            push_at = life_end - float(rng.uniform(7, 35))
            if push_at > t0 + 3:
                pushed = max([initial_ecd] + [e for w, e in ecd_events if w <= push_at]) + float(rng.uniform(20, 45))
                ecd_events.append((push_at, pushed))
        ecd_events.sort()
        for when, value in ecd_events:
            events.append((when, "expected_close_date", clock.day(value)))

        deal, history = self._assemble(
            t0=t0,
            rep=rep,
            first_stage=stage_events[0][1],
            events=events,
            amount=amount,
            initial_ecd=clock.day(initial_ecd),
            life_end=life_end,
        )
        lost_reason = ""
        if deal.outcome == "lost":
            lost_reason = _lost_reason(rng, loss_mode, stage_events[-2][1] if len(stage_events) > 1 else 0)
        contact_names = [self.contacts[c].first_name for c in deal_contacts]
        attrs = {"product": product, "segment": segment, "region": company.region}
        title = f"{company.name} – {product}" + (" expansion" if source == "Expansion" else "")
        description = (
            f"{product} for {company.name} ({company.industry}, {company.employees:,} employees). "
            f"Source: {source.lower()}."
        )
        fate_at = clock.at(t_end) if fate != "zombie" else None
        spec = DealSpec(
            title=title,
            description=description,
            company=company_index,
            contacts=deal_contacts,
            lost_reason=lost_reason,
            source=source,
            attributes=attrs,
            history=history,
            is_zombie=zombie,
            fate=fate,
            fate_at=fate_at,
            owner=deal.owner,
            stage=deal.stage,
            amount=deal.amount,
            expected_close_date=deal.expected_close_date,
            probability=deal.probability,
            created_at=deal.created_at,
            closed_at=deal.closed_at,
            stage_entered_at=deal.stage_entered_at,
            outcome=deal.outcome,
        )
        life = DealLife(
            created_at=clock.at(t0),
            closed_at=clock.at(life_end),
            t0=t0,
            life_end=life_end,
            fate=fate,
            loss_mode=loss_mode,
            q=q,
            segment_activity=SEGMENT_ACTIVITY[segment],
            stage_events=stage_events,
            owner_at=owner_at,
            activity_level=rep.activity_level,
            contacts=deal_contacts,
            contact_names=contact_names,
            company_name=company.name,
            product=product,
            rep_first_name=rep.name.split()[0],
        )
        return spec, life

    def _assemble(
        self,
        *,
        t0: float,
        rep: MemberSpec,
        first_stage: int,
        events: list[tuple[float, str, object]],
        amount: int,
        initial_ecd: date,
        life_end: float,
    ) -> tuple[_FinalState, list[HistoryEvent]]:
        """Cut the simulated events at `end` and chain them into history rows (old value = previous new)."""
        clock = self.clock
        order = {"stage": 0, "outcome": 1}
        kept = sorted(
            (e for e in events if e[0] < HISTORY_DAYS and e[0] <= life_end),
            key=lambda e: (e[0], order.get(e[1], 2)),
        )
        state: dict[str, object] = {
            "stage": first_stage,
            "amount": amount,
            "expected_close_date": initial_ecd,
            "owner": rep.key,
            "probability": None,
            "outcome": "open",
        }
        created_at = clock.at(t0)
        # A deal's creation is one row per tracked field that has a value (see crm.history).
        history = [
            HistoryEvent(created_at, name, None, value, rep.key) for name, value in state.items() if value is not None
        ]
        stage_entered_at, closed_at = created_at, None
        for when, name, value in kept:
            if state[name] == value:
                continue
            at = max(clock.at(when), created_at)
            by = str(state["owner"])
            history.append(HistoryEvent(at, name, state[name], value, by))
            state[name] = value
            if name == "stage":
                stage_entered_at = at
            if name == "outcome":
                closed_at = at
        deal = _FinalState(
            owner=str(state["owner"]),
            stage=int(state["stage"]),  # type: ignore[call-overload]
            amount=int(state["amount"]),  # type: ignore[call-overload]
            expected_close_date=state["expected_close_date"],  # type: ignore[arg-type]
            probability=state["probability"],  # type: ignore[arg-type]
            outcome=str(state["outcome"]),
            created_at=created_at,
            closed_at=closed_at,
            stage_entered_at=stage_entered_at,
        )
        return deal, history


def _lost_reason(rng: ScalarRng, mode: str, stage: int) -> str:
    if mode in ("cleanup", "zombie"):
        return words.LOST_REASON_CLEANUP
    if mode in ("ghost", "neglect"):
        return rng.pick(words.LOST_REASON_GHOSTED)
    return rng.pick(words.LOST_REASONS_EARLY if stage <= 1 else words.LOST_REASONS_LATE)
