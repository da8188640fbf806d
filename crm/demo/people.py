"""The demo company's people and customers: teams, reps with their habits, companies and contacts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from crm.demo import words

SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
TEAM_SEGMENT = {"mm": "Mid-Market", "smb": "SMB", "ent": "Enterprise"}
SEGMENT_COMPANY_SHARE = {"SMB": 0.45, "Mid-Market": 0.35, "Enterprise": 0.20}
SEGMENT_EMPLOYEES = {"SMB": (15, 200), "Mid-Market": (200, 2000), "Enterprise": (2000, 60000)}
SEGMENT_CONTACTS = {"SMB": 1.6, "Mid-Market": 2.6, "Enterprise": 4.2}


@dataclass(frozen=True, slots=True)
class TeamSpec:
    key: str
    name: str
    segment: str
    manager: str
    parent: str | None


@dataclass(slots=True)
class MemberSpec:
    key: str
    name: str
    email: str
    role: str  # owner, manager, rep
    team: str | None
    login: bool = False
    skill: float = 0.0
    optimism: float = 0.0  # logit shift of the probabilities this rep types in
    accuracy: float = 1.0  # how much of the deal's real quality those probabilities reflect
    prob_propensity: float = 0.5
    diligence: float = 0.8  # chance the close date is re-estimated before it passes
    activity_level: float = 1.0
    start_day: float = 0.0


@dataclass(slots=True)
class CompanySpec:
    name: str
    domain: str
    industry: str
    employees: int
    annual_revenue: int
    location: str
    region: str
    segment: str
    owner: str
    created_at: datetime
    contacts: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ContactSpec:
    company: int
    first_name: str
    last_name: str
    email: str
    phone: str
    title: str
    created_at: datetime


def unique_names(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    result: list[tuple[str, str]] = []
    while len(result) < n:
        pair = (str(rng.choice(words.FIRST_NAMES)), str(rng.choice(words.LAST_NAMES)))
        if pair not in seen:
            seen.add(pair)
            result.append(pair)
    return result


def people(rng: np.random.Generator) -> tuple[list[TeamSpec], list[MemberSpec]]:
    names = unique_names(rng, 16)
    members = [MemberSpec("owner", "Demo Owner", "demo@example.com", "owner", None, login=True)]
    teams = []
    team_defs: tuple[tuple[str, str, str, str | None], ...] = (
        ("mm", "Mid-Market", "Mid-Market", None),
        ("smb", "SMB Velocity", "SMB", "mm"),
    )
    team_defs += (("ent", "Enterprise", "Enterprise", None),)
    optimistic = set(rng.choice(12, size=5, replace=False).tolist())
    rep_no = 0
    for t_index, (key, name, segment, parent) in enumerate(team_defs):
        first, last = names[t_index]
        manager_key = f"mgr-{key}"
        login = key == "mm"
        email = "manager@example.com" if login else f"{first}.{last}@demo-co.example".lower()
        members.append(MemberSpec(manager_key, f"{first} {last}", email, "manager", key, login=login))
        teams.append(TeamSpec(key, name, segment, manager_key, parent))
        for _ in range(4):
            first, last = names[3 + rep_no]
            login = key == "mm" and rep_no == 0
            email = "rep@example.com" if login else f"{first}.{last}@demo-co.example".lower()
            is_optimist = rep_no in optimistic
            members.append(
                MemberSpec(
                    key=f"rep-{rep_no + 1}",
                    name=f"{first} {last}",
                    email=email,
                    role="rep",
                    team=key,
                    login=login,
                    skill=float(rng.normal(0, 0.3)),
                    optimism=float(rng.normal(0.7, 0.15)) if is_optimist else float(rng.normal(0, 0.12)),
                    accuracy=0.3 if is_optimist else 1.0,
                    prob_propensity=float(rng.uniform(0.2, 0.85)),
                    diligence=float(rng.uniform(0.45, 0.95)),
                    activity_level=float(rng.lognormal(0, 0.2)),
                    # The last SMB rep joined during the period.
                    start_day=250.0 if rep_no == 7 else 0.0,
                )
            )
            rep_no += 1
    return teams, members


def _domain(name: str, taken: set[str]) -> str:
    base = name.lower().replace(" ", "").replace("&", "and")
    for tld in (".com", ".io", ".co", ".net"):
        if base + tld not in taken:
            taken.add(base + tld)
            return base + tld
    n = 2
    while f"{base}{n}.com" in taken:
        n += 1
    taken.add(f"{base}{n}.com")
    return f"{base}{n}.com"


def companies_and_contacts(
    rng: np.random.Generator, members: list[MemberSpec], scale: float, start: datetime
) -> tuple[list[CompanySpec], list[ContactSpec]]:
    reps_by_segment: dict[str, list[str]] = {s: [] for s in SEGMENTS}
    for m in members:
        if m.role == "rep":
            reps_by_segment[TEAM_SEGMENT[m.team or ""]].append(m.key)
    total = max(12, round(400 * scale))
    companies: list[CompanySpec] = []
    contacts: list[ContactSpec] = []
    taken_names: set[str] = set()
    taken_domains: set[str] = set()
    taken_emails: set[str] = set()
    for segment in SEGMENTS:
        n = max(4, round(total * SEGMENT_COMPANY_SHARE[segment]))
        lo, hi = SEGMENT_EMPLOYEES[segment]
        for i in range(n):
            while True:
                suffix = str(rng.choice(words.COMPANY_SUFFIXES))
                name = f"{rng.choice(words.COMPANY_PREFIXES)} {suffix}"
                if name not in taken_names:
                    taken_names.add(name)
                    break
            employees = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            location, region = words.LOCATIONS[int(rng.integers(len(words.LOCATIONS)))]
            industry = words.INDUSTRY_FOR_SUFFIX.get(suffix) or str(rng.choice(words.GENERIC_INDUSTRIES))
            reps = reps_by_segment[segment]
            company = CompanySpec(
                name=name,
                domain=_domain(name, taken_domains),
                industry=industry,
                employees=employees,
                annual_revenue=int(round(employees * rng.lognormal(math.log(180_000), 0.4), -4)),
                location=location,
                region=region,
                segment=segment,
                owner=reps[i % len(reps)],
                created_at=start - timedelta(days=float(rng.uniform(5, 400))),
            )
            index = len(companies)
            companies.append(company)
            n_contacts = 1 + int(rng.poisson(SEGMENT_CONTACTS[segment]))
            for first, last in unique_names(rng, n_contacts):
                email = f"{first}.{last}@{company.domain}".lower()
                if email in taken_emails:
                    continue
                taken_emails.add(email)
                level = "exec" if rng.random() < 0.25 else ("manager" if rng.random() < 0.65 else "user")
                company.contacts.append(len(contacts))
                contacts.append(
                    ContactSpec(
                        company=index,
                        first_name=first,
                        last_name=last,
                        email=email,
                        phone=f"+1 555 {int(rng.integers(100, 999))} {int(rng.integers(1000, 9999))}",
                        title=str(rng.choice(words.CONTACT_TITLES[level])),
                        created_at=company.created_at + timedelta(days=float(rng.uniform(0, 30))),
                    )
                )
    return companies, contacts
