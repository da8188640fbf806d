"""The activity stream of one simulated deal: emails, calls, meetings, notes and tasks, day by day.

Intensities are Poisson rates per day. Winning deals keep steady two-way traffic; before a slow loss
the buyer's side fades (ghosting: inbound stops while the rep keeps writing) or the rep stops working
the deal altogether (neglect). Some winners go quiet for a while too, so nothing is a sure sign.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from crm.demo import words

WEEKEND_FACTOR = 0.06
# kind, direction, base daily rate, whether the buyer's engagement drives it
_STREAMS = (
    ("email", "outbound", 0.125, False),
    ("email", "inbound", 0.095, True),
    ("call", "outbound", 0.035, False),
    ("call", "inbound", 0.008, True),
    ("meeting", "outbound", 0.012, True),
    ("note", "internal", 0.016, False),
    ("task", "internal", 0.02, False),
)


@dataclass(frozen=True, slots=True)
class ActivitySpec:
    deal: int
    kind: str
    direction: str
    at: datetime
    subject: str
    body: str
    owner: str
    contacts: tuple[int, ...]


@dataclass
class DealLife:
    """What the activity generator needs to know about a simulated deal (times are day offsets)."""

    t0: float
    life_end: float
    fate: str
    loss_mode: str
    q: float
    segment_activity: float
    stage_events: list[tuple[float, int]]
    owner_at: Callable[[float], str]
    activity_level: float
    contacts: list[int]
    contact_names: list[str]
    company_name: str
    product: str
    rep_first_name: str
    created_at: datetime
    closed_at: datetime | None  # when it closes or is abandoned, even after the horizon

    def stage_at(self, t: float) -> int:
        current = self.stage_events[0][1]
        for when, stage in self.stage_events:
            if when <= t:
                current = stage
        return current


def _engagement(rng: np.random.Generator, life: DealLife, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(buyer engagement, rep effort) per day, both 1.0 in a healthy deal."""
    buyer = np.ones(len(days))
    rep = np.ones(len(days))
    mode = life.loss_mode
    if mode in ("ghost", "neglect", "cleanup"):
        if mode == "cleanup":
            fade_start = life.t0 + float(rng.uniform(60, 150))
        else:
            fade_start = max(life.t0 + 5, life.life_end - float(rng.uniform(21, 75)))
        after = days > fade_start
        tau = float(rng.uniform(4, 12))
        decay = np.exp(-(days - fade_start) / tau)
        buyer = np.where(after, decay, buyer)
        # Ghosted: the rep keeps chasing. Neglected: the rep stops too.
        rep = np.where(after, 1.25 if mode == "ghost" else np.maximum(decay, 0.03), rep)
    elif life.fate == "won" and rng.random() < 0.15:
        # A silent spell (holidays, a reorganisation on their side) in a deal that is still won.
        span = life.life_end - life.t0
        if span > 45:
            quiet_start = life.t0 + span * float(rng.uniform(0.25, 0.65))
            quiet = (days >= quiet_start) & (days < quiet_start + float(rng.uniform(18, 40)))
            buyer = np.where(quiet, 0.03, buyer)
            rep = np.where(quiet, 0.03, rep)
    return buyer, rep


def activities_for_deal(
    rng: np.random.Generator, start: datetime, horizon: float, life: DealLife, deal_index: int
) -> list[ActivitySpec]:
    """Activities of one deal from its creation until it closes, is abandoned, or `horizon` (day offset)."""
    stop = min(life.life_end, horizon)
    if stop <= life.t0:
        return []
    days = np.arange(math.floor(life.t0), math.ceil(stop), dtype=float)
    weekday = ((start.weekday() + days.astype(int)) % 7 < 5).astype(float)
    weekday = np.maximum(weekday, WEEKEND_FACTOR)
    warmth = float(rng.lognormal(0.15 * life.q, 0.25))
    buyer, rep = _engagement(rng, life, days)
    base = life.segment_activity * life.activity_level * weekday
    rates = np.empty((len(_STREAMS), len(days)))
    for row, (_kind, _direction, rate, engaged) in enumerate(_STREAMS):
        rates[row] = rate * base * (warmth * buyer * np.minimum(rep, 1.0) if engaged else rep)
    counts = rng.poisson(rates)

    # Per-activity draws use the stdlib generator (seeded from `rng`): much faster for scalars.
    r = random.Random(int(rng.integers(2**62)))
    text = _Text(r, life)
    result: list[ActivitySpec] = []

    # History rows are stamped in working hours (see generator._Clock); activities must fall between
    # the deal's creation and its close as stamped there.
    opens_at = life.created_at
    stops_at = start + timedelta(days=horizon)
    if life.closed_at is not None:
        stops_at = min(stops_at, life.closed_at)

    def add(t: float, kind: str, direction: str, subject_body: tuple[str, str], contacts: tuple[int, ...]) -> None:
        at = (start + timedelta(days=t)).replace(second=0, microsecond=0)
        if opens_at < at < stops_at:
            subject, body = text.fill(subject_body, contacts)
            result.append(ActivitySpec(deal_index, kind, direction, at, subject, body, life.owner_at(t), contacts))

    def time_in_day(day: float) -> float:
        return day + r.uniform(8, 18.5) / 24

    day_list = days.tolist()
    rows, cols = np.nonzero(counts)  # row-major: stream by stream, day by day
    for row, col, n in zip(rows.tolist(), cols.tolist(), counts[rows, cols].tolist(), strict=True):
        kind, direction, _rate, _engaged = _STREAMS[row]
        for _ in range(n):
            t = time_in_day(day_list[col])
            add(t, kind, direction, text.template(kind, direction, life.stage_at(t)), text.who(kind))

    # Meetings that move a deal forward, and the notes taken after them.
    if r.random() < 0.5:
        t = life.t0 + r.uniform(0.5, 4)
        add(t, "meeting", "outbound", words.MEETING_BY_STAGE[0], text.who("meeting"))
    for when, stage in life.stage_events[1:]:
        if 1 <= stage <= 5 and r.random() < 0.6:
            t = when - r.uniform(0.05, 2)
            add(t, "meeting", "outbound", words.MEETING_BY_STAGE[stage], text.who("meeting"))
            if r.random() < 0.5:
                add(t + 0.05, "note", "internal", words.NOTES[1], ())
    return result


class _Text:
    def __init__(self, r: random.Random, life: DealLife) -> None:
        self.r = r
        self.life = life
        self.values: dict[str, Any] = {
            "co": life.company_name,
            "p": life.product,
            "rep": life.rep_first_name,
            "comp": r.choice(words.COMPETITORS),
        }
        # The first contact is the champion and hears from the rep most.
        self.weights = [2.0] + [1.0] * (len(life.contacts) - 1)

    def template(self, kind: str, direction: str, stage: int) -> tuple[str, str]:
        if kind == "email":
            return self.r.choice(words.EMAIL_IN if direction == "inbound" else words.EMAIL_OUT)
        if kind == "call":
            return self.r.choice(words.CALL_IN if direction == "inbound" else words.CALL_OUT)
        if kind == "meeting":
            return words.MEETING_BY_STAGE[min(stage, 5)]
        if kind == "note":
            return self.r.choice(words.NOTES)
        return self.r.choice(words.TASKS)

    def who(self, kind: str) -> tuple[int, ...]:
        contacts = self.life.contacts
        if not contacts or kind in ("note", "task"):
            return ()
        if kind == "meeting":
            return tuple(self.r.sample(contacts, min(len(contacts), 1 + self.r.randrange(3))))
        return (self.r.choices(contacts, weights=self.weights)[0],)

    def fill(self, subject_body: tuple[str, str], contacts: tuple[int, ...]) -> tuple[str, str]:
        """The template with the names of the people on this activity (anyone on the deal for internal ones)."""
        names = dict(zip(self.life.contacts, self.life.contact_names, strict=True))
        fallback = self.r.choice(self.life.contact_names) if names else "the buyer"
        name = names[contacts[0]] if contacts else fallback
        subject, body = subject_body
        values = {**self.values, "c": name}
        return subject.format(**values)[:200], body.format(**values)
