"""Duplicate suggestions for companies, contacts and deals.

The core (`normalise_name`, `company_pairs`, `contact_pairs`, `deal_pairs`) is plain Python over small
dataclasses; the selector `duplicate_pairs(workspace, kind)` loads the rows, asks the core and drops the pairs a
person dismissed.

Why these rules: a duplicate is usually the same name typed twice ("Acme Inc" / "ACME, Inc." / "Acme
Incorporated"), a typo ("Globex" / "Globexx") or the same domain or email. Names that merely share a word
("Acme Analytics" / "Acme Robotics") or start alike ("Northwind" / "Northway") are different businesses: a
typo is word for word the same name but one word, one edit away (two from 8 letters), with the same numbers
("Renewal 2023" / "Renewal 2024" are two deals). rapidfuzz's Indel ratio (FUZZY_MIN) only picks candidates.

Not O(n²): exact keys (name, domain, email) are grouped with dicts, and fuzzy candidates are only compared
within blocks sharing the first or the last three letters of the normalised name (one typo cannot change
both), each block scored at once by `rapidfuzz.process.cdist` with a score cut-off.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from crm.merge import MODELS
from crm.models import Company, Contact, Deal, DuplicateDismissal, DuplicateKind
from tenancy.models import Workspace

FUZZY_MIN = 85.0  # Indel ratio of the normalised names (0–100), for candidates; `_is_typo` decides
AMOUNT_SPREAD = 0.15  # two deals' amounts differ by at most this share of the larger one
VECTOR_MIN = 0.95  # cosine of two deals' stored embeddings
BLOCK = 3
_SUFFIXES = "inc incorporated llc ltd limited gmbh corp corporation co company plc ag sa sas sarl srl spa bv nv oy ab"
LEGAL_SUFFIXES = frozenset(f"{_SUFFIXES} as aps pty pte kg kk lp llp".split(" "))
# Mail providers: the same @gmail.com says nothing about two people or two companies.
_MAIL = "gmail.com googlemail.com yahoo.com hotmail.com outlook.com live.com icloud.com me.com aol.com gmx.de gmx.net"
COMMON_MAIL_DOMAINS = frozenset(f"{_MAIL} web.de proton.me protonmail.com mail.com yandex.ru".split(" "))
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "score": self.score, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CompanyRow:
    id: str
    name: str
    domain: str = ""


@dataclass(frozen=True)
class ContactRow:
    id: str
    first_name: str
    last_name: str
    email: str = ""
    company: str = ""  # the company's id, "" without one


@dataclass(frozen=True)
class DealRow:
    id: str
    title: str
    company: str = ""
    created_at: datetime | None = None
    is_open: bool = True
    amount: float = 0.0
    vector: np.ndarray | None = field(default=None, compare=False)


def normalise_name(name: str) -> str:
    """'ACME, Inc.' → 'acme'; 'Société Générale S.A.' → 'societe generale'; '&' is 'and'; a leading 'the' goes."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("&", " and ")
    words = re.sub(r"[^\w]+", " ", text).split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    # "S.A." and "L.L.C." became single letters: join runs of them before looking for a suffix.
    joined: list[str] = []
    for word in words:
        letters = len(word) == 1 and word.isalpha() and joined and joined[-1].isalpha() and len(joined[-1]) <= 3
        if letters and (joined[-1] + word in LEGAL_SUFFIXES or len(joined[-1]) == 1):
            joined[-1] += word
            continue
        joined.append(word)
    while len(joined) > 1 and joined[-1] in LEGAL_SUFFIXES:
        joined.pop()
        if len(joined) > 1 and joined[-1] == "and":  # "Acme & Co"
            joined.pop()
    return " ".join(joined)


def normalise_domain(value: str) -> str:
    """'https://www.Acme.com/about' or 'ann@acme.com' → 'acme.com'."""
    text = value.strip().casefold()
    text = text.rsplit("@", 1)[-1]
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0].split(":", 1)[0]
    return text.removeprefix("www.")


def _same_numbers(a: str, b: str) -> bool:
    return _DIGITS.findall(a) == _DIGITS.findall(b)


def _is_typo(a: str, b: str) -> bool:
    """Two normalised names that differ by a slip of the keyboard: word for word the same but one word, and that
    word one edit away (two from 8 letters). "globex"/"globexx" is; "raven media"/"raven medical",
    "alpine cloud"/"pine cloud" and "northwind"/"northway" are other names."""
    if not _same_numbers(a, b):
        return False
    words_a, words_b = a.split(), b.split()
    if len(words_a) != len(words_b):
        return False
    differing = [(x, y) for x, y in zip(words_a, words_b, strict=True) if x != y]
    if len(differing) != 1:
        return False
    x, y = differing[0]
    # People rarely mistype a word's first letter: "amber"/"ember" are two words.
    return x[0] == y[0] and Levenshtein.distance(x, y) <= (2 if min(len(x), len(y)) >= 8 else 1)


def _blocks(keys: Sequence[str]) -> Iterable[list[int]]:
    """Indexes of rows sharing the first, or the last, BLOCK characters of their key (two passes)."""
    for part in (lambda k: k[:BLOCK], lambda k: k[-BLOCK:]):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            if key:
                groups[part(key)].append(i)
        yield from (g for g in groups.values() if len(g) > 1)


def _fuzzy_candidates(keys: Sequence[str], *, cutoff: float = FUZZY_MIN) -> dict[tuple[int, int], float]:
    """(i, j) → ratio for every pair of different keys scoring at least `cutoff`, compared block by block."""
    found: dict[tuple[int, int], float] = {}
    for block in _blocks(keys):
        names = [keys[i] for i in block]
        scores = process.cdist(names, names, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.float32, workers=1)
        rows, cols = np.nonzero(scores)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i, j = block[r], block[c]
            if i < j and keys[i] != keys[j] and _is_typo(keys[i], keys[j]):
                found[(i, j)] = float(scores[r, c])
    return found


class _Collector:
    """Pairs found by several rules: the highest score wins, every reason is kept."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = ids
        self.found: dict[tuple[int, int], tuple[float, list[str]]] = {}

    def add(self, i: int, j: int, score: float, reason: str) -> None:
        if i == j:
            return
        key = (min(i, j), max(i, j))
        best, reasons = self.found.get(key, (0.0, []))
        if reason not in reasons:
            reasons.append(reason)
        self.found[key] = (max(best, score), reasons)

    def groups(self, keys: Sequence[str], score: float, reason: Callable[[str], str]) -> None:
        by_key: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            if key:
                by_key[key].append(i)
        for key, members in by_key.items():
            for n, i in enumerate(members):
                for j in members[n + 1 :]:
                    self.add(i, j, score, reason(key))

    def pairs(self) -> list[Pair]:
        out = [
            Pair(a=self.ids[i], b=self.ids[j], score=round(score, 1), reasons=tuple(reasons))
            for (i, j), (score, reasons) in self.found.items()
        ]
        return sorted(out, key=lambda p: (-p.score, p.a, p.b))


def company_pairs(rows: Sequence[CompanyRow]) -> list[Pair]:
    names = [normalise_name(r.name) for r in rows]
    domains = [normalise_domain(r.domain) if r.domain else "" for r in rows]
    pairs = _Collector([r.id for r in rows])
    pairs.groups(names, 100.0, lambda key: "same name once case, punctuation and legal suffixes are ignored")
    squeezed: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        if name:
            squeezed[name.replace(" ", "")].append(i)
    for members in squeezed.values():
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if names[i] != names[j]:
                    pairs.add(i, j, 98.0, "same name apart from spaces")
    pairs.groups([d if d not in COMMON_MAIL_DOMAINS else "" for d in domains], 95.0, lambda key: f"same domain {key}")
    for (i, j), ratio in _fuzzy_candidates(names).items():
        pairs.add(i, j, ratio, f"names differ by a typo ({ratio:.0f}% alike)")
    return pairs.pairs()


def contact_pairs(rows: Sequence[ContactRow]) -> list[Pair]:
    pairs = _Collector([r.id for r in rows])
    pairs.groups([r.email.strip().casefold() for r in rows], 100.0, lambda key: f"same email {key}")
    names = [normalise_name(f"{r.first_name} {r.last_name}") for r in rows]
    # The same person at the same company (or where one has no company yet).
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        if name:
            by_name[name].append(i)
    for members in by_name.values():
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                a, b = rows[i], rows[j]
                if a.company == b.company or not a.company or not b.company:
                    pairs.add(i, j, 92.0, "same name" + (" at the same company" if a.company == b.company else ""))
    for (i, j), ratio in _fuzzy_candidates(names).items():
        a, b = rows[i], rows[j]
        domain = normalise_domain(a.email) if a.email and b.email else ""
        same_domain = bool(domain) and domain == normalise_domain(b.email) and domain not in COMMON_MAIL_DOMAINS
        if (a.company and a.company == b.company) or same_domain:
            pairs.add(i, j, min(ratio, 91.0), f"names differ by a typo ({ratio:.0f}% alike), same company")
    return pairs.pairs()


def deal_pairs(rows: Sequence[DealRow], *, window: timedelta = timedelta(days=30)) -> list[Pair]:
    """Deals of the same company (or both without one), opened within `window` of each other for amounts within
    AMOUNT_SPREAD (or one without an amount), with the same or
    nearly the same title, or whose stored embeddings say the same thing. The same title months apart is repeat
    business (a renewal, another seat pack), not a duplicate."""
    pairs = _Collector([r.id for r in rows])
    by_company: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_company[row.company].append(i)
    titles = [normalise_name(r.title) for r in rows]

    def plausible(a: DealRow, b: DealRow) -> bool:
        # The same product bought again later, or another seat pack of another size, is a new deal: duplicates are
        # opened close together, for about the same amount (or one has none yet).
        if a.created_at is not None and b.created_at is not None and abs(a.created_at - b.created_at) > window:
            return False
        high = max(a.amount, b.amount)
        return min(a.amount, b.amount) == 0 or (high - min(a.amount, b.amount)) <= AMOUNT_SPREAD * high

    for members in by_company.values():
        if len(members) < 2:
            continue
        local = [titles[i] for i in members]
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if titles[i] and titles[i] == titles[j] and plausible(rows[i], rows[j]):
                    pairs.add(i, j, 100.0, "same title" + (" and company" if rows[i].company else ""))
        for (x, y), ratio in _fuzzy_candidates(local).items():
            i, j = members[x], members[y]
            if plausible(rows[i], rows[j]):
                pairs.add(i, j, ratio, f"titles differ by a typo ({ratio:.0f}% alike)")
        vectors = [(i, v) for i in members if (v := rows[i].vector) is not None]
        if len(vectors) > 1:
            matrix = np.vstack([v for _, v in vectors]).astype(np.float32)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms == 0, 1, norms)
            cosine = matrix @ matrix.T
            for x, y in zip(*np.nonzero(np.triu(cosine, 1) >= VECTOR_MIN), strict=True):
                i, j = vectors[x][0], vectors[y][0]
                if plausible(rows[i], rows[j]):
                    value = float(cosine[x, y])
                    pairs.add(i, j, round(100 * value, 1), f"descriptions mean the same (cosine {value:.2f})")
    return pairs.pairs()


# --- selector ------------------------------------------------------------------------------------------------


def _deal_vectors(workspace: Workspace, deal_ids: list[int]) -> dict[int, np.ndarray]:
    """Stored embeddings through the similarity app's hook (crm sits below it); none when it is not installed."""
    hook = getattr(settings, "DEAL_VECTORS_HOOK", "")
    return import_string(hook)(workspace.id, deal_ids) if hook and deal_ids else {}


def _dismissed(workspace: Workspace, kind: str) -> set[tuple[str, str]]:
    rows = DuplicateDismissal.objects.filter(workspace=workspace, kind=kind).values_list("first", "second")
    return {(str(a), str(b)) for a, b in rows}


def dismissal_key(a: object, b: object) -> tuple[str, str]:
    first, second = sorted((str(a), str(b)))
    return first, second


def duplicate_pairs(workspace: Workspace, kind: str, *, deals: Any = None) -> list[Pair]:
    """Suggested duplicate pairs of `kind` (companies, contacts, deals), best first, dismissed pairs left out.
    Ids are the records' UUIDs. `deals` narrows the deals compared (a member's scope); default: every live deal."""
    if kind == DuplicateKind.COMPANIES:
        companies = Company.objects.for_workspace(workspace).values_list("uuid", "name", "domain")
        found = company_pairs([CompanyRow(str(u), n, d) for u, n, d in companies])
    elif kind == DuplicateKind.CONTACTS:
        people = Contact.objects.for_workspace(workspace).values_list(
            "uuid", "first_name", "last_name", "email", "company__uuid"
        )
        found = contact_pairs([ContactRow(str(u), f, ln, e, str(c or "")) for u, f, ln, e, c in people])
    elif kind == DuplicateKind.DEALS:
        qs = deals if deals is not None else Deal.objects.for_workspace(workspace)
        values: list[tuple[Any, ...]] = list(
            qs.values_list("id", "uuid", "title", "company__uuid", "created_at", "outcome", "amount")
        )
        vectors = _deal_vectors(workspace, [v[0] for v in values])
        found = deal_pairs(
            [
                DealRow(str(u), t, str(c or ""), created, outcome == "open", float(amount), vectors.get(pk))
                for pk, u, t, c, created, outcome, amount in values
            ]
        )
    else:
        raise ValueError(f"unknown kind {kind!r}; choose companies, contacts or deals")
    dismissed = _dismissed(workspace, kind)
    return [p for p in found if dismissal_key(p.a, p.b) not in dismissed]


def company_lookalikes(workspace: Workspace, names: Iterable[str]) -> dict[str, Company]:
    """For each name not already a company of the workspace (by its normalised form), an existing company it
    looks like: the import preview flags such rows before they create a second Acme."""
    companies = list(Company.objects.for_workspace(workspace).only("id", "uuid", "name"))
    normalised = [normalise_name(c.name) for c in companies]
    exact = {n: c for n, c in zip(normalised, companies, strict=True)}
    found: dict[str, Company] = {}
    for name in set(names):
        key = normalise_name(name)
        if not key:
            continue
        if key in exact:
            if exact[key].name.strip().casefold() != name.strip().casefold():
                found[name] = exact[key]
            continue
        match = process.extractOne(key, normalised, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN) if normalised else None
        if match is not None and _is_typo(key, match[0]):
            found[name] = companies[match[2]]
    return found


@dataclass(frozen=True)
class Suggestion:
    pair: Pair
    a: Any  # the records themselves (Company, Contact or Deal)
    b: Any


def duplicate_suggestions_for_member(scope: Any, kind: str, *, limit: int = 100) -> tuple[list[Suggestion], int]:
    """The page's suggestions (at most `limit`, best first) and how many there are. Deals: only those in sight."""
    model = MODELS[kind]
    deals = scope.deals() if kind == DuplicateKind.DEALS else None
    pairs = duplicate_pairs(scope.workspace, kind, deals=deals)
    shown = pairs[:limit]
    ids = {p.a for p in shown} | {p.b for p in shown}
    manager: Any = model._default_manager
    queryset = manager.filter(workspace_id=scope.workspace.id, uuid__in=ids)
    if kind != DuplicateKind.CONTACTS:
        queryset = queryset.select_related("owner")
    records = {str(r.uuid): r for r in queryset}
    found = [Suggestion(p, records[p.a], records[p.b]) for p in shown if p.a in records and p.b in records]
    return found, len(pairs)


def deal_lookalikes(workspace: Workspace, rows: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Deal]:
    """For (title, company name) pairs about to become new deals: a live deal of that company (by its normalised
    name) whose title is the same or nearly so. The import preview lists them."""
    rows = [(t, c) for t, c in rows if t]
    wanted = {normalise_name(c) for _t, c in rows}
    companies = [
        c for c in Company.objects.for_workspace(workspace).only("id", "name") if normalise_name(c.name) in wanted
    ]
    by_company: dict[str, list[Deal]] = defaultdict(list)
    deals = Deal.objects.for_workspace(workspace).filter(company__in=companies).select_related("company")
    for deal in deals.only("id", "uuid", "title", "company__name"):
        by_company[normalise_name(deal.company.name if deal.company else "")].append(deal)
    found: dict[tuple[str, str], Deal] = {}
    for title, company in rows:
        candidates = by_company.get(normalise_name(company), [])
        key = normalise_name(title)
        for deal in candidates:
            other = normalise_name(deal.title)
            if other == key or _is_typo(key, other):
                found[(title, company)] = deal
                break
    return found
