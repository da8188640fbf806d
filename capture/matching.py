"""Who and what a captured message or meeting belongs to: the workspace policy, its contacts, company domains and
open deals (loaded once per pass into a `Directory`), and the deal chosen for a message or meeting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from capture.models import CapturePolicy, ContactSuggestion
from capture.rules import Policy, domain_of
from crm.models import Company, Contact, Deal
from tenancy.models import Membership, Workspace


def policy_get(*, workspace: Workspace) -> CapturePolicy:
    """The workspace's policy (the defaults, unsaved, when it never set one)."""
    return CapturePolicy.objects.filter(workspace=workspace).first() or CapturePolicy(workspace=workspace)


def member_addresses(workspace: Workspace) -> list[str]:
    rows = Membership.objects.for_workspace(workspace).values_list("email", "user__email")
    return [a for pair in rows for a in pair if a]


@dataclass
class Directory:
    """The workspace's contacts, company domains and open deals, loaded once per pass."""

    policy: Policy
    store_bodies: bool
    contacts: dict[str, Contact]  # by lower-cased address
    companies_by_domain: dict[str, Company]
    open_deals: dict[int, list[Deal]]  # company id → open deals, oldest first
    touched_threads: set[str] = field(default_factory=set)
    # Inbound messages stored in this pass, (id, subject, fresh text), for the intent readers after the pass.
    to_read: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, workspace: Workspace) -> Directory:
        policy_row = policy_get(workspace=workspace)
        policy = Policy.build(
            member_addresses=member_addresses(workspace),
            personal_domains=policy_row.personal_domains,
            blocklist=policy_row.blocklist,
        )
        contacts = {
            c.email.lower(): c
            for c in Contact.objects.for_workspace(workspace).exclude(email="").select_related("company")
        }
        by_domain: dict[str, Company] = {}
        for company in Company.objects.for_workspace(workspace).exclude(domain=""):
            domain = company.domain.strip().lower().removeprefix("www.").split("/")[0]
            by_domain.setdefault(domain, company)
        for contact in contacts.values():  # a contact's address also tells its company's domain
            domain = domain_of(contact.email)
            if contact.company is not None and domain not in policy.personal_domains:
                by_domain.setdefault(domain, contact.company)
        deals: dict[int, list[Deal]] = {}
        for deal in Deal.objects.for_workspace(workspace).open().filter(company__isnull=False).order_by("created_at"):
            deals.setdefault(deal.company_id, []).append(deal)  # type: ignore[arg-type]  # filtered non-null
        return cls(policy, policy_row.store_bodies, contacts, by_domain, deals)

    def match(self, outside: list[str]) -> tuple[list[Contact], list[Company], list[str]]:
        """(known contacts, their companies and those of known domains, unknown addresses at known domains)."""
        contacts = [self.contacts[a] for a in outside if a in self.contacts]
        companies: dict[int, Company] = {c.company.id: c.company for c in contacts if c.company is not None}
        unknown_known_domain = []
        for address in outside:
            company = self.companies_by_domain.get(domain_of(address))
            if address not in self.contacts and company is not None:
                companies.setdefault(company.id, company)
                unknown_known_domain.append(address)
        return contacts, list(companies.values()), unknown_known_domain

    def choose_deal(self, companies: list[Company], thread_deal: Deal | None) -> Deal | None:
        """The thread's deal when it is still open; else the single open deal of the companies; else None."""
        candidates = [d for c in companies for d in self.open_deals.get(c.id, [])]
        if thread_deal is not None and thread_deal.is_open and thread_deal.deleted_at is None:
            return thread_deal
        return candidates[0] if len(candidates) == 1 else None


def suggest(workspace: Workspace, directory: Directory, addresses: list[str], names: dict[str, str]) -> None:
    for address in addresses:
        company = directory.companies_by_domain[domain_of(address)]
        suggestion, created = ContactSuggestion.objects.get_or_create(
            workspace=workspace, email=address, defaults={"company": company, "name": names.get(address, "")[:200]}
        )
        if not created:
            ContactSuggestion.objects.filter(pk=suggestion.pk).update(seen_count=suggestion.seen_count + 1)


def external_id(prefix: str, key: str) -> str:
    return f"capture:{prefix}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"
