"""Who may be captured: the workspace policy applied to one message's or meeting's participants. Plain module."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class Excluded:
    BLOCKLISTED = "blocklisted"
    INTERNAL = "internal"
    PERSONAL = "personal"


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def _lines(text: str) -> set[str]:
    return {line.strip().lower().lstrip("@") for line in text.replace(",", "\n").splitlines() if line.strip()}


@dataclass(frozen=True)
class Policy:
    internal_domains: frozenset[str]  # the members' own domains (personal providers never count)
    member_addresses: frozenset[str]
    personal_domains: frozenset[str]
    blocked_addresses: frozenset[str]
    blocked_domains: frozenset[str]

    @classmethod
    def build(cls, *, member_addresses: Iterable[str], personal_domains: str, blocklist: str) -> Policy:
        members = frozenset(a.strip().lower() for a in member_addresses if a and "@" in a)
        personal = frozenset(_lines(personal_domains))
        blocked = _lines(blocklist)
        return cls(
            internal_domains=frozenset(domain_of(a) for a in members) - personal,
            member_addresses=members,
            personal_domains=personal,
            blocked_addresses=frozenset(b for b in blocked if "@" in b),
            blocked_domains=frozenset(b for b in blocked if "@" not in b),
        )

    def is_ours(self, address: str) -> bool:
        return address in self.member_addresses or domain_of(address) in self.internal_domains

    def screen(self, participants: Iterable[str]) -> tuple[str | None, list[str]]:
        """(why it is not stored, or None; the outside addresses that may be stored)."""
        everyone = [p.lower() for p in participants if p]
        if any(p in self.blocked_addresses or domain_of(p) in self.blocked_domains for p in everyone):
            return Excluded.BLOCKLISTED, []
        outside = [p for p in everyone if not self.is_ours(p)]
        if not outside:
            return Excluded.INTERNAL, []
        kept = [p for p in outside if domain_of(p) not in self.personal_domains]
        if not kept:
            return Excluded.PERSONAL, []
        return None, kept
